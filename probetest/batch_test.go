package probetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeBatch runs the groups of a batch one after another with fake's
// rules, stopping at the first crash, as a guest does; boots counts its
// guests.
type fakeBatch struct {
	*fake
	boots int
}

func (f *fakeBatch) RunBatch(ctx context.Context, groups [][]string, done func(int, Outcome) error) error {
	f.mu.Lock()
	f.boots++
	f.mu.Unlock()
	for i, g := range groups {
		o, err := f.Run(ctx, g)
		if err != nil {
			return err
		}
		if err := done(i, o); err != nil {
			return err
		}
		if o.Crashed {
			return nil
		}
	}
	return nil
}

// TestSweepBatches: several groups per guest give the same files as a
// guest per group, in fewer boots, with -j 1 and -j 2, and resume after
// the harness is killed mid-guest.
func TestSweepBatches(t *testing.T) {
	in := newInput(300, 5, 120, 121, 299)
	_, want := sweep(t, in, 25, 1, 1)
	plainBoots := in.f.runs
	for _, tc := range []struct {
		jobs, perBoot int
		kills         []int // the harness fails on this group run of a session
	}{
		{1, 16, nil},
		{2, 16, nil},
		{2, 4, nil},
		{1, 16, []int{3, 7}},
		{2, 5, []int{2, 9}},
	} {
		t.Run(fmt.Sprintf("j%d-per%d-kills%v", tc.jobs, tc.perBoot, tc.kills), func(t *testing.T) {
			fb := &fakeBatch{fake: &fake{crash: in.f.crash, called: in.f.called, unreg: in.f.unreg}}
			dir := t.TempDir()
			s := NewState(in.funcs, 25, 1)
			for i, after := range append(tc.kills, 0) {
				fb.runs, fb.failAfter = 0, after
				if i > 0 {
					var err error
					if s, err = LoadState(dir); err != nil || s == nil {
						t.Fatalf("load: %v %v", s, err)
					}
				}
				err := Sweep(context.Background(), s, fb, Options{Dir: dir, Jobs: tc.jobs, PerBoot: tc.perBoot})
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
					t.Errorf("probes.%s:\n%s\nwant (a guest per group):\n%s", c, got[c], w[c])
				}
			}
			if s.Boots > s.Groups || s.Boots >= plainBoots {
				t.Errorf("boots %d, groups %d: want fewer boots than groups and than a guest per group (%d)", s.Boots, s.Groups, plainBoots)
			}
			if b := Bound(len(in.funcs), 4, 25); s.Boots > b {
				t.Errorf("boots %d above the bound %d", s.Boots, b)
			}
			t.Logf("boots %d (a guest per group: %d), groups %d", s.Boots, plainBoots, s.Groups)
		})
	}
}

// TestBatchStream: clean outcomes are reported when the next group
// starts, the counts are read per group, and marks out of order stop the
// guest.
func TestBatchStream(t *testing.T) {
	block := func(lines ...string) string {
		return beginMark + "\n" + strings.Join(lines, "\n") + "\n" + endMark + "\n"
	}
	for _, tc := range []struct {
		name     string
		out      string
		reported []string // "i:fn=hits" of each report, in order
		pending  bool     // the last group ended and awaits the guest's end
		cur      int
		bad      int // the group the guest called bad; -1 = none (0 is never the default: set below)
		badLine  string
		err      string
	}{
		{name: "none", out: "booting\n", cur: -1},
		{name: "one running", out: groupMark + " 0\n", cur: 0},
		{name: "one ended", out: groupMark + " 0\n" + block("a 3 0", "b 0 -2"), cur: 0, pending: true},
		{name: "two", out: groupMark + " 0\n" + block("a 3 0") + groupMark + " 1\n" + block("b 1 0"),
			reported: []string{"0:a=3"}, cur: 1, pending: true},
		{name: "split writes", out: groupMark + " 0\nKGEN-PTEST-BE", cur: 0},
		{name: "skipped mark", out: groupMark + " 1\n", cur: -1, err: "unexpected"},
		{name: "no counts", out: groupMark + " 0\n" + groupMark + " 1\n", cur: 0, err: "without its counts"},
		{name: "bad counts", out: groupMark + " 0\n" + block("a x 0"), cur: 0, err: "bad line"},
		{name: "bad after its counts", out: groupMark + " 0\n" + block("a 1 0") + badMark + " 0 WARNING: CPU: 0 PID: 1 at x\n" + groupMark + " 1\n",
			cur: 0, bad: 0, badLine: "WARNING: CPU: 0 PID: 1 at x"},
		{name: "bad in the second", out: groupMark + " 0\n" + block("a 1 0") + groupMark + " 1\n" + block("a 2 0") + badMark + " 1 BUG: x\n",
			reported: []string{"0:a=1"}, cur: 1, bad: 1, badLine: "BUG: x"},
		{name: "bad before its counts", out: groupMark + " 0\n" + badMark + " 0 BUG: x\n", cur: 0, bad: -1, err: "unexpected"},
		{name: "beyond the batch", out: groupMark + " 0\n" + block("a 1 0") + groupMark + " 1\n" + block("a 1 0") + groupMark + " 2\n",
			reported: []string{"0:a=1"}, cur: 1, pending: true, err: "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			b := &batchStream{n: 2, cur: -1, bad: -1, progress: make(chan struct{}, 1), cancel: func() {},
				done: func(i int, o Outcome) error {
					for fn, h := range o.Hits {
						got = append(got, fmt.Sprintf("%d:%s=%d", i, fn, h))
					}
					return nil
				}}
			// byte by byte and whole: the same
			for _, c := range []byte(tc.out) {
				b.Write([]byte{c})
			}
			if strings.Join(got, ",") != strings.Join(tc.reported, ",") {
				t.Errorf("reported %v, want %v", got, tc.reported)
			}
			if b.cur != tc.cur || (b.pending != nil) != tc.pending {
				t.Errorf("cur %d pending %v, want %d %v", b.cur, b.pending != nil, tc.cur, tc.pending)
			}
			if tc.bad == 0 && tc.badLine == "" {
				tc.bad = -1
			}
			if b.bad != tc.bad || b.badLine != tc.badLine {
				t.Errorf("bad %d %q, want %d %q", b.bad, b.badLine, tc.bad, tc.badLine)
			}
			// A bad group's counts are its crash hits: they order its
			// bisection.
			if b.bad >= 0 && b.badHits["a"] < 1 {
				t.Errorf("bad group's hits %v, want its counts", b.badHits)
			}
			if tc.err == "" && b.err != nil || tc.err != "" && (b.err == nil || !strings.Contains(b.err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", b.err, tc.err)
			}
		})
	}
}

// TestParseCrashHits reads the group module's panic lines off the console.
func TestParseCrashHits(t *testing.T) {
	console := "[   10.1] probetest: armed 3 of 3 probes\r\n" +
		"[   11.2] Kernel panic - not syncing: Fatal exception\n" +
		"[   11.3] probetest: KGEN-PTEST-HITS vfs_read 12\r\n" +
		"[   11.3] probetest: KGEN-PTEST-HITS ksys_sync 1\n" +
		"[   11.3] probetest: KGEN-PTEST-HITS bad_line\n" +
		"[   11.3] probetest: KGEN-PTEST-HITS zero 0\n" +
		"[   11.3] probetest: KGEN-PTEST-HITS-END 2\n" +
		"[   11.4] Kernel Offset: disabled\n"
	got := parseCrashHits(console)
	want := map[string]int64{"vfs_read": 12, "ksys_sync": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseCrashHits = %v, want %v", got, want)
	}
	if got := parseCrashHits("[ 1.0] Kernel panic - not syncing: x\n"); got != nil {
		t.Errorf("no lines: %v, want nil", got)
	}
}
