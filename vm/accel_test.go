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
// fail: exit as qemu does when KVM cannot start), under TCG it plays a
// guest that starts /init, prints "hi" and exits 0. Each call appends its
// accelerator to $FAKE_LOG.
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
	esac
	;;
esac
echo init >&5
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
	oldDev, oldFile, oldLimit := kvmDevice, kvmStallFile, KVMStallLimit
	kvmDevice, KVMStallLimit = dev, time.Second
	kvmStallFile = func() string { return stallFile }
	t.Cleanup(func() { kvmDevice, kvmStallFile, KVMStallLimit = oldDev, oldFile, oldLimit })
	t.Setenv("FAKE_LOG", filepath.Join(dir, "log"))
	t.Setenv("FAKE_KVM", kvm)
	t.Setenv("KGEN_VM_ACCEL", "")
	// Any static ELF of the guest's arch passes for busybox here.
	busybox := stubKgen(t, t.TempDir())
	return Config{Kernel: dev, QEMU: qemu, Busybox: busybox, KgenBinary: "-", Cmd: "true", Timeout: 20 * time.Second}, dir
}

func fakeLog(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestAccelFallback checks that an auto KVM guest that stalls before /init,
// or a qemu that cannot start KVM, is booted again under TCG, that the
// host is then remembered, and that an explicit accelerator is obeyed.
func TestAccelFallback(t *testing.T) {
	for _, mode := range []string{"stall", "fail"} {
		t.Run(mode, func(t *testing.T) {
			c, dir := fakeHost(t, mode)
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
			if why := kvmStalled(); !strings.Contains(why, "KVM") {
				t.Errorf("stall not remembered: %q", why)
			}
			// The next auto run goes straight to TCG.
			notes.Reset()
			if res, err = Run(t.Context(), c); err != nil || res.Accel != "tcg" {
				t.Fatalf("second Run: %v, accel %v", err, res)
			}
			if got := fakeLog(t, dir); got != "kvm tcg tcg" {
				t.Errorf("accelerators %q, want \"kvm tcg tcg\"", got)
			}
			if notes.Len() != 0 {
				t.Errorf("second run noted %q", notes.String())
			}
		})
	}
	t.Run("healthy KVM", func(t *testing.T) {
		c, dir := fakeHost(t, "ok")
		res, err := Run(t.Context(), c)
		if err != nil || res.Accel != "kvm" {
			t.Fatalf("Run: %v, %+v", err, res)
		}
		if got := fakeLog(t, dir); got != "kvm" || kvmStalled() != "" {
			t.Errorf("accelerators %q, stall %q; want one kvm boot, no stall", got, kvmStalled())
		}
	})
	t.Run("kvm forced: no fallback", func(t *testing.T) {
		c, dir := fakeHost(t, "stall")
		c.Accel, c.Timeout = "kvm", 3*time.Second
		_, err := Run(t.Context(), c)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want a timeout", err)
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
