// Package e2e holds kgen's end-to-end tests: every example compiled against
// every Debian kernel, and real load/trace/unload runs in a VM per kernel.
// Nothing about the kernel is mocked: the assertions read what the guest
// kernel printed.
//
// Kernels come from scripts/fetch-kernels.sh ($KGEN_KERNELS, default
// ~/.cache/kgen/kernels). Without them the tests skip, unless
// KGEN_REQUIRE_KERNELS=1 / KGEN_REQUIRE_VM=1 (as make test sets) turn a
// missing kernel or qemu into a failure.
package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kgen/kbuild"
	"kgen/spec"
)

var kernelNames = []string{"debian-5.10", "debian-6.1", "debian-6.12", "debug-6.1"}

// arm64Kernel is scripts/fetch-kernels.sh's arm64 kernel: headers, and an
// Image (not a vmlinux) with an arm64 busybox for kgen vm.
const arm64Kernel = "debian-6.1-arm64"

// vmTimeout is a VM run's --timeout on kernel name: the debug kernel
// (KASAN, lockdep) is slower under TCG (TestVMOtst: 166 s against Debian
// 6.1's 102 s on a quiet host, 683 s against 305 s on a loaded one), and
// CI shares its 2 CPUs between packages; 4 times leaves room.
func vmTimeout(name, timeout string) string {
	d, _ := time.ParseDuration(timeout)
	switch {
	case name == debugKernel:
		return (4 * d).String()
	case strings.HasSuffix(name, "-arm64"):
		// arm64 under TCG is slower, and KGEN_ARM64_FULL=1 make test
		// runs its full scenarios beside the main run's guests (the
		// kretprobe one took 144 s alone, 195 s beside them).
		return (2 * d).String()
	}
	return timeout
}

var kgenBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kgen-e2e-")
	if err != nil {
		panic(err)
	}
	kgenBin = filepath.Join(dir, "kgen")
	cmd := exec.Command("go", "build", "-o", kgenBin, "../cmd/kgen")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kernel is a fetched kernel; Vmlinux is the file kgen vm boots (an
// arm64 kernel's Image).
type kernel struct {
	Name, Dir, KDIR, Vmlinux, Release string
}

func kernelsDir() string {
	if d := os.Getenv("KGEN_KERNELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kgen", "kernels")
}

// need returns the kernel, or skips (fails when env requires it).
func need(t *testing.T, name, requireEnv string) kernel {
	t.Helper()
	d := filepath.Join(kernelsDir(), name)
	k := kernel{Name: name, Dir: d, KDIR: filepath.Join(d, "kdir"), Vmlinux: filepath.Join(d, "vmlinux")}
	if strings.HasSuffix(name, "-arm64") {
		k.Vmlinux = filepath.Join(d, "Image")
	}
	rel, err := os.ReadFile(filepath.Join(d, "release"))
	if err == nil {
		_, err = os.Stat(k.Vmlinux)
	}
	if err != nil {
		msg := "kernel " + name + " not fetched (run scripts/fetch-kernels.sh): " + err.Error()
		if os.Getenv(requireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	k.Release = strings.TrimSpace(string(rel))
	return k
}

func kgen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kgenBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func specsToCompile(t *testing.T) []string {
	var files []string
	for _, g := range []string{"../examples/*.yaml", "../generator/testdata/specs/*.yaml", "testdata/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	return files
}

var vermagicRE = regexp.MustCompile(`vermagic=(\S+)`)

// TestCompile builds every spec with kgen build for every kernel, and the
// generated tree once more with its standalone Makefile and W=1, which
// must print no warning.
func TestCompile(t *testing.T) {
	for _, name := range kernelNames {
		t.Run(name, func(t *testing.T) {
			compileSpecs(t, need(t, name, "KGEN_REQUIRE_KERNELS"), "", "", nil)
		})
	}
}

// crossKernels are fetched for compile tests only (headers, no image):
// scripts/fetch-kernels.sh's debian-6.1-arm64.
// features are probe answers the generated C depends on for that
// architecture, checked in each standalone tree that probes them: arm64
// 6.1 has no DYNAMIC_FTRACE_WITH_ARGS, where linux/ftrace.h makes
// ftrace_instruction_pointer_set() a no-op, so the payload must redirect
// through SAVE_REGS' pt_regs instead.
var crossKernels = []struct {
	name, arch, cross string
	features          map[string]bool
}{
	{"debian-6.1-arm64", "arm64", "aarch64-linux-gnu-", map[string]bool{
		"HAVE_FTRACE_INSTRUCTION_POINTER_SET": false, "HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER": false,
		"HAVE_FTRACE_REGS": true, "HAVE_FTRACE_REGS_PT_REGS": true, "HAVE_FTRACE_REGS_GET_ARGUMENT": false,
		"HAVE_REGS_GET_KERNEL_ARGUMENT": true, "HAVE_STACK_TRACE_SAVE": true, "HAVE_TASK_SYSCALL_WORK": true,
	}},
}

// TestCompileCross builds every spec for each foreign-architecture kernel
// with --arch/--cross-compile, and the standalone tree with ARCH=,
// CROSS_COMPILE= and W=1, as TestCompile does: every kind must build,
// warning-free, and each .ko must be an object of that architecture.
func TestCompileCross(t *testing.T) {
	for _, ck := range crossKernels {
		t.Run(ck.name, func(t *testing.T) {
			k := needHeaders(t, ck.name)
			if _, err := exec.LookPath(ck.cross + "gcc"); err != nil {
				msg := "no " + ck.cross + "gcc (scripts/install-deps.sh --arm64): " + err.Error()
				if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			compileSpecs(t, k, ck.arch, ck.cross, ck.features)
		})
	}
}

// needHeaders is need for a headers-only kernel: a KDIR and a release, no
// vmlinux.
func needHeaders(t *testing.T, name string) kernel {
	t.Helper()
	d := filepath.Join(kernelsDir(), name)
	k := kernel{Name: name, Dir: d, KDIR: filepath.Join(d, "kdir")}
	rel, err := os.ReadFile(filepath.Join(d, "release"))
	if err == nil {
		_, err = os.Stat(filepath.Join(k.KDIR, "Makefile"))
	}
	if err != nil {
		msg := "kernel " + name + " not fetched (run scripts/fetch-kernels.sh " + name + "): " + err.Error()
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	k.Release = strings.TrimSpace(string(rel))
	return k
}

// elfMachine is each ARCH's ELF e_machine ("" = the host's).
var elfMachine = map[string]elf.Machine{"": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// compileSpecs builds every spec for kernel k (arch and cross empty for the
// host) with kgen build, then with the standalone Makefile and W=1, whose
// kgen_features.h must give the answers in features to the probes it has.
func compileSpecs(t *testing.T, k kernel, arch, cross string, features map[string]bool) {
	cache := t.TempDir()
	var buildArgs, makeArgs []string
	if arch != "" {
		buildArgs = []string{"--arch", arch, "--cross-compile", cross}
		makeArgs = []string{"ARCH=" + arch, "CROSS_COMPILE=" + cross}
	}
	for _, spec := range specsToCompile(t) {
		base := strings.TrimSuffix(filepath.Base(spec), ".yaml")
		t.Run(base, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"build", spec, "--kdir", k.KDIR, "-o", out, "--cache-dir", cache}, buildArgs...)
			o, err := kgen(t, args...)
			if err != nil {
				t.Fatalf("kgen build: %v\n%s", err, o)
			}
			kos, _ := filepath.Glob(filepath.Join(out, "*.ko"))
			if len(kos) != 1 {
				t.Fatalf("kgen build wrote %v, want one .ko", kos)
			}
			b, err := os.ReadFile(kos[0])
			if err != nil {
				t.Fatal(err)
			}
			m := vermagicRE.FindSubmatch(b)
			if m == nil || string(m[1]) != k.Release {
				t.Fatalf("vermagic of %s = %q, want release %s", kos[0], m, k.Release)
			}
			if f, err := elf.NewFile(bytes.NewReader(b)); err != nil {
				t.Errorf("%s: %v", kos[0], err)
			} else if f.Machine != elfMachine[arch] {
				t.Errorf("%s is an %v object, want %v", kos[0], f.Machine, elfMachine[arch])
			}

			// Standalone: kgen generate + make W=1, no kgen involved.
			src := t.TempDir()
			if o, err := kgen(t, "generate", spec, "-o", src); err != nil {
				t.Fatalf("kgen generate: %v\n%s", err, o)
			}
			cmd := exec.Command("make", append([]string{"-C", src, "KDIR=" + k.KDIR, "W=1"}, makeArgs...)...)
			mo, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make W=1: %v\n%s", err, mo)
			}
			for _, w := range w1Warnings(string(mo), src) {
				t.Errorf("make W=1 warns: %s", w)
			}
			if len(features) > 0 {
				h, err := os.ReadFile(filepath.Join(src, "kgen_features.h"))
				if err != nil {
					t.Fatal(err)
				}
				got := parseFeatures(string(h))
				for f, want := range features {
					if have, probed := got[f]; probed && have != want {
						t.Errorf("%s: feature %s = %v, want %v", k.Name, f, have, want)
					}
				}
			}
		})
	}
}

// featureLineRE matches kgen_features.h's "#define KGEN_F 1" and
// "/* #undef KGEN_F */" lines.
var featureLineRE = regexp.MustCompile(`(?m)^(?:#define KGEN_(\w+) 1|/\* #undef KGEN_(\w+) \*/)$`)

// parseFeatures returns each probe's answer in a kgen_features.h.
func parseFeatures(h string) map[string]bool {
	got := map[string]bool{}
	for _, m := range featureLineRE.FindAllStringSubmatch(h, -1) {
		if m[1] != "" {
			got[m[1]] = true
		} else {
			got[m[2]] = false
		}
	}
	return got
}

// anyWarningRE is the fallback for what the diagnostics parser does not
// know: any line saying "warning:" in any case (gcc's "warning:", modpost's
// "WARNING:", ld's "ld: warning:").
var anyWarningRE = regexp.MustCompile(`(?i)\bwarning:`)

// w1Warnings returns every diagnostic kbuild's parser finds in make output
// (compiler and modpost, errors and warnings), then every other line that
// says "warning:" in any case.
func w1Warnings(out, dir string) []string {
	var ws []string
	for _, d := range kbuild.ParseDiagnostics(out, dir) {
		ws = append(ws, d.String())
	}
	for _, l := range strings.Split(out, "\n") {
		if anyWarningRE.MatchString(l) && len(kbuild.ParseDiagnostics(l, dir)) == 0 {
			ws = append(ws, strings.TrimSpace(l))
		}
	}
	return ws
}

// TestW1Warnings feeds w1Warnings make output with each kind of warning,
// as the kernels print them, and a clean build's output.
func TestW1Warnings(t *testing.T) {
	const clean = "make -C /k M=/m modules\n  CC [M]  /m/x.o\n  MODPOST /m/Module.symvers\n  CC [M]  /m/x.mod.o\n  LD [M]  /m/x.ko\n" +
		"  BTF [M] /m/x.ko\nSkipping BTF generation for /m/x.ko due to unavailability of vmlinux\n"
	for _, tt := range []struct {
		name, out string
		want      int
	}{
		{"clean", clean, 0},
		{"gcc", clean + "/m/x.c:12:5: warning: no previous prototype for 'f' [-Wmissing-prototypes]\n", 1},
		{"modpost 6.12", clean + "WARNING: modpost: missing MODULE_DESCRIPTION() in /m/x.o\n", 1},
		{"modpost 5.10", clean + "WARNING: \"foo\" [/m/x.ko] undefined!\n", 1},
		{"ld", clean + "ld: warning: creating DT_TEXTREL in a PIE\n", 1},
		{"capitalised", clean + "Warning: something new\n", 1},
		{"error", clean + "/m/x.c:3:1: error: expected ';'\n", 1},
	} {
		if got := w1Warnings(tt.out, "/m"); len(got) != tt.want {
			t.Errorf("%s: w1Warnings = %q, want %d", tt.name, got, tt.want)
		}
	}
}

// TestStandaloneKDIRSwitch builds one generated tree with its standalone
// Makefile for each kernel in turn: the feature probes must run again for
// each (otst's __assign_str takes one argument from 6.10 on, two before,
// so a stale kgen_features.h fails the 6.12 build), each .ko must carry
// its kernel's vermagic, and make clean must work with no kernel tree.
func TestStandaloneKDIRSwitch(t *testing.T) {
	src := t.TempDir()
	if o, err := kgen(t, "generate", "../examples/otst.yaml", "-o", src); err != nil {
		t.Fatalf("kgen generate: %v\n%s", err, o)
	}
	for _, name := range kernelNames {
		k := need(t, name, "KGEN_REQUIRE_KERNELS")
		mo, err := exec.Command("make", "-C", src, "KDIR="+k.KDIR).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: make after another kernel's: %v\n%s", name, err, mo)
		}
		if !strings.Contains(string(mo), "PROBE   "+k.KDIR) {
			t.Errorf("%s: make did not probe features again:\n%s", name, mo)
		}
		b, err := os.ReadFile(filepath.Join(src, "otst.ko"))
		if err != nil {
			t.Fatal(err)
		}
		if m := vermagicRE.FindSubmatch(b); m == nil || string(m[1]) != k.Release {
			t.Errorf("%s: vermagic %q, want %s", name, m, k.Release)
		}
		// Once probed, the same kernel does not probe again.
		if mo, err := exec.Command("make", "-C", src, "KDIR="+k.KDIR).CombinedOutput(); err != nil || strings.Contains(string(mo), "PROBE") {
			t.Errorf("%s: second make: %v\n%s", name, err, mo)
		}
	}
	cmd := exec.Command("make", "-C", src, "clean", "KDIR="+filepath.Join(t.TempDir(), "none"))
	if mo, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make clean without a kernel tree: %v\n%s", err, mo)
	}
	left, _ := filepath.Glob(filepath.Join(src, "*"))
	dot, _ := filepath.Glob(filepath.Join(src, ".*"))
	var names []string
	for _, f := range append(left, dot...) {
		names = append(names, filepath.Base(f))
	}
	slices.Sort(names)
	if want := []string{"Kbuild", "Makefile", "features", "kgen_rt.h", "otst.c", "otst_trace.h"}; !slices.Equal(names, want) {
		t.Errorf("after make clean: %q, want %q", names, want)
	}
}

// sections splits guest output into "=== name" blocks.
func sections(out string) map[string]string {
	s := map[string]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, "=== ") {
			cur = strings.TrimPrefix(l, "=== ")
			s[cur] = ""
			continue
		}
		if cur != "" {
			s[cur] += l + "\n"
		}
	}
	return s
}

// event is kgen trace --json's line, loosely: the test reads the fields it
// asserts on and ignores the rest.
type event struct {
	Event  string         `json:"event"`
	Pid    int            `json:"pid"`
	Task   string         `json:"task"`
	Fields map[string]any `json:"fields"`
	Stack  []string       `json:"stack"`
}

func events(t *testing.T, s string) []event {
	t.Helper()
	var evs []event
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("kgen trace --json line %q: %v", l, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func num(e event, key string) int64 {
	switch v := e.Fields[key].(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 0, 64)
		return n
	}
	return -1 << 62
}

func str(e event, key string) string {
	v, _ := e.Fields[key].(string)
	return v
}

func init() {
	scenarios[spec.KindKretprobe] = scenario{
		guest: guest{
			Specs:   []string{"../examples/kretprobe.yaml", "../examples/entry.yaml", "testdata/readstacks.yaml", "testdata/reads.yaml", "testdata/nanosleep.yaml", "testdata/nosuchfn.yaml"},
			Script:  "testdata/guest.sh",
			Timeout: "4m",
		},
		check: checkGuest,
	}
}

// TestVM boots every kernel once and runs guest.sh's scenarios of the
// kretprobe kind in it.
func TestVM(t *testing.T) { runScenario(t, spec.KindKretprobe) }

// specFunction returns the function of the only probe of a one-probe spec,
// read with a regexp rather than kgen's own parser.
func specFunction(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*-?\s*function:\s*(\S+)\s*$`).FindAllSubmatch(b, -1)
	if len(m) != 1 {
		t.Fatalf("%s: want one function:, found %d", file, len(m))
	}
	return string(m[0][1])
}

// readCaller is read(2)'s caller of vfs_read on kernel: arm64's
// __arm64_sys_read has ksys_read inlined.
func readCaller(kernel string) string {
	if strings.HasSuffix(kernel, "-arm64") {
		return "__arm64_sys_read"
	}
	return "ksys_read"
}

func checkGuest(t *testing.T, kernel string, s map[string]string) {
	caller := readCaller(kernel)
	if m := strings.TrimSpace(s["mounts-before"]); m != "" {
		t.Errorf("guest has debugfs/tracefs mounted before kgen load: %s", m)
	}
	for _, sec := range []string{"lat-load", "lat-unload", "comm-load", "comm-unload", "pid-load", "pid-unload", "nmissed-load", "nmissed-unload", "entry-load", "entry-unload", "entry-folded", "stacks-load", "stacks-text", "stacks-folded", "stacks-svg", "stacks-unload"} {
		if !strings.Contains(s[sec], "rc=0") {
			t.Errorf("%s failed:\n%s", sec, s[sec])
		}
	}

	// 1. Correct fields: ret equals what dd read, count what it asked.
	lat := events(t, s["lat-events"])
	big := 0
	for _, e := range lat {
		if str(e, "comm") == "dd" && num(e, "count") == 100 {
			t.Errorf("when filter let through a 100-byte read: %+v", e)
		}
		if str(e, "comm") == "dd" && num(e, "count") == 8192 {
			big++
			if num(e, "ret") != 8192 {
				t.Errorf("ret = %d, want 8192 (the bytes dd read): %+v", num(e, "ret"), e)
			}
			if num(e, "latency") <= 0 {
				t.Errorf("latency = %d, want > 0: %+v", num(e, "latency"), e)
			}
		}
	}
	if big < 3 {
		t.Errorf("saw %d events of dd's 3 8 KiB reads, want >= 3 (events: %d)", big, len(lat))
	}
	if !strings.Contains(s["lat-hist"], "|@") {
		t.Errorf("histogram has no bars:\n%s", s["lat-hist"])
	}
	if !regexp.MustCompile(`\b0 events lost`).MatchString(s["lat-summary"]) {
		t.Errorf("trace summary does not report 0 lost events:\n%s", s["lat-summary"])
	}

	// 2. comm filter.
	comm := events(t, s["comm-events"])
	n512 := 0
	for _, e := range comm {
		if str(e, "comm") != "dd" {
			t.Errorf("comm filter dd let through %q", str(e, "comm"))
		}
		if num(e, "count") == 512 {
			n512++
		}
	}
	if n512 < 2 {
		t.Errorf("comm filter: %d events of dd's 512-byte reads, want >= 2", n512)
	}

	// 3. pid filter.
	m := regexp.MustCompile(`target=(\d+)`).FindStringSubmatch(s["pid-load"])
	if m == nil {
		t.Fatalf("no target pid:\n%s", s["pid-load"])
	}
	target, _ := strconv.Atoi(m[1])
	pidEv := events(t, s["pid-events"])
	n64 := 0
	for _, e := range pidEv {
		if num(e, "pid") != int64(target) {
			t.Errorf("pid filter %d let through pid %d (%q)", target, num(e, "pid"), str(e, "comm"))
		}
		if num(e, "count") == 64 {
			n64++
		}
	}
	if n64 < 2 {
		t.Errorf("pid filter: %d events of the target's 64-byte reads, want >= 2", n64)
	}

	// 4. nmissed with maxactive 1 and two sleepers.
	mm := regexp.MustCompile(`do_nanosleep nmissed (\d+)`).FindStringSubmatch(s["nmissed-stats"])
	if mm == nil || mm[1] == "0" {
		t.Errorf("nmissed not > 0 with maxactive 1 and two sleepers:\n%s", s["nmissed-stats"])
	}
	if !strings.Contains(s["nmissed-unload"], "nmissed") {
		t.Errorf("kgen unload printed no counters:\n%s", s["nmissed-unload"])
	}

	// 4b. Entry-only probe: a plain kprobe ("k" in the kprobes list, not
	// "r"), dd's five 333-byte reads with their stacks, the 100-byte ones
	// dropped by the when filter at entry, the sizes in the histogram.
	if !regexp.MustCompile(`(?m)^[0-9a-f]+\s+k\s+vfs_read\+0x[0-9a-f]+\s`).MatchString(s["entry-kprobes"]) {
		t.Errorf("entry-only probe is not a kprobe on vfs_read in the kprobes list:\n%s", s["entry-kprobes"])
	}
	n333 := 0
	for _, e := range events(t, s["entry-events"]) {
		if str(e, "comm") != "dd" && e.Task != "dd" {
			continue
		}
		switch num(e, "count") {
		case 100:
			t.Errorf("entry-only when filter let through a 100-byte read: %+v", e)
		case 333:
			n333++
			if len(e.Stack) == 0 || !strings.Contains(strings.Join(e.Stack, " "), "read") {
				t.Errorf("entry-only event stack %q, want the read(2) path", e.Stack)
			}
		}
	}
	if n333 != 5 {
		t.Errorf("entry-only probe: %d events of dd's five 333-byte reads, want 5:\n%s", n333, s["entry-events"])
	}
	if !regexp.MustCompile(`(?m)^\[256, 512\)\s+[1-9]`).MatchString(s["entry-hist"]) {
		t.Errorf("entry-only histogram has no 256..511 bucket with hits:\n%s", s["entry-hist"])
	}

	// 4b'. kgen stacks --from-trace folds the events' stacks: dd's reads
	// end in ksys_read;vfs_read (the machinery's frames hidden: arm64's
	// BRK exception path too).
	if !regexp.MustCompile(`(?m)^dd;.*` + caller + `;vfs_read [5-9]\d*$`).MatchString(s["entry-folded"]) {
		t.Errorf("kgen stacks --from-trace --format folded has no dd;...;%s;vfs_read line with >= 5 hits:\n%s", caller, s["entry-folded"])
	}

	// 4c. Stack counts: every one of dd's 200,000 one-byte reads is in the
	// table (the raw debugfs file, summed here), none dropped.
	checkStacks(t, caller, s)

	// 5. Rollback of a failed load: the README's message, naming the
	// function the spec probes (read from the spec, not from kgen).
	if !regexp.MustCompile(`(?m)^rc=[1-9][0-9]*$`).MatchString(s["rollback"]) {
		t.Errorf("loading a module on a missing symbol did not fail:\n%s", s["rollback"])
	}
	if !strings.Contains(s["rollback"], "needs or probes a symbol the kernel lacks") {
		t.Errorf("failed load does not say the kernel lacks a symbol:\n%s", s["rollback"])
	}
	if fn := specFunction(t, "testdata/nosuchfn.yaml"); !strings.Contains(s["rollback"], fn) {
		t.Errorf("failed load does not name the missing function %s:\n%s", fn, s["rollback"])
	}
	if strings.TrimSpace(s["rollback-mounts"]) != "" || strings.Contains(s["rollback-modules"], "nosuchfn") {
		t.Errorf("failed load left state behind: mounts %q modules %q", s["rollback-mounts"], s["rollback-modules"])
	}

	// 6. Nothing left behind; a clean kernel log.
	if m := strings.TrimSpace(s["mounts-after"]); m != "" {
		t.Errorf("mounts left after unload: %s", m)
	}
	for _, mod := range []string{"vfs_read_lat", "read_sizes", "read_stacks", "reads", "nanosleep", "nosuchfn"} {
		if regexp.MustCompile(`(?m)^` + mod + ` `).MatchString(s["modules-after"]) {
			t.Errorf("module %s still loaded", mod)
		}
	}
	if k := strings.TrimSpace(s["kprobes-after"]); k != "" {
		t.Errorf("kprobes left registered:\n%s", k)
	}
	// The listing must work: the same path shows the instance while the
	// module is loaded, and is empty of kgen instances after unload.
	if !strings.Contains(s["lat-instances"], "kgen_vfs_read_lat\n") || !strings.HasSuffix(s["lat-instances"], "rc=0\n") {
		t.Errorf("instances while vfs_read_lat is loaded, want kgen_vfs_read_lat and rc=0:\n%s", s["lat-instances"])
	}
	if !strings.HasSuffix(s["instances-after"], "rc=0\n") || strings.Contains(s["instances-after"], "kgen_") {
		t.Errorf("tracefs instances after unload, want none and rc=0:\n%s", s["instances-after"])
	}
	for _, bad := range []string{"BUG:", "WARNING:", "Oops", "general protection"} {
		if strings.Contains(s["dmesg"], bad) {
			t.Errorf("dmesg has %q:\n%s", bad, s["dmesg"])
		}
	}
}

// TestParseFeatures reads both answers from a kgen_features.h.
func TestParseFeatures(t *testing.T) {
	h := "#ifndef KGEN_FEATURES_H\n#define KGEN_FEATURES_H\n#define KGEN_HAVE_A 1\n/* #undef KGEN_HAVE_B */\n#endif /* KGEN_FEATURES_H */\n"
	got := parseFeatures(h)
	if want := map[string]bool{"HAVE_A": true, "HAVE_B": false}; !maps.Equal(got, want) {
		t.Errorf("parseFeatures = %v, want %v", got, want)
	}
}

// checkStacks asserts guest.sh's stack-count scenario: the raw table holds
// exactly dd's 200,000 hits and dropped 0; kgen stacks, its folded and
// pprof output, the flame graph and kgen unload show them.
func checkStacks(t *testing.T, caller string, s map[string]string) {
	t.Helper()
	ddHex := hex.EncodeToString(append([]byte("dd"), make([]byte, 14)...))
	var sum, keys int64
	dropped := int64(-1)
	for _, l := range strings.Split(s["stacks-raw"], "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "vfs_read" && f[1] == "dropped":
			dropped, _ = strconv.ParseInt(f[2], 10, 64)
		case len(f) == 5 && f[0] == "vfs_read":
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || f[3] != ddHex {
				t.Errorf("stacks line %q: want a count and comm dd (%s)", l, ddHex)
				continue
			}
			sum += n
			keys++
		}
	}
	if sum != 200000 || dropped != 0 {
		t.Errorf("stack table holds %d hits in %d keys, dropped %d; want exactly dd's 200000 one-byte reads, dropped 0:\n%s", sum, keys, dropped, s["stacks-raw"])
	}
	if !regexp.MustCompile(`vfs_read: 200000 hits in \d+ stacks, 0 dropped`).MatchString(s["stacks-text"]) ||
		!strings.Contains(s["stacks-text"], caller+"+0x") {
		t.Errorf("kgen stacks does not show 200000 hits with symbolised frames:\n%s", s["stacks-text"])
	}
	var folded int64
	for _, l := range strings.Split(s["stacks-folded"], "\n") {
		if i := strings.LastIndexByte(l, ' '); i > 0 && strings.HasPrefix(l, "dd;") {
			n, _ := strconv.ParseInt(l[i+1:], 10, 64)
			folded += n
			if !strings.HasSuffix(l[:i], ";"+caller+";vfs_read") {
				t.Errorf("folded stack %q does not end in %s;vfs_read", l, caller)
			}
		}
	}
	if folded != 200000 {
		t.Errorf("folded stacks sum to %d, want 200000:\n%s", folded, s["stacks-folded"])
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(s["stacks-pprof"])); n < 100 {
		t.Errorf("pprof profile is %q bytes, want a real profile", s["stacks-pprof"])
	}
	svg := s["stacks-svg"][strings.Index(s["stacks-svg"], "<?xml"):]
	svg = svg[:strings.LastIndex(svg, "</svg>")+len("</svg>")]
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Errorf("flame graph is not well-formed XML: %v", err)
			break
		}
	}
	if !strings.Contains(svg, "<title>dd (200000 hits, 100.00%)</title>") {
		t.Errorf("flame graph has no dd box with all 200000 hits")
	}
	if !strings.Contains(s["stacks-unload"], "stacks (most frequent first):") || !strings.Contains(s["stacks-unload"], "200000 hits") {
		t.Errorf("kgen unload does not print the top stacks:\n%s", s["stacks-unload"])
	}
	if dir := os.Getenv("KGEN_FLAME_OUT"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "stacks.svg"), []byte(svg+"\n"), 0o644)
	}
}
