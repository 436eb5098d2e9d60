package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"kgen/spec"
)

// guest is one boot of a kernel: kgen modules built from specs for it, a
// guest script, and the qemu settings.
type guest struct {
	Specs   []string // spec files; each NAME.ko is added as /root/NAME.ko
	Script  string   // testdata file, added and run as sh /root/<base>
	Files   []string // more files or trees to add, as kgen vm --add SRC:DST
	SMP     int      // vCPUs; 0 = 1
	Timeout string   // kgen vm --timeout
	Append  string   // kgen vm --append: extra kernel command line

	// Extra, if set, returns more --add SRC:DST for kernel k: files built
	// or extracted for that kernel (test modules, Debian's own modules).
	Extra func(t *testing.T, k kernel) []string
}

// scenario is a kind's VM test: the guest it boots on every kernel and the
// checks of the script's "=== section" output.
type scenario struct {
	guest guest
	check func(t *testing.T, kernel string, s map[string]string)
}

// scenarios holds every kind's VM test, registered from its test file's
// init; TestEveryKindHasVMScenario checks that no kind lacks one.
var scenarios = map[string]scenario{}

// arm64Pending are the kinds whose scenario does not pass on arm64 yet,
// and why.
var arm64Pending = map[string]string{}

// runScenario boots each amd64 kernel once with kind's guest and checks
// its output, as subtests named after the kernels. TestVMArm64Full runs
// the same on arm64.
func runScenario(t *testing.T, kind string) {
	sc, ok := scenarios[kind]
	if !ok {
		t.Fatalf("no VM scenario for kind %s", kind)
	}
	for _, name := range kernelNames {
		t.Run(name, func(t *testing.T) { sc.runOn(t, kind, name) })
	}
}

// runOn boots kernel name once with the scenario's guest and checks it.
func (sc scenario) runOn(t *testing.T, kind, name string) {
	if why := arm64Pending[kind]; why != "" && strings.HasSuffix(name, "-arm64") {
		t.Skip("arm64: " + why)
	}
	k := needVM(t, name)
	out, s := sc.guest.run(t, k)
	sc.check(t, name, s)
	if t.Failed() || testing.Verbose() {
		t.Logf("guest output:\n%s", out)
	}
}

// needVM returns the kernel and checks that qemu is there, or skips
// (fails under KGEN_REQUIRE_VM=1).
func needVM(t *testing.T, name string) kernel {
	t.Helper()
	k := need(t, name, "KGEN_REQUIRE_VM")
	qemu, pkg := "qemu-system-x86_64", "qemu-system-x86"
	if strings.HasSuffix(name, "-arm64") {
		qemu, pkg = "qemu-system-aarch64", "qemu-system-arm"
	}
	if _, err := exec.LookPath(qemu); err != nil {
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatalf("%s not found: apt-get install %s", qemu, pkg)
		}
		t.Skip(qemu + " not found")
	}
	if strings.HasSuffix(name, "-arm64") {
		buildKgenArm64(t)
	}
	return k
}

var arm64Once struct {
	sync.Once
	out []byte
	err error
}

// buildKgenArm64 cross-builds kgen for arm64 guests once, as kgen-arm64
// next to kgenBin, where kgen vm looks for it.
func buildKgenArm64(t *testing.T) {
	t.Helper()
	arm64Once.Do(func() {
		cmd := exec.Command("go", "build", "-o", kgenBin+"-arm64", "../cmd/kgen")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=arm64")
		arm64Once.out, arm64Once.err = cmd.CombinedOutput()
	})
	if arm64Once.err != nil {
		t.Fatalf("build kgen for arm64: %v\n%s", arm64Once.err, arm64Once.out)
	}
}

// run builds the guest's specs for k, boots k with them and the script,
// and returns the whole output and its sections. It fails t when a build
// or the boot fails, or the script did not reach its "=== end".
func (g guest) run(t *testing.T, k kernel) (string, map[string]string) {
	t.Helper()
	out := t.TempDir()
	args := []string{"vm", "--kernel", k.Vmlinux, "--timeout", vmTimeout(k.Name, g.Timeout),
		"--add", g.Script + ":/root/" + filepath.Base(g.Script)}
	for _, f := range g.Files {
		args = append(args, "--add", f)
	}
	if g.Extra != nil {
		for _, f := range g.Extra(t, k) {
			args = append(args, "--add", f)
		}
	}
	if g.Append != "" {
		args = append(args, "--append", g.Append)
	}
	if g.SMP > 1 {
		args = append(args, "--smp", strconv.Itoa(g.SMP))
	}
	for _, sp := range g.Specs {
		if o, err := kgen(t, "build", sp, "--kdir", k.KDIR, "-o", out); err != nil {
			t.Fatalf("kgen build %s: %v\n%s", sp, err, o)
		}
	}
	kos, _ := filepath.Glob(filepath.Join(out, "*.ko"))
	for _, ko := range kos {
		args = append(args, "--add", ko+":/root/"+filepath.Base(ko))
	}
	args = append(args, "--", "sh /root/"+filepath.Base(g.Script))
	o, err := kgen(t, args...)
	if err != nil {
		t.Fatalf("kgen vm: %v\n%s", err, o)
	}
	s := sections(o)
	if _, ok := s["end"]; !ok {
		t.Fatalf("guest script did not finish:\n%s", o)
	}
	return o, s
}

// TestEveryKindHasVMScenario: a kind is not done until it has a VM test,
// and that test boots the kind's own example.
func TestEveryKindHasVMScenario(t *testing.T) {
	for _, kind := range spec.Kinds() {
		sc, ok := scenarios[kind]
		if !ok {
			t.Errorf("kind %s has no VM scenario in e2e (register one in scenarios)", kind)
			continue
		}
		if ex := "../examples/" + kind + ".yaml"; !slices.Contains(sc.guest.Specs, ex) {
			t.Errorf("kind %s: its VM scenario does not build %s (it builds %q)", kind, ex, sc.guest.Specs)
		}
	}
}
