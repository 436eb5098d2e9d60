package loader

// Guest tests of issue 12's attacks against a real kernel (see vm_test.go).

import (
	"context"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setComm sets the calling thread's comm (PR_SET_NAME), as any task can.
func setComm(t *testing.T, name string) {
	t.Helper()
	b := append([]byte(name), 0)
	must(t, unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0))
}

// A task names itself to forge kgen trace output: a fake stack, an extra
// field, a repeated key, terminal escapes. Its events must parse to exactly
// the module's fields, its comm intact.
func TestGuestForgedComm(t *testing.T) {
	ko := requireGuest(t)
	opts := &Options{Log: tlog{t}}
	if _, err := Load(ko, nil, opts); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := Unload(testmod, opts); err != nil {
			t.Error(err)
		}
	}()
	// At most 15 bytes each: the kernel's TASK_COMM_LEN-1.
	comms := []string{`" stack=0x1 b="`, `a" q=1`, `x" seq=9 val=`, "\x1b[2J\x1b[31mred", "-1 [0] 1: tick:"}
	ctx, cancel := context.WithCancel(context.Background())
	evs := make(chan Event, 100)
	done := make(chan error, 1)
	go func() {
		_, err := Trace(ctx, testmod, &TraceOptions{Options: opts}, func(e Event) error { evs <- e; return nil })
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for _, c := range comms {
			setComm(t, c)
			fire(t, 1)
		}
		setComm(t, "loader.test")
	}()
	for i, c := range comms {
		select {
		case e := <-evs:
			t.Logf("event: %q", e.Raw)
			keys := make([]string, 0, len(e.Fields))
			for k := range e.Fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if e.Fields["comm"] != c || !slices.Equal(keys, []string{"comm", "pid", "seq", "val"}) || len(e.Stack) != 2 ||
				e.Fields["seq"] != int64(i+1) {
				t.Errorf("comm %q: parsed to %+v", c, e)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for comm %q", c)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An admin (or systemd) mounts something on top of the tracefs kgen load
// mounted (tracefs itself cannot be stacked on itself: EBUSY); kgen unload
// must leave both (the later one is not kgen's, kgen's is under it), and
// a later release takes only kgen's.
func TestGuestLaterMount(t *testing.T) {
	ko := requireGuest(t)
	if m := guestMounts(t); len(m) != 0 {
		t.Skipf("debugfs/tracefs already mounted: %v", m)
	}
	opts := &Options{Log: tlog{t}}
	st, err := Load(ko, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Mounted) != 2 || st.Mounted[1].ID == 0 {
		t.Fatalf("mounted %+v, want debugfs and tracefs with IDs", st.Mounted)
	}
	must(t, unix.Mount("admin", tracefsPath, "tmpfs", 0, "size=1m")) // the admin's
	if _, err := Unload(testmod, opts); err != nil {
		t.Fatal(err)
	}
	ms, err := readMountinfo(&Options{ProcDir: "/proc"})
	must(t, err)
	var tracefs []int
	for _, m := range ms {
		if m.point == tracefsPath {
			tracefs = append(tracefs, m.id)
		}
		if m.point == debugfsPath {
			t.Errorf("debugfs, kgen's and free, still mounted")
		}
	}
	if len(tracefs) != 2 || tracefs[0] != st.Mounted[1].ID {
		t.Fatalf("mounts on %s: %v, want kgen's %d and the admin's above it", tracefsPath, tracefs, st.Mounted[1].ID)
	}
	must(t, unix.Unmount(tracefsPath, 0)) // the admin's goes
	o := opts.withDefaults()
	must(t, releaseMounts(o))
	if m := guestMounts(t); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// Reading debugfs's tracing/ automounts tracefs below the debugfs kgen
// mounted, which makes it busy. kgen unload takes that automount down
// (not lazily) and then its debugfs: nothing is left, nothing detached.
func TestGuestDebugfsAutomount(t *testing.T) {
	ko := requireGuest(t)
	if m := guestMounts(t); len(m) != 0 {
		t.Skipf("debugfs/tracefs already mounted: %v", m)
	}
	opts := &Options{Log: tlog{t}}
	if _, err := Load(ko, nil, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadDir(debugfsPath + "/tracing"); err != nil {
		t.Fatal(err)
	}
	if m := guestMounts(t); m[debugfsPath+"/tracing"] != "tracefs" {
		t.Logf("no automount below debugfs on this kernel: %v", m)
	}
	if _, err := Unload(testmod, opts); err != nil {
		t.Fatal(err)
	}
	if m := guestMounts(t); len(m) != 0 {
		t.Errorf("mounts left after unload: %v", m)
	}
}
