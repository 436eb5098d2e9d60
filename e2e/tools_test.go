package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolsDir is where scripts/fetch-tools.sh puts Debian bookworm's
// trace-cmd and perf: guest/ (the programs and their libraries) and bin/
// (wrappers that run them through guest/'s dynamic loader at /opt/tools).
func toolsDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(kernelsDir(), ".tools", "bookworm")
	if _, err := os.Stat(filepath.Join(d, ".done")); err != nil {
		msg := "trace-cmd and perf not fetched (run scripts/fetch-tools.sh): " + err.Error()
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return d
}

// TestVMTools boots every kernel once and reads kgen's events of every kind
// with the standard tools (tools.sh): trace-cmd record/report and perf
// record/script must decode every field (no "[FAILED TO PARSE]"), print
// strings as strings, and apply filters on kgen's fields; another tool
// removing kgen's instance must not stop kgen trace.
func TestVMTools(t *testing.T) {
	// Debian's kernels only: the tools' parsing does not depend on the
	// kernel, and debug-6.1 is for the checkers, which every kind's own
	// suite meets there.
	for _, name := range kernelNames {
		if name == debugKernel {
			continue
		}
		t.Run(name, func(t *testing.T) {
			k := needVM(t, name)
			tools := toolsDir(t)
			g := guest{
				Specs:   []string{"../examples/kretprobe.yaml", "testdata/krstack.yaml", "../examples/otst.yaml", "../examples/process.yaml"},
				Script:  "testdata/tools.sh",
				Files:   []string{filepath.Join(tools, "guest") + ":/opt/tools", filepath.Join(tools, "bin") + ":/opt/tools/bin"},
				Timeout: "15m",
			}
			o, s := g.run(t, k)
			checkTools(t, s)
			if t.Failed() || testing.Verbose() {
				t.Logf("guest output:\n%s", o)
			}
		})
	}
}

// eventLines returns the report lines of event ev ("name: " follows the
// timestamp in trace-cmd report and perf script alike).
func eventLines(s, ev string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, " "+ev+": ") {
			out = append(out, l)
		}
	}
	return out
}

var (
	latRE   = regexp.MustCompile(`vfs_read_lat_vfs_read: +pid=\d+ comm='dd' count=(\d+) ret=(\d+) latency=[1-9]\d*$`)
	stackRE = regexp.MustCompile(`krstack_vfs_read: +pid=\d+ comm='dd' count=512 ret=512 latency=[1-9]\d* stack=`)
	otstRE  = regexp.MustCompile(`otst_trigger: +pid=\d+ tid=\d+ comm='(\w+)' cpu=0 symbol=(\w+) addr=0x[0-9a-f]{16} shot=1 stack=`)
)

func checkTools(t *testing.T, s map[string]string) {
	t.Helper()
	if n := strings.Count(s["load"], "rc=0"); n != 3 {
		t.Fatalf("kgen load: %d of 3 modules loaded:\n%s", n, s["load"])
	}
	retries := 0
	for sec, text := range s {
		if strings.Contains(text, "FAILED TO PARSE") {
			t.Errorf("%s: an event did not parse:\n%s", sec, text)
		}
		retries += strings.Count(text, "tcrec-retry:")
	}
	t.Logf("trace-cmd record wrote a file with no event %d times (recorded again)", retries)

	// 1. kretprobe: args, retval, latency.
	lat := ddLines(eventLines(s["lat-report"], "vfs_read_lat_vfs_read"))
	if len(lat) != 3 {
		t.Errorf("trace-cmd report shows %d vfs_read_lat events, want dd's 3:\n%s", len(lat), s["lat-report"])
	}
	for _, l := range lat {
		if m := latRE.FindStringSubmatch(l); m == nil || m[1] != "8192" || m[2] != "8192" {
			t.Errorf("vfs_read_lat line not decoded as count=8192 ret=8192 latency>0: %q", l)
		}
	}
	counts := func(sec string) []string {
		var c []string
		for _, l := range ddLines(eventLines(s[sec], "vfs_read_lat_vfs_read")) {
			if m := latRE.FindStringSubmatch(l); m != nil {
				c = append(c, m[1])
			} else {
				t.Errorf("%s: line not decoded: %q", sec, l)
			}
		}
		return c
	}
	if c := counts("lat-filter"); strings.Join(c, " ") != "16384 16384" {
		t.Errorf("trace-cmd record -f 'count == 16384': counts %v, want 16384 twice:\n%s", c, s["lat-filter"])
	}
	if c := counts("lat-report-filter"); strings.Join(c, " ") != "8192 8192" {
		t.Errorf("trace-cmd report -F 'count == 8192 && comm == \"dd\"': counts %v, want 8192 twice:\n%s", c, s["lat-report-filter"])
	}

	// 2. stack: true: the array decodes; -R stacktrace adds the kernel's
	// symbolised stack.
	st := eventLines(s["stack-report"], "krstack_vfs_read")
	if len(st) != 2 {
		t.Errorf("trace-cmd report shows %d krstack events, want dd's 2:\n%s", len(st), s["stack-report"])
	}
	for _, l := range st {
		if !stackRE.MatchString(l) {
			t.Errorf("krstack line not decoded: %q", l)
		}
	}
	// The kernel's stack of a return probe starts in the handler; 5.10's
	// unwinder stops at kretprobe_trampoline, later ones go on to ksys_read.
	if !regexp.MustCompile(`kernel_stack: .*\n=> trace_event_raw_event_krstack_vfs_read \(`).MatchString(s["stack-trigger"]) ||
		!strings.Contains(s["stack-trigger"], "=> krp_vfs_read_ret (") {
		t.Errorf("trace-cmd record -R stacktrace: no symbolised kernel_stack through the probe's handler:\n%s", s["stack-trigger"])
	}

	// 3. otst.
	ot := eventLines(s["otst-report"], "otst_trigger")
	if len(ot) != 1 {
		t.Errorf("trace-cmd report shows %d otst events, want sync's 1:\n%s", len(ot), s["otst-report"])
	}
	for _, l := range ot {
		if m := otstRE.FindStringSubmatch(l); m == nil || m[1] != "sync" || m[2] != "ksys_sync" {
			t.Errorf("otst line not decoded as comm='sync' symbol=ksys_sync: %q", l)
		}
	}
	nano, ksys, _ := strings.Cut(s["otst-filter"], "-- ksys_sync\n")
	for _, c := range []struct{ out, sym string }{{nano, "do_nanosleep"}, {ksys, "ksys_sync"}} {
		of := eventLines(c.out, "otst_trigger")
		if len(of) != 1 || !strings.Contains(of[0], "symbol="+c.sym+" ") {
			t.Errorf("trace-cmd report -F 'symbol == \"%s\"': %q, want the one %s event", c.sym, of, c.sym)
		}
	}

	// 3b. process: a syscall with its path argument, the exec with argv,
	// the exit with its code, as trace-cmd decodes them.
	if !strings.HasPrefix(s["process-report"], "rc=0\n") || !strings.HasSuffix(s["process-report"], "rc=0\n") {
		t.Errorf("kgen load/unload process.ko taskcomm_filter=cat:\n%s", s["process-report"])
	}
	hasLine := func(ev string, want ...string) bool {
		for _, l := range eventLines(s["process-report"], ev) {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		ev   string
		want []string
	}{
		{"process_sys_exit", []string{"path='/nonexistent_tools'"}},
		{"process_exec", []string{"comm='cat'", "argv='[", "/nonexistent_tools"}},
		{"process_exit", []string{"comm='cat'", "code=256 "}},
	} {
		if !hasLine(c.ev, c.want...) {
			t.Errorf("trace-cmd report has no %s line with %q:\n%s", c.ev, c.want, s["process-report"])
		}
	}

	// 4. perf script: every kind decodes.
	for _, ev := range []string{"vfs_read_lat:vfs_read_lat_vfs_read", "krstack:krstack_vfs_read", "otst:otst_trigger"} {
		lines := eventLines(s["perf-script"], ev)
		if len(lines) == 0 {
			t.Errorf("perf script shows no %s event:\n%s", ev, s["perf-script"])
		}
		for _, l := range lines {
			if !strings.Contains(l, "comm='") {
				t.Errorf("perf script line not decoded: %q", l)
			}
		}
	}
	if !regexp.MustCompile(`(?m)^\s+[0-9a-f]+ ksys_sync\+0x`).MatchString(s["perf-callchain"]) {
		t.Errorf("perf record -g: no symbolised callchain through ksys_sync:\n%s", s["perf-callchain"])
	}
	pf := eventLines(s["perf-filter"], "vfs_read_lat:vfs_read_lat_vfs_read")
	if len(pf) != 2 {
		t.Errorf("perf record --filter 'count == 16384': %d events, want 2:\n%s", len(pf), s["perf-filter"])
	}
	for _, l := range pf {
		if !strings.Contains(l, " count=16384 ") {
			t.Errorf("perf --filter let through %q", l)
		}
	}

	// 5. kgen trace and an instance removed by another tool.
	for _, sec := range []string{"extract-while-tracing", "extract-between"} {
		evs := events(t, strings.Join(jsonLines(s[sec]), "\n"))
		want := int64(1000)
		if sec == "extract-between" {
			want = 1001
		}
		n := 0
		for _, e := range evs {
			if num(e, "count") == want {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s: kgen trace saw %d of dd's 2 %d-byte reads after trace-cmd extract -B:\n%s\nstderr:\n%s",
				sec, n, want, s[sec], s[sec+"-err"])
		}
	}
	if !strings.Contains(s["extract-while-tracing-err"], "back on") {
		t.Errorf("kgen trace did not say it turned its events back on after trace-cmd extract:\n%s", s["extract-while-tracing-err"])
	}
	if !strings.Contains(s["extract-between-err"], "was removed by another tool; recreated it") {
		t.Errorf("kgen trace did not say it recreated the instance:\n%s", s["extract-between-err"])
	}
	if !strings.HasSuffix(strings.TrimSpace(s["extract-between-err"]), "1") {
		t.Errorf("recreated instance's events/krstack/enable is not 1:\n%s", s["extract-between-err"])
	}

	if n := strings.Count(s["unload"], "rc=0"); n != 3 {
		t.Errorf("kgen unload: %d of 3 succeeded:\n%s", n, s["unload"])
	}
	for _, bad := range []string{"BUG:", "WARNING:", "Oops", "general protection"} {
		if strings.Contains(s["dmesg"], bad) {
			t.Errorf("dmesg has %q:\n%s", bad, s["dmesg"])
		}
	}
}

// ddLines keeps dd's lines: trace-cmd's own recorder processes read too,
// and vfs_read_lat reports their big reads.
func ddLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "comm='dd'") {
			out = append(out, l)
		}
	}
	return out
}

// jsonLines keeps the lines of s that are JSON objects.
func jsonLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return out
}
