package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"kgen/spec"
)

func init() {
	scenarios[spec.KindProcess] = scenario{
		guest: guest{
			Specs:   []string{"../examples/process.yaml"},
			Script:  "testdata/process.sh",
			Timeout: "5m",
		},
		check: checkProcess,
	}
}

// TestVMProcess boots every kernel with the process tracer and runs
// process.sh: a followed tree that forks, execs, opens a missing file,
// gets a signal and exits with codes; an outside process; uid and comm
// filters and trace_syscalls toggled at run time; ftrace raw_syscalls
// complete while kgen traces, after it unloads and when enabled first.
func TestVMProcess(t *testing.T) { runScenario(t, spec.KindProcess) }

type procEvent struct {
	Task   string         `json:"task"`
	PID    int            `json:"pid"`
	Event  string         `json:"event"`
	Fields map[string]any `json:"fields"`
}

func (e procEvent) int(k string) int {
	f, _ := e.Fields[k].(float64)
	return int(f)
}

func (e procEvent) str(k string) string { s, _ := e.Fields[k].(string); return s }

func procEvents(t *testing.T, s string) []procEvent {
	t.Helper()
	var evs []procEvent
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var e procEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("kgen trace --json line %q: %v", l, err)
		}
		e.Event = strings.TrimPrefix(e.Event, "process_")
		evs = append(evs, e)
	}
	return evs
}

func checkProcess(t *testing.T, kernel string, s map[string]string) {
	if !strings.Contains(s["load"], "rc=0") {
		t.Fatalf("kgen load process.ko failed:\n%s", s["load"])
	}
	m := regexp.MustCompile(`target=(\d+) outside=(\d+)`).FindStringSubmatch(s["load"])
	if m == nil {
		t.Fatalf("no target/outside pids:\n%s", s["load"])
	}
	target, _ := strconv.Atoi(m[1])
	outside, _ := strconv.Atoi(m[2])
	if !strings.Contains(s["stats-loaded"], "process followed 1\n") {
		t.Errorf("after load with follow_pid=%d the set holds not just it:\n%s", target, s["stats-loaded"])
	}
	if !strings.Contains(s["stats-loaded"], "process exclusive 1\n") {
		t.Errorf("sole user of sys_enter/sys_exit, yet the tasks not followed keep the flag:\n%s", s["stats-loaded"])
	}
	if !strings.Contains(s["stats-loaded"], "target-rc=3") {
		t.Errorf("target exit status: %s", s["stats-loaded"])
	}
	if !strings.Contains(s["run1-summary"], " 0 events lost") || strings.Contains(s["run1-summary"], "skipped") {
		t.Errorf("kgen trace summary:\n%s", s["run1-summary"])
	}

	evs := procEvents(t, s["run1"])
	// The followed tree: the target and every child a fork event names.
	tree := map[int]bool{target: true}
	forked := map[int]bool{}
	for _, e := range evs {
		if e.Event == "fork" && tree[e.int("pid")] {
			tree[e.int("child_pid")] = true
			forked[e.int("child")] = true
		}
	}
	var execs []string
	openat := false
	enter := map[int]procEvent{}
	for _, e := range evs {
		if pid := e.int("pid"); !tree[pid] || pid == outside {
			t.Errorf("event of a process outside the followed tree: %+v", e)
		}
		switch e.Event {
		case "exec":
			execs = append(execs, e.str("argv"))
			if !forked[e.int("tid")] {
				t.Errorf("exec in %d, which no fork event created", e.int("tid"))
			}
		case "sys_enter":
			enter[e.int("tid")] = e
			if strings.Contains(e.str("path"), "outside") {
				t.Errorf("a syscall of the outside process: %+v", e)
			}
		case "sys_exit":
			in := enter[e.int("tid")]
			if in.str("name") == "openat" && in.str("path") == "/nonexistent_kgen" && e.int("ret") == -2 {
				openat = true
			}
		}
	}
	for _, want := range []string{`["cat", "/nonexistent_kgen"]`, `["sh", "-c", "exit 7"]`, `["sh", "-c", "exit 5"]`} {
		found := false
		for _, a := range execs {
			found = found || a == want
		}
		if !found {
			t.Errorf("no exec with argv %s; execs: %q", want, execs)
		}
	}
	if !openat {
		t.Errorf("no openat(\"/nonexistent_kgen\") = -ENOENT pair")
	}
	codes := map[int]bool{}
	sig := map[string]bool{}
	for _, e := range evs {
		switch e.Event {
		case "exit":
			if e.int("group_dead") == 1 {
				codes[e.int("code")] = true
			}
		case "signal_generate", "signal_deliver":
			if e.int("sig") == 10 && e.int("pid") == target {
				sig[e.Event] = true
			}
		}
	}
	for _, c := range []int{3 << 8, 7 << 8, 5 << 8} {
		if !codes[c] {
			t.Errorf("no process exit with status %d (wait code %d); exits: %v", c>>8, c, codes)
		}
	}
	if !sig["signal_generate"] || !sig["signal_deliver"] {
		t.Errorf("SIGUSR1 to the target: generated %v, delivered %v", sig["signal_generate"], sig["signal_deliver"])
	}

	// Controls.
	for _, c := range []string{"follow_pid", "trace_lifecycle", "trace_syscalls", "trace_signals", "uid_filter", "taskcomm_filter"} {
		if !regexp.MustCompile(`(?m)^` + c + `=(\S*) param=(\S*)$`).MatchString(s["controls"]) {
			t.Errorf("control %s missing from debugfs or parameters:\n%s", c, s["controls"])
		}
	}
	if !strings.Contains(s["uid"], "events=0\n") {
		t.Errorf("uid_filter 4242 let events through:\n%s", s["uid"])
	}
	cevs := procEvents(t, s["comm-events"])
	if len(cevs) == 0 {
		t.Errorf("taskcomm_filter cat: no events")
	}
	for _, e := range cevs {
		if c, ok := e.Fields["comm"].(string); ok && c != "cat" {
			t.Errorf("taskcomm_filter cat let through %+v", e)
		}
		if e.Event == "exec" && e.str("argv") != `["cat", "/nonexistent_kgen"]` {
			t.Errorf("taskcomm_filter cat let through %+v", e)
		}
	}
	tevs := procEvents(t, s["toggle-events"])
	nexec := 0
	for _, e := range tevs {
		if strings.HasPrefix(e.Event, "sys_") {
			t.Errorf("trace_syscalls=0, yet %+v", e)
		}
		if e.Event == "exec" {
			nexec++
		}
	}
	if nexec < 3 {
		t.Errorf("trace_syscalls=0: %d exec events, want the 3+ of the target", nexec)
	}

	// Other tracers: ftrace sees all 1000 reads of dd, whatever the order.
	for _, k := range []string{"while-loaded", "after-unload", "before-load"} {
		if !strings.Contains(s["ftrace"]+s["unload"], k+" dd-reads=1000\n") {
			t.Errorf("ftrace raw_syscalls %s: not all 1000 reads of dd seen:\n%s%s", k, s["ftrace"], s["unload"])
		}
	}
	if !strings.Contains(s["ftrace"], "while-loaded during: process exclusive 0\n") {
		t.Errorf("ftrace enabled while kgen traces, yet the flag stays cleared on tasks not followed:\n%s", s["ftrace"])
	}
	if strings.Count(s["unload"], "rc=0") != 3 {
		t.Errorf("unload/load/unload:\n%s", s["unload"])
	}
	// kgen run.
	run := s["run"]
	if !strings.HasPrefix(run, "rc=4\n") {
		t.Errorf("kgen run -- sh -c '... exit 4' did not exit 4:\n%s\n%s", run, s["run-err"])
	}
	for _, want := range []string{
		`openat(AT_FDCWD, "/nonexistent_run", O_RDONLY) = -1 ENOENT (No such file or directory)`,
		`--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=`,
		`["sh", "-c", "exit 2"] ---`,
		`+++ exited with 2 +++`, `+++ exited with 4 +++`,
	} {
		if !strings.Contains(run, want) {
			t.Errorf("kgen run output lacks %q:\n%s", want, run)
		}
	}
	if !strings.Contains(s["run-err"], "% time     seconds  usecs/call     calls    errors syscall") ||
		!regexp.MustCompile(`(?m) openat$`).MatchString(s["run-err"]) || !strings.Contains(s["run-err"], " 0 events lost") {
		t.Errorf("kgen run summary:\n%s", s["run-err"])
	}
	if !strings.Contains(s["attach"], "rc=0\n") || strings.Contains(s["attach"], "attach-openat=0\n") ||
		!strings.Contains(s["attach"], "loaded=0\n") {
		t.Errorf("kgen run -p PID, then Ctrl-C:\n%s", s["attach"])
	}
	if strings.TrimSpace(s["left"]) != "0" {
		t.Errorf("left behind: %q", s["left"])
	}
	if regexp.MustCompile(`BUG|WARNING|Oops`).MatchString(s["dmesg"]) {
		t.Errorf("kernel log:\n%s", s["dmesg"])
	}
}
