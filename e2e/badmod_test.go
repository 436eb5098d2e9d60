package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"kgen/kbuild"
)

// debugKernel is the kernel with the checkers on (scripts/debug-6.1.config).
const debugKernel = "debug-6.1"

// TestVMDebugChecks is the positive control of the debug kernel: it loads
// testdata/badmod, which does one bad thing per boot, and checks that kgen
// vm fails the run (exit status 1) naming the checker's report, and that a
// load doing nothing passes. The VM suites' clean runs on debug-6.1 mean
// something only while this test passes.
func TestVMDebugChecks(t *testing.T) {
	k := need(t, debugKernel, "KGEN_REQUIRE_VM")
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatal("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
		}
		t.Skip("qemu-system-x86_64 not found")
	}
	ko := buildBadmod(t, k)
	tests := []struct {
		bug  string
		want string // in kgen's error line: the report's first line
		also string // elsewhere in the console tail kgen prints
	}{
		{"none", "", ""},
		{"oob", "guest kernel checker report: ", "BUG: KASAN: slab-out-of-bounds in badmod_oob"},
		{"sleep", "guest kernel checker report: ", "BUG: sleeping function called from invalid context"},
		{"order", "guest kernel checker report: ", "WARNING: possible circular locking dependency detected"},
		{"list", "guest kernel checker report: ", "list_add double add"},
		{"timer", "guest kernel checker report: ", "ODEBUG: free active"},
	}
	for _, tt := range tests {
		t.Run(tt.bug, func(t *testing.T) {
			o, err := kgen(t, "vm", "--kernel", k.Vmlinux, "--kgen-binary", "-", "--timeout", "3m",
				"--add", ko+":/root/badmod.ko", "--", "insmod /root/badmod.ko bug="+tt.bug+" && echo loaded")
			if tt.want == "" {
				if err != nil || !strings.Contains(o, "loaded") {
					t.Fatalf("badmod bug=none: %v\n%s", err, o)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("badmod bug=%s: got %v, want kgen vm to exit 1\n%s", tt.bug, err, o)
			}
			// kgen: guest kernel checker report: [    5.1] BUG: KASAN: ...
			var errLine string
			for _, l := range strings.Split(o, "\n") {
				if strings.HasPrefix(l, "kgen: ") {
					errLine = l
				}
			}
			if !strings.Contains(errLine, tt.want) || !strings.Contains(errLine, tt.also) {
				t.Errorf("badmod bug=%s: kgen said %q, want %q with %q\n%s", tt.bug, errLine, tt.want, tt.also, o)
			}
			// Lockdep turns itself off at its own report and at KASAN's
			// (which makes lock state unreliable); /init says so.
			if (tt.bug == "oob" || tt.bug == "order") && !strings.Contains(o, "kgen vm: lockdep turned itself off") {
				t.Errorf("badmod bug=%s: no line from /init saying lockdep turned itself off:\n%s", tt.bug, o)
			}
			t.Logf("%s", errLine)
		})
	}
}

// buildBadmod builds testdata/badmod against k in a scratch copy.
func buildBadmod(t *testing.T, k kernel) string {
	t.Helper()
	ko, _ := buildTestModule(t, k, "badmod")
	return ko
}

// buildTestModule builds the hand-written module testdata/<name>
// (<name>.c and Kbuild) against k with W=1, in a scratch copy, and returns
// the .ko and make's output (for its warnings).
func buildTestModule(t *testing.T, k kernel, name string) (string, string) {
	t.Helper()
	src := t.TempDir()
	for _, f := range []string{name + ".c", "Kbuild"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-C", k.KDIR, "M=" + src, "W=1", "modules"}
	if env, err := os.ReadFile(filepath.Join(k.Dir, "make.env")); err == nil {
		args = append(args, strings.Fields(string(env))...)
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "CC=") }) {
		// The compiler the kernel names (gcc-12 for debug-6.1), as kgen
		// build picks it: plain gcc makes Kbuild warn that it differs. A
		// cross build's is the cross compiler of that version.
		cross := ""
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "CROSS_COMPILE="); ok {
				cross = v
			}
		}
		if cc := kernelGCC(k, cross); cc != "" {
			args = append(args, "CC="+cc)
		}
	}
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return filepath.Join(src, name+".ko"), string(out)
}

// kernelGCC returns <cross>gcc-<major> for the gcc k was built with, if
// installed.
func kernelGCC(k kernel, cross string) string {
	b, err := os.ReadFile(filepath.Join(k.KDIR, ".config"))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^CONFIG_CC_VERSION_TEXT="(.*)"$`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	v, err := kbuild.ParseCCVersion(string(m[1]))
	if err != nil || v.Name != "gcc" {
		return ""
	}
	cc := cross + "gcc-" + strconv.Itoa(v.Major)
	if _, err := exec.LookPath(cc); err != nil {
		return ""
	}
	return cc
}
