package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCCVersion(t *testing.T) {
	tests := []struct {
		text                    string
		name, prog, prefix, ver string
		major                   int
		wantErr                 bool
	}{
		{text: "gcc-12 (Debian 12.2.0-14) 12.2.0", name: "gcc", prog: "gcc-12", ver: "12.2.0", major: 12},
		{text: "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", name: "gcc", prog: "gcc-12", ver: "12.2.0", major: 12},
		{text: "gcc-10 (Debian 10.2.1-6) 10.2.1 20210110", name: "gcc", prog: "gcc-10", ver: "10.2.1", major: 10},
		{text: "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0", name: "gcc", prog: "x86_64-linux-gnu-gcc-14", prefix: "x86_64-linux-gnu-", ver: "14.2.0", major: 14},
		{text: "aarch64-linux-gnu-gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0", name: "gcc", prog: "aarch64-linux-gnu-gcc", prefix: "aarch64-linux-gnu-", ver: "11.4.0", major: 11},
		{text: "gcc (GCC) 4.8.5 20150623 (Red Hat 4.8.5-44)", name: "gcc", prog: "gcc", ver: "4.8.5", major: 4},
		{text: "gcc (GCC) 13.2.1 20230801", name: "gcc", prog: "gcc", ver: "13.2.1", major: 13},
		{text: "Debian clang version 16.0.6 (15)", name: "clang", ver: "16.0.6", major: 16},
		{text: "clang version 17.0.0 (https://github.com/llvm/llvm-project abc)", name: "clang", ver: "17.0.0", major: 17},
		{text: "Ubuntu clang version 14.0.0-1ubuntu1.1", name: "clang", ver: "14.0.0", major: 14},
		{text: "", wantErr: true},
		{text: "tcc version 0.9.27", wantErr: true},
		{text: "gcc (weird)", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			v, err := ParseCCVersion(tt.text)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseCCVersion(%q) = %+v, want error", tt.text, v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Name != tt.name || v.Program != tt.prog || v.Prefix != tt.prefix || v.Version != tt.ver || v.Major != tt.major {
				t.Errorf("ParseCCVersion(%q) = %+v", tt.text, v)
			}
		})
	}
}

func TestParseDiagnostics(t *testing.T) {
	dir := "/tmp/kgen/b/abc.src"
	tree := map[string][]byte{
		"m.c":       []byte("// SPDX\n#include <linux/module.h>\n/* kgen: probes[0] */\nint a;\n/* kgen: probes[0].args[1] */\nint b = c;\n"),
		"m_trace.h": []byte("/* kgen: probes[2] */\nTRACE_EVENT(x)\n"),
		"other.c":   []byte("int x;\n"),
	}
	out := strings.Join([]string{
		"  CC [M]  " + dir + "/m.o",
		dir + "/m.c: In function 'f':",
		dir + "/m.c:6:9: error: 'c' undeclared here (not in a function)",
		dir + "/m.c:4:5: warning: no previous prototype for 'a' [-Wmissing-prototypes]",
		"In file included from " + dir + "/m.c:2:",
		"./m_trace.h:2:1: error: expected ';' before 'x'",
		"other.c:1:5: error: bad",
		"/usr/src/linux/include/linux/kernel.h:10:2: note: declared here",
		"/usr/src/linux/include/linux/kernel.h:12: warning: a line without column",
		dir + "/m.c:6:9: error: 'c' undeclared here (not in a function)",
		`ERROR: modpost: "kallsyms_lookup_name" [` + dir + `/m.ko] undefined!`,
		`WARNING: modpost: missing MODULE_DESCRIPTION() in ` + dir + `/m.o`,
		"/bin/sh: 1: bc: not found",
		"make[2]: x86_64-linux-gnu-gcc-14: No such file or directory",
		"/bin/sh: 1: aarch64-linux-gnu-gcc: not found",
		dir + "/tools/x.c:3:10: fatal error: gelf.h: No such file or directory",
		"scripts/sign-file.c:25:10: fatal error: openssl/opensslv.h: No such file or directory",
		"/bin/sh: 1: scripts/basic/fixdep: not found",
		"make[1]: *** [Makefile:1: all] Error 2",
	}, "\n")
	got := parseDiagnostics(out, dir, tree)
	want := []Diagnostic{
		{File: "m.c", Line: 6, Col: 9, Severity: "error", Message: "'c' undeclared here (not in a function)", SpecPath: "probes[0].args[1]"},
		{File: "m.c", Line: 4, Col: 5, Severity: "warning", Message: "no previous prototype for 'a' [-Wmissing-prototypes]", SpecPath: "probes[0]"},
		{File: "m_trace.h", Line: 2, Col: 1, Severity: "error", Message: "expected ';' before 'x'", SpecPath: "probes[2]"},
		{File: "other.c", Line: 1, Col: 5, Severity: "error", Message: "bad"},
		{File: "/usr/src/linux/include/linux/kernel.h", Line: 12, Severity: "warning", Message: "a line without column"},
		{Severity: "error", Message: `modpost: "kallsyms_lookup_name" [m.ko] undefined!`},
		{Severity: "warning", Message: "modpost: missing MODULE_DESCRIPTION() in m.o"},
		{Severity: "error", Message: "bc: not found", Hint: "install bc (Debian: apt-get install bc)"},
		{Severity: "error", Message: "x86_64-linux-gnu-gcc-14: not found", Hint: "install gcc-14 (Debian: apt-get install gcc-14)"},
		{Severity: "error", Message: "aarch64-linux-gnu-gcc: not found", Hint: "install gcc-aarch64-linux-gnu (Debian: apt-get install gcc-aarch64-linux-gnu)"},
		{File: "tools/x.c", Line: 3, Col: 10, Severity: "fatal error", Message: "gelf.h: No such file or directory", Hint: "install libelf-dev (Debian: apt-get install libelf-dev)"},
		{File: "scripts/sign-file.c", Line: 25, Col: 10, Severity: "fatal error", Message: "openssl/opensslv.h: No such file or directory", Hint: "install libssl-dev (Debian: apt-get install libssl-dev)"},
		{Severity: "error", Message: "/bin/sh: 1: scripts/basic/fixdep: not found",
			Hint: "the kernel build tree is incomplete: install its headers and kbuild packages (Debian: linux-headers-<release>) or run make modules_prepare in it"},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Diagnostic
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("diagnostic %d:\n got %#v\nwant %#v", i, g, w)
			}
		}
	}
	if s := got[0].String(); s != "m.c:6: error: 'c' undeclared here (not in a function) (from spec item probes[0].args[1])" {
		t.Errorf("String() = %q", s)
	}
}

func TestBuildErrorMessage(t *testing.T) {
	e := &BuildError{Module: "m.ko", Err: errors.New("exit status 2"), Diagnostics: []Diagnostic{
		{File: "m.c", Line: 3, Severity: "warning", Message: "w"},
		{File: "m.c", Line: 6, Severity: "error", Message: "boom", SpecPath: "probes[0]"},
	}}
	want := "build m.ko: 1 error(s):\n  m.c:6: error: boom (from spec item probes[0])"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if !errors.Is(e, ErrBuild) || errors.Is(e, ErrMissingTool) {
		t.Errorf("errors.Is: ErrBuild %v, ErrMissingTool %v", errors.Is(e, ErrBuild), errors.Is(e, ErrMissingTool))
	}
	e.Diagnostics = []Diagnostic{{Severity: "error", Message: "bc: not found", Hint: "install bc"}}
	if !errors.Is(e, ErrMissingTool) {
		t.Error("a diagnostic with a hint should make the error wrap ErrMissingTool")
	}
	e.Diagnostics, e.Output = nil, "a\nb\nmake: *** [x] Error 1\n"
	if !strings.Contains(e.Error(), "make: *** [x] Error 1") {
		t.Errorf("without diagnostics the error should quote make's tail: %q", e.Error())
	}
}

func TestMarkerBefore(t *testing.T) {
	src := []byte("a\n/* kgen: probes[0] */\nb\n\t/* kgen: probes[1].filter.when */ x\nc\n")
	tests := []struct {
		line int
		want string
	}{{0, ""}, {1, ""}, {2, "probes[0]"}, {3, "probes[0]"}, {4, "probes[1].filter.when"}, {5, "probes[1].filter.when"}, {99, "probes[1].filter.when"}}
	for _, tt := range tests {
		if got := markerBefore(src, tt.line); got != tt.want {
			t.Errorf("markerBefore(line %d) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestFeatureHeader(t *testing.T) {
	got := string(FeatureHeader(map[string]bool{"HAVE_B": false, "HAVE_A": true}))
	want := "/* SPDX-License-Identifier: GPL-2.0 */\n" +
		"/* Code generated by kgen feature probes; DO NOT EDIT. */\n" +
		"#ifndef KGEN_FEATURES_H\n#define KGEN_FEATURES_H\n" +
		"#define KGEN_HAVE_A 1\n" +
		"/* #undef KGEN_HAVE_B */\n" +
		"#endif /* KGEN_FEATURES_H */\n"
	if got != want {
		t.Errorf("FeatureHeader =\n%s\nwant\n%s", got, want)
	}
}

func TestSymProbeHolds(t *testing.T) {
	syms := map[string]bool{"a": true, "b": true}
	tests := []struct {
		src  string
		want bool
	}{
		{"a\n", true},
		{"# comment\na\nb # trailing\n", true},
		{"a\nc\n", false},
		{"# nothing\n\n", false},
	}
	for _, tt := range tests {
		if got := symProbeHolds([]byte(tt.src), syms); got != tt.want {
			t.Errorf("symProbeHolds(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestProbesIn(t *testing.T) {
	ps, err := probesIn(map[string][]byte{
		"m.c": nil, "features/HAVE_B.sym": []byte("x"), "features/HAVE_A.c": []byte("y"), "features/README": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].name != "HAVE_A" || ps[0].ext != ".c" || ps[1].name != "HAVE_B" || ps[1].ext != ".sym" {
		t.Errorf("probesIn = %+v", ps)
	}
	for _, bad := range []map[string][]byte{
		{"features/HAVE_A.c": nil, "features/HAVE_A.sym": nil},
		{"features/kgen_sanity.c": nil},
		{"features/has-dash.c": nil},
	} {
		if _, err := probesIn(bad); err == nil {
			t.Errorf("probesIn(%v) = nil error", bad)
		}
	}
}

func TestParseMakeEnv(t *testing.T) {
	got, err := parseMakeEnv(strings.NewReader("# c\nCC=gcc-12\n\n CONFIG_X= \nW=1\n"), "make.env")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CC=gcc-12", "CONFIG_X=", "W=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := parseMakeEnv(strings.NewReader("not a var\n"), "make.env"); err == nil || !strings.Contains(err.Error(), "make.env:1") {
		t.Errorf("bad line: err = %v", err)
	}
	vars, err := ReadMakeEnv(filepath.Join(t.TempDir(), "absent"))
	if err != nil || vars != nil {
		t.Errorf("ReadMakeEnv(absent) = %v, %v", vars, err)
	}
}

func TestPackageFor(t *testing.T) {
	tests := map[string]string{
		"gcc": "gcc", "gcc-14": "gcc-14", "x86_64-linux-gnu-gcc-14": "gcc-14", "x86_64-linux-gnu-gcc": "gcc",
		"aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "aarch64-linux-gnu-gcc-12": "gcc-12-aarch64-linux-gnu",
		"bc": "bc", "flex": "flex", "bison": "bison", "pahole": "dwarves", "gelf.h": "libelf-dev", "openssl/bio.h": "libssl-dev",
		"ld": "binutils", "make": "make",
	}
	for tool, want := range tests {
		if got := packageFor(tool); got != want {
			t.Errorf("packageFor(%q) = %q, want %q", tool, got, want)
		}
	}
}

func TestFindKDIR(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindKDIR(dir); !errors.Is(err, ErrNoKDIR) {
		t.Fatalf("empty dir: err = %v, want ErrNoKDIR", err)
	}
	for _, f := range []string{"Makefile", ".config"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := FindKDIR(dir); err != nil || got != dir {
		t.Fatalf("FindKDIR(%s) = %q, %v", dir, got, err)
	}
	t.Setenv("KDIR", dir)
	if got, err := FindKDIR(""); err != nil || got != dir {
		t.Fatalf("FindKDIR with $KDIR = %q, %v", got, err)
	}
	t.Setenv("KDIR", "")
	rel, err := unameRelease()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/lib/modules/" + rel + "/build/.config"); err == nil {
		t.Skip("the running kernel's headers are installed; the missing-headers message cannot be shown")
	}
	_, err = FindKDIR("")
	if !errors.Is(err, ErrNoKDIR) || !strings.Contains(err.Error(), "apt-get install linux-headers-"+rel) {
		t.Errorf("FindKDIR(\"\") error %q should name linux-headers-%s", err, rel)
	}
}

func TestSafeTreePath(t *testing.T) {
	for p, want := range map[string]bool{
		"m.c": true, "features/HAVE_X.c": true, "": false, "/etc/passwd": false, "../x": false, "a/../../x": false, "./m.c": false, "a//b": false,
	} {
		if got := safeTreePath(p); got != want {
			t.Errorf("safeTreePath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestMakeArgs(t *testing.T) {
	a := makeArgs{KDIR: "/k", Dir: "/m", Jobs: 2, Arch: "arm64", Cross: "aarch64-linux-gnu-", CC: "aarch64-linux-gnu-gcc-12",
		Vars: []string{"CONFIG_X=", "W=1"}, Targets: []string{"modules"}, KeepGoing: true}
	want := []string{"-C", "/k", "M=/m", "-j2", "-k", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "CC=aarch64-linux-gnu-gcc-12", "CONFIG_X=", "W=1", "modules"}
	if got := a.argv(); !reflect.DeepEqual(got, want) {
		t.Errorf("argv = %q, want %q", got, want)
	}
	for _, e := range cleanEnv() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "PATH", "HOME", "LC_ALL", "LANG", "TMPDIR":
		default:
			t.Errorf("cleanEnv passes %s", k)
		}
	}
}

func TestLiftToolVars(t *testing.T) {
	cfg := Config{CC: "clang", ExtraMake: []string{"CC=gcc-12", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "W=1", "CONFIG_X="}}
	rest := liftToolVars(&cfg)
	if want := []string{"W=1", "CONFIG_X="}; !reflect.DeepEqual(rest, want) {
		t.Errorf("rest = %q, want %q", rest, want)
	}
	if cfg.CC != "clang" || cfg.Arch != "arm64" || cfg.CrossCompile != "aarch64-linux-gnu-" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestBuildCancelled(t *testing.T) {
	ks := kernels(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := Config{KDIR: ks[0].kdir, CacheDir: t.TempDir(), Version: "cancel"}
	tree := map[string][]byte{"Kbuild": []byte("obj-m := m.o\n"), "m.c": []byte("int m;\n")}
	if _, err := Build(ctx, cfg, tree, "m", t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// linkWatcher turns Kbuild's first MODPOST or "LD [M]" line, however make's
// output is split into writes, into one PhaseLinking.
func TestLinkWatcher(t *testing.T) {
	for _, tc := range []struct {
		writes []string
		want   int
	}{
		{[]string{"  CC [M]  /m/m.o\n", "  MODPOST /m/Module.symvers\n", "  LD [M]  /m/m.ko\n"}, 1},
		{[]string{"  CC [M]  /m/m.o\n  LD", " [M]  /m/m.ko\n"}, 1},
		{[]string{"  CC [M]  /m/m.o\n", "  LD [M]  /m/m.ko"}, 0}, // no newline yet
		{[]string{"m.c:1:1: error: LD [M] in a message\n"}, 0},
	} {
		n := 0
		w := &linkWatcher{progress: func(p string) {
			if p != PhaseLinking {
				t.Errorf("phase %q", p)
			}
			n++
		}}
		for _, s := range tc.writes {
			w.Write([]byte(s))
		}
		if n != tc.want {
			t.Errorf("%q: %d linking phases, want %d", tc.writes, n, tc.want)
		}
	}
}

func TestKernelRelease(t *testing.T) {
	d := t.TempDir()
	if _, err := KernelRelease(d); err == nil || !strings.Contains(err.Error(), "modules_prepare") {
		t.Errorf("KernelRelease without utsrelease.h = %v, want the fix named", err)
	}
	p := filepath.Join(d, "include", "generated", "utsrelease.h")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("/* x */\n"), 0o644)
	if _, err := KernelRelease(d); err == nil || !strings.Contains(err.Error(), "no UTS_RELEASE") {
		t.Errorf("KernelRelease of an empty utsrelease.h = %v", err)
	}
	os.WriteFile(p, []byte("#define UTS_RELEASE \"6.1.0-57-amd64\"\n"), 0o644)
	if r, err := KernelRelease(d); err != nil || r != "6.1.0-57-amd64" {
		t.Errorf("KernelRelease = %q, %v", r, err)
	}
}
