package loader

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"kgen/vm"
)

// vmKernels are the kernels TestVMKernels boots, by name: one missing
// fails the test under KGEN_REQUIRE_VM=1 (and skips it otherwise).
var vmKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12", "debug-6.1"}

// TestVMKernels boots each of vmKernels (scripts/fetch-kernels.sh) in
// qemu with the test module built for it and this package's test binary,
// and runs the TestGuest* tests there. It is slow (TCG), so it runs only
// with KGEN_VM_TEST=1.
func TestVMKernels(t *testing.T) {
	require := os.Getenv("KGEN_REQUIRE_VM") == "1"
	if os.Getenv("KGEN_VM_TEST") != "1" && !require {
		t.Skip("set KGEN_VM_TEST=1 (make test sets KGEN_REQUIRE_VM=1) to boot the fetched kernels in qemu and run the guest tests")
	}
	kroot := os.Getenv("KGEN_KERNELS")
	if kroot == "" {
		home, _ := os.UserHomeDir()
		kroot = filepath.Join(home, ".cache", "kgen", "kernels")
	}
	var kernels []string
	for _, name := range vmKernels {
		kernels = append(kernels, filepath.Join(kroot, name))
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "loader.test")
	gocmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "test", "-c", "-o", bin, ".")
	gocmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gocmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest test binary: %v\n%s", err, out)
	}
	// The CLI's guest tests too.
	cli := filepath.Join(tmp, "kgen.test")
	gocmd = exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "test", "-c", "-o", cli, "../cmd/kgen")
	gocmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	guestCmd := "/root/loader.test -test.v -test.timeout 100s -test.run " + guestRun()
	adds := []vm.Add{{Src: bin, Dst: "/root/loader.test"}}
	if out, err := gocmd.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/kgen guest tests: %v\n%s", err, out)
	} else {
		adds = append(adds, vm.Add{Src: cli, Dst: "/root/kgen.test"})
		guestCmd += " && /root/kgen.test -test.v -test.timeout 60s -test.run '^TestGuest'"
	}
	for _, k := range kernels {
		t.Run(filepath.Base(k), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(k, "vmlinux")); err != nil {
				msg := fmt.Sprintf("kernel %s not fetched (run scripts/fetch-kernels.sh %s): %v", filepath.Base(k), filepath.Base(k), err)
				if require {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			ko := buildTestmod(t, k)
			// The debug kernel (KASAN, lockdep) runs several times slower
			// under TCG: its guest tests get four times the time.
			cmd, limit := guestCmd, 4*time.Minute
			if strings.HasPrefix(filepath.Base(k), "debug-") {
				cmd = strings.NewReplacer("-test.timeout 100s", "-test.timeout 400s",
					"-test.timeout 60s", "-test.timeout 240s").Replace(cmd)
				limit = 16 * time.Minute
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			res, err := vm.Run(ctx, vm.Config{
				Kernel: filepath.Join(k, "vmlinux"),
				// One CPU: with -smp 2 (multi-threaded TCG) 6.12 oopsed once
				// in four boots ("Oops: int3" in ttwu_do_activate) while event
				// enabling patched the sched_wakeup static branch; TCG does
				// not honour x86 cross-modifying-code rules.
				SMP:        1,
				Adds:       append(adds, vm.Add{Src: ko, Dst: "/root/kgen_testmod.ko"}),
				Cmd:        cmd,
				Console:    consoleLog(t),
				KgenBinary: "-",
				Stdout:     &out,
				Notes:      t.Output(),
			})
			t.Logf("guest output:\n%s", out.String())
			if err != nil {
				t.Fatalf("vm: %v", err)
			}
			if res.ExitCode != 0 || strings.Contains(out.String(), "--- SKIP") {
				t.Fatalf("guest tests failed or skipped (exit %d)", res.ExitCode)
			}
			for _, bad := range []string{"BUG:", "WARNING:", "Oops", "general protection"} {
				if bytes.Contains(res.Console, []byte(bad)) {
					t.Errorf("guest console has %q", bad)
				}
			}
		})
	}
}

func guestRun() string {
	if r := os.Getenv("KGEN_GUEST_RUN"); r != "" {
		return "'" + r + "'"
	}
	return "'^TestGuest'"
}

// consoleLog sends the guest console to a file named by $KGEN_VM_CONSOLE.
func consoleLog(t *testing.T) io.Writer {
	p := os.Getenv("KGEN_VM_CONSOLE")
	if p == "" {
		return nil
	}
	f, err := os.Create(p)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// buildTestmod builds testdata/testmod against the kernel at dir k.
func buildTestmod(t *testing.T, k string) string {
	t.Helper()
	src := t.TempDir()
	for _, f := range []string{"Kbuild", "kgen_testmod.c", "kgen_testmod_trace.h"} {
		b, err := os.ReadFile(filepath.Join("testdata", "testmod", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(src, f), b, 0o644))
	}
	args := []string{"-C", filepath.Join(k, "kdir"), "M=" + src, "modules"}
	if b, err := os.ReadFile(filepath.Join(k, "make.env")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				args = append(args, l)
			}
		}
	}
	cmd := exec.Command("make", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test module for %s: %v\n%s", k, err, out)
	}
	return filepath.Join(src, "kgen_testmod.ko")
}
