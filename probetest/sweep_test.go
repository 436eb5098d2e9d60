package probetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fake crashes on any group holding a crasher; in a clean run, the
// "called" functions have hits and "unreg" ones cannot be registered.
type fake struct {
	crash, called, unreg map[string]bool
	mu                   sync.Mutex
	runs                 int
	failAfter            int // a harness error on this run (1-based); 0 = never
	// crashHits: a crash reports the group's called functions and its
	// crasher as hit before it, as the guest's panic notifier does.
	crashHits bool
}

var errKilled = errors.New("killed")

func (f *fake) Run(ctx context.Context, funcs []string) (Outcome, error) {
	f.mu.Lock()
	f.runs++
	n := f.runs
	f.mu.Unlock()
	if f.failAfter != 0 && n >= f.failAfter {
		return Outcome{}, errKilled
	}
	for _, fn := range funcs {
		if f.crash[fn] {
			o := Outcome{Crashed: true, Reason: "oops", Line: "BUG: " + fn, Tail: "tail of " + fn}
			if f.crashHits {
				o.CrashHits = map[string]int64{fn: 1}
				for _, g := range funcs {
					if f.called[g] {
						o.CrashHits[g] = 2
					}
				}
			}
			return o, nil
		}
	}
	o := Outcome{Hits: map[string]int64{}, Errno: map[string]int{}}
	for _, fn := range funcs {
		switch {
		case f.unreg[fn]:
			o.Errno[fn] = -22
		case f.called[fn]:
			o.Errno[fn] = 0
			o.Hits[fn] = 3
		default:
			o.Errno[fn] = 0
		}
	}
	return o, nil
}

type input struct {
	funcs   []string
	crashAt map[int]bool
	f       *fake
}

func newInput(n int, crashAt ...int) input {
	in := input{crashAt: map[int]bool{}, f: &fake{crash: map[string]bool{}, called: map[string]bool{}, unreg: map[string]bool{}}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("fn%04d", i)
		in.funcs = append(in.funcs, name)
		switch {
		case i%10 == 3:
			in.f.unreg[name] = true
		case i%3 == 0:
			in.f.called[name] = true
		}
	}
	for _, i := range crashAt {
		in.crashAt[i] = true
		in.f.crash[in.funcs[i]] = true
	}
	return in
}

func readResults(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, c := range Categories {
		b, err := os.ReadFile(filepath.Join(dir, "probes."+c))
		if err != nil {
			t.Fatal(err)
		}
		m[c] = string(b)
	}
	return m
}

func sweep(t *testing.T, in input, g, levels, jobs int) (*State, string) {
	t.Helper()
	dir := t.TempDir()
	s := NewState(in.funcs, g, levels)
	if err := Sweep(context.Background(), s, in.f, Options{Dir: dir, Jobs: jobs}); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestSweepBisects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, g    int
		crashAt []int
		boots   int // exact, with -j 1
	}{
		{"clean", 300, 50, nil, 6},
		{"one", 300, 50, []int{17}, 14},
		{"three", 300, 50, []int{5, 120, 299}, 28},
		{"neighbours", 300, 50, []int{40, 41}, 18},
		{"all of a group", 8, 4, []int{0, 1, 2, 3}, 10},
		{"one small group", 13, 16, []int{4}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(tc.n, tc.crashAt...)
			s, dir := sweep(t, in, tc.g, 1, 1)
			for i, name := range in.funcs {
				f := s.Funcs[name]
				want := Untriggered
				switch {
				case in.crashAt[i]:
					want = Failed
				case in.f.unreg[name]:
					want = Unregistered
				case in.f.called[name]:
					want = Passed
				}
				if f.Result != want {
					t.Errorf("%s: %s, want %s", name, f.Result, want)
				}
				if want == Failed {
					if f.Crash != "BUG: "+name || f.Tail == "" {
						t.Errorf("%s: crash %q tail %q", name, f.Crash, f.Tail)
					} else if b, err := os.ReadFile(filepath.Join(dir, f.Tail)); err != nil || string(b) != "tail of "+name {
						t.Errorf("%s: tail file %q, %v", name, b, err)
					}
				}
				if want == Unregistered && f.Errno != -22 {
					t.Errorf("%s: errno %d", name, f.Errno)
				}
			}
			k := len(tc.crashAt)
			if s.Boots != tc.boots {
				t.Errorf("boots %d, want %d", s.Boots, tc.boots)
			}
			if b := Bound(tc.n, k, tc.g); s.Boots > b {
				t.Errorf("boots %d above the bound %d", s.Boots, b)
			}
			t.Logf("boots %d, bound %d, seed's scheme %d", s.Boots, Bound(tc.n, k, tc.g), SeedBoots(tc.n, in.crashAt, 1000))
		})
	}
}

func TestSweepJobsSameFiles(t *testing.T) {
	in := newInput(300, 5, 120, 121, 299)
	_, d1 := sweep(t, in, 40, 2, 1)
	in.f.runs = 0
	_, d3 := sweep(t, in, 40, 2, 3)
	r1, r3 := readResults(t, d1), readResults(t, d3)
	for _, c := range Categories {
		if r1[c] != r3[c] {
			t.Errorf("probes.%s differs between -j 1 and -j 3:\n%s\n---\n%s", c, r1[c], r3[c])
		}
	}
}

func TestSweepResumes(t *testing.T) {
	in := newInput(300, 5, 120, 299)
	_, want := sweep(t, in, 50, 1, 1)
	dir := t.TempDir()
	s := NewState(in.funcs, 50, 1)
	// Killed twice: on the 4th run, then on the 9th run of the session.
	for i, after := range []int{4, 9, 0} {
		in.f.runs, in.f.failAfter = 0, after
		if i > 0 {
			var err error
			if s, err = LoadState(dir); err != nil || s == nil {
				t.Fatalf("load: %v %v", s, err)
			}
		}
		err := Sweep(context.Background(), s, in.f, Options{Dir: dir, Jobs: 2})
		if after != 0 && !errors.Is(err, errKilled) {
			t.Fatalf("session %d: %v", i, err)
		}
		if after == 0 && err != nil {
			t.Fatal(err)
		}
	}
	got, w := readResults(t, dir), readResults(t, want)
	for _, c := range Categories {
		if got[c] != w[c] {
			t.Errorf("probes.%s after resume:\n%s\nwant:\n%s", c, got[c], w[c])
		}
	}
}

func TestBound(t *testing.T) {
	for _, tc := range []struct{ n, k, g, want int }{
		{300, 0, 100, 3},
		{300, 3, 100, 3*7 + 6 + 3},
		{1, 1, 100, 0 + 2 + 1},
	} {
		if got := Bound(tc.n, tc.k, tc.g); got != tc.want {
			t.Errorf("Bound(%d,%d,%d) = %d, want %d", tc.n, tc.k, tc.g, got, tc.want)
		}
	}
}

// TestSweepHitOrder: hit counts from crashed runs (the guest's panic
// notifier) order the bisection. On a kernel-like list, where few of a
// group's functions run under the workload (7% on Debian 6.1) and a
// crasher is one that ran, the crashed groups' hit functions are
// bisected first: the same files in fewer boots, within the bound.
func TestSweepHitOrder(t *testing.T) {
	const n, g = 3000, 100
	crashAt := []int{17, 1234, 1250, 2999}
	run := func(hits bool) (*State, map[string]string) {
		in := newInput(n)
		in.f.called = map[string]bool{}
		for i, name := range in.funcs {
			if i%15 == 2 {
				in.f.called[name] = true
			}
		}
		for _, i := range crashAt {
			in.crashAt[i] = true
			in.f.crash[in.funcs[i]] = true
			in.f.called[in.funcs[i]] = true
		}
		in.f.crashHits = hits
		s, dir := sweep(t, in, g, 1, 1)
		return s, readResults(t, dir)
	}
	plain, plainFiles := run(false)
	hit, hitFiles := run(true)
	for _, c := range Categories {
		if plainFiles[c] != hitFiles[c] {
			t.Errorf("probes.%s differs with hit ordering", c)
		}
	}
	if hit.Boots >= plain.Boots {
		t.Errorf("boots with hit ordering %d, halving %d: want fewer", hit.Boots, plain.Boots)
	}
	if b := Bound(n, len(crashAt), g); hit.Boots > b || plain.Boots > b {
		t.Errorf("boots %d and %d, bound %d", hit.Boots, plain.Boots, b)
	}
	t.Logf("%d functions, %d crashers, G %d: %d boots halving, %d ordered by crash hits (bound %d)",
		n, len(crashAt), g, plain.Boots, hit.Boots, Bound(n, len(crashAt), g))
}

// TestSplitHitFirst: the first part of a crashed group's split.
func TestSplitHitFirst(t *testing.T) {
	fs := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, tc := range []struct {
		name        string
		hits        map[string]int64
		first, rest string
	}{
		{"no counts", nil, "a b c d", "e f g h"},
		{"two hit", map[string]int64{"c": 1, "g": 5}, "c g", "a b d e f h"},
		{"three hit: more than a quarter", map[string]int64{"b": 1, "c": 1, "g": 5}, "b c g a", "d e f h"},
		{"six hit", map[string]int64{"a": 1, "b": 1, "d": 1, "e": 1, "g": 1, "h": 1}, "a b d e", "g h c f"},
		{"all hit", map[string]int64{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1, "h": 1}, "a b c d", "e f g h"},
		{"zero is not a hit", map[string]int64{"a": 0, "h": 3}, "h", "a b c d e f g"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState(fs, 8, 1)
			if err := s.Done(s.Jobs[0].ID, Outcome{Crashed: true, Reason: "oops", CrashHits: tc.hits}, nil, ""); err != nil {
				t.Fatal(err)
			}
			j := s.Jobs[0]
			if got := strings.Join(j.Funcs, " "); got != tc.first {
				t.Errorf("first part %q, want %q", got, tc.first)
			}
			if got := strings.Join(j.Other, " "); got != tc.rest {
				t.Errorf("other part %q, want %q", got, tc.rest)
			}
		})
	}
}
