package probetest

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCounts(t *testing.T) {
	o, err := parseCounts("noise\n" + beginMark + "\nvfs_read 12 0\njiffies 0 -22\n" + endMark + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if o.Hits["vfs_read"] != 12 || o.Errno["jiffies"] != -22 || len(o.Errno) != 2 {
		t.Errorf("got %+v", o)
	}
	for _, bad := range []string{"", beginMark + "\nvfs_read 1 0\n", beginMark + "\nvfs_read x 0\n" + endMark, beginMark + "\na b\n" + endMark} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q): no error", bad)
		}
	}
}

func TestParseFunctionList(t *testing.T) {
	got := parseFunctionList("boot noise\nKGEN-PTEST-FUNCS\nvfs_read\nnotify_die\nmod_fn [mymod]\nvfs_read\n__ia32_sys_read\n__ftrace_invalid_address___1024\nKGEN-PTEST-BLACKLIST\n0xffff-0xffff\tnotify_die\n" + endMark + "\nafter\n")
	if want := []string{"__ia32_sys_read", "vfs_read"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestGlob(t *testing.T) {
	got, err := Glob([]string{"vfs_read", "vfs_write", "ksys_read"}, "vfs_*")
	if err != nil || !slices.Equal(got, []string{"vfs_read", "vfs_write"}) {
		t.Errorf("got %v %v", got, err)
	}
	if _, err := Glob([]string{"a"}, "["); err == nil {
		t.Error("bad pattern: no error")
	}
}

// FuzzParseCounts: the guest's output never panics the parser, and what
// it accepts it read from lines between the marks.
func FuzzParseCounts(f *testing.F) {
	f.Add(beginMark + "\nvfs_read 12 0\n" + endMark + "\n")
	f.Add("KGEN-PTEST-FUNCS\nvfs_read\nKGEN-PTEST-BLACKLIST\n0x1-0x2 a\n" + endMark)
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseCounts(s)
		if err == nil && !strings.Contains(s, endMark) {
			t.Errorf("accepted output without %s", endMark)
		}
		for name := range o.Errno {
			if strings.ContainsAny(name, " \t\n") {
				t.Errorf("name %q", name)
			}
		}
		for _, fn := range parseFunctionList(s) {
			if !reFunc.MatchString(fn) {
				t.Errorf("listed %q", fn)
			}
		}
	})
}
