package multibuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kgen/kbuild"
)

// fakeKDIR writes the files Load reads for a kernel of release rel.
func fakeKDIR(t *testing.T, dir, rel string) {
	t.Helper()
	files := map[string]string{
		"Makefile":                       "all:\n",
		".config":                        "CONFIG_MODULES=y\n",
		"include/generated/utsrelease.h": `#define UTS_RELEASE "` + rel + `"` + "\n",
	}
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDiscover(t *testing.T) {
	d := t.TempDir()
	fakeKDIR(t, filepath.Join(d, "b-kernel", "kdir"), "6.1.0-1-amd64")
	os.WriteFile(filepath.Join(d, "b-kernel", "make.env"), []byte("# c\nCC=gcc-12\n"), 0o644)
	fakeKDIR(t, filepath.Join(d, "a-bare"), "5.10.0-1-amd64")
	os.MkdirAll(filepath.Join(d, "notes"), 0o755)
	os.WriteFile(filepath.Join(d, "READY"), nil, 0o644)
	os.MkdirAll(filepath.Join(d, "norelease"), 0o755)
	os.WriteFile(filepath.Join(d, "norelease", "Makefile"), nil, 0o644)
	os.WriteFile(filepath.Join(d, "norelease", ".config"), nil, 0o644)
	fakeKDIR(t, filepath.Join(d, "escape", "kdir"), "../../etc")
	fakeKDIR(t, filepath.Join(d, "badenv", "kdir"), "1")
	os.WriteFile(filepath.Join(d, "badenv", "make.env"), []byte("not a var\n"), 0o644)

	ks, skipped, err := Discover(d)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range ks {
		got = append(got, k.Name+"="+k.Release+":"+strings.Join(k.Make, ","))
	}
	want := "a-bare=5.10.0-1-amd64: b-kernel=6.1.0-1-amd64:CC=gcc-12"
	if strings.Join(got, " ") != want {
		t.Errorf("kernels = %q, want %q", got, want)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.Name] = s.Reason
	}
	for name, frag := range map[string]string{
		"notes":     "not a kernel",
		"norelease": "utsrelease.h",
		"badenv":    "want VAR=value",
		"escape":    "not a release name",
	} {
		if !strings.Contains(reasons[name], frag) {
			t.Errorf("skip reason of %s = %q, want it to say %q", name, reasons[name], frag)
		}
	}
	if len(skipped) != 4 {
		t.Errorf("skipped %v, want notes, norelease, badenv, escape", skipped)
	}

	if _, _, err := Discover(filepath.Join(d, "notes")); err == nil || !strings.Contains(err.Error(), "no subdirectory holds a kernel") {
		t.Errorf("Discover of an empty dir: %v", err)
	}
	if _, _, err := Discover(filepath.Join(d, "missing")); err == nil {
		t.Error("Discover of a missing dir: no error")
	}
}

func TestCheckReleases(t *testing.T) {
	for _, tc := range []struct {
		rels []string
		err  string
	}{
		{[]string{"a", "b"}, ""},
		{[]string{"a", "b", "a"}, "k0 and k2: both are release a"},
	} {
		var ks []Kernel
		for i, r := range tc.rels {
			ks = append(ks, Kernel{Name: "k" + string(rune('0'+i)), Release: r})
		}
		err := CheckReleases(ks)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckReleases(%v) = %v, want %q", tc.rels, err, tc.err)
		}
	}
}

func TestFirstError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("one\ntwo"), "one"},
		{&kbuild.BuildError{Module: "m.ko", Output: "make: Entering directory\nMakefile:1: *** no.  Stop.\nmake: Leaving\n", Err: errors.New("exit status 2")},
			"Makefile:1: *** no.  Stop."},
		{&kbuild.BuildError{Module: "m.ko", Diagnostics: []kbuild.Diagnostic{
			{Severity: "warning", File: "m.c", Line: 1, Message: "w"},
			{Severity: "error", File: "m.c", Line: 2, Message: "e"}}, Err: errors.New("exit status 2")},
			"m.c:2"},
	} {
		if got := FirstError(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("FirstError(%v) = %q, want %q in it", tc.err, got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	k := Kernel{Name: "debian-6.1", Release: "6.1.0-57-amd64"}
	now := time.Now()
	for _, tc := range []struct {
		s    State
		now  time.Time
		want string
	}{
		{State{Kernel: k, Phase: PhaseWaiting}, now, "debian-6.1 (6.1.0-57-amd64): waiting"},
		{State{Kernel: k, Phase: kbuild.PhaseCompiling, Started: now.Add(-3 * time.Second)}, now, "debian-6.1 (6.1.0-57-amd64): compiling 3s"},
		{State{Kernel: k, Phase: kbuild.PhaseCompiling, Started: now}, time.Time{}, "debian-6.1 (6.1.0-57-amd64): compiling"},
		{State{Kernel: k, Phase: PhaseCached, Elapsed: 40 * time.Millisecond, Result: &kbuild.Result{CC: "gcc-12"}}, now, "debian-6.1 (6.1.0-57-amd64): cached in 0s (gcc-12)"},
		{State{Kernel: k, Phase: PhaseFailed, Elapsed: 2 * time.Second, Err: errors.New("boom\nmore")}, now, "debian-6.1 (6.1.0-57-amd64): failed after 2s: boom"},
	} {
		if got := Line(tc.s, tc.now); got != tc.want {
			t.Errorf("Line = %q, want %q", got, tc.want)
		}
	}
}

func TestDisplayPlain(t *testing.T) {
	var b strings.Builder
	d := NewDisplay(&b, false)
	k := Kernel{Name: "k", Release: "r"}
	d.Update([]State{{Kernel: k, Phase: PhaseWaiting}})
	d.Update([]State{{Kernel: k, Phase: PhaseStart}})
	d.Update([]State{{Kernel: k, Phase: PhaseStart}}) // unchanged: no line
	d.Update([]State{{Kernel: k, Phase: kbuild.PhaseProbing}})
	d.Close()
	want := "k (r): starting\nk (r): probing features\n"
	if b.String() != want {
		t.Errorf("plain display wrote %q, want %q", b.String(), want)
	}
}
