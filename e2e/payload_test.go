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

	"kgen/spec"
)

func init() {
	scenarios[spec.KindPayload] = scenario{
		guest: guest{
			Specs: []string{"../examples/payload.yaml", "../examples/fsim.yaml", "../examples/leakcheck.yaml",
				"testdata/plattach.yaml"},
			Script:  "testdata/payload.sh",
			Timeout: "8m",
			Extra:   payloadFiles,
		},
		check: checkPayload,
	}
}

// TestVMPayload boots every kernel once and runs payload.sh: the seed's
// payload on Debian's brd (events with stacks, dump_stack, brd works),
// leak checks on brd (no false leak) and on the fixture testdata/leaky
// (its exact leaks), fault simulation on null_blk's init and configfs
// mkdir, KEDR's indicator patterns and the pid tree on the fixture's
// run-time calls, attach: before refusing a loaded target, and unloading
// the payload under a target's allocation loop and the target under the
// payload. debug-6.1 has no Debian modules: it runs the fixture's parts.
func TestVMPayload(t *testing.T) { runScenario(t, spec.KindPayload) }

// debianTargets are the Debian modules payload.sh loads as targets, from
// scripts/extract-modules.sh's flat directory.
var debianTargets = []string{"brd", "null_blk", "configfs"}

// payloadFiles builds the fixture for k (W=1 clean) and adds it with
// Debian's target modules for k (none on the debug kernel, which Debian
// does not ship).
func payloadFiles(t *testing.T, k kernel) []string {
	ko, out := buildTestModule(t, k, "leaky")
	for _, w := range w1Warnings(out, filepath.Dir(ko)) {
		t.Errorf("testdata/leaky: make W=1 warns: %s", w)
	}
	add := []string{ko + ":/root/leaky.ko"}
	if k.Name == debugKernel {
		return add
	}
	for _, m := range debianTargets {
		p := filepath.Join(k.Dir, "modules", "ko", m+".ko")
		if _, err := os.Stat(p); err != nil {
			msg := "Debian module " + m + " not extracted (run scripts/extract-modules.sh " + k.Name + "): " + err.Error()
			if os.Getenv("KGEN_REQUIRE_VM") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		add = append(add, p+":/root/m/"+m+".ko")
	}
	return add
}

// TestCompileLeaky builds the fixture for every kernel with W=1: no
// warning, as the generated modules.
func TestCompileLeaky(t *testing.T) {
	for _, name := range kernelNames {
		t.Run(name, func(t *testing.T) {
			k := need(t, name, "KGEN_REQUIRE_KERNELS")
			ko, out := buildTestModule(t, k, "leaky")
			for _, w := range w1Warnings(out, filepath.Dir(ko)) {
				t.Errorf("make W=1 warns: %s", w)
			}
		})
	}
}

// kv returns the value of "key=value" (up to the next space) in s, or "".
func kv(s, key string) string {
	m := regexp.MustCompile(`(?m)(?:^|\s)` + regexp.QuoteMeta(key) + `=(\S*)`).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// rcs returns the rc=N values of s in order (one per ld, ul or w line).
func rcs(s string) []string {
	var r []string
	for _, m := range regexp.MustCompile(`(?m)^rc=(\d+)`).FindAllStringSubmatch(s, -1) {
		r = append(r, m[1])
	}
	return r
}

// leakInfo reads a leaks/<target>/info file: "name: N" lines.
func leakInfo(s string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			m[strings.TrimSpace(k)] = n
		}
	}
	return m
}

// leakGroup is one block of possible_leaks: the objects one stack
// allocated.
type leakGroup struct {
	objects, bytes int
	frames         []string
}

var leakHeadRE = regexp.MustCompile(`^(\d+) objects?, (\d+) bytes?, stack:$`)

// possibleLeaks reads possible_leaks: "N objects, S bytes, stack:" then
// indented frames, blocks separated by blank lines. Lines that are neither
// (kernel console output in the section) are ignored.
func possibleLeaks(t *testing.T, s string) []leakGroup {
	t.Helper()
	var gs []leakGroup
	for _, l := range strings.Split(s, "\n") {
		if m := leakHeadRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			n, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[2])
			gs = append(gs, leakGroup{objects: n, bytes: b})
			continue
		}
		if len(gs) > 0 && strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "" {
			gs[len(gs)-1].frames = append(gs[len(gs)-1].frames, strings.TrimSpace(l))
		}
	}
	return gs
}

// statsSum adds the VALUEs of the stats lines "ROW COUNTER VALUE" whose
// COUNTER is counter.
func statsSum(s, counter string) int {
	sum := 0
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[1] == counter {
			if n, err := strconv.Atoi(f[2]); err == nil {
				sum += n
			}
		}
	}
	return sum
}

type payloadEvent struct {
	Event  string         `json:"event"`
	PID    int            `json:"pid"`
	Fields map[string]any `json:"fields"`
	Stack  []string       `json:"stack"`
}

func payloadEvents(t *testing.T, s string) []payloadEvent {
	t.Helper()
	var evs []payloadEvent
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var e payloadEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("kgen trace --json line %q: %v", l, err)
			continue
		}
		evs = append(evs, e)
	}
	return evs
}

var badLogRE = regexp.MustCompile(`BUG|WARNING|Oops|general protection`)

func checkPayload(t *testing.T, kernel string, s map[string]string) {
	have := strings.Contains(s["targets"], "debian-modules=yes")
	if !have && kernel != debugKernel {
		t.Errorf("the guest has no Debian target modules:\n%s", s["targets"])
		return
	}
	if have {
		checkPayloadSeed(t, s)
		checkPayloadBrdLeaks(t, s)
		checkPayloadFsim(t, s)
		checkPayloadLoop(t, s)
	}
	checkPayloadLeaky(t, s)
	checkPayloadPatterns(t, s)
	checkPayloadAttachLoaded(t, s)

	if kv(s["left"], "hooks") != "0" {
		t.Errorf("ftrace hooks left at the end:\n%s", s["left"])
	}
	_, mods, _ := strings.Cut(s["left"], "modules:\n")
	mods, _, _ = strings.Cut(mods, "state:")
	if left := withoutVMModules(mods); left != "" {
		t.Errorf("modules left loaded at the end:\n%s", left)
	}
	if badLogRE.MatchString(s["dmesg"]) {
		t.Errorf("kernel log:\n%s", s["dmesg"])
	}
}

// checkPayloadSeed: examples/payload.yaml on brd.
func checkPayloadSeed(t *testing.T, s map[string]string) {
	if r := rcs(s["seed-load"]); len(r) != 2 || r[0] != "0" || r[1] != "0" {
		t.Errorf("kgen load payload_dump_stack.ko, then brd.ko: statuses %v, want 0 0:\n%s", r, s["seed-load"])
		return
	}
	if got := kv(s["seed-load"], "target"); got != "brd" {
		t.Errorf("payload_dump_stack's target parameter = %q, want brd (the spec's)", got)
	}
	if got := kv(s["seed-load"], "hooks-before-target"); got != "0" {
		t.Errorf("payload loaded, target not: %s ftrace hooks, want none (no ftrace_ops before the target comes)", got)
	}
	if got := kv(s["seed-load"], "hooks-with-target"); got == "0" || got == "" {
		t.Errorf("payload and brd loaded: %q ftrace hooks, want some", got)
	}
	if !strings.Contains(s["seed-brd"], "brd-works=yes") {
		t.Errorf("brd under the payload: the data read back from /dev/ram0 differs:\n%s", s["seed-brd"])
	}
	// brd_init's 2 allocations (rd_nr=2), and brd_probe's for /dev/ram7.
	if n := statsSum(s["seed-stats"], "calls"); n < 3 {
		t.Errorf("stats count %d calls of brd, want >= 3 (2 ramdisks at init, 1 at run time):\n%s", n, s["seed-stats"])
	}
	if n := statsSum(s["seed-stats"], "passed"); n == 0 {
		t.Errorf("stats: no call of another caller passed through (the rest of the kernel allocates too):\n%s", s["seed-stats"])
	}
	evs := payloadEvents(t, s["seed-events"])
	withBrd, withStack := 0, 0
	for _, e := range evs {
		if !strings.HasSuffix(e.Event, "kmalloc") {
			t.Errorf("event %q from payload_dump_stack, want only the kmalloc point's", e.Event)
			continue
		}
		caller, _ := e.Fields["caller"].(string)
		if !strings.Contains(caller, "[brd]") {
			t.Errorf("event's caller %q is not in brd", caller)
		}
		if len(e.Stack) > 0 {
			withStack++
		}
		for _, f := range e.Stack {
			if strings.HasPrefix(f, "brd_") {
				withBrd++
				break
			}
		}
		if _, ok := e.Fields["size"]; !ok {
			t.Errorf("event without the size argument: %+v", e)
		}
	}
	if len(evs) < 3 || withStack != len(evs) || withBrd != len(evs) {
		t.Errorf("%d kmalloc events, %d with a stack, %d with a brd_* frame; want >= 3, all of them:\n%s\n%s",
			len(evs), withStack, withBrd, s["seed-events"], s["seed-trace-err"])
	}
	d := s["seed-dmesg"]
	if !strings.Contains(d, "Call Trace:") && !strings.Contains(d, "Call trace:") || !regexp.MustCompile(`brd_\w+(\.\w+)*\+0x[0-9a-f]+/0x[0-9a-f]+ \[brd\]`).MatchString(d) {
		t.Errorf("no dump_stack with a brd frame in the kernel log:\n%s", d)
	}
	// The target unloads under the payload: its hooks go with it.
	if r := rcs(s["seed-target-unload"]); len(r) != 1 || r[0] != "0" {
		t.Errorf("kgen unload brd with the payload loaded:\n%s", s["seed-target-unload"])
	}
	if kv(s["seed-target-unload"], "hooks") != "0" {
		t.Errorf("brd unloaded, the payload still loaded: ftrace hooks left:\n%s", s["seed-target-unload"])
	}
	if r := rcs(s["seed-unload"]); len(r) != 1 || r[0] != "0" || kv(s["seed-unload"], "hooks") != "0" {
		t.Errorf("kgen unload payload_dump_stack:\n%s", s["seed-unload"])
	}
}

// checkPayloadBrdLeaks: a real module loaded, used and unloaded under the
// leak check leaks nothing.
func checkPayloadBrdLeaks(t *testing.T, s map[string]string) {
	if r := rcs(s["brd-leaks"]); len(r) != 3 || r[0] != "0" || r[1] != "0" || r[2] != "0" {
		t.Errorf("leakcheck target=brd, brd, unload brd: statuses %v, want 0 0 0:\n%s", r, s["brd-leaks"])
		return
	}
	if !strings.Contains(s["brd-leaks"], "brd-works=yes") {
		t.Errorf("brd under the leak check: /dev/ram0 read back differs:\n%s", s["brd-leaks"])
	}
	info := leakInfo(s["brd-leaks-info"])
	for _, k := range []string{"allocations", "frees", "possible leaks", "unallocated frees"} {
		if _, ok := info[k]; !ok {
			t.Errorf("brd's leak info lacks %q:\n%s", k, s["brd-leaks-info"])
		}
	}
	if info["allocations"] < 3 || info["possible leaks"] != 0 {
		t.Errorf("brd loaded, used and unloaded: %d allocations (want >= 3), %d possible leaks (want 0):\n%s\n%s",
			info["allocations"], info["possible leaks"], s["brd-leaks-info"], s["brd-leaks-possible"])
	}
	if gs := possibleLeaks(t, s["brd-leaks-possible"]); len(gs) != 0 {
		t.Errorf("brd: possible_leaks lists %d stacks, want none:\n%s", len(gs), s["brd-leaks-possible"])
	}
	if kv(s["brd-leaks-unload"], "hooks") != "0" {
		t.Errorf("leakcheck unloaded: hooks left:\n%s", s["brd-leaks-unload"])
	}
}

// checkPayloadLeaky: the fixture's exact leaks (testdata/leaky/leaky.c).
func checkPayloadLeaky(t *testing.T, s map[string]string) {
	if r := rcs(s["leaky-leaks"]); len(r) != 2 || r[0] != "0" || r[1] != "0" {
		t.Errorf("kgen load leakcheck.ko target=leaky, then leaky.ko: statuses %v, want 0 0:\n%s", r, s["leaky-leaks"])
		return
	}
	if kv(s["leaky-leaks"], "ops") != "000" {
		t.Errorf("3 run-time kmalloc/kfree of the fixture under the leak check: statuses %q, want 000", kv(s["leaky-leaks"], "ops"))
	}
	// init: 9 allocations (kmalloc x 5, kstrdup, vmalloc, kmem_cache_alloc,
	// get_zeroed_page), 3 frees (kfree, kmem_cache_free, free_pages), 1
	// kfree of kobject_get_path's string; 3 writes: 3 allocations, 3
	// frees. "frees" counts every free call of the target's objects and by
	// the target: 6 matched + 1 unallocated.
	want := map[string]int{"allocations": 12, "frees": 7, "possible leaks": 6, "unallocated frees": 1}
	before := t.Failed()
	for _, sec := range []string{"leaky-info-live", "leaky-info"} {
		info := leakInfo(s[sec])
		for k, v := range want {
			if got, ok := info[k]; !ok || got != v {
				t.Errorf("%s: %q = %d (present %v), want %d", sec, k, got, ok, v)
			}
		}
	}
	if t.Failed() && !before {
		t.Logf("info, loaded:\n%s\ninfo, unloaded:\n%s", s["leaky-info-live"], s["leaky-info"])
	}
	if r := rcs(s["leaky-unload"]); len(r) != 1 || r[0] != "0" {
		t.Errorf("kgen unload leaky:\n%s", s["leaky-unload"])
	}
	// The objects alive, while the fixture is loaded and once it is gone
	// (the final report): 2 x 100 bytes from leaky_alloc_a, 2 x 200 from
	// leaky_alloc_b, whatever the number of stacks (gcc unrolls the loop
	// of leaky_alloc_b: two call sites in init, two stacks), 6 bytes from
	// leaky_alloc_str (kstrdup), 8192 from leaky_alloc_vm (vmalloc).
	for _, sec := range []string{"leaky-possible-live", "leaky-possible"} {
		checkLeakyGroups(t, sec, s[sec])
	}
	// One line per function (and caller): "kfree 1" or "1 kfree from SYM".
	if u := strings.TrimSpace(s["leaky-unallocated"]); !regexp.MustCompile(`^(kfree 1|1 kfree\b.*)$`).MatchString(u) {
		t.Errorf("unallocated_frees: want one line for kfree, count 1 (kobject_get_path's string):\n%s", u)
	}
	if t.Failed() && !before {
		t.Logf("possible_leaks, loaded:\n%s\npossible_leaks, unloaded:\n%s\nunallocated_frees:\n%s",
			s["leaky-possible-live"], s["leaky-possible"], s["leaky-unallocated"])
	}
	if r := rcs(s["leaky-leaks-unload"]); len(r) != 1 || r[0] != "0" || kv(s["leaky-leaks-unload"], "hooks") != "0" {
		t.Errorf("kgen unload leakcheck:\n%s", s["leaky-leaks-unload"])
	}
}

// checkLeakyGroups checks the fixture's possible_leaks: every block's
// stack names one of its allocating functions (a frame "fn+0xOFF/0xSIZE
// [leaky]"), and per function the objects and bytes add up to what it
// keeps; leaky_cache_page frees what it allocates: no block.
func checkLeakyGroups(t *testing.T, sec, text string) {
	t.Helper()
	want := map[string][2]int{"leaky_alloc_a": {2, 200}, "leaky_alloc_b": {2, 400},
		"leaky_alloc_str": {1, 6}, "leaky_alloc_vm": {1, 8192}, "leaky_cache_page": {0, 0}}
	got := map[string][2]int{}
	for _, g := range possibleLeaks(t, text) {
		fn := ""
		for _, f := range g.frames {
			for w := range want {
				if (strings.HasPrefix(f, w+"+") || strings.HasPrefix(f, w+".")) && strings.HasSuffix(f, " [leaky]") {
					fn = w
				}
			}
			if fn != "" {
				break
			}
		}
		if fn == "" {
			t.Errorf("%s: a block whose stack names none of the fixture's allocating functions [leaky]: %d objects, %d bytes, %q",
				sec, g.objects, g.bytes, g.frames)
			continue
		}
		got[fn] = [2]int{got[fn][0] + g.objects, got[fn][1] + g.bytes}
	}
	for fn, w := range want {
		if got[fn] != w {
			t.Errorf("%s: possible leaks allocated in %s: %d objects, %d bytes; want %d objects, %d bytes",
				sec, fn, got[fn][0], got[fn][1], w[0], w[1])
		}
	}
}

// checkPayloadFsim: examples/fsim.yaml on null_blk.
func checkPayloadFsim(t *testing.T, s map[string]string) {
	if r := rcs(s["fsim-load"]); len(r) != 2 || r[0] != "0" || r[1] != "0" {
		t.Errorf("kgen load fsim.ko; expression 1: statuses %v:\n%s", r, s["fsim-load"])
		return
	}
	if kv(s["fsim-load"], "target") != "null_blk" {
		t.Errorf("fsim's target = %q, want null_blk (the spec's)", kv(s["fsim-load"], "target"))
	}
	if e := regexp.MustCompile(`(?m)^expression=(.*)$`).FindAllStringSubmatch(s["fsim-load"], -1); len(e) != 2 || e[0][1] != "0" || e[1][1] != "1" {
		t.Errorf("fsim's expression: read %v, want 0 (the spec's), then 1 (written)", e)
	}
	init := s["fsim-init"]
	if r := rcs(init); len(r) != 1 || r[0] == "0" || !strings.Contains(init, "cannot allocate memory") && !strings.Contains(init, "Cannot allocate memory") {
		t.Errorf("null_blk with every kmalloc failing: want kgen load to fail with ENOMEM:\n%s", init)
	}
	if kv(init, "null_blk-loaded") != "0" {
		t.Errorf("null_blk's init failed, yet it is in /proc/modules:\n%s", init)
	}
	lf := kv(init, "last_fault")
	if m := regexp.MustCompile(`last_fault=function=\S+ caller=\S+ \[null_blk\] pid=\d+ (.* )?times=\d+`).FindStringSubmatch(init); m == nil {
		t.Errorf("last_fault after null_blk's failed init: %q, want function=F caller=SYM+0xOFF [null_blk] pid=N times=N", lf)
	}
	if n := statsSum(init, "faults"); n < 1 {
		t.Errorf("stats: %d faults after null_blk's failed init:\n%s", n, init)
	}
	if badLogRE.MatchString(s["fsim-init-dmesg"]) {
		t.Errorf("null_blk's failed init logged:\n%s", s["fsim-init-dmesg"])
	}
	if r := rcs(s["fsim-off"]); len(r) != 2 || r[0] != "0" || r[1] != "0" || !strings.Contains(s["fsim-off"], "nullb-works=yes") {
		t.Errorf("expression 0: null_blk should load and read:\n%s", s["fsim-off"])
	}
	op := s["fsim-op"]
	if kv(op, "mkdir-on") == "0" || !strings.Contains(op, "Cannot allocate memory") || kv(op, "mkdir-off") != "0" {
		t.Errorf("configfs mkdir of a null_blk device: want ENOMEM with expression 1, success with 0:\n%s", op)
	}
	bad := rcs(s["fsim-bad"])
	if len(bad) != 5 {
		t.Errorf("fsim-bad: %d writes reported, want 5:\n%s", len(bad), s["fsim-bad"])
		return
	}
	for i, what := range []string{"size >", "an unknown variable", "300 bytes"} {
		if bad[i] == "0" {
			t.Errorf("expression %s accepted, want EINVAL", what)
		}
	}
	if n := strings.Count(s["fsim-bad"], "Invalid argument"); n < 3 {
		t.Errorf("bad expressions: %d refused with EINVAL, want >= 3:\n%s", n, s["fsim-bad"])
	}
	if kv(s["fsim-bad"], "expression") != "0" {
		t.Errorf("after refused writes the expression is %q, want 0 (the last accepted)", kv(s["fsim-bad"], "expression"))
	}
	if kv(s["fsim-bad"], "nullb-ok") != "yes" {
		t.Errorf("null_blk after the bad expressions: configfs mkdir fails:\n%s", s["fsim-bad"])
	}
	if r := rcs(s["fsim-unload"]); len(r) != 2 || r[0] != "0" || r[1] != "0" || kv(s["fsim-unload"], "hooks") != "0" {
		t.Errorf("unload null_blk, fsim:\n%s", s["fsim-unload"])
	}
}

// checkPayloadPatterns: KEDR's indicator patterns on the fixture.
func checkPayloadPatterns(t *testing.T, s map[string]string) {
	l := s["pat-load"]
	// ld fsim, w in_init, ld leaky (fails), w 0, ld leaky
	r := rcs(l)
	if len(r) != 5 || r[0] != "0" || r[1] != "0" || r[2] == "0" || r[3] != "0" || r[4] != "0" {
		t.Errorf("fsim target=leaky, in_init: the fixture's init must fail, with 0 it loads; statuses %v:\n%s", r, l)
		return
	}
	if lo := regexp.MustCompile(`leaky-loaded=(\d)`).FindAllStringSubmatch(l, -1); len(lo) != 2 || lo[0][1] != "0" || lo[1][1] != "1" {
		t.Errorf("fixture in /proc/modules after the failed and the good load: %v, want 0 then 1", lo)
	}
	e := s["pat-eexist"]
	if r := rcs(e); len(r) != 1 || r[0] == "0" || !strings.Contains(strings.ToLower(e), "file exists") || kv(e, "leakcheck-loaded") != "0" {
		t.Errorf("leakcheck (attach: before) loaded while its target is: want EEXIST and not loaded:\n%s", e)
	}
	if !strings.Contains(strings.ToLower(s["pat-eexist-dmesg"]), "unload") {
		t.Errorf("the refused payload's kernel log line does not say to unload the target:\n%s", s["pat-eexist-dmesg"])
	}
	if got := kv(s["pat-in-init"], "ops"); got != "000" {
		t.Errorf("in_init: the fixture's run-time calls failed (%s): they are not in init", got)
	}
	// (times % 3) = 0 over 9 calls: any 9 consecutive values of times hold
	// 3 multiples of 3; with times reset to 0 (KEDR: any write to times
	// resets it) they are the 3rd, 6th and 9th.
	ev := s["pat-every3"]
	if r := rcs(ev); len(r) != 2 || r[0] != "0" || r[1] != "0" {
		t.Errorf("(times %% 3) = 0: writing the expression, then 0 to times (KEDR's reset): statuses %v:\n%s", r, ev)
	}
	if got := kv(ev, "ops"); got != "001001001" {
		t.Errorf("(times %% 3) = 0 over 9 calls: %s, want 001001001 (1 = fault)", got)
	}
	if got := kv(ev, "times"); got != "9" {
		t.Errorf("(times %% 3) = 0: times reads %s after a reset and 9 calls", got)
	}
	fi := s["pat-first"]
	if got := kv(fi, "ops"); got != "100000000" {
		t.Errorf("times = 1 over 9 calls after a reset: %s, want 100000000:\n%s", got, fi)
	}
	fl := s["pat-flags"]
	if kv(fl, "atomic300") != "1" || kv(fl, "kernel300") != "0" || kv(fl, "atomic50") != "0" {
		t.Errorf("(flags = GFP_ATOMIC) && (size > 100): want only the atomic 300-byte call to fail:\n%s", fl)
	}
	// rnd100 < 20 over 200 calls: binomial(200, 0.2), mean 40, sd 5.7; 10..80
	// is more than 5 sd either way.
	m := regexp.MustCompile(`(?m)^(before|after) calls (\d+) failed (\d+)$`).FindAllStringSubmatch(s["pat-rnd"], -1)
	if len(m) != 2 {
		t.Errorf("rnd100 < 20: counters not read:\n%s", s["pat-rnd"])
	} else {
		c0, _ := strconv.Atoi(m[0][2])
		f0, _ := strconv.Atoi(m[0][3])
		c1, _ := strconv.Atoi(m[1][2])
		f1, _ := strconv.Atoi(m[1][3])
		if c1-c0 != 200 || f1-f0 < 10 || f1-f0 > 80 {
			t.Errorf("rnd100 < 20: %d calls, %d failed; want 200 calls, about 40 failed", c1-c0, f1-f0)
		}
	}
	p := s["pat-pid"]
	before := t.Failed()
	if kv(p, "pid") != kv(p, "tree") {
		t.Errorf("points/kmalloc/pid reads %q, written %q", kv(p, "pid"), kv(p, "tree"))
	}
	for _, k := range []string{"outside", "sibling", "after"} {
		if kv(p, k) != "0" {
			t.Errorf("pid tree: a call of a process outside the tree (%s) failed", k)
		}
	}
	for _, k := range []string{"root", "child", "grandchild", "subshell"} {
		if kv(p, k) != "1" {
			t.Errorf("pid tree: the call of the tree's %s did not fail (%q)", k, kv(p, k))
		}
	}
	if kv(p, "times-outside") != "0" || kv(p, "times-tree") != "4" {
		t.Errorf("pid tree: times %s after the outside calls (want 0), %s after the tree's (want 4)", kv(p, "times-outside"), kv(p, "times-tree"))
	}
	if !regexp.MustCompile(`last_fault=function=\S+ caller=leaky_alloc_op\S* \[leaky\] pid=\d+ (.* )?times=4\b`).MatchString(p) {
		t.Errorf("last_fault after the pid tree: want caller leaky_alloc_op [leaky], times=4:\n%s", p)
	}
	if !strings.Contains(p, "\npid=0\n") {
		t.Errorf("points/kmalloc/pid after writing 0:\n%s", p)
	}
	if t.Failed() && !before {
		t.Logf("pid tree:\n%s", p)
	}
	if r := rcs(s["pat-unload"]); len(r) != 2 || r[0] != "0" || r[1] != "0" || kv(s["pat-unload"], "hooks") != "0" {
		t.Errorf("unload leaky, fsim:\n%s", s["pat-unload"])
	}
}

// checkPayloadAttachLoaded: testdata/plattach.yaml (attach: loaded, fault
// on every kmalloc) attaches to the fixture already loaded and detaches at
// its unload.
func checkPayloadAttachLoaded(t *testing.T, s map[string]string) {
	a := s["attach-loaded"]
	if r := rcs(a); len(r) != 4 || r[0] != "0" || r[1] != "0" || r[2] != "0" || r[3] != "0" {
		t.Errorf("load leaky, load plattach (attach: loaded), unload plattach, unload leaky: statuses %v, want 0 0 0 0:\n%s", r, a)
		return
	}
	if kv(a, "before") != "0" || kv(a, "attached") != "1" || kv(a, "detached") != "0" {
		t.Errorf("attach: loaded: the fixture's kmalloc before the payload %s, attached %s, after its unload %s; want 0 1 0 (1 = fault):\n%s",
			kv(a, "before"), kv(a, "attached"), kv(a, "detached"), a)
	}
	if h := kv(a, "hooks-attached"); h == "0" || h == "" || kv(a, "hooks-detached") != "0" {
		t.Errorf("attach: loaded: ftrace hooks %s while attached, %s after the payload's unload; want some, then 0", h, kv(a, "hooks-detached"))
	}
	if !strings.Contains(s["attach-loaded-dmesg"], "plattach: attached to leaky (already loaded)") {
		t.Errorf("attach: loaded: the payload's log does not say it attached to the loaded target:\n%s", s["attach-loaded-dmesg"])
	}
}

// checkPayloadLoop: the payload unloads while null_blk allocates and frees
// in a loop; nothing is left hooked and null_blk works after.
func checkPayloadLoop(t *testing.T, s map[string]string) {
	if r := rcs(s["loop"]); len(r) != 2 || r[0] != "0" || r[1] != "0" {
		t.Errorf("leakcheck target=null_blk, null_blk: statuses %v:\n%s", r, s["loop"])
		return
	}
	if n := statsSum(s["loop-stats"], "calls"); n < 4 {
		t.Errorf("the configfs loop: %d intercepted calls of null_blk before the unload, want several:\n%s", n, s["loop-stats"])
	}
	u := s["loop-unload"]
	if r := rcs(u); len(r) < 1 || r[0] != "0" {
		t.Errorf("kgen unload leakcheck under the loop:\n%s", u)
	}
	if kv(u, "hooks") != "0" || kv(u, "nullb-after") != "yes" {
		t.Errorf("after the unload under the loop: hooks left or null_blk broken:\n%s", u)
	}
	if kv(u, "loop-alive") != "yes" {
		t.Errorf("the configfs loop stopped (a mkdir or rmdir failed) before the payload's unload was over:\n%s", u)
	}
	if n, _ := strconv.Atoi(kv(u, "loops")); n < 2 {
		t.Errorf("the configfs loop ran %d times", n)
	}
	if r := rcs(u); len(r) != 3 || r[1] != "0" || r[2] != "0" {
		t.Errorf("unload null_blk, configfs: %v:\n%s", r, u)
	}
}

// TestPayloadNoTailCall builds two payload examples for every kernel and
// reads their code: a wrapper (pl_w_*) that tail-called the function it
// wraps would be redirected to itself by ftrace again, forever (and would
// skip its leave step). No wrapper may jump to an external symbol other
// than the return thunk.
func TestPayloadNoTailCall(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("objdump not found (apt-get install binutils)")
	}
	for _, name := range kernelNames {
		t.Run(name, func(t *testing.T) {
			k := need(t, name, "KGEN_REQUIRE_KERNELS")
			cache := t.TempDir()
			// leakcheck wraps every family, fsim the kmalloc family with a
			// fault path (payload.yaml's wrappers are fsim's).
			for _, sp := range []string{"../examples/leakcheck.yaml", "../examples/fsim.yaml"} {
				out := t.TempDir()
				if o, err := kgen(t, "build", sp, "--kdir", k.KDIR, "-o", out, "--cache-dir", cache); err != nil {
					t.Fatalf("kgen build %s: %v\n%s", sp, err, o)
				}
				kos, _ := filepath.Glob(filepath.Join(out, "*.ko"))
				if len(kos) != 1 {
					t.Fatalf("kgen build %s wrote %v", sp, kos)
				}
				d, err := exec.Command("objdump", "-dr", "--no-show-raw-insn", kos[0]).Output()
				if err != nil {
					t.Fatalf("objdump %s: %v", kos[0], err)
				}
				wrappers, jumps := tailCalls(string(d))
				if wrappers == 0 {
					t.Errorf("%s: no pl_w_* wrapper in the code", filepath.Base(kos[0]))
				}
				for _, j := range jumps {
					t.Errorf("%s: a wrapper tail-calls: %s", filepath.Base(kos[0]), j)
				}
			}
		})
	}
}

var (
	objdumpFuncRE = regexp.MustCompile(`^[0-9a-f]+ <([^>]+)>:$`)
	objdumpInsnRE = regexp.MustCompile(`^\s+[0-9a-f]+:\s+(\S+)`)
	objdumpRelRE  = regexp.MustCompile(`^\s+[0-9a-f]+: R_X86_64_(?:PLT|PC)32\s+([^\s+-]+)`)
)

// tailCalls reads objdump -dr output and returns how many pl_w_* functions
// it holds and, in them, every jmp whose relocation names a symbol other
// than the return and indirect-branch thunks ("pl_w_x: jmp __kmalloc").
func tailCalls(d string) (int, []string) {
	n := 0
	var out []string
	fn, last := "", ""
	for _, l := range strings.Split(d, "\n") {
		if m := objdumpFuncRE.FindStringSubmatch(l); m != nil {
			fn, last = m[1], ""
			if strings.HasPrefix(fn, "pl_w_") {
				n++
			}
			continue
		}
		if !strings.HasPrefix(fn, "pl_w_") {
			continue
		}
		if m := objdumpRelRE.FindStringSubmatch(l); m != nil {
			sym := m[1]
			if strings.HasPrefix(last, "jmp") && !strings.HasPrefix(sym, "__x86_return_thunk") &&
				!strings.HasPrefix(sym, "__x86_indirect_thunk") && !strings.HasPrefix(sym, ".") {
				out = append(out, fn+": "+last+" "+sym)
			}
			continue
		}
		if m := objdumpInsnRE.FindStringSubmatch(l); m != nil {
			last = m[1]
		}
	}
	return n, out
}

// TestTailCalls runs tailCalls on objdump output of a wrapper that calls,
// one that tail-calls, and a return through the thunk.
func TestTailCalls(t *testing.T) {
	const d = `
0000000000000010 <pl_w_kfree>:
  10:	call   15 <pl_w_kfree+0x5>
			11: R_X86_64_PLT32	__fentry__-0x4
  1a:	call   1f <pl_w_kfree+0xf>
			1b: R_X86_64_PLT32	kfree-0x4
  25:	jmp    2a <pl_w_kfree+0x1a>
			26: R_X86_64_PLT32	__x86_return_thunk-0x4
0000000000000030 <pl_w___kmalloc>:
  30:	jmp    35 <pl_w___kmalloc+0x5>
			31: R_X86_64_PLT32	__kmalloc-0x4
0000000000000040 <pl_other>:
  40:	jmp    45 <pl_other+0x5>
			41: R_X86_64_PLT32	kfree-0x4
`
	n, j := tailCalls(d)
	if n != 2 || len(j) != 1 || j[0] != "pl_w___kmalloc: jmp __kmalloc" {
		t.Errorf("tailCalls = %d, %q; want 2 wrappers, the one jmp to __kmalloc", n, j)
	}
}
