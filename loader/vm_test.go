package loader

// Tests that run for real in a kgen guest (KGEN_IN_VM=1, root), with the
// hand-written test module from testdata/testmod at $KGEN_TESTMOD (default
// /root/kgen_testmod.ko). TestVMKernels on the host builds that module and
// this test binary and boots them on each kernel.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testmod = "kgen_testmod"

func requireGuest(t *testing.T) string {
	t.Helper()
	if os.Getenv("KGEN_IN_VM") != "1" {
		t.Skip("not in a kgen guest (KGEN_IN_VM=1): these tests load a module into the running kernel; TestVMKernels boots them")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to load modules")
	}
	ko := os.Getenv("KGEN_TESTMOD")
	if ko == "" {
		ko = "/root/kgen_testmod.ko"
	}
	if _, err := os.Stat(ko); err != nil {
		t.Skipf("test module: %v", err)
	}
	return ko
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func guestMounts(t *testing.T) map[string]string {
	t.Helper()
	ms, err := readMountinfo(&Options{ProcDir: "/proc"})
	must(t, err)
	out := map[string]string{}
	for _, m := range ms {
		if m.fstype == "debugfs" || m.fstype == "tracefs" {
			out[m.point] = m.fstype
		}
	}
	return out
}

func moduleLoaded(t *testing.T, name string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/modules")
	must(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return true
		}
	}
	return false
}

func fire(t *testing.T, n int) {
	t.Helper()
	must(t, os.WriteFile("/sys/module/kgen_testmod/parameters/fire", []byte(fmt.Sprint(n)), 0))
}

// withTracefs mounts tracefs just long enough to look at it.
func withTracefs(t *testing.T, fn func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	must(t, unix.Mount("tracefs", dir, "tracefs", 0, ""))
	defer func() { must(t, unix.Unmount(dir, 0)) }()
	fn(dir)
}

func TestGuestLoadTraceUnload(t *testing.T) {
	ko := requireGuest(t)
	if m := guestMounts(t); len(m) != 0 {
		t.Fatalf("guest starts with %v mounted; this test wants kgen to mount them", m)
	}
	release, _, _ := uname()
	t.Logf("guest: kernel %s, %d CPUs", release, runtime.NumCPU())
	opts := &Options{Log: tlog{t}}
	st, err := Load(ko, []string{"base=100"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state: %+v", st)
	if len(st.Mounted) != 2 || st.Tracing != tracefsPath {
		t.Errorf("mounted %v, tracing at %q", st.Mounted, st.Tracing)
	}
	if got := guestMounts(t); got[debugfsPath] != "debugfs" || got[tracefsPath] != "tracefs" {
		t.Errorf("mounts after load: %v", got)
	}
	if !moduleLoaded(t, testmod) {
		t.Fatal("module not in /proc/modules")
	}
	if b, _ := os.ReadFile(st.Events + "/enable"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("instance enable = %q", b)
	}
	if b, _ := os.ReadFile(tracefsPath + "/events/kgen_testmod/enable"); strings.TrimSpace(string(b)) != "0" {
		t.Errorf("global buffer's enable = %q; kgen must not touch it", b)
	}

	// Trace: five events with the fields the module printed.
	ctx, cancel := context.WithCancel(context.Background())
	evs := make(chan Event, 100)
	type result struct {
		sum *TraceSummary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Trace(ctx, testmod, &TraceOptions{Symbolize: true, Options: opts}, func(e Event) error {
			evs <- e
			return nil
		})
		done <- result{sum, err}
	}()
	time.Sleep(300 * time.Millisecond)
	fire(t, 5)
	for i := 1; i <= 5; i++ {
		select {
		case e := <-evs:
			t.Logf("event: %s | stack %v", e.Raw, e.StackSyms)
			if e.Event != "tick" || e.Fields["seq"] != int64(i) || e.Fields["val"] != int64(100+i) ||
				e.Fields["comm"] != e.Task || e.Fields["pid"] != int64(e.PID) || len(e.Stack) != 2 {
				t.Errorf("event %d: %+v", i, e)
			}
			if len(e.StackSyms) != 2 || !strings.HasPrefix(e.StackSyms[1], "kgen_testmod_emit+0x0/") ||
				!strings.HasSuffix(e.StackSyms[1], " [kgen_testmod]") {
				t.Errorf("stack not symbolised: %q", e.StackSyms)
			}
		case <-time.After(30 * time.Second):
			// 30 s: the first event waits for kallsyms to be read
			// (Symbolize) in a TCG guest, slow on a loaded host.
			t.Fatalf("event %d did not arrive", i)
		}
	}
	start := time.Now()
	cancel()
	select {
	case r := <-done:
		if r.err != nil || r.sum.Events != 5 || r.sum.Lost != 0 {
			t.Errorf("trace: %+v, %v", r.sum, r.err)
		}
		t.Logf("trace returned %v after cancel", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("Trace did not return within 2s of cancel")
	}
	// Ctrl-C leaves things as they were.
	if !moduleLoaded(t, testmod) {
		t.Error("module gone after trace")
	}
	if b, _ := os.ReadFile(st.Events + "/enable"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("instance enable after trace = %q", b)
	}

	// A second load says to unload first and leaves the first alone.
	if _, err := Load(ko, nil, opts); !errors.Is(err, ErrAlreadyLoaded) {
		t.Errorf("second load: %v", err)
	} else {
		t.Logf("second load: %v", err)
	}
	if !moduleLoaded(t, testmod) || len(guestMounts(t)) != 2 {
		t.Fatal("second load disturbed the first")
	}

	res, err := Unload(testmod, opts)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	must(t, res.Stats.WriteTable(&b))
	t.Logf("final counters:\n%s", b.String())
	if len(res.Stats.Probes) != 1 || res.Stats.Probes[0].Counters[0] != (Counter{"hits", 5}) ||
		res.Stats.Probes[0].Counters[3] != (Counter{"emitted", 5}) || res.Stats.Hists["fire"] == "" {
		t.Errorf("stats: %+v", res.Stats)
	}
	if moduleLoaded(t, testmod) {
		t.Error("module still loaded after unload")
	}
	if m := guestMounts(t); len(m) != 0 {
		t.Errorf("mounts left after unload: %v", m)
	}
	if names, _ := Loaded(nil); len(names) != 0 {
		t.Errorf("state left: %v", names)
	}
	if _, err := os.Stat("/run/kgen/" + mountsFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left: %v", mountsFile, err)
	}
	withTracefs(t, func(dir string) {
		if _, err := os.Stat(filepath.Join(dir, "instances", InstanceName(testmod))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("instance left: %v", err)
		}
	})
}

// The user mounted debugfs and tracefs: kgen uses them and leaves them;
// a module kgen did not load can still be unloaded with its counters.
func TestGuestPremountedAndForeignModule(t *testing.T) {
	ko := requireGuest(t)
	must(t, unix.Mount("debugfs", debugfsPath, "debugfs", 0, ""))
	must(t, unix.Mount("tracefs", tracefsPath, "tracefs", 0, ""))
	defer func() {
		must(t, unix.Unmount(tracefsPath, 0))
		must(t, unix.Unmount(debugfsPath, 0))
	}()
	opts := &Options{Log: tlog{t}}
	st, err := Load(ko, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Mounted) != 0 {
		t.Errorf("kgen mounted %v over existing mounts", st.Mounted)
	}
	if _, err := Unload(testmod, opts); err != nil {
		t.Fatal(err)
	}
	if m := guestMounts(t); len(m) != 2 {
		t.Errorf("unload removed mounts it did not make: %v", m)
	}

	// Loaded behind kgen's back (insmod): no state, no instance.
	f, err := os.Open(ko)
	must(t, err)
	must(t, unix.FinitModule(int(f.Fd()), "", 0))
	f.Close()
	fire(t, 2)
	res, err := Unload(testmod, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Managed || res.Stats == nil || res.Stats.Probes[0].Counters[0].Value != 2 || moduleLoaded(t, testmod) {
		t.Errorf("foreign unload: %+v", res)
	}
	if _, err := Unload(testmod, opts); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("unloading an absent module: %v", err)
	} else {
		t.Logf("absent module: %v", err)
	}
}

// Unload while trace_pipe is open: the instance is busy, kgen says so and
// puts everything back; after the reader goes, unload works.
func TestGuestUnloadWhileTracing(t *testing.T) {
	ko := requireGuest(t)
	opts := &Options{Log: tlog{t}}
	st, err := Load(ko, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Trace(ctx, testmod, &TraceOptions{Options: opts}, func(Event) error { return nil })
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	_, err = Unload(testmod, opts)
	t.Logf("unload while tracing: %v", err)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		t.Errorf("unload while tracing: %v, want EBUSY", err)
	}
	if !moduleLoaded(t, testmod) {
		t.Error("module gone after failed unload")
	}
	if b, _ := os.ReadFile(st.Events + "/enable"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("enable after failed unload = %q", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if _, err := Unload(testmod, opts); err != nil {
		t.Fatal(err)
	}
	if moduleLoaded(t, testmod) || len(guestMounts(t)) != 0 {
		t.Errorf("after unload: loaded=%v mounts=%v", moduleLoaded(t, testmod), guestMounts(t))
	}
}

// Events the reader cannot keep up with are counted as lost.
func TestGuestLostEvents(t *testing.T) {
	ko := requireGuest(t)
	opts := &Options{Log: tlog{t}}
	st, err := Load(ko, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := Unload(testmod, opts); err != nil {
			t.Error(err)
		}
	}()
	// A small buffer so that overruns come quickly (test setup only).
	must(t, os.WriteFile(st.Instance+"/buffer_size_kb", []byte("8"), 0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		time.Sleep(300 * time.Millisecond)
		must(t, os.WriteFile("/sys/module/kgen_testmod/parameters/fire", []byte("1"), 0))
	}()
	first := true
	sum, err := Trace(ctx, testmod, &TraceOptions{Options: opts}, func(e Event) error {
		if first {
			first = false
			// While we are not reading. Another goroutine, so another
			// thread: Trace hides its own thread's events.
			done := make(chan struct{})
			go func() { fire(t, 20000); close(done) }()
			<-done
			return nil
		}
		if e.Fields["seq"] == int64(20001) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary: %+v", sum)
	if sum.Lost == 0 || sum.Events+sum.Lost < 20001 {
		t.Errorf("summary %+v: want lost > 0 and seen+lost >= 20001", sum)
	}
}
