package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"kgen/spec"
)

// otstEvent is an otst_trigger line of kgen trace --json.
type otstEvent struct {
	Event  string         `json:"event"`
	CPU    int            `json:"cpu"`
	Fields map[string]any `json:"fields"`
	Stack  []string       `json:"stack"`
}

func otstEvents(t *testing.T, s string) []otstEvent {
	t.Helper()
	var evs []otstEvent
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var e otstEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("kgen trace --json line %q: %v", l, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func init() {
	scenarios[spec.KindOtst] = scenario{
		guest: guest{
			Specs:   []string{"../examples/otst.yaml", "testdata/otst3.yaml"},
			Script:  "testdata/otst.sh",
			SMP:     2,
			Timeout: "6m",
		},
		check: checkOtst,
	}
}

// TestVMOtst boots every kernel once with two CPUs and runs otst.sh: the
// README flow, exactly-once under SMP, every bad input's errno, load-time
// symbols, 100 arm/trigger cycles and an unload with probes armed.
func TestVMOtst(t *testing.T) { runScenario(t, spec.KindOtst) }

func countRE(re, s string) int { return len(regexp.MustCompile(re).FindAllString(s, -1)) }

func checkOtst(t *testing.T, kernel string, s map[string]string) {
	if got := strings.TrimSpace(s["cpus"]); got != "2" {
		t.Errorf("guest has %q CPUs, want 2", got)
	}
	if !strings.Contains(s["load"], "rc=0") {
		t.Fatalf("kgen load otst.ko failed:\n%s", s["load"])
	}

	// 1. The README flow.
	if n := strings.Count(s["readme-arm"], "rc=0"); n != 2 {
		t.Errorf("arming ksys_sync and vfs_fsync: %d of 2 writes succeeded:\n%s", n, s["readme-arm"])
	}
	if s["readme-list"] != "ksys_sync\nvfs_fsync\n" {
		t.Errorf("cat after arming = %q, want ksys_sync and vfs_fsync", s["readme-list"])
	}
	after, disarmed, _ := strings.Cut(s["readme-after"], "-- disarm\n")
	if after != "vfs_fsync\n" {
		t.Errorf("cat after sync = %q, want only vfs_fsync (the fired ksys_sync gone)", after)
	}
	if !strings.HasPrefix(disarmed, "rc=0\n") || strings.TrimPrefix(disarmed, "rc=0\n") != "" {
		t.Errorf("-vfs_fsync then cat = %q, want rc=0 and an empty list", disarmed)
	}
	dm := s["readme-dmesg"]
	for _, want := range []string{"otst: symbol ksys_sync registered!", "otst: symbol ksys_sync unregistered!",
		"otst: symbol vfs_fsync registered!", "otst: symbol vfs_fsync unregistered!", callTrace(kernel)} {
		if c := strings.Count(dm, want); c != 1 {
			t.Errorf("kernel log has %q %d times, want once:\n%s", want, c, dm)
		}
	}
	// The address: hashed by default ("0x" then %p's hash, or its
	// "(____ptrval____)" before the hash key is ready), raw (%px, the
	// original's) with raw_addresses=1: only the raw one is ksys_sync's.
	ksym := regexp.MustCompile(`(?m)^([0-9a-f]+) T ksys_sync$`).FindStringSubmatch(s["kallsyms"])
	if ksym == nil {
		t.Fatalf("no ksys_sync in kallsyms:\n%s", s["kallsyms"])
	}
	sym, _ := strconv.ParseUint(ksym[1], 16, 64)
	isSym := func(hex string) bool {
		at, err := strconv.ParseUint(hex, 16, 64)
		return err == nil && at >= sym && at < sym+16
	}
	trig := regexp.MustCompile(`otst: triggered stacktrace for symbol ksys_sync at 0x([0-9a-f]+|\(____ptrval____\)):`).FindAllStringSubmatch(dm, -1)
	if len(trig) != 1 {
		t.Errorf("kernel log has %d traces of ksys_sync, want 1:\n%s", len(trig), dm)
	} else if isSym(trig[0][1]) {
		t.Errorf("default trace logs ksys_sync's raw address %s (kallsyms %#x); want it hashed", trig[0][1], sym)
	}
	raw := regexp.MustCompile(`otst3: triggered stacktrace for symbol ksys_sync at 0x([0-9a-f]+):`).FindAllStringSubmatch(s["raw-dmesg"], -1)
	if !strings.HasPrefix(s["raw"], "rc=0\nrc=0 \n") || !strings.HasSuffix(s["raw-dmesg"], "rc=0\n") {
		t.Errorf("load otst3 raw_addresses=1, arm ksys_sync, unload:\n%s%s", s["raw"], s["raw-dmesg"])
	}
	if len(raw) != 3 { // otst3 takes 3 shots
		t.Errorf("raw_addresses=1: %d traces of ksys_sync, want 3:\n%s", len(raw), s["raw-dmesg"])
	}
	for _, r := range raw {
		if !isSym(r[1]) {
			t.Errorf("raw_addresses=1: trace says ksys_sync at 0x%s; kallsyms has it at %#x", r[1], sym)
		}
	}
	evs := otstEvents(t, s["readme-events"])
	if len(evs) != 1 {
		t.Errorf("%d otst events for one armed ksys_sync, want 1:\n%s", len(evs), s["readme-events"])
	}
	for _, e := range evs {
		if e.Event != "otst_trigger" || e.Fields["symbol"] != "ksys_sync" || e.Fields["comm"] != "sync" || e.Fields["shot"] != 1.0 {
			t.Errorf("event %+v, want otst_trigger of ksys_sync by sync, shot 1", e)
		}
		if c, ok := e.Fields["cpu"].(float64); !ok || int(c) != e.CPU {
			t.Errorf("event cpu field %v, recorded on CPU %d", e.Fields["cpu"], e.CPU)
		}
		if len(e.Stack) < 2 || !strings.HasPrefix(e.Stack[0], "ksys_sync+") {
			t.Errorf("event stack %q, want symbolised frames from ksys_sync outwards", e.Stack)
		} else if k := reliableFrames(dm, "ksys_sync+"); !slices.Equal(e.Stack, k) {
			// kgen trace symbolises in user space: same frames, same
			// names (of aliases, the kernel's choice) as dump_stack.
			t.Errorf("event stack %q, kernel log's Call Trace %q", e.Stack, k)
		}
	}
	if !strings.Contains(s["readme-trace-summary"], "1 events seen, 0 events lost") {
		t.Errorf("trace summary: %s", s["readme-trace-summary"])
	}

	// 2. Exactly once under SMP: 20 armings of otst, 5 of otst3 (3 shots).
	one, three, _ := strings.Cut(s["smp"], "-- shots 3\n")
	if n := strings.Count(one, "rc=0"); n != 21 { // load + 20 arms
		t.Errorf("SMP: %d of 21 loads and arms succeeded:\n%s", n, one)
	}
	if n := strings.Count(one, "left=[]"); n != 20 {
		t.Errorf("SMP: the list emptied after %d of 20 armings:\n%s", n, one)
	}
	if n, m := strings.Count(three, "rc=0"), strings.Count(three, "left=[]"); n != 5 || m != 5 {
		t.Errorf("SMP shots 3: %d arms, %d emptied; want 5 and 5:\n%s", n, m, three)
	}
	sd := s["smp-dmesg"]
	if n := countRE(`\] otst: triggered stacktrace for symbol write_null at`, sd); n != 20 {
		t.Errorf("SMP: %d traces in the kernel log for 20 one-shot armings, want 20", n)
	}
	if n := countRE(`\] otst3: triggered stacktrace for symbol write_null at`, sd); n != 15 {
		t.Errorf("SMP: %d traces in the kernel log for 5 armings of 3 shots, want 15", n)
	}
	if r, u := countRE(`\] otst: symbol write_null registered!`, sd), countRE(`\] otst: symbol write_null unregistered!`, sd); r != 20 || u != 20 {
		t.Errorf("SMP: %d registered, %d unregistered lines; want 20 each", r, u)
	}
	// Each header is followed by its own stack, not another CPU's: from
	// 5.19 the module holds the printk CPU lock over both; 5.10 has none.
	// The lock keeps other dumps out, not other CPUs' printk lines: the
	// next arming's "registered!" may land in between on a slow guest.
	sdl := strings.Split(sd, "\n")
	control := regexp.MustCompile(`\] otst3?: symbol \S+ (un)?registered!`)
	unpaired := 0
	for i, l := range sdl {
		if !strings.Contains(l, "triggered stacktrace for symbol") {
			continue
		}
		j := i + 1
		for j < len(sdl) && control.MatchString(sdl[j]) {
			j++
		}
		if j == len(sdl) || !strings.Contains(sdl[j], "] CPU: ") {
			unpaired++
		}
	}
	if unpaired > 0 && kernel != "debian-5.10" {
		t.Errorf("SMP: %d trace headers not followed by their own stack dump:\n%s", unpaired, sd)
	}
	t.Logf("SMP: %d trace headers not followed at once by their stack dump", unpaired)
	shots := map[float64]int{}
	cpus := map[int]int{}
	smpEvs := otstEvents(t, s["smp-events"])
	for _, e := range smpEvs {
		if e.Fields["symbol"] != "write_null" || e.Fields["shot"] != 1.0 {
			t.Errorf("SMP event %+v, want write_null shot 1", e)
		}
		cpus[e.CPU]++
	}
	if len(smpEvs) != 20 {
		t.Errorf("SMP: %d events for 20 one-shot armings, want 20", len(smpEvs))
	}
	smp3 := otstEvents(t, s["smp3-events"])
	for _, e := range smp3 {
		shot, _ := e.Fields["shot"].(float64)
		shots[shot]++
	}
	if len(smp3) != 15 || shots[1] != 5 || shots[2] != 5 || shots[3] != 5 {
		t.Errorf("SMP shots 3: %d events, by shot %v; want 15, 5 of each", len(smp3), shots)
	}
	late := regexp.MustCompile(`otst late_hits (\d+)`).FindStringSubmatch(s["smp-stats"])
	if late == nil || late[1] == "0" {
		t.Errorf("SMP: no hits after the last shot, so the test did not race:\n%s", s["smp-stats"])
	}
	t.Logf("SMP: traces taken on CPUs %v; calls after the last shot: %s", cpus, late)
	if !strings.Contains(s["smp-pending-unload"], "rc=0 \n") || !strings.HasSuffix(s["smp-pending-unload"], "rc=0\n") {
		t.Errorf("arm then unload at once:\n%s", s["smp-pending-unload"])
	}

	// 3. Bad inputs.
	if !strings.Contains(s["bad-load"], "rc=0") {
		t.Fatalf("kgen load otst3.ko failed:\n%s", s["bad-load"])
	}
	// The EPERM writer: not root, no capabilities, and the file's mode
	// lets it open the file for writing.
	if who := strings.Fields(s["noadmin-who"]); len(who) < 4 || who[0] != "65534" || who[1] != "CapEff:" ||
		strings.Trim(who[2], "0") != "" || who[3] != "-rw-rw-rw-" {
		t.Errorf("the writer without CAP_SYS_ADMIN: want uid 65534, CapEff 0 and a 0666 file:\n%s", s["noadmin-who"])
	}
	const (
		einval = "Invalid argument"
		enoent = "No such file or directory"
	)
	// The name-length limit, from the kernel's own headers: a name of n
	// bytes is too long when n > KSYM_NAME_LEN-1, else it is looked up and
	// (no symbol is that long) not found.
	ksymLen := ksymNameLen(t, filepath.Join(kernelsDir(), kernel, "kdir"))
	t.Logf("%s: KSYM_NAME_LEN %d", kernel, ksymLen)
	length := func(n int) string {
		if n > ksymLen-1 {
			return "File name too long"
		}
		return enoent
	}
	want := []struct{ label, result string }{
		{"empty", einval}, {"dash", einval},
		{"long127", length(127)}, {"long128", length(128)}, {"long511", length(511)}, {"long512", length(512)},
		{"long600", length(600)}, {"long4096", length(4096)},
		{"nosuch", enoent}, {"noadmin", "Operation not permitted"}, {"blacklisted", einval}, {"space", einval}, {"semicolon", einval},
		{"newline-inside", einval}, {"digit", einval}, {"colon", einval}, {"binary", einval}, {"nomodule", enoent}, {"twocolons", einval},
		{"first", "rc=0"}, {"twice", "File exists"}, {"second", "rc=0"}, {"full", "No space left on device"},
		{"disarm-unarmed", enoent}, {"clear", "rc=0"},
	}
	got := map[string]string{}
	lines := strings.Split(s["bad"], "\n")
	for i := 0; i+1 < len(lines); i++ {
		got[lines[i]] = lines[i+1]
	}
	rejected := 0
	for _, w := range want {
		g, ok := got[w.label]
		switch {
		case !ok:
			t.Errorf("bad input %s: no result in\n%s", w.label, s["bad"])
		case w.result == "rc=0" && !strings.HasPrefix(g, "rc=0"):
			t.Errorf("input %s: %q, want success", w.label, g)
		case w.result != "rc=0" && (!strings.HasPrefix(g, "rc=1") || !strings.HasSuffix(g, w.result)):
			t.Errorf("bad input %s: %q, want write(2) to fail with %q", w.label, g, w.result)
		}
		if w.result != "rc=0" {
			rejected++
		}
	}
	if !strings.HasSuffix(s["bad"], "list\n") {
		t.Errorf("list after clear is not empty:\n%s", s["bad"])
	}
	if n := countRE(`otst3: (rejected|cannot)`, s["bad-dmesg"]); n == 0 || n > rejected {
		t.Errorf("%d log lines for %d rejected writes, want 1..%d:\n%s", n, rejected, rejected, s["bad-dmesg"])
	}
	if !strings.HasSuffix(s["bad-unload"], "rc=0\n") {
		t.Errorf("unload otst3:\n%s", s["bad-unload"])
	}

	// 4. Load-time symbols.
	bad, empty, _ := strings.Cut(s["param"], "-- empty list\n")
	pl := strings.Split(s["param"], "\n")
	if len(pl) < 8 || !strings.Contains(s["param"], "ksys_sync\nvfs_fsync\n2\n") || strings.Count(bad, "rc=0") != 2 {
		t.Errorf("load with symbols= and shots=, list, unload:\n%s", s["param"])
	}
	if !strings.HasSuffix(bad, "rc=1\n") || !strings.Contains(bad, "kgen_no_such_symbol") {
		t.Errorf("load with a missing symbol did not fail naming it:\n%s", bad)
	}
	if empty != "rc=0\nrc=0\n" {
		t.Errorf("load with symbols= (empty), list, unload = %q; want an empty list", empty)
	}
	if !strings.Contains(s["param-after"], "No such file") || strings.Contains(s["param-after"], "otst3 ") {
		t.Errorf("failed load left state behind:\n%s", s["param-after"])
	}

	// 4b. A probe on a function of an unloaded module.
	if want := "rc=0\nrc=0 \nlist=[otst3:otst_show]\nrc=0\nlist=[]\nrc=0\nrc=0 \nlist=[]\nrc=0\n"; s["gone"] != want {
		t.Errorf("arm otst3:otst_show, unload otst3, list, reload, arm, fire = %q, want %q", s["gone"], want)
	}

	// 5. 100 cycles, then unload with symbols armed.
	if !strings.Contains(s["cycles"], "ok=100\n") || strings.Count(s["cycles"], "rc=0") != 4 ||
		!strings.Contains(s["cycles"], "ksys_sync\nvfs_fsync\n") {
		t.Errorf("100 arm/trigger cycles, then 4 armed:\n%s", s["cycles"])
	}
	if !strings.HasSuffix(s["cycles-unload"], "rc=0\n") {
		t.Errorf("unload with symbols armed:\n%s", s["cycles-unload"])
	}

	// 6. Nothing left behind; a clean kernel log.
	if strings.Contains(s["modules-after"], "otst") || strings.Contains(s["proc-after"], "otst") {
		t.Errorf("left behind: modules %q, /proc/driver %q", s["modules-after"], s["proc-after"])
	}
	if k := strings.TrimSpace(s["kprobes-after"]); k != "" {
		t.Errorf("kprobes left registered:\n%s", k)
	}
	if m := strings.TrimSpace(s["mounts-after"]); m != "" {
		t.Errorf("mounts left after unload: %s", m)
	}
	// The script clears the log after reading each part of it.
	klog := s["readme-dmesg"] + s["smp-dmesg"] + s["bad-dmesg"] + s["dmesg"]
	for _, bad := range []string{"BUG:", "WARNING:", "Oops", "general protection", "sleeping function called from invalid context"} {
		if strings.Contains(klog, bad) {
			t.Errorf("kernel log has %q:\n%s", bad, klog)
		}
	}
	if n := strings.Count(s["dmesg"], "otst: one-time stacktrace driver unloaded"); n != 1 {
		t.Errorf("otst unloaded %d times per the kernel log, want 1", n)
	}
}

var ksymNameLenRE = regexp.MustCompile(`(?m)^#define KSYM_NAME_LEN\s+(\d+)\s*$`)

// ksymNameLen reads KSYM_NAME_LEN from the kernel headers of kdir, or from
// the source tree its Makefile includes (Debian splits the headers into an
// arch package and a -common one).
func ksymNameLen(t *testing.T, kdir string) int {
	t.Helper()
	dirs := []string{kdir}
	if mk, err := os.ReadFile(filepath.Join(kdir, "Makefile")); err == nil {
		if m := regexp.MustCompile(`(?m)^include\s+(\S+)/Makefile\s*$`).FindSubmatch(mk); m != nil {
			dirs = append(dirs, string(m[1]))
		}
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "include", "linux", "kallsyms.h"))
		if err != nil {
			continue
		}
		m := ksymNameLenRE.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s/include/linux/kallsyms.h defines no KSYM_NAME_LEN", d)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	t.Fatalf("no include/linux/kallsyms.h in %q", dirs)
	return 0
}

// reliableFrames returns the frames of the kernel log's first Call Trace
// from the one starting with from outwards, without the "? " guesses the
// unwinder prints for stray return addresses on the stack.
func reliableFrames(dmesg, from string) []string {
	frame := regexp.MustCompile(`^\[\s*[0-9.]+\]\s+(\? )?([A-Za-z_.][A-Za-z0-9_.]*\+0x[0-9a-f]+/0x[0-9a-f]+( \[[A-Za-z0-9_]+\])?)$`)
	var out []string
	in := false
	for _, line := range strings.Split(dmesg, "\n") {
		if !in {
			in = strings.Contains(line, "Call Trace:") || strings.Contains(line, "Call trace:")
			continue
		}
		if strings.Contains(line, "<TASK>") {
			continue
		}
		m := frame.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			if len(out) > 0 || strings.Contains(line, "</TASK>") {
				break
			}
			continue
		}
		if m[1] == "" && (len(out) > 0 || strings.HasPrefix(m[2], from)) {
			out = append(out, m[2])
		}
	}
	return out
}

// callTrace is the line dump_stack() starts a stack with on kernel: arm64
// prints "Call trace:", x86 "Call Trace:".
func callTrace(kernel string) string {
	if strings.HasSuffix(kernel, "-arm64") {
		return "Call trace:"
	}
	return "Call Trace:"
}
