package vm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU is a stand-in for qemu that tells the accelerators apart: under
// "-accel kvm" it does what $FAKE_KVM says (stall: never start /init;
// fail: exit as qemu does when KVM cannot start; badkernel: fail for
// another reason that mentions kvm; slow: start /init after 2 s), under
// TCG, or after a slow start, it plays a guest that starts /init, prints
// "hi" and exits 0. Each call appends its accelerator to $FAKE_LOG.
const fakeQEMU = `#!/bin/sh
accel=
prev=
for a; do
	[ "$prev" = -accel ] && accel=$a
	prev=$a
done
echo "$accel" >>"$FAKE_LOG"
case "$accel" in
kvm)
	case "$FAKE_KVM" in
	stall) echo 'Linux version 6.1.0' >&3; exec sleep 60 ;;
	fail) echo 'qemu-system-x86_64: failed to initialize kvm: Operation not supported' >&2; exit 1 ;;
	badkernel) echo "qemu-system-x86_64: could not load kernel '/home/u/kvm-tests/vmlinux'" >&2; exit 1 ;;
	slow) sleep 2 ;;
	esac
	;;
esac
printf '\000KGEN-VM-INIT\000' >&4
printf 'hi\000KGEN-VM-EXIT=0\000' >&4
exit 0
`

// fakeHost points the KVM device and the stall file at a temporary
// directory and returns a Config that boots the fake qemu.
func fakeHost(t *testing.T, kvm string) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	qemu := filepath.Join(dir, "qemu")
	dev := filepath.Join(dir, "kvm")
	stallFile := filepath.Join(dir, "stalled")
	for name, body := range map[string]string{qemu: fakeQEMU, dev: ""} {
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldDev, oldFile, oldLimit := kvmDevice, kvmStallFile, kvmStallLimit
	kvmDevice, kvmStallLimit = dev, time.Second
	kvmStallFile = func() string { return stallFile }
	t.Cleanup(func() { kvmDevice, kvmStallFile, kvmStallLimit = oldDev, oldFile, oldLimit })
	t.Setenv("FAKE_LOG", filepath.Join(dir, "log"))
	t.Setenv("FAKE_KVM", kvm)
	t.Setenv("KGEN_VM_ACCEL", "")
	// Any static ELF of the guest's arch passes for busybox here.
	busybox := stubKgen(t, t.TempDir(), "amd64")
	return Config{Kernel: dev, QEMU: qemu, Busybox: busybox, KgenBinary: "-", Cmd: "true", Timeout: 20 * time.Second}, dir
}

func fakeLog(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestAccelFallback checks that an auto KVM guest that stalls before /init,
// or a qemu that cannot start KVM, is booted again under TCG, that a stall
// is then remembered, and that an explicit accelerator is obeyed.
func TestAccelFallback(t *testing.T) {
	for _, tt := range []struct {
		mode     string
		remember bool
		runs     string // accelerators of two auto runs
	}{
		{"stall", true, "kvm tcg tcg"},
		{"fail", false, "kvm tcg kvm tcg"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			c, dir := fakeHost(t, tt.mode)
			var out, notes bytes.Buffer
			c.Stdout, c.Notes = &out, &notes
			res, err := Run(t.Context(), c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Accel != "tcg" || res.ExitCode != 0 || out.String() != "hi" {
				t.Errorf("accel %q, exit %d, output %q; want tcg, 0, \"hi\"", res.Accel, res.ExitCode, out.String())
			}
			if !strings.Contains(notes.String(), "booting again under TCG") {
				t.Errorf("notes %q lack the fallback", notes.String())
			}
			if why, _ := kvmStalled(); (why != "") != tt.remember {
				t.Errorf("stall remembered: %q, want remembered %v", why, tt.remember)
			}
			notes.Reset()
			if res, err = Run(t.Context(), c); err != nil || res.Accel != "tcg" {
				t.Fatalf("second Run: %v, accel %v", err, res)
			}
			if got := fakeLog(t, dir); got != tt.runs {
				t.Errorf("accelerators %q, want %q", got, tt.runs)
			}
			// A remembered stall is said, with the way back to KVM.
			if tt.remember && !strings.Contains(notes.String(), "--accel kvm") {
				t.Errorf("second run's notes %q do not say why it is TCG", notes.String())
			}
		})
	}
	t.Run("stall of an earlier host boot", func(t *testing.T) {
		c, dir := fakeHost(t, "ok")
		os.WriteFile(kvmStallFile(), []byte("some-other-boot-id\nKVM stalled\n"), 0o644)
		if res, err := Run(t.Context(), c); err != nil || res.Accel != "kvm" {
			t.Fatalf("Run: %v, %+v", err, res)
		}
		if got := fakeLog(t, dir); got != "kvm" {
			t.Errorf("accelerators %q, want kvm", got)
		}
	})
	t.Run("remembered stall with a register dump: one line", func(t *testing.T) {
		c, _ := fakeHost(t, "ok")
		var notes bytes.Buffer
		c.Notes = &notes
		dump := "KVM internal error. Suberror: 1\nRAX=0000000000000000 RBX=0000000000000000\nRIP=000000000000fff0 RFL=00000002\n"
		must(t, os.MkdirAll(filepath.Dir(kvmStallFile()), 0o700))
		must(t, os.WriteFile(kvmStallFile(), []byte(bootID()+"\n"+dump), 0o644))
		if res, err := Run(t.Context(), c); err != nil || res.Accel != "tcg" {
			t.Fatalf("Run: %v, %+v", err, res)
		}
		n := notes.String()
		if strings.Count(n, "\n") != 1 || strings.Contains(n, "RAX=") || !strings.Contains(n, "Suberror: 1 ...") || !strings.Contains(n, kvmStallFile()) {
			t.Errorf("note %q: want one line with the first line of the reason and the file", n)
		}
	})
	t.Run("healthy KVM, slow to start /init", func(t *testing.T) {
		c, dir := fakeHost(t, "slow")
		kvmStallLimit = 5 * time.Second
		res, err := Run(t.Context(), c)
		if err != nil || res.Accel != "kvm" {
			t.Fatalf("Run: %v, %+v", err, res)
		}
		if why, _ := kvmStalled(); fakeLog(t, dir) != "kvm" || why != "" {
			t.Errorf("accelerators %q, stall %q; want one kvm boot, no stall", fakeLog(t, dir), why)
		}
	})
	t.Run("timeout within the stall limit is the user's", func(t *testing.T) {
		c, dir := fakeHost(t, "stall")
		kvmStallLimit, c.Timeout = 5*time.Second, 2*time.Second
		_, err := Run(t.Context(), c)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "--accel tcg") {
			t.Fatalf("got %v, want a timeout suggesting --accel tcg", err)
		}
		if why, _ := kvmStalled(); fakeLog(t, dir) != "kvm" || why != "" {
			t.Errorf("accelerators %q, stall %q; want one kvm boot, no stall", fakeLog(t, dir), why)
		}
	})
	t.Run("fallback within the timeout", func(t *testing.T) {
		c, _ := fakeHost(t, "stall")
		c.Timeout = 3 * time.Second
		res, err := Run(t.Context(), c)
		if err != nil || res.Accel != "tcg" || res.Duration < time.Second {
			t.Fatalf("Run: %v, %+v; want tcg after the 1 s stall", err, res)
		}
	})
	t.Run("qemu failure that is not KVM's", func(t *testing.T) {
		c, dir := fakeHost(t, "badkernel")
		var notes bytes.Buffer
		c.Notes = &notes
		_, err := Run(t.Context(), c)
		if !errors.Is(err, ErrNoExitStatus) || !strings.Contains(err.Error(), "could not load kernel") {
			t.Fatalf("got %v, want qemu's own error", err)
		}
		if fakeLog(t, dir) != "kvm" || notes.Len() != 0 {
			t.Errorf("accelerators %q, notes %q; want no fallback", fakeLog(t, dir), notes.String())
		}
	})
	t.Run("kvm forced: no fallback", func(t *testing.T) {
		c, dir := fakeHost(t, "stall")
		c.Accel, c.Timeout = "kvm", 3*time.Second
		_, err := Run(t.Context(), c)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "/init never started under KVM") {
			t.Fatalf("got %v, want a timeout naming KVM", err)
		}
		if got := fakeLog(t, dir); got != "kvm" {
			t.Errorf("accelerators %q, want kvm only", got)
		}
	})
	t.Run("kvm forced, no device", func(t *testing.T) {
		c, _ := fakeHost(t, "ok")
		kvmDevice = filepath.Join(t.TempDir(), "none")
		c.Accel = "kvm"
		if _, err := Run(t.Context(), c); err == nil || !strings.Contains(err.Error(), "--accel tcg") {
			t.Fatalf("got %v, want an error naming --accel tcg", err)
		}
	})
	t.Run("tcg from the environment", func(t *testing.T) {
		c, dir := fakeHost(t, "stall")
		t.Setenv("KGEN_VM_ACCEL", "tcg")
		if res, err := Run(t.Context(), c); err != nil || res.Accel != "tcg" {
			t.Fatalf("Run: %v, %+v", err, res)
		}
		if got := fakeLog(t, dir); got != "tcg" {
			t.Errorf("accelerators %q, want tcg only", got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
