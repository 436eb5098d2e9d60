// Package probetest finds which kernel functions are safe to kprobe, as
// SystemTap's scripts/kprobes_test did: functions are probed in groups
// under a workload, a group that crashes the guest is bisected down to
// single functions, and every function ends in one of four files
// (probes.passed, probes.failed, probes.untriggered, probes.unregistered).
// The state is saved atomically before every group, so a killed run
// resumes where it stopped.
//
// It knows nothing about VMs: a Runner runs one group and says what
// happened; the VM runner lives in vmrunner.go.
package probetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// The four results of a function, the seed's file names without "probes.".
const (
	Passed       = "passed"
	Failed       = "failed"
	Untriggered  = "untriggered"
	Unregistered = "unregistered"
)

// Categories are the results in the order they are reported.
var Categories = []string{Passed, Failed, Untriggered, Unregistered}

// Func is what is known of one function.
type Func struct {
	Result string `json:"result,omitempty"` // one of Categories; "" while pending
	Hits   int64  `json:"hits"`             // of the clean run that decided it
	Errno  int    `json:"errno,omitempty"`  // register_kprobe's, negative
	// Crash is the first bad console line of the run where it crashed alone.
	Crash string `json:"crash,omitempty"`
	// Tail names the file in the output directory holding that run's console tail.
	Tail string `json:"tail,omitempty"`
}

// Job is one group to boot: Funcs are probed. Other, when set, is the
// sibling of Funcs in a crashed group: if Funcs runs clean, the crash was
// in Other, which is split without running it whole; if Funcs crashes,
// Other goes back to the pool as an ordinary group.
type Job struct {
	ID    int      `json:"id"`
	Funcs []string `json:"funcs"`
	Other []string `json:"other,omitempty"`
}

// State is the whole of a run, saved as state.json before every group.
type State struct {
	Version int              `json:"version"`
	Group   int              `json:"group"`  // G, the pool's group size
	Levels  int              `json:"levels"` // passes in all
	Level   int              `json:"level"`  // the current pass, from 1
	Boots   int              `json:"boots"`  // guests that ran at least one group to its end
	Groups  int              `json:"groups"` // groups run to an end (clean or crashed)
	NextID  int              `json:"next_id"`
	Jobs    []Job            `json:"jobs"` // pending, in order; in-flight ones too
	Funcs   map[string]*Func `json:"funcs"`
	Order   []string         `json:"order"` // the input, deduplicated, in its order
}

const stateVersion = 1

// StateFile is the state's name in the output directory.
const StateFile = "state.json"

// NewState queues the functions in groups of g for levels passes.
func NewState(funcs []string, g, levels int) *State {
	if g < 1 {
		g = 1
	}
	if levels < 1 {
		levels = 1
	}
	s := &State{Version: stateVersion, Group: g, Levels: levels, Level: 1, Funcs: map[string]*Func{}}
	for _, f := range funcs {
		if _, dup := s.Funcs[f]; dup {
			continue
		}
		s.Funcs[f] = &Func{}
		s.Order = append(s.Order, f)
	}
	s.pack(s.Order, g)
	return s
}

// pack queues fs as groups of at most g, after the queued jobs.
func (s *State) pack(fs []string, g int) {
	for len(fs) > 0 {
		n := min(g, len(fs))
		s.add(Job{Funcs: append([]string(nil), fs[:n]...)})
		fs = fs[n:]
	}
}

func (s *State) add(j Job) {
	s.NextID++
	j.ID = s.NextID
	s.Jobs = append(s.Jobs, j)
}

// requeue puts fs back in the pool: into the last plain group queued and
// not running when it fits in G, else as a group of its own.
func (s *State) requeue(fs []string, busy map[int]bool) {
	for i := len(s.Jobs) - 1; i >= 0; i-- {
		j := &s.Jobs[i]
		if j.Other != nil || busy[j.ID] {
			continue
		}
		if len(j.Funcs)+len(fs) <= s.Group {
			j.Funcs = append(j.Funcs, fs...)
			return
		}
		break
	}
	s.add(Job{Funcs: append([]string(nil), fs...)})
}

// ordered is a crashed group's functions for split: those hit before the
// crash first, and how many they are (0: nothing known).
type ordered struct {
	funcs []string
	hit   int
}

// hitFirst orders fs for split by the hits seen before their crash: the
// hit ones first, each part in its own order.
func hitFirst(fs []string, hits map[string]int64) ordered {
	o := ordered{funcs: make([]string, 0, len(fs))}
	for _, f := range fs {
		if hits[f] > 0 {
			o.funcs = append(o.funcs, f)
		}
	}
	o.hit = len(o.funcs)
	for _, f := range fs {
		if hits[f] <= 0 {
			o.funcs = append(o.funcs, f)
		}
	}
	return o
}

// split queues a job for a set known to hold a crasher: its first half
// is run, its second is the Other. When a quarter of the set or fewer
// were hit before the crash, the first part is those alone: a probe that
// never fired is the less likely crasher, a right guess skips at least
// one halving, and a wrong one costs one clean group before the rest is
// bisected as before. Otherwise the halves are cut with the hit ones
// first. The job goes first in the queue: the bisection runs before the
// pool's groups, so that what it puts back in the pool merges into them
// instead of taking boots of its own.
func (s *State) split(o ordered) {
	fs := o.funcs
	j := Job{Funcs: append([]string(nil), fs...)}
	if len(fs) > 1 {
		h := (len(fs) + 1) / 2
		if o.hit > 0 && 4*o.hit <= len(fs) {
			h = o.hit
		}
		j = Job{Funcs: append([]string(nil), fs[:h]...), Other: append([]string(nil), fs[h:]...)}
	}
	s.NextID++
	j.ID = s.NextID
	s.Jobs = append([]Job{j}, s.Jobs...)
}

// Outcome is what a Runner saw of one group.
type Outcome struct {
	// Crashed: the guest panicked, oopsed, warned or hung; nothing in
	// Hits or Errno counts then.
	Crashed bool
	Reason  string // "panic", "oops", "warning", "timeout", ...
	Line    string // the first bad console line
	Tail    string // the console's end
	// Hits and Errno per function of a clean run; a function missing
	// from Errno was not registered (errno -ENOENT).
	Hits  map[string]int64
	Errno map[string]int
	// CrashHits, of a crash, are the functions hit before it, when the
	// guest could say (its panic notifier, or the counts of a group
	// whose log check failed). They order the crashed group's bisection
	// and decide nothing.
	CrashHits map[string]int64
}

// Done applies the outcome of job id and queues what follows. busy holds
// the ids of jobs in flight (not to be merged into). tail, for a crash,
// is the name of the file the console tail was saved in.
func (s *State) Done(id int, o Outcome, busy map[int]bool, tail string) error {
	idx := -1
	for i, j := range s.Jobs {
		if j.ID == id {
			idx = i
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("finish group %d: not queued", id)
	}
	j := s.Jobs[idx]
	s.Jobs = append(s.Jobs[:idx:idx], s.Jobs[idx+1:]...)
	s.Groups++
	switch {
	case o.Crashed && len(j.Funcs) == 1:
		f := s.Funcs[j.Funcs[0]]
		*f = Func{Result: Failed, Crash: o.Line, Tail: tail}
		if j.Other != nil {
			s.requeue(j.Other, busy)
		}
	case o.Crashed:
		if j.Other != nil {
			s.requeue(j.Other, busy)
		}
		s.split(hitFirst(j.Funcs, o.CrashHits))
	default:
		for _, name := range j.Funcs {
			f := s.Funcs[name]
			errno, ok := o.Errno[name]
			if !ok {
				errno = -2 // ENOENT: the module never saw it
			}
			switch {
			case errno != 0:
				*f = Func{Result: Unregistered, Errno: errno}
			case o.Hits[name] > 0:
				*f = Func{Result: Passed, Hits: o.Hits[name]}
			default:
				*f = Func{Result: Untriggered}
			}
		}
		if j.Other != nil {
			s.split(ordered{funcs: j.Other})
		}
	}
	s.nextLevel()
	return nil
}

// nextLevel starts the next pass when the queue is empty: the
// untriggered functions are run again in groups a quarter the size.
func (s *State) nextLevel() {
	for len(s.Jobs) == 0 && s.Level < s.Levels {
		s.Level++
		var again []string
		for _, name := range s.Order {
			if s.Funcs[name].Result == Untriggered {
				again = append(again, name)
			}
		}
		g := max(1, s.Group>>(2*(s.Level-1)))
		s.pack(again, g)
	}
}

// Finished says every function has its result.
func (s *State) Finished() bool { return len(s.Jobs) == 0 }

// Counts returns the functions per result ("" = pending).
func (s *State) Counts() map[string]int {
	c := map[string]int{}
	for _, f := range s.Funcs {
		c[f.Result]++
	}
	return c
}

// Lists returns each category's functions, sorted.
func (s *State) Lists() map[string][]string {
	l := map[string][]string{}
	for name, f := range s.Funcs {
		if f.Result != "" {
			l[f.Result] = append(l[f.Result], name)
		}
	}
	for _, v := range l {
		sort.Strings(v)
	}
	return l
}

// Save writes the state to dir/state.json atomically (a temporary file,
// fsync'd, renamed, and the directory fsync'd).
func (s *State) Save(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return WriteFileSync(filepath.Join(dir, StateFile), b)
}

// LoadState reads dir/state.json; it returns nil, nil when there is none.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("load state %s: %w (remove it or pass --fresh to start over)", filepath.Join(dir, StateFile), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("load state %s: version %d, want %d (pass --fresh to start over)", filepath.Join(dir, StateFile), s.Version, stateVersion)
	}
	for _, name := range s.Order {
		if s.Funcs[name] == nil {
			s.Funcs[name] = &Func{}
		}
	}
	return &s, nil
}

// WriteFileSync writes name atomically and durably.
func WriteFileSync(name string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Reject records functions that cannot even be named to kprobes (not a
// symbol name) as unregistered with errno, without running them.
func (s *State) Reject(names []string, errno int) {
	for _, n := range names {
		if _, dup := s.Funcs[n]; dup {
			continue
		}
		s.Funcs[n] = &Func{Result: Unregistered, Errno: errno}
		s.Order = append(s.Order, n)
	}
}
