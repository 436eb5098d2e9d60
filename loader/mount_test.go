package loader

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The attack of issue 12, finding 5: after kgen load mounted tracefs, an
// admin (or systemd) mounts one on top at the same place. kgen unload must
// leave that later mount, and the one below it, alone.
func TestUnloadLeavesLaterMount(t *testing.T) {
	f := newFakeSys(t)
	if _, err := Load(f.ko(), nil, f.opts); err != nil {
		t.Fatal(err)
	}
	must(t, f.mount("tracefs", f.host("/sys/kernel/tracing"), "tracefs", 0, ""))
	admin := f.mounts[len(f.mounts)-1]
	var log strings.Builder
	f.opts.Log = &log
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	want := []Mount{{Target: "/sys/kernel/tracing", FSType: "tracefs", ID: 41}, admin}
	if !slices.Equal(f.mounts, want) {
		t.Errorf("mounts after unload %v, want %v (debugfs gone, both tracefs kept)", f.mounts, want)
	}
	if !strings.Contains(log.String(), "on top of it") {
		t.Errorf("log %q does not say why tracefs stayed", log.String())
	}
	// kgen still knows its mount, for a later unload to retry.
	ms, err := readMounts(f.opts.withDefaults())
	must(t, err)
	if !slices.Equal(ms, want[:1]) {
		t.Errorf("recorded mounts %v, want %v", ms, want[:1])
	}
	// The admin unmounts theirs; the next release takes kgen's.
	must(t, f.unmount(f.host("/sys/kernel/tracing"), 0))
	must(t, releaseMounts(f.opts.withDefaults()))
	if len(f.mounts) != 0 {
		t.Errorf("mounts %v, want none", f.mounts)
	}
}

// A busy mount kgen made is left mounted, never detached lazily.
func TestUnloadLeavesBusyMount(t *testing.T) {
	f := newFakeSys(t)
	if _, err := Load(f.ko(), nil, f.opts); err != nil {
		t.Fatal(err)
	}
	f.busy["unmount"] = 3 // tracefs, then debugfs twice (automount retry)
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.mounts) != 2 {
		t.Errorf("mounts %v, want both kept", f.mounts)
	}
}

// The same with real mounts (root, tmpfs): kgen's mount, then a later one
// stacked on it, then a busy one.
func TestUnmountRealStacked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "mnt")
	must(t, os.Mkdir(target, 0o755))
	o := (&Options{Mount: func(src, tgt, fstype string, flags uintptr, data string) error {
		return unix.Mount("kgen-test", tgt, "tmpfs", flags, "size=1m")
	}}).withDefaults()
	if err := mountFS(o, "tmpfs", target); err != nil {
		t.Skipf("cannot mount tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		for unix.Unmount(target, unix.MNT_DETACH) == nil {
		}
	})
	mine := recordMount(o, target, "tmpfs")
	if mine.ID == 0 {
		t.Fatalf("no mount ID recorded: %+v", mine)
	}
	// The later mount, on top.
	must(t, unix.Mount("admin", target, "tmpfs", 0, "size=1m"))
	must(t, os.WriteFile(filepath.Join(target, "admins"), []byte("x"), 0o644))
	if err := unmount(o, mine); err == nil {
		t.Fatal("unmount took the mount on top or did not say it kept mine")
	}
	if _, err := os.Stat(filepath.Join(target, "admins")); err != nil {
		t.Fatalf("the admin's mount is gone: %v", err)
	}
	// The admin's goes; kgen's is now busy: kept, not detached.
	must(t, unix.Unmount(target, 0))
	fd, err := unix.Open(filepath.Join(target, "busy"), unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err)
	if err := unmount(o, mine); err == nil {
		t.Fatal("a busy mount was unmounted (lazily?)")
	}
	ms, err := readMountinfo(o)
	must(t, err)
	if _, ok := findMountID(ms, mine); !ok {
		t.Fatal("kgen's busy mount was detached")
	}
	unix.Close(fd)
	if err := unmount(o, mine); err != nil {
		t.Fatalf("unmount of kgen's free mount: %v", err)
	}
	ms, err = readMountinfo(o)
	must(t, err)
	if _, ok := findMountID(ms, mine); ok {
		t.Fatal("kgen's mount is still there")
	}
}
