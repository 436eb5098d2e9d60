package e2e

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// arm64Full runs every kind's full VM scenario on the arm64 kernel
// (TestVMArm64Full); each kind's TestVM* boots the amd64 kernels. arm64
// under TCG is slow (the full kretprobe scenario took 81 s, otst's 222 s),
// so KGEN_ARM64_FULL=1 make test runs TestVMArm64Full in a go test process
// of its own, beside the main one, whose VM tests boot one guest at a time.
func arm64Full() bool { return os.Getenv("KGEN_ARM64_FULL") == "1" }

// TestVMArm64Full runs every kind's full VM scenario (the same script and
// checks as on amd64) on the arm64 kernel, one boot each.
func TestVMArm64Full(t *testing.T) {
	if !arm64Full() {
		t.Skip("KGEN_ARM64_FULL=1 runs it (KGEN_ARM64_FULL=1 make test, in a process of its own)")
	}
	kinds := make([]string, 0, len(scenarios))
	for k := range scenarios {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { scenarios[kind].runOn(t, kind, arm64Kernel) })
	}
}

// TestVMArm64 boots the arm64 kernel once with every kind's example:
// kretprobe's argument and return value (arm64 passes them in x0-x7 and
// x0), otst's one-time stack, process's exec and exit, and a payload's
// dump_stack on Debian's arm64 brd, and probetest's group module armed on
// real functions.
func TestVMArm64(t *testing.T) {
	if arm64Full() {
		t.Skip("KGEN_ARM64_FULL=1: the full scenarios run on arm64 instead")
	}
	k := needVM(t, arm64Kernel)
	g := guest{
		Specs:   []string{"../examples/kretprobe.yaml", "../examples/otst.yaml", "../examples/process.yaml", "../examples/payload.yaml", "../examples/probetest.yaml"},
		Script:  "testdata/arm64.sh",
		Timeout: "5m",
		Extra: func(t *testing.T, k kernel) []string {
			return []string{k.Dir + "/modules/ko/brd.ko:/root/m/brd.ko"}
		},
	}
	out, s := g.run(t, k)
	checkArm64(t, s)
	if t.Failed() || testing.Verbose() {
		t.Logf("guest output:\n%s", out)
	}
}

func checkArm64(t *testing.T, s map[string]string) {
	for _, sec := range []string{"kretprobe", "otst", "process", "payload", "probetest"} {
		for i, rc := range rcs(s[sec]) {
			if rc != "0" {
				t.Errorf("%s: status %d is %s, want 0:\n%s", sec, i, rc, s[sec])
			}
		}
	}
	// kretprobe: count (the third argument) and ret read right
	if n := strings.Count(s["kretprobe"], `"count":8192,`); n < 3 || !strings.Contains(s["kretprobe"], `"ret":8192`) {
		t.Errorf("kretprobe: %d events with count 8192 (want >= 3, and ret 8192):\n%s", n, s["kretprobe"])
	}
	// otst: an event with ksys_sync's stack, and the kernel's own dump
	evs := otstEvents(t, strings.Join(jsonLines(s["otst"]), "\n"))
	found := false
	for _, e := range evs {
		found = found || len(e.Stack) > 0 && strings.HasPrefix(e.Stack[0], "ksys_sync+")
	}
	if !found {
		t.Errorf("otst: no event with a stack starting at ksys_sync:\n%s", s["otst"])
	}
	if !strings.Contains(s["otst-dmesg"], "Call trace:") || !strings.Contains(s["otst-dmesg"], "ksys_sync+") {
		t.Errorf("otst: no arm64 Call trace through ksys_sync in the kernel log:\n%s", s["otst-dmesg"])
	}
	// process: the exec of sh -c "exit 7" and its exit status
	var exec7, exit7 bool
	for _, e := range procEvents(t, strings.Join(jsonLines(s["process"]), "\n")) {
		switch e.Event {
		case "exec":
			exec7 = exec7 || e.str("argv") == `["sh", "-c", "exit 7"]`
		case "exit":
			exit7 = exit7 || e.int("code") == 7<<8 && e.int("group_dead") == 1
		}
	}
	if !exec7 || !exit7 {
		t.Errorf("process: exec of sh -c \"exit 7\" %v, its exit status 7 %v:\n%s", exec7, exit7, s["process"])
	}
	// payload: dump_stack from brd's allocations
	if !regexp.MustCompile(`brd_\w+(\.\w+)*\+0x[0-9a-f]+/0x[0-9a-f]+ \[brd\]`).MatchString(s["payload-dmesg"]) {
		t.Errorf("payload: no dump_stack with a brd frame in the kernel log:\n%s", s["payload-dmesg"])
	}
	checkArm64Probetest(t, s)
}

// arm64PtCalled are the functions arm64.sh stages that its workload (dd
// and sync, which busybox runs in a forked shell without an exec) calls
// while they are armed.
var arm64PtCalled = []string{"vfs_read", "vfs_write", "ksys_read", "ksys_write", "ksys_sync",
	"__arm64_sys_read", "__arm64_sys_write", "__arm64_sys_openat", "__arm64_sys_sync", "__arm64_sys_close",
	"do_sys_openat2", "do_filp_open", "filp_close", "fput", "iterate_supers",
	"kernel_clone", "wake_up_new_task", "do_exit", "do_group_exit"}

// checkArm64Probetest checks the probetest section as TestVMProbetest
// does on amd64: every called function registered (errno 0) and hit, the
// uncalled one registered and not hit, kprobes' refusal of notify_die
// (blacklisted) and the nonexistent names with their errno. jiffies, which
// x86 refuses with -EINVAL (a data symbol), is a name kprobes does not
// find at all on Debian's arm64 6.1: -ENOENT.
func checkArm64Probetest(t *testing.T, s map[string]string) {
	if n := len(rcs(s["probetest"])); n != 5 {
		t.Errorf("probetest: %d statuses, want 5 (load, stage, arm, disarm, unload):\n%s", n, s["probetest"])
	}
	c := ptCounts(s["probetest-counts"])
	if want := len(arm64PtCalled) + 4; len(c) != want {
		t.Errorf("probetest: %d functions listed, want %d:\n%s", len(c), want, s["probetest-counts"])
	}
	for _, f := range arm64PtCalled {
		if c[f][0] <= 0 || c[f][1] != 0 {
			t.Errorf("probetest %s: hits %d errno %d, want hits > 0, errno 0", f, c[f][0], c[f][1])
		}
	}
	want := map[string][2]int64{"__arm64_sys_reboot": {0, 0}, "notify_die": {0, -22}, "jiffies": {0, -2}, "no_such_function_x": {0, -2}}
	for f, w := range want {
		if got, ok := c[f]; !ok || got != w {
			t.Errorf("probetest %s: hits and errno %v, want %v", f, got, w)
		}
	}
	start, _ := strconv.ParseFloat(strings.Fields(s["probetest"] + " x")[0], 64)
	end, _ := strconv.ParseFloat(strings.TrimSpace(s["probetest-time"]), 64)
	t.Logf("probetest section: %.2f s of guest time", end-start)
}

// withoutVMModules drops from a /proc/modules listing the modules kgen vm
// itself loads on arm64 (its output port's) and trims it.
func withoutVMModules(mods string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(mods), "\n") {
		name, _, _ := strings.Cut(l, " ")
		if name != "virtio_console" && name != "virtio_mmio" {
			keep = append(keep, l)
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

func TestWithoutVMModules(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"virtio_console 45056 0 - Live 0x0\nvirtio_mmio 20480 0 - Live 0x0\n", ""},
		{"brd 16384 0 - Live 0x0\nvirtio_mmio 20480 0 - Live 0x0", "brd 16384 0 - Live 0x0"},
		{"leaky 16384 0 - Live 0x0", "leaky 16384 0 - Live 0x0"},
	} {
		if got := withoutVMModules(tt.in); got != tt.want {
			t.Errorf("withoutVMModules(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
