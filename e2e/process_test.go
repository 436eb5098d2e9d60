package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"kgen/spec"
)

func init() {
	scenarios[spec.KindProcess] = scenario{
		guest: guest{
			Specs:   []string{"../examples/process.yaml"},
			Script:  "testdata/process.sh",
			Timeout: "8m",
			Extra:   getppidLoop,
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
			if strings.Contains(e.str("path"), "outside") {
				t.Errorf("a syscall of the outside process: %+v", e)
			}
			if n := e.str("name"); n != "execve" && n != "exit_group" && n != "exit" && n != "rt_sigreturn" && n != "execveat" {
				t.Errorf("an entry event of %s with trace_syscall_entry=0: %+v", n, e)
			}
		case "sys_exit":
			// The exit event carries the call's arguments, path and time.
			if strings.Contains(e.str("path"), "outside") {
				t.Errorf("a syscall of the outside process: %+v", e)
			}
			if e.str("name") == "openat" && e.str("path") == "/nonexistent_kgen" && e.int("ret") == -2 && e.int("ns") > 0 {
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
		t.Errorf("no openat(\"/nonexistent_kgen\") = -ENOENT exit event with its path and time")
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
	for _, c := range []string{"follow_pid", "trace_lifecycle", "trace_syscalls", "trace_signals", "uid_filter", "taskcomm_filter", "trace_syscall_entry", "follow_exec"} {
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

	// trace_syscall_entry=1: an entry event for every call, paired with its exit.
	if !strings.Contains(s["entry"], "rc=0 trace_syscall_entry=1") || !strings.Contains(s["entry"], "rc=0 trace_syscall_entry=0") {
		t.Errorf("trace_syscall_entry not set and reset:\n%s", s["entry"])
	}
	entered := map[int]procEvent{}
	paired := false
	for _, e := range procEvents(t, s["entry-events"]) {
		switch e.Event {
		case "sys_enter":
			entered[e.int("tid")] = e
		case "sys_exit":
			in, ok := entered[e.int("tid")]
			if ok && in.str("name") == "openat" && in.str("path") == "/nonexistent_kgen" && e.int("nr") == in.int("nr") && e.int("ret") == -2 {
				paired = true
			}
			delete(entered, e.int("tid"))
		}
	}
	if !paired {
		t.Errorf("trace_syscall_entry=1: no openat entry event paired with its -ENOENT exit:\n%s", s["entry-events"])
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
	// kgen run follows CMD from its exec: kgen's own child (its read of
	// the release pipe, its PATH lookups) is not in the summary.
	tr := s["run-true"]
	if !strings.HasPrefix(tr, "rc=0\n") || !regexp.MustCompile(`(?m)^.*\s1\s+(\d+\s+)?execve$`).MatchString(tr) ||
		regexp.MustCompile(`(?m) (read|newfstatat|close)$`).MatchString(tr) {
		t.Errorf("kgen run -- true: want rc 0, one execve and none of kgen's child's read/newfstatat/close in the summary:\n%s", tr)
	}
	// 200,000 calls (50,000 on the debug kernel, 20,000 on arm64): every one printed, none lost or
	// left unread, all counted.
	lp := s["loop"]
	ln := regexp.MustCompile(`loop-n=(\d+)\n`).FindStringSubmatch(lp)
	if ln == nil {
		t.Errorf("no loop-n in the loop section:\n%s", lp)
	} else if !strings.Contains(lp, "rc=0\n") || !strings.Contains(lp, "getppid-lines="+ln[1]+"\n") ||
		!regexp.MustCompile(`events seen, 0 events lost\n`).MatchString(lp) ||
		!regexp.MustCompile(`(?m)^.*\s`+ln[1]+`\s+(\d+\s+)?getppid$`).MatchString(lp) {
		t.Errorf("kgen run -- loop of %s getppid: want every call an event, none lost or unread, %[1]s calls in the summary:\n%s", ln[1], lp)
	}
	// With a 64 KiB buffer the loss shows: every call's exit event was
	// either seen or counted lost, and the fix is said.
	sm := s["loop-small"]
	m = regexp.MustCompile(`getppid-lines=(\d+)\n.*: (\d+) events seen, (\d+) events lost; the reader fell behind`).FindStringSubmatch(sm)
	if m == nil || !strings.Contains(sm, "rc=0\n") || !regexp.MustCompile(`(?m)^.*\s20000\s+(\d+\s+)?getppid$`).MatchString(sm) {
		t.Errorf("kgen run --buffer-kb 64 -- loop of 20000 getppid: want the loss counted and said, 20000 calls in the summary:\n%s", sm)
	} else {
		lines, _ := strconv.Atoi(m[1])
		seen, _ := strconv.Atoi(m[2])
		lost, _ := strconv.Atoi(m[3])
		if lines >= 20000 || lost == 0 {
			t.Errorf("a 64 KiB buffer held all 20000 events: the loss check cannot fail:\n%s", sm)
		}
		if seen+lost < 20000 {
			t.Errorf("%d events seen + %d lost < 20000 calls: some loss went uncounted:\n%s", seen, lost, sm)
		}
	}
	if !strings.Contains(s["attach"], "rc=0\n") || strings.Contains(s["attach"], "attach-openat=0\n") ||
		!strings.Contains(s["attach"], "loaded=0\n") {
		t.Errorf("kgen run -p PID, then Ctrl-C:\n%s", s["attach"])
	}
	// follow_exec's pending pid goes when its process exits. Checked
	// where a pid can be handed out again: the debug kernel is built
	// without CONFIG_CHECKPOINT_RESTORE (no ns_last_pid); Debian's have it.
	if ep := s["exec-pending"]; strings.Count(ep, "rc=0") != 4 {
		t.Errorf("follow_exec on a process that then exits:\n%s", ep)
	} else if kernel == debugKernel && strings.Contains(ep, "no-ns_last_pid") {
		t.Logf("exec-pending: %s has no ns_last_pid; not checked there", kernel)
	} else if m := regexp.MustCompile(`pid=(\d+) reused=(\d+)`).FindStringSubmatch(ep); m == nil || m[1] != m[2] {
		t.Errorf("the pid was not given again (ns_last_pid), so this checks nothing:\n%s", ep)
	} else if b, a := regexp.MustCompile(`before-process execs (\d+)`).FindStringSubmatch(ep),
		regexp.MustCompile(`after-process execs (\d+)`).FindStringSubmatch(ep); b == nil || a == nil || a[1] != b[1] {
		t.Errorf("a process given the pid of an exited follow_exec target was followed (execs traced):\n%s", ep)
	}
	if strings.TrimSpace(s["left"]) != "0" {
		t.Errorf("left behind: %q", s["left"])
	}
	if regexp.MustCompile(`BUG|WARNING|Oops`).MatchString(s["dmesg"]) {
		t.Errorf("kernel log:\n%s", s["dmesg"])
	}
}

var (
	loopMu sync.Mutex
	loops  = map[string]string{} // GOARCH -> the built loop
)

// getppidLoop adds bench's getppid loop (static Go, for the kernel's
// architecture) as /root/loop: the 200,000-syscall run of process.sh.
func getppidLoop(t *testing.T, k kernel) []string {
	arch := "amd64"
	if strings.HasSuffix(k.Name, "-arm64") {
		arch = "arm64"
	}
	loopMu.Lock()
	defer loopMu.Unlock()
	if p, ok := loops[arch]; ok {
		return []string{p + ":/root/loop"}
	}
	// next to kgen's test binary: TestMain removes the directory
	p := filepath.Join(filepath.Dir(kgenBin), "loop-"+arch)
	cmd := exec.Command("go", "build", "-o", p, "../bench/testdata/process/loop.go")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the getppid loop for %s: %v\n%s", arch, err, out)
	}
	loops[arch] = p
	return []string{p + ":/root/loop"}
}
