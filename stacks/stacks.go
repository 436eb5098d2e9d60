// Package stacks reads kernel stack counts (a kgen module's debugfs
// kgen/<name>/stacks table, or the stacks of kgen trace --json events),
// symbolises and merges them, and writes them as a text table, collapsed
// ("folded") stacks or a pprof profile.
package stacks

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Stack is one key of the table: a stack (innermost frame first) with
// its comm and pid when the table is keyed by them, and its hits.
type Stack struct {
	Probe  string
	Count  uint64
	Pid    int      // 0 = not keyed by pid
	Comm   string   // "" = not keyed by comm
	Addrs  []uint64 // raw frames; nil for stacks read already symbolised
	Frames []string // symbolised frames ("vfs_read+0x5/0x310"), innermost first
}

// Table is a module's stack counts, most frequent first after Sort.
type Table struct {
	Stacks  []Stack
	Dropped map[string]uint64 // probe -> hits that found no slot
}

// Symbolizer turns a kernel address into "func+0xoff/0xsize [mod]".
type Symbolizer interface {
	Symbolize(addr uint64) string
}

// maxLine bounds one line of the stacks file (64 frames of 17 bytes and
// the key fit easily).
const maxLine = 1 << 16

// Parse reads the stacks file: "<probe> <count> <pid> <comm hex> <ip>,..."
// per key and "<probe> dropped <n>" per table.
func Parse(r io.Reader) (*Table, error) {
	t := &Table{Dropped: map[string]uint64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) == 3 && f[1] == "dropped" {
			d, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse stacks line %d: dropped %q: want a count", n, f[2])
			}
			t.Dropped[f[0]] += d
			continue
		}
		if len(f) != 4 && len(f) != 5 {
			return nil, fmt.Errorf("parse stacks line %d: %d fields; want probe, count, pid, comm and frames", n, len(f))
		}
		s := Stack{Probe: f[0]}
		var err error
		if s.Count, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return nil, fmt.Errorf("parse stacks line %d: count %q: want a number", n, f[1])
		}
		if s.Pid, err = strconv.Atoi(f[2]); err != nil {
			return nil, fmt.Errorf("parse stacks line %d: pid %q: want a number", n, f[2])
		}
		comm, err := hex.DecodeString(f[3])
		if err != nil {
			return nil, fmt.Errorf("parse stacks line %d: comm %q: want hex", n, f[3])
		}
		if i := bytes.IndexByte(comm, 0); i >= 0 {
			comm = comm[:i]
		}
		s.Comm = string(comm)
		if len(f) == 5 {
			for _, a := range strings.Split(f[4], ",") {
				v, err := strconv.ParseUint(a, 16, 64)
				if err != nil {
					return nil, fmt.Errorf("parse stacks line %d: frame %q: want hex", n, a)
				}
				s.Addrs = append(s.Addrs, v)
			}
		}
		t.Stacks = append(t.Stacks, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse stacks: %w", err)
	}
	return t, nil
}

// FromEvents aggregates the stacks of kgen trace --json lines (events
// with a "stack" array), keyed by event, comm and stack. Lines that are
// not JSON objects, or events without a stack, are skipped.
func FromEvents(r io.Reader) (*Table, error) {
	t := &Table{Dropped: map[string]uint64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 || l[0] != '{' {
			continue
		}
		var ev struct {
			Event string   `json:"event"`
			Task  string   `json:"task"`
			Stack []string `json:"stack"`
		}
		if err := json.Unmarshal(l, &ev); err != nil {
			return nil, fmt.Errorf("read trace events: %w", err)
		}
		if len(ev.Stack) == 0 {
			continue
		}
		t.Stacks = append(t.Stacks, Stack{Probe: ev.Event, Count: 1, Comm: ev.Task, Frames: ev.Stack})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace events: %w", err)
	}
	t.Merge()
	return t, nil
}

// Symbolize fills every stack's Frames from its Addrs (hex when sym is nil
// or does not know an address).
func (t *Table) Symbolize(sym Symbolizer) {
	for i := range t.Stacks {
		s := &t.Stacks[i]
		if s.Addrs == nil {
			continue
		}
		s.Frames = make([]string, len(s.Addrs))
		for j, a := range s.Addrs {
			if sym != nil {
				s.Frames[j] = sym.Symbolize(a)
			} else {
				s.Frames[j] = fmt.Sprintf("0x%x", a)
			}
		}
	}
}

// machinery tells the frames of the probe machinery and of the handler:
// a kgen module's own frames ([module] suffix of a kgen handler), the
// kprobe, ftrace and int3 paths.
func machinery(f string) bool {
	name, _, _ := strings.Cut(f, "+")
	switch {
	case strings.HasPrefix(name, "krp_") && strings.HasSuffix(f, "]"):
		return true
	case strings.Contains(name, "kprobe"), strings.Contains(name, "ftrace"),
		strings.Contains(name, "int3"), strings.Contains(name, "optprobe"),
		strings.HasPrefix(name, "kgen_"), strings.Contains(name, "stack_trace_save"),
		strings.Contains(name, "arch_stack_walk"), strings.Contains(name, "trampoline"):
		return true
	}
	return false
}

// brkPath is arm64's debug exception path, which its kprobes' BRK takes
// (el1h_64_sync down to call_break_hook): the probe's machinery only
// above the probed function, where it runs from the stack's top. An
// exception deeper down, one the probed function was called in, stays.
var brkPath = map[string]bool{
	"call_break_hook": true, "brk_handler": true, "do_debug_exception": true,
	"el1_dbg": true, "el1h_64_sync_handler": true, "el1h_64_sync": true,
	"kprobe_breakpoint_handler": true, "early_brk64": true,
}

// TrimMachinery drops, from every stack, the frames up to the last one of
// the probe machinery (the handler, kprobe, ftrace, int3, and arm64's BRK
// exception path from the top), so a stack starts at the probed function
// or its caller, then merges stacks that became equal.
func (t *Table) TrimMachinery() {
	for i := range t.Stacks {
		s := &t.Stacks[i]
		last := -1
		for j, f := range s.Frames {
			name, _, _ := strings.Cut(f, "+")
			if machinery(f) || j == last+1 && brkPath[name] {
				last = j
			}
		}
		if last >= 0 && last < len(s.Frames)-1 {
			s.Frames = s.Frames[last+1:]
			s.Addrs = nil
		}
	}
	t.Merge()
}

// Merge adds up stacks with equal probe, pid, comm and frames (two CPUs
// may have filled two slots with one new key) and sorts the result.
func (t *Table) Merge() {
	idx := map[string]int{}
	var out []Stack
	for _, s := range t.Stacks {
		k := s.Probe + "\x00" + strconv.Itoa(s.Pid) + "\x00" + s.Comm + "\x00" + strings.Join(s.Frames, "\x00")
		if i, ok := idx[k]; ok {
			out[i].Count += s.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, s)
	}
	t.Stacks = out
	t.Sort()
}

// Sort orders the stacks most frequent first, then by probe, comm, pid
// and frames, so output is deterministic.
func (t *Table) Sort() {
	sort.SliceStable(t.Stacks, func(i, j int) bool {
		a, b := t.Stacks[i], t.Stacks[j]
		switch {
		case a.Count != b.Count:
			return a.Count > b.Count
		case a.Probe != b.Probe:
			return a.Probe < b.Probe
		case a.Comm != b.Comm:
			return a.Comm < b.Comm
		case a.Pid != b.Pid:
			return a.Pid < b.Pid
		}
		return strings.Join(a.Frames, ",") < strings.Join(b.Frames, ",")
	})
}

// Total returns the hits counted for probe ("" = every probe).
func (t *Table) Total(probe string) uint64 {
	var n uint64
	for _, s := range t.Stacks {
		if probe == "" || s.Probe == probe {
			n += s.Count
		}
	}
	return n
}

// probes returns the probes of the table, sorted.
func (t *Table) probes() []string {
	seen := map[string]bool{}
	for _, s := range t.Stacks {
		seen[s.Probe] = true
	}
	for p := range t.Dropped {
		seen[p] = true
	}
	var ps []string
	for p := range seen {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// WriteText writes, per probe, a summary line then its top stacks (all
// when top <= 0), most frequent first, one frame per line.
func (t *Table) WriteText(w io.Writer, top int) error {
	bw := bufio.NewWriter(w)
	for _, p := range t.probes() {
		n := 0
		for _, s := range t.Stacks {
			if s.Probe == p {
				n++
			}
		}
		fmt.Fprintf(bw, "%s: %d hits in %d stacks, %d dropped\n", p, t.Total(p), n, t.Dropped[p])
		shown := 0
		for _, s := range t.Stacks {
			if s.Probe != p {
				continue
			}
			if top > 0 && shown == top {
				fmt.Fprintf(bw, "  ... %d more stacks (kgen stacks NAME shows them all)\n", n-shown)
				break
			}
			shown++
			fmt.Fprintf(bw, "  %d%s\n", s.Count, key(s))
			for _, f := range s.Frames {
				fmt.Fprintf(bw, "      %s\n", f)
			}
		}
	}
	return bw.Flush()
}

func key(s Stack) string {
	var k string
	if s.Comm != "" {
		k += " comm=" + strconv.Quote(s.Comm)
	}
	if s.Pid != 0 {
		k += " pid=" + strconv.Itoa(s.Pid)
	}
	return k
}

// FuncName is a frame's function: "vfs_read+0x5/0x310 [mod]" gives
// "vfs_read"; a hex address stays as is.
func FuncName(f string) string {
	name, _, _ := strings.Cut(f, "+")
	name, _, _ = strings.Cut(name, " ")
	return name
}

// Folded returns Brendan Gregg's collapsed stacks: per stack one line of
// frames root first, ';'-separated, then a space and the count; the
// comm and pid (when keyed) are the root frames. Frames are function
// names; equal lines are merged. Sorted by line.
func (t *Table) Folded() []string {
	sum := map[string]uint64{}
	for _, s := range t.Stacks {
		var parts []string
		if s.Comm != "" {
			parts = append(parts, s.Comm)
		}
		if s.Pid != 0 {
			parts = append(parts, "pid "+strconv.Itoa(s.Pid))
		}
		for i := len(s.Frames) - 1; i >= 0; i-- {
			parts = append(parts, FuncName(s.Frames[i]))
		}
		if len(parts) == 0 {
			parts = []string{s.Probe}
		}
		for i, p := range parts {
			parts[i] = strings.NewReplacer(";", ":", " ", "_", "\n", "_").Replace(p)
		}
		sum[strings.Join(parts, ";")] += s.Count
	}
	lines := make([]string, 0, len(sum))
	for l, n := range sum {
		lines = append(lines, l+" "+strconv.FormatUint(n, 10))
	}
	sort.Strings(lines)
	return lines
}

// WriteFolded writes Folded's lines.
func (t *Table) WriteFolded(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, l := range t.Folded() {
		fmt.Fprintln(bw, l)
	}
	return bw.Flush()
}
