package probetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Runner runs one group: loads the group module in a fresh guest, arms
// funcs, runs the workload and reports. An error is the harness's own
// failure (a build, a missing file), never the guest's crash, and stops
// the sweep.
type Runner interface {
	Run(ctx context.Context, funcs []string) (Outcome, error)
}

// A BatchRunner can also run several groups one after another in one
// guest, as the seed ran group after group until the machine crashed:
// it calls done with each group's outcome, in order, once the group is
// known to have finished cleanly or to have crashed. A crash ends the
// guest: the crashed group is the last one reported, and the groups
// after it are not run. An error from done stops the guest and is
// returned.
type BatchRunner interface {
	Runner
	RunBatch(ctx context.Context, groups [][]string, done func(i int, o Outcome) error) error
}

// Options of a sweep.
type Options struct {
	Dir      string    // output directory: state, the four files, report.json
	Jobs     int       // guests at once (default 1)
	Progress io.Writer // a progress line per finished group; nil = none
	// PerBoot is how many groups one guest runs at most, one after
	// another, when the runner is a BatchRunner (default 1: a boot per
	// group).
	PerBoot int
	// Now is the clock of the ETA; nil = time.Now.
	Now func() time.Time
}

// Sweep runs the queued groups of s with r until every function has a
// result, saving s before each guest starts and after each group ends,
// then writes the result files. It resumes a loaded state as it is.
func Sweep(ctx context.Context, s *State, r Runner, o Options) error {
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	if o.PerBoot < 1 {
		o.PerBoot = 1
	}
	br, batching := r.(BatchRunner)
	if !batching {
		o.PerBoot = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "crash"), 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		busy   = map[int]bool{}
		first  error
		start  = o.Now()
		groups = s.Groups
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		if first == nil {
			first = err
			cancel()
		}
		cond.Broadcast()
	}
	// next returns up to n queued jobs no one runs, in queue order,
	// waiting while the queue only holds running ones; it returns none
	// when the sweep is over. A guest takes no more than its share of
	// what is queued, so that the other guests have work too.
	next := func() []Job {
		for first == nil {
			var free []Job
			for _, j := range s.Jobs {
				if !busy[j.ID] {
					free = append(free, j)
				}
			}
			if len(free) > 0 {
				n := min(o.PerBoot, (len(free)+o.Jobs-1)/o.Jobs)
				free = free[:max(1, n)]
				for _, j := range free {
					busy[j.ID] = true
				}
				if err := s.Save(o.Dir); err != nil {
					fail(err)
					return nil
				}
				return free
			}
			if len(s.Jobs) == 0 {
				return nil
			}
			cond.Wait()
		}
		return nil
	}
	// finish records the outcome of job j; mu is held.
	finish := func(j Job, out Outcome, booted *bool) error {
		delete(busy, j.ID)
		tail := ""
		if out.Crashed && len(j.Funcs) == 1 {
			tail = filepath.Join("crash", j.Funcs[0]+".txt")
			if err := WriteFileSync(filepath.Join(o.Dir, tail), []byte(out.Tail)); err != nil {
				return err
			}
		}
		if !*booted {
			*booted = true
			s.Boots++
		}
		if o.Progress != nil && out.Crashed && len(j.Funcs) > 1 {
			fmt.Fprintln(o.Progress, crashLine(j.Funcs, out))
		}
		if err := s.Done(j.ID, out, busy, tail); err != nil {
			return err
		}
		if err := s.Save(o.Dir); err != nil {
			return err
		}
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, progressLine(s, len(busy), s.Groups-groups, o.Now().Sub(start)))
		}
		cond.Broadcast()
		return nil
	}
	var wg sync.WaitGroup
	for w := 0; w < o.Jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for {
				batch := next()
				if len(batch) == 0 {
					return
				}
				booted := false
				mu.Unlock()
				var err error
				if len(batch) == 1 && !batching {
					var out Outcome
					if out, err = r.Run(ctx, batch[0].Funcs); err == nil {
						mu.Lock()
						err = finish(batch[0], out, &booted)
						mu.Unlock()
					}
				} else {
					fs := make([][]string, len(batch))
					for i, j := range batch {
						fs[i] = j.Funcs
					}
					reported := 0
					err = br.RunBatch(ctx, fs, func(i int, out Outcome) error {
						mu.Lock()
						defer mu.Unlock()
						if i != reported {
							return fmt.Errorf("group %d of the guest reported out of order (want %d)", i, reported)
						}
						reported++
						return finish(batch[i], out, &booted)
					})
				}
				mu.Lock()
				for _, j := range batch { // not run: back to the queue, where they are
					delete(busy, j.ID)
				}
				cond.Broadcast()
				if err != nil {
					fail(fmt.Errorf("run %d groups (%d functions first): %w", len(batch), len(batch[0].Funcs), err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return WriteResults(s, o.Dir)
}

// crashLine says a group of several crashed and how its bisection goes.
func crashLine(funcs []string, out Outcome) string {
	hit := 0
	for _, f := range funcs {
		if out.CrashHits[f] > 0 {
			hit++
		}
	}
	how := "the guest gave no hit counts: halving it"
	switch {
	case hit > 0 && 4*hit <= len(funcs):
		how = fmt.Sprintf("%d were hit before it: bisecting those first", hit)
	case hit > 0:
		how = fmt.Sprintf("%d were hit before it: halving it, the hit ones first", hit)
	}
	return fmt.Sprintf("probe-test: a group of %d crashed (%s: %s); %s", len(funcs), out.Reason, out.Line, how)
}

// progressLine: functions done, groups pending (and how many of them
// running guests have taken, started or queued in the guest), boots,
// functions per result, and an ETA from this session's pace (the pace
// already includes running the guests side by side).
func progressLine(s *State, inFlight, sessionGroups int, elapsed time.Duration) string {
	c := s.Counts()
	done := len(s.Order) - c[""]
	eta := "?"
	if sessionGroups > 0 && len(s.Jobs) > 0 {
		per := elapsed / time.Duration(sessionGroups)
		eta = (per * time.Duration(len(s.Jobs))).Round(time.Second).String()
	} else if len(s.Jobs) == 0 {
		eta = "0s"
	}
	return fmt.Sprintf("probe-test: level %d/%d, functions %d/%d done, groups pending %d (%d taken by running guests), done %d, boots %d; passed %d failed %d untriggered %d unregistered %d; ETA %s",
		s.Level, s.Levels, done, len(s.Order), len(s.Jobs), inFlight, s.Groups, s.Boots,
		c[Passed], c[Failed], c[Untriggered], c[Unregistered], eta)
}

// Report is report.json.
type Report struct {
	Boots  int              `json:"boots"`
	Groups int              `json:"groups"`
	Group  int              `json:"group"`
	Levels int              `json:"levels"`
	Counts map[string]int   `json:"counts"`
	Funcs  map[string]*Func `json:"functions"`
}

// WriteResults writes probes.<category> (sorted, one function a line)
// and report.json into dir.
func WriteResults(s *State, dir string) error {
	lists := s.Lists()
	for _, c := range Categories {
		var b strings.Builder
		for _, f := range lists[c] {
			b.WriteString(f)
			b.WriteByte('\n')
		}
		if err := WriteFileSync(filepath.Join(dir, "probes."+c), []byte(b.String())); err != nil {
			return err
		}
	}
	counts := s.Counts()
	delete(counts, "")
	b, err := json.MarshalIndent(Report{Boots: s.Boots, Groups: s.Groups, Group: s.Group, Levels: s.Levels, Counts: counts, Funcs: s.Funcs}, "", "  ")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return WriteFileSync(filepath.Join(dir, "report.json"), append(b, '\n'))
}

// Summary is the table printed at the end.
func Summary(s *State) string {
	var b strings.Builder
	c := s.Counts()
	fmt.Fprintf(&b, "%-14s %8s\n", "result", "functions")
	for _, k := range Categories {
		fmt.Fprintf(&b, "%-14s %8d\n", k, c[k])
	}
	fmt.Fprintf(&b, "%-14s %8d\n", "total", len(s.Order))
	fmt.Fprintf(&b, "boots %d, groups run %d, group size %d, levels %d\n", s.Boots, s.Groups, s.Group, s.Levels)
	for _, name := range s.Lists()[Failed] {
		fmt.Fprintf(&b, "failed %s: %s\n", name, s.Funcs[name].Crash)
	}
	return b.String()
}

// Bound is the bound on boots for k crashers among n functions
// in groups of g: k*ceil(log2(n/k)) + 2k + ceil(n/g).
func Bound(n, k, g int) int {
	b := (n + g - 1) / g
	if k == 0 {
		return b
	}
	l := 0
	for (k << l) < n {
		l++
	}
	return k*l + 2*k + b
}

// SeedBoots is the boots SystemTap's scheme takes for the same input:
// fixed buckets of 1000 (or g, if smaller), a crashed bucket halved
// and both halves run, down to single functions, one boot per group.
func SeedBoots(n int, crashers map[int]bool, g int) int {
	boots := 0
	var run func(lo, hi int)
	run = func(lo, hi int) {
		boots++
		has := false
		for i := lo; i < hi; i++ {
			if crashers[i] {
				has = true
				break
			}
		}
		if !has || hi-lo == 1 {
			return
		}
		m := (lo + hi + 1) / 2
		run(lo, m)
		run(m, hi)
	}
	for lo := 0; lo < n; lo += g {
		run(lo, min(n, lo+g))
	}
	return boots
}
