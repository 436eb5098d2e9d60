package loader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return string(b)
}

func TestLoadUnloadMountsAndCleansUp(t *testing.T) {
	f := newFakeSys(t)
	st, err := Load(f.ko(), []string{"base=5", "comm=my task"}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	wantMounts := []Mount{{"/sys/kernel/debug", "debugfs", 40}, {"/sys/kernel/tracing", "tracefs", 41}}
	if !slices.Equal(f.mounts, wantMounts) || !slices.Equal(st.Mounted, wantMounts) {
		t.Errorf("mounts = %v, state.Mounted = %v, want %v", f.mounts, st.Mounted, wantMounts)
	}
	if st.Instance != "/sys/kernel/tracing/instances/kgen_kgen_testmod" || st.Events != st.Instance+"/events/kgen_testmod" {
		t.Errorf("instance %q events %q", st.Instance, st.Events)
	}
	if got := readFile(t, f.host(st.Events+"/enable")); got != "1" {
		t.Errorf("enable = %q, want 1", got)
	}
	if !slices.Contains(f.calls, "finit") || slices.Contains(f.calls, "init") {
		t.Errorf("calls = %v, want finit only", f.calls)
	}
	var saved State
	must(t, json.Unmarshal([]byte(readFile(t, filepath.Join(f.opts.RunDir, "kgen_testmod.json"))), &saved))
	if saved.Params != `base=5 comm="my task"` || saved.Instance != st.Instance || len(saved.Mounted) != 2 {
		t.Errorf("saved state = %+v", saved)
	}
	if got, _ := Loaded(f.opts); !slices.Equal(got, []string{"kgen_testmod"}) {
		t.Errorf("Loaded = %v", got)
	}

	res, err := Unload("kgen_testmod", f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Managed || res.Stats == nil || len(res.Stats.Probes) != 1 || res.Stats.Probes[0].Counters[0] != (Counter{"hits", 3}) {
		t.Errorf("unload result = %+v", res)
	}
	if len(f.modules) != 0 || len(f.mounts) != 0 || len(f.stateFiles()) != 0 {
		t.Errorf("left behind: modules %v mounts %v state %v", f.modules, f.mounts, f.stateFiles())
	}
}

func TestLoadUsesExistingMounts(t *testing.T) {
	f := newFakeSys(t, Mount{Target: "/sys/kernel/debug", FSType: "debugfs"}, Mount{Target: "/sys/kernel/tracing", FSType: "tracefs"})
	st, err := Load(f.ko(), nil, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Mounted) != 0 || slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "mount") }) {
		t.Errorf("mounted %v (calls %v), want nothing", st.Mounted, f.calls)
	}
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.mounts) != 2 || slices.Contains(f.calls, "unmount") {
		t.Errorf("unload touched mounts it did not make: %v, calls %v", f.mounts, f.calls)
	}
	if len(f.instances()) != 0 {
		t.Errorf("instances left: %v", f.instances())
	}
}

// TestLoadIgnoresCustomMounts: with debugfs (and its tracing automount)
// mounted only at a place of the user's, as a KEDR configuration does
// before its payload line and unmounts after it, Load mounts its own at
// the standard places, so the user's umount leaves the module's instance,
// stats and kgen trace reachable.
func TestLoadIgnoresCustomMounts(t *testing.T) {
	f := newFakeSys(t, Mount{Target: "/sys/fs/kedr", FSType: "debugfs"}, Mount{Target: "/sys/fs/kedr/tracing", FSType: "tracefs"})
	st, err := Load(f.ko(), nil, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Debugfs != debugfsPath || st.Tracing != tracefsPath || !strings.HasPrefix(st.Instance, tracefsPath+"/") || len(st.Mounted) != 2 {
		t.Errorf("state %+v: want kgen's own debugfs and tracefs", st)
	}
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.mounts) != 2 || f.mounts[0].Target != "/sys/fs/kedr" || len(f.instances()) != 0 {
		t.Errorf("after unload: mounts %v, instances %v; want the user's two mounts only", f.mounts, f.instances())
	}
}

func TestLoadRollsBackEveryStep(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeSys)
		want  error
	}{
		{"mount debugfs", func(f *fakeSys) { f.fail["mount debugfs"] = unix.ENODEV }, unix.ENODEV},
		{"mount tracefs", func(f *fakeSys) { f.fail["mount tracefs"] = unix.EPERM }, unix.EPERM},
		{"finit_module", func(f *fakeSys) { f.fail["finit"] = unix.EKEYREJECTED }, ErrSignature},
		{"mkdir instance", func(f *fakeSys) { f.fail["mkdir"] = unix.ENOMEM }, unix.ENOMEM},
		{"enable events", func(f *fakeSys) {
			f.opts.Mkdir = func(p string, perm os.FileMode) error {
				if err := f.mkdir(p, perm); err != nil {
					return err
				}
				e := filepath.Join(p, "events/kgen_testmod/enable")
				os.Remove(e)
				return os.Mkdir(e, 0o755) // writing a directory fails
			}
		}, unix.EISDIR},
		// The state file's place is taken by a directory: os.Rename
		// refuses to replace it (EEXIST).
		{"write state", func(f *fakeSys) {
			must(t, os.MkdirAll(filepath.Join(f.opts.RunDir, "kgen_testmod.json", "x"), 0o755))
		}, os.ErrExist},
		{"record mounts", func(f *fakeSys) {
			must(t, os.MkdirAll(filepath.Join(f.opts.RunDir, mountsFile), 0o755))
		}, unix.EISDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			tt.setup(f)
			st, err := Load(f.ko(), nil, f.opts)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", st)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "roll back") {
				t.Errorf("rollback failed: %v", err)
			}
			if len(f.modules) != 0 || len(f.mounts) != 0 || len(f.instances()) != 0 {
				t.Errorf("left behind: modules %v mounts %v instances %v (calls %v)", f.modules, f.mounts, f.instances(), f.calls)
			}
			for _, s := range f.stateFiles() {
				if fi, err := os.Stat(filepath.Join(f.opts.RunDir, s)); err == nil && !fi.IsDir() {
					t.Errorf("state file left: %s", s)
				}
			}
		})
	}
}

func TestLoadMountErrorIsPathError(t *testing.T) {
	f := newFakeSys(t)
	f.fail["mount debugfs"] = unix.EPERM
	_, err := Load(f.ko(), nil, f.opts)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != "/sys/kernel/debug" {
		t.Fatalf("err = %v, want *os.PathError for /sys/kernel/debug", err)
	}
}

func TestLoadErrnoMessages(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		kind  error
		want  string
	}{
		{unix.EEXIST, ErrAlreadyLoaded, "module kgen_testmod is already loaded; `kgen unload kgen_testmod` first"},
		{unix.EKEYREJECTED, ErrSignature, "module.sig_enforce=0"},
		{unix.EPERM, ErrPermission, "CAP_SYS_MODULE"},
		{unix.ENOEXEC, ErrBadModule, "kgen build --kdir"},
		{unix.EINVAL, ErrBadModule, "kernel log:\n  [1.0] kgen_testmod: Unknown symbol foo"},
		{unix.ENOENT, ErrUnknownSymbol, "Unknown symbol foo"},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			f := newFakeSys(t)
			f.fail["finit"] = tt.errno
			_, err := Load(f.ko(), nil, f.opts)
			var me *ModuleError
			if !errors.As(err, &me) || !errors.Is(err, tt.kind) || !errors.Is(err, tt.errno) {
				t.Fatalf("err = %v, want ModuleError %v wrapping %v", err, tt.kind, tt.errno)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadTwiceSaysUnloadFirst(t *testing.T) {
	f := newFakeSys(t)
	if _, err := Load(f.ko(), nil, f.opts); err != nil {
		t.Fatal(err)
	}
	_, err := Load(f.ko(), nil, f.opts)
	if !errors.Is(err, ErrAlreadyLoaded) {
		t.Fatalf("second load: %v", err)
	}
	// The failed second load must not undo the first one.
	if len(f.modules) != 1 || len(f.instances()) != 1 || len(f.mounts) != 2 {
		t.Errorf("second load disturbed the first: modules %v instances %v mounts %v", f.modules, f.instances(), f.mounts)
	}
}

func TestLoadFallsBackToInitModule(t *testing.T) {
	f := newFakeSys(t)
	f.noFinit = true
	if _, err := Load(f.ko(), nil, f.opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.calls, "init") {
		t.Errorf("calls = %v, want init_module after ENOSYS", f.calls)
	}
}

func TestLoadVermagicMismatch(t *testing.T) {
	f := newFakeSys(t)
	f.release = "5.10.0-46-amd64"
	_, err := Load(f.ko(), nil, f.opts)
	var ve *VermagicError
	if !errors.As(err, &ve) || !errors.Is(err, ErrVermagic) {
		t.Fatalf("err = %v, want VermagicError", err)
	}
	for _, s := range []string{`"6.1.0-56-amd64 SMP preempt mod_unload modversions"`, `"5.10.0-46-amd64"`, "kgen build --kdir"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("err = %q, want %q in it", err, s)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("calls before the vermagic check failed: %v", f.calls)
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	f := newFakeSys(t)
	if _, err := Load(f.ko(), []string{"bad key=1"}, f.opts); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("bad param: %v", err)
	}
	bad := writeKO(t, f.root, "x.ko", "name=../evil", "vermagic="+fakeRelease)
	if _, err := Load(bad, nil, f.opts); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	noinfo := filepath.Join(f.root, "not.ko")
	must(t, os.WriteFile(noinfo, []byte("hello"), 0o644))
	if _, err := Load(noinfo, nil, f.opts); !errors.Is(err, ErrNotModule) {
		t.Errorf("not ELF: %v", err)
	}
	// A missing file is that, not "not a kernel module".
	if _, err := Load(filepath.Join(f.root, "missing.ko"), nil, f.opts); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotModule) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Unload("../x", f.opts); !errors.Is(err, ErrInvalidName) {
		t.Errorf("unload bad name: %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls = %v", f.calls)
	}
}

func TestUnloadWithoutState(t *testing.T) {
	f := newFakeSys(t, Mount{Target: "/sys/kernel/debug", FSType: "debugfs"})
	must(t, f.insert("finit", "")) // loaded by insmod, not kgen
	res, err := Unload("kgen_testmod", f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Managed || res.Stats == nil || len(f.modules) != 0 || len(f.mounts) != 1 {
		t.Errorf("res %+v modules %v mounts %v", res, f.modules, f.mounts)
	}
	_, err = Unload("kgen_testmod", f.opts)
	if !errors.Is(err, ErrNotLoaded) {
		t.Errorf("second unload: %v, want ErrNotLoaded", err)
	}
}

func TestUnloadRetriesBusy(t *testing.T) {
	f := newFakeSys(t)
	_, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	f.busy["delete_module"] = 3
	f.busy["rmdir"] = 2
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.modules) != 0 {
		t.Errorf("modules = %v", f.modules)
	}
}

func TestUnloadBusyRestores(t *testing.T) {
	f := newFakeSys(t)
	st, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	f.fail["delete_module"] = unix.EBUSY
	_, err = Unload("kgen_testmod", f.opts)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if len(f.modules) != 1 || len(f.mounts) != 2 || len(f.instances()) != 1 {
		t.Errorf("after failed unload: modules %v mounts %v instances %v", f.modules, f.mounts, f.instances())
	}
	if got := readFile(t, f.host(st.Events+"/enable")); got != "1" {
		t.Errorf("events not re-enabled: %q", got)
	}
	if _, err := os.Stat(filepath.Join(f.opts.RunDir, "kgen_testmod.json")); err != nil {
		t.Errorf("state file gone after failed unload: %v", err)
	}

	f.fail["rmdir"] = unix.EBUSY // a reader holds trace_pipe
	delete(f.fail, "delete_module")
	if _, err = Unload("kgen_testmod", f.opts); !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "kgen trace") {
		t.Fatalf("err = %v, want busy instance", err)
	}
	if len(f.modules) != 1 || readFile(t, f.host(st.Events+"/enable")) != "1" {
		t.Errorf("busy instance: module %v enable %q", f.modules, readFile(t, f.host(st.Events+"/enable")))
	}
}

func TestUnloadKeepsMountsOthersNeed(t *testing.T) {
	f := newFakeSys(t)
	_, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	must(t, writeJSON(filepath.Join(f.opts.RunDir, "other.json"), State{Name: "other"}))
	if _, err := Unload("kgen_testmod", f.opts); err != nil {
		t.Fatal(err)
	}
	if len(f.mounts) != 2 {
		t.Fatalf("mounts = %v, want kept for other", f.mounts)
	}
	// The other module goes (say kgen unload other); now the mounts go.
	must(t, os.Remove(filepath.Join(f.opts.RunDir, "other.json")))
	must(t, releaseMounts(f.opts.withDefaults()))
	if len(f.mounts) != 0 || len(f.stateFiles()) != 0 {
		t.Errorf("mounts %v state %v", f.mounts, f.stateFiles())
	}
}

func TestUnloadModuleGoneStillCleansUp(t *testing.T) {
	f := newFakeSys(t)
	_, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	f.modules = nil // rmmod'ed by hand
	res, err := Unload("kgen_testmod", f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || len(f.mounts) != 0 || len(f.stateFiles()) != 0 || len(f.instances()) != 0 {
		t.Errorf("notes %v mounts %v state %v instances %v", res.Notes, f.mounts, f.stateFiles(), f.instances())
	}
}

func TestTraceFake(t *testing.T) {
	f := newFakeSys(t)
	st, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	lines := "# tracer: nop\n" +
		`              sh-71      [000] .....    12.345678: tick: pid=71 comm="sh" seq=1 val=6 stack=0xffffffff81000010,0xffffffffc0000005` + "\n" +
		`              sh-71      [001] d..1.    12.345679: tick: pid=71 comm="sh" seq=2 val=7 stack=0x10,0x20` + "\n" +
		"CPU:0 [LOST 7 EVENTS]\n" + // the same overruns the stats count: not added again
		"partial line without newline"
	must(t, os.WriteFile(f.host(st.Instance+"/trace_pipe"), []byte(lines), 0o644))
	must(t, os.WriteFile(filepath.Join(f.opts.ProcDir, "kallsyms"), []byte(
		"ffffffff81000000 T _stext\nffffffff81000100 T next\nffffffffc0000000 t kgen_testmod_emit\t[kgen_testmod]\nffffffffc0000040 t other\t[kgen_testmod]\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var evs []Event
	var unparsed []string
	start := time.Now()
	sum, err := Trace(ctx, "kgen_testmod", &TraceOptions{Options: f.opts, Symbolize: true, PollInterval: 20 * time.Millisecond,
		OnUnparsed: func(l string) error { unparsed = append(unparsed, l); return nil }},
		func(e Event) error {
			if len(evs) == 0 { // the ring buffer overran while we traced
				must(t, os.WriteFile(f.host(st.Instance+"/per_cpu/cpu0/stats"), []byte("overrun: 7\ndropped events: 1\n"), 0o644))
			}
			evs = append(evs, e)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Trace returned %v after its deadline", d)
	}
	// Lost is the growth of the per-CPU overrun + dropped counters (7 + 1);
	// the "[LOST 7 EVENTS]" marker reports the same 7 overruns (the kernel
	// prints the overrun count's growth since the reader's last page) and
	// is passed on as an unparsed line, not counted twice.
	if sum.Events != 2 || sum.Unparsed != 2 || sum.Lost != 8 || len(unparsed) != 2 || unparsed[1] != "CPU:0 [LOST 7 EVENTS]" {
		t.Errorf("summary %+v unparsed %q", sum, unparsed)
	}
	if len(evs) != 2 || !slices.Equal(evs[0].StackSyms, []string{"_stext+0x10/0x100", "kgen_testmod_emit+0x5/0x40 [kgen_testmod]"}) {
		t.Errorf("events %+v", evs)
	}
	b, err := json.Marshal(evs[0])
	must(t, err)
	want := `{"ts":12.345678,"cpu":0,"task":"sh","pid":71,"event":"tick","fields":{"comm":"sh","pid":71,"seq":1,"val":6},"stack":["_stext+0x10/0x100","kgen_testmod_emit+0x5/0x40 [kgen_testmod]"]}`
	if string(b) != want {
		t.Errorf("json:\n got %s\nwant %s", b, want)
	}
}

// TestTraceRecreatesInstance: another tool removing kgen's instance
// (trace-cmd extract -B kgen_<name> does) before or while kgen trace runs
// costs no events afterwards: Trace recreates it, enables the module's
// events as Load did, says so, and keeps streaming.
func TestTraceRecreatesInstance(t *testing.T) {
	f := newFakeSys(t)
	var log bytes.Buffer
	f.opts.Log = &log
	st, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	enable := f.host(st.Events + "/enable")
	line := func(seq int) string {
		return fmt.Sprintf("sh-71 [000] ..... 12.%06d: tick: pid=71 comm=\"sh\" seq=%d val=0 stack={}\n", seq, seq)
	}
	// Each new instance's trace_pipe gets the next event.
	seq := 0
	mkdir := f.opts.Mkdir
	f.opts.Mkdir = func(p string, perm os.FileMode) error {
		if err := mkdir(p, perm); err != nil {
			return err
		}
		seq++
		return os.WriteFile(filepath.Join(p, "trace_pipe"), []byte(line(seq)), 0o644)
	}
	must(t, os.RemoveAll(f.host(st.Instance))) // removed before kgen trace starts
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var seqs []int64
	_, err = Trace(ctx, "kgen_testmod", &TraceOptions{Options: f.opts, PollInterval: 10 * time.Millisecond},
		func(e Event) error {
			seqs = append(seqs, e.Fields["seq"].(int64))
			if len(seqs) == 1 { // removed while kgen trace runs
				must(t, os.RemoveAll(f.host(st.Instance)))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []int64{1, 2}) {
		t.Errorf("events seq %v, want 1 (first instance) and 2 (recreated while tracing)", seqs)
	}
	if b, err := os.ReadFile(enable); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("events/enable of the recreated instance = %q, %v; want 1", b, err)
	}
	if n := strings.Count(log.String(), "was removed by another tool; recreated it"); n != 2 {
		t.Errorf("log says recreated %d times, want 2:\n%s", n, log.String())
	}

	// Not loaded by kgen (no state): nothing to recreate.
	must(t, os.RemoveAll(f.host(st.Instance)))
	must(t, os.Remove(statePath(f.opts.withDefaults(), "kgen_testmod")))
	if _, err := Trace(ctx, "kgen_testmod", &TraceOptions{Options: f.opts}, func(Event) error { return nil }); !errors.Is(err, ErrNoInstance) {
		t.Errorf("without kgen's state: err = %v, want ErrNoInstance", err)
	}
}

// TestTraceTurnsTracingBackOn: trace-cmd extract -B kgen_<name> turns the
// instance's tracing_on and events off (and fails to remove it while kgen
// trace reads): Trace turns both back on and says so.
func TestTraceTurnsTracingBackOn(t *testing.T) {
	f := newFakeSys(t)
	var log bytes.Buffer
	f.opts.Log = &log
	st, err := Load(f.ko(), nil, f.opts)
	must(t, err)
	on := f.host(st.Instance + "/tracing_on")
	enable := f.host(st.Events + "/enable")
	must(t, os.WriteFile(on, []byte("0\n"), 0o644))
	must(t, os.WriteFile(enable, []byte("0\n"), 0o644))
	must(t, os.WriteFile(f.host(st.Instance+"/trace_pipe"), []byte("sh-71 [000] ..... 12.000001: tick: pid=71 comm=\"sh\" seq=1 val=0 stack={}\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	n := 0
	_, err = Trace(ctx, "kgen_testmod", &TraceOptions{Options: f.opts, PollInterval: 10 * time.Millisecond},
		func(e Event) error {
			n++
			// switched off again while kgen trace runs
			must(t, os.WriteFile(enable, []byte("0\n"), 0o644))
			return nil
		})
	must(t, err)
	for _, p := range []string{on, enable} {
		if b, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Errorf("%s = %q, %v; want 1", p, b, err)
		}
	}
	if n != 1 || strings.Count(log.String(), "turned them back on") != 1 || strings.Count(log.String(), "turned it back on") != 1 {
		t.Errorf("%d events; log:\n%s", n, log.String())
	}
}

func TestTraceNeedsInstance(t *testing.T) {
	f := newFakeSys(t, Mount{Target: "/sys/kernel/tracing", FSType: "tracefs"})
	_, err := Trace(context.Background(), "kgen_testmod", &TraceOptions{Options: f.opts}, func(Event) error { return nil })
	if !errors.Is(err, ErrNoInstance) {
		t.Errorf("err = %v", err)
	}
	f = newFakeSys(t)
	_, err = Trace(context.Background(), "kgen_testmod", &TraceOptions{Options: f.opts}, func(Event) error { return nil })
	if !errors.Is(err, ErrNoTracefs) {
		t.Errorf("err = %v", err)
	}
}

func TestStatsTable(t *testing.T) {
	ps, err := ParseStats(strings.NewReader("vfs_read hits 10\nvfs_read filtered 2\nvfs_read nmissed 0\nvfs_read emitted 8\nvfs_read extra 1\ndo_sys_open hits 123456\n"))
	must(t, err)
	var b bytes.Buffer
	must(t, (&Stats{Probes: ps, Hists: map[string]string{"vfs_read": "[1, 2) 3"}}).WriteTable(&b))
	want := "probe          hits  filtered  nmissed  emitted  extra\n" +
		"vfs_read         10         2        0        8      1\n" +
		"do_sys_open  123456         -        -        -      -\n" +
		"\nhistogram vfs_read:\n[1, 2) 3\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// Only the columns some probe has (an otst module has none of the
	// kretprobe counters).
	ps, err = ParseStats(strings.NewReader("otst armed 2\notst triggers 7\n"))
	must(t, err)
	b.Reset()
	must(t, (&Stats{Probes: ps}).WriteTable(&b))
	if want := "probe  armed  triggers\notst       2         7\n"; b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// A payload's leak report follows, line by line, escaped.
	b.Reset()
	must(t, (&Stats{Probes: ps, Reports: map[string]string{
		"leaks/brd/info":              "allocations: 3\npossible leaks: 1\n",
		"leaks/brd/possible_leaks":    "1 objects, 64 bytes, stack:\n  brd_alloc+0x1c/0x80 [brd]\x1b[2J\n",
		"leaks/brd/unallocated_frees": "",
	}}).WriteTable(&b))
	want = "probe  armed  triggers\notst       2         7\n" +
		"\nleaks/brd/info:\nallocations: 3\npossible leaks: 1\n" +
		"\nleaks/brd/possible_leaks:\n1 objects, 64 bytes, stack:\n  brd_alloc+0x1c/0x80 [brd]\\x1b[2J\n" +
		"\nleaks/brd/unallocated_frees:\n(empty)\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if _, err := ParseStats(strings.NewReader("a hits x\n")); err == nil {
		t.Error("bad value accepted")
	}
}
