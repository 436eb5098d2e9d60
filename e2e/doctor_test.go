package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// doctorLine returns the line of check name in kgen doctor's output.
func doctorLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.SplitN(l, ": ", 2); len(f) == 2 && strings.HasSuffix(f[0], "  "+name) {
			return l
		}
	}
	return ""
}

func wantDoctor(t *testing.T, sec, out, name, status, detail, fix string) {
	t.Helper()
	l := doctorLine(out, name)
	if l == "" || status != "" && !strings.HasPrefix(l, status+" ") || !strings.Contains(l, detail) || !strings.Contains(l, fix) {
		t.Errorf("%s: check %q: %q, want %s with %q and %q", sec, name, l, status, detail, fix)
	}
}

// TestVMDoctor boots Debian 6.1 three times (a normal boot, one with
// module.sig_enforce=1, one with lockdown=integrity): kgen doctor, which
// has no kernel headers in the guest, says so with the fix and still runs
// its load checks; what it says about loading matches what kgen load then
// does. The normal boot also runs kgen list on the running kernel and
// kgen doctor with kprobes disabled.
func TestVMDoctor(t *testing.T) {
	for _, c := range []struct{ name, append string }{
		{"normal", ""},
		{"sig_enforce", "module.sig_enforce=1"},
		{"lockdown", "lockdown=integrity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := needVM(t, "debian-6.1")
			g := guest{
				Specs:   []string{"../examples/kretprobe.yaml"},
				Script:  "testdata/doctor.sh",
				Files:   []string{filepath.Join(k.Dir, "config") + ":/boot/config-" + k.Release},
				Append:  c.append,
				Timeout: "5m",
			}
			o, s := g.run(t, k)
			checkDoctor(t, c.name, k.Release, s)
			if t.Failed() || testing.Verbose() {
				t.Logf("guest output:\n%s", o)
			}
		})
	}
}

func checkDoctor(t *testing.T, boot, release string, s map[string]string) {
	doc := s["doctor"]
	wantDoctor(t, "doctor", doc, "kernel headers", "fail", "no kernel build dir for the running kernel "+release, "apt-get install linux-headers-"+release)
	wantDoctor(t, "doctor", doc, "compiler", "skip", "no kernel build dir", "")
	wantDoctor(t, "doctor", doc, "kernel config", "ok", "/boot/config-"+release, "")
	for _, o := range []string{"CONFIG_MODULES", "CONFIG_MODULE_UNLOAD", "CONFIG_KPROBES", "CONFIG_KRETPROBES", "CONFIG_KPROBES_ON_FTRACE", "CONFIG_TRACEPOINTS", "CONFIG_FTRACE", "CONFIG_DEBUG_FS", "CONFIG_TRACING"} {
		wantDoctor(t, "doctor", doc, o, "ok", "=y", "")
	}
	wantDoctor(t, "doctor", doc, "kernel.modules_disabled", "ok", "0", "")
	wantDoctor(t, "doctor", doc, "secure boot", "ok", "not an EFI boot", "")
	wantDoctor(t, "doctor", doc, "debugfs", "ok", "mounted at /sys/kernel/debug", "")
	wantDoctor(t, "doctor", doc, "tracefs", "ok", "mounted at /sys/kernel/tracing", "")
	if boot == "lockdown" {
		// lockdown=integrity refuses to open debugfs files that can be
		// written, kprobes/enabled among them, even to root.
		wantDoctor(t, "doctor", doc, "kprobes enabled", "warn", "lockdown restricts debugfs", "see the lockdown check")
	} else {
		wantDoctor(t, "doctor", doc, "kprobes enabled", "ok", "/sys/kernel/debug/kprobes/enabled is 1", "")
	}
	wantDoctor(t, "doctor-unmounted", s["doctor-unmounted"], "debugfs", "ok", "mountable", "")
	wantDoctor(t, "doctor-unmounted", s["doctor-unmounted"], "kprobes enabled", "warn", "debugfs not mounted", "mount -t debugfs")
	if !strings.Contains(doc, "build no, load ") || !strings.Contains(doc, "rc=1") {
		t.Errorf("doctor without headers: want build no and exit status 1:\n%s", doc)
	}
	var r struct {
		Build, Load bool
		Checks      []struct{ Name, Status string }
	}
	js, rc, _ := strings.Cut(s["doctor-load-only"], "rc=")
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Errorf("doctor --json: %v:\n%s", err, js)
	}
	load := s["load"]
	switch boot {
	case "normal":
		wantDoctor(t, "doctor", doc, "module.sig_enforce", "ok", "N: unsigned modules load", "")
		wantDoctor(t, "doctor", doc, "lockdown", "ok", "none", "")
		if !r.Load || r.Build || strings.TrimSpace(rc) != "0" {
			t.Errorf("doctor --load-only --json: load %v build %v rc %s, want load true, build false, rc 0", r.Load, r.Build, rc)
		}
		if !strings.Contains(load, "rc=0") {
			t.Errorf("doctor said a load works, kgen load failed:\n%s", load)
		}
		wantDoctor(t, "kprobes-off", s["kprobes-off"], "kprobes enabled", "fail", "is 0: every kprobe is disarmed", "echo 1 > /sys/kernel/debug/kprobes/enabled")
		if !strings.Contains(s["kprobes-off"], "rc=1") {
			t.Errorf("doctor with kprobes disabled: want exit status 1:\n%s", s["kprobes-off"])
		}
		checkList(t, s)
	case "sig_enforce":
		wantDoctor(t, "doctor", doc, "module.sig_enforce", "fail", "Y: unsigned modules are rejected", "boot without module.sig_enforce=1")
		wantDoctor(t, "doctor", doc, "lockdown", "ok", "none", "")
	case "lockdown":
		wantDoctor(t, "doctor", doc, "lockdown", "fail", "integrity: unsigned modules are rejected", "boot without lockdown=integrity")
	}
	if boot != "normal" {
		if r.Load || strings.TrimSpace(rc) != "1" {
			t.Errorf("doctor --load-only --json: load %v rc %s, want false and 1", r.Load, rc)
		}
		if !strings.Contains(load, "rc=1") {
			t.Errorf("doctor said a load fails, kgen load did not fail:\n%s", load)
		}
	}
}

func checkList(t *testing.T, s map[string]string) {
	vfs := strings.Fields(strings.ReplaceAll(s["list-vfs"], "\n", " "))
	for _, w := range []string{"kprobe:vfs_read", "kprobe:vfs_readv", "rc=0"} {
		if !contains(vfs, w) {
			t.Errorf("kgen list 'kprobe:vfs_rea*': no %s:\n%s", w, s["list-vfs"])
		}
	}
	bl := strings.Split(strings.TrimSpace(s["list-blacklisted"]), "\n")
	if len(bl) != 4 {
		t.Fatalf("list-blacklisted: want 4 lines:\n%s", s["list-blacklisted"])
	}
	n, _ := strconv.Atoi(bl[0])
	nb, _ := strconv.Atoi(bl[1])
	if n < 10000 || nb < 10 {
		t.Errorf("kgen list: %d functions, --all %d blacklisted: want > 10000 and > 10", n, nb)
	}
	if !strings.HasPrefix(bl[2], "kprobe:do_int3 (blacklisted: on the kprobe blacklist") || bl[3] != "0" {
		t.Errorf("do_int3 is on every x86 kernel's kprobe blacklist: --all should mark it, the default leave it out:\n%s", s["list-blacklisted"])
	}
	tp := s["list-tp"]
	if !regexp.MustCompile(`(?m)^tracepoint:sched:sched_process_exec\n    __data_loc char\[\] filename;\n    pid_t pid;\n    pid_t old_pid;\nrc=0`).MatchString(tp) {
		t.Errorf("kgen list -v tracepoint:sched:sched_process_exec:\n%s", tp)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(s["list-tp-count"])); n < 500 {
		t.Errorf("kgen list 'tracepoint:*': %d tracepoints, want > 500", n)
	}
}

func contains(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// TestDoctorMissingCompiler: kgen doctor on this host against real KDIRs
// whose compiler is not installed: Debian 6.12's gcc-14 (when absent
// here) and a copy of Debian 6.1's identity with another compiler in
// CONFIG_CC_VERSION_TEXT. No VM.
func TestDoctorMissingCompiler(t *testing.T) {
	k := need(t, "debian-6.1", "KGEN_REQUIRE_KERNELS")
	dir := t.TempDir()
	for _, f := range []string{"Makefile", "Module.symvers", "include/generated/utsrelease.h", "include/generated/autoconf.h"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(k.KDIR, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(k.KDIR, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^CONFIG_CC_VERSION_TEXT=.*$`).ReplaceAll(cfg, []byte(`CONFIG_CC_VERSION_TEXT="Debian clang version 99.1.0 (1)"`))
	if err := os.WriteFile(filepath.Join(dir, ".config"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := kgen(t, "doctor", "--kdir", dir)
	if err == nil {
		t.Errorf("kgen doctor with no compiler for the kernel: exit status 0:\n%s", out)
	}
	wantDoctor(t, "clang-99", out, "kernel headers", "", "is "+k.Release, "")
	wantDoctor(t, "clang-99", out, "compiler", "fail", "none of clang-99, clang installed; the kernel was built with Debian clang version 99.1.0 (1)", "apt-get install clang-99")
	if !strings.Contains(out, "build no") {
		t.Errorf("kgen doctor: want build no:\n%s", out)
	}

	k12 := need(t, "debian-6.12", "KGEN_REQUIRE_KERNELS")
	if _, err := exec.LookPath("gcc-14"); err == nil {
		t.Log("gcc-14 is installed: the 6.12 half is not checked")
		return
	}
	out, _ = kgen(t, "doctor", "--kdir", k12.KDIR)
	wantDoctor(t, "gcc-14", out, "compiler", "warn", "the kernel was built with x86_64-linux-gnu-gcc-14", "apt-get install gcc-14")
}

// TestBuildWarnsOffline: kgen build --kernel with each Debian image
// (stripped: its embedded kallsyms) warns about a misspelled and a
// blacklisted function, and still builds. No VM.
func TestBuildWarnsOffline(t *testing.T) {
	for _, name := range []string{"debian-5.10", "debian-6.1", "debian-6.12"} {
		t.Run(name, func(t *testing.T) {
			k := need(t, name, "KGEN_REQUIRE_KERNELS")
			out, err := kgen(t, "build", "testdata/misspelled.yaml", "--kdir", k.KDIR, "--kernel", k.Vmlinux, "-o", t.TempDir())
			if err != nil {
				t.Fatalf("kgen build: %v\n%s", err, out)
			}
			for _, w := range []string{
				"kgen: warning: vfs_raed is not a function of this kernel (inlined away, renamed or absent); did you mean `vfs_read`",
				"kgen: warning: do_int3 is marked NOKPROBE_SYMBOL: kprobes refuse it (probe a caller)",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("kgen build --kernel %s: no %q:\n%s", k.Vmlinux, w, out)
				}
			}
			if strings.Contains(out, "warning: vfs_write") {
				t.Errorf("kgen build warned about vfs_write:\n%s", out)
			}
		})
	}
}
