package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kgen/probetest"
	"kgen/spec"
)

func init() {
	scenarios[spec.KindProbetest] = scenario{
		guest: guest{
			Specs:   []string{"../examples/probetest.yaml"},
			Script:  "testdata/probetest.sh",
			Timeout: "3m",
		},
		check: checkProbetest,
	}
}

// TestVMProbetest boots every kernel once with probetest.sh: the group
// module's staging (a name split across writes), each function's own
// errno, hit counts, disarm keeping the counts, clear, unload while armed.
func TestVMProbetest(t *testing.T) { runScenario(t, spec.KindProbetest) }

// counts parses "name hits errno" lines.
func ptCounts(s string) map[string][2]int64 {
	m := map[string][2]int64{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		h, _ := strconv.ParseInt(f[1], 10, 64)
		e, _ := strconv.ParseInt(f[2], 10, 64)
		m[f[0]] = [2]int64{h, e}
	}
	return m
}

func checkProbetest(t *testing.T, kernel string, s map[string]string) {
	// kprobes finds no jiffies on arm64: -ENOENT there, -EINVAL on x86.
	jiffies := int64(-22)
	if kernel == arm64Kernel {
		jiffies = -2
	}
	for _, sec := range []string{"load", "arm", "disarm", "clear", "unload"} {
		if !strings.HasPrefix(s[sec], "rc=0\n") {
			t.Errorf("%s: %q, want rc=0 first", sec, s[sec])
		}
	}
	if st := s["stage"]; !strings.Contains(st, "rc=0\nrc=0\n") || strings.Contains(st, "bad rc=0") {
		t.Errorf("stage: %q: want two rc=0 and a rejected bad name", st)
	}
	staged := ptCounts(s["staged"])
	want := []string{"vfs_read", "notify_die", "jiffies", "no_such_function_x", "ksys_sync"}
	if len(staged) != len(want) {
		t.Errorf("staged %v, want %v", staged, want)
	}
	for _, n := range want {
		if c, ok := staged[n]; !ok || c != [2]int64{0, 1} {
			t.Errorf("staged %s: %v, want hits 0 errno 1 (staged)", n, c)
		}
	}
	if !strings.Contains(s["arm"], "stage while armed rc=1") {
		t.Errorf("arm: %q: staging while armed must fail (EBUSY)", s["arm"])
	}
	armed := ptCounts(s["armed"])
	wantErr := map[string]int64{"vfs_read": 0, "ksys_sync": 0, "notify_die": -22, "jiffies": jiffies, "no_such_function_x": -2}
	for n, e := range wantErr {
		if armed[n][1] != e {
			t.Errorf("armed %s: errno %d, want %d", n, armed[n][1], e)
		}
	}
	if armed["vfs_read"][0] < 10 || armed["ksys_sync"][0] != 0 {
		t.Errorf("armed: vfs_read hits %d (want >= 10: dd made 10 reads), ksys_sync %d (want 0)", armed["vfs_read"][0], armed["ksys_sync"][0])
	}
	if !strings.Contains(s["armed"], "probetest armed 2\n") {
		t.Errorf("stats: %q, want armed 2", s["armed"])
	}
	// Disarmed: counts kept, errnos kept, and frozen (dd and sync ran
	// between the two reads).
	dis := ptCounts(strings.TrimPrefix(s["disarm"], "rc=0\n"))
	if dis["vfs_read"][0] < armed["vfs_read"][0] || dis["vfs_read"][1] != 0 || dis["ksys_sync"] != [2]int64{0, 0} || dis["jiffies"][1] != jiffies {
		t.Errorf("disarm: %v, want the counts kept (vfs_read >= %d)", dis, armed["vfs_read"][0])
	}
	if !strings.Contains(s["disarm"], "frozen rc=0") {
		t.Errorf("disarm: %q: the counts changed after disarm", s["disarm"])
	}
	if c := s["clear"]; !strings.Contains(c, "rc=0\n0\n") || strings.Contains(c, "bogus rc=0") {
		t.Errorf("clear: %q: want an empty list and bogus rejected", c)
	}
}

// ptSweep is one kernel's probe-test run on the fixture.
type ptSweep struct {
	kernel string
	list   []string // the probes.all
	group  int
	jobs   int
	kills  []int // SIGKILL kgen once state.json records this many groups run
	// perBoot is --per-boot; 0 = the default (several groups a guest).
	perBoot int
	// warner, when set, is listed too: while it is armed the fixture's
	// workload logs a WARNING line that does not panic the guest, so it
	// must end failed with that line.
	warner string
}

// ptList is the fixture's list: the ordinary functions 0..n-1, the
// crashers, some kernel functions, and names kprobes refuse.
func ptList(n int, crashers ...string) []string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, "ptfix_f"+strconv.Itoa(1000 + i)[1:])
	}
	l = append(l, crashers...)
	return append(l, "vfs_read", "vfs_write", "ksys_read", "pipe_read", "do_nanosleep",
		"notify_die", "jiffies", "ptfix_no_such_fn", "not a symbol")
}

// TestVMProbeTestSweep runs kgen probe-test on the fixture testdata/ptfix: on
// debian-6.1 117 functions with two crashers, -j 2, several groups a guest,
// and kgen SIGKILLed twice; on 5.10, 6.12 and arm64 6.1 a short list with
// one crasher, -j 1, 5.10 with a guest per group (--per-boot 1). Each must
// end with exactly the crashers failed (their console tails saved), the
// fixture's uncalled functions untriggered, the refused names unregistered
// with their errno, within the boot bound.
func TestVMProbeTestSweep(t *testing.T) {
	for _, sw := range []ptSweep{
		{kernel: "debian-6.1", list: append(ptList(100, "ptfix_crash_a", "ptfix_crash_b"), "vfs_fsync"), group: 40, jobs: 2, kills: []int{3, 8}, warner: "vfs_fsync"},
		{kernel: "debian-5.10", list: ptList(4, "ptfix_crash_b"), group: 16, jobs: 1, perBoot: 1},
		{kernel: "debian-6.12", list: ptList(4, "ptfix_crash_a"), group: 16, jobs: 1},
		{kernel: arm64Kernel, list: ptList(4, "ptfix_crash_b"), group: 16, jobs: 1},
	} {
		t.Run(sw.kernel, func(t *testing.T) { sw.run(t) })
	}
}

func (sw ptSweep) run(t *testing.T) {
	k := needVM(t, sw.kernel)
	ko, _ := buildTestModule(t, k, "ptfix")
	dir := t.TempDir()
	list := filepath.Join(dir, "probes.all")
	if err := os.WriteFile(list, []byte(strings.Join(sw.list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := []string{"probe-test", "--kernel", k.Vmlinux, "--kdir", k.KDIR, "--probes", list,
		"--module", ko, "--workload", "testdata/ptfix/workload.sh", "--group", strconv.Itoa(sw.group),
		"-j", strconv.Itoa(sw.jobs), "--dir", out, "--timeout", vmTimeout(k.Name, "3m")}
	if sw.perBoot > 0 {
		args = append(args, "--per-boot", strconv.Itoa(sw.perBoot))
	}
	start := time.Now()
	var log strings.Builder
	for _, at := range sw.kills {
		o := killAt(t, args, out, at)
		log.WriteString(o)
	}
	o, err := kgen(t, args...)
	log.WriteString(o)
	if err != nil {
		t.Fatalf("kgen probe-test: %v\n%s", err, log.String())
	}
	t.Logf("%s: %s in %s", sw.kernel, strings.Join(strings.Fields(lastLine(o, "boots ")), " "), time.Since(start).Round(time.Second))
	// The group module's panic notifier printed the crashed group's hits
	// (the fixture calls ordinary functions before its crashers), and
	// the bisection used them.
	if !regexp.MustCompile(`probe-test: a group of \d+ crashed \(.*\); \d+ were hit before it`).MatchString(log.String()) {
		t.Errorf("no crashed group reported with the hits before its crash:\n%s", log.String())
	}
	if len(sw.kills) > 0 && strings.Count(log.String(), "probe-test: resuming") != len(sw.kills) {
		t.Errorf("want %d resumes:\n%s", len(sw.kills), log.String())
	}
	files := map[string][]string{}
	for _, c := range probetest.Categories {
		b, err := os.ReadFile(filepath.Join(out, "probes."+c))
		if err != nil {
			t.Fatal(err)
		}
		files[c] = strings.Fields(strings.ReplaceAll(string(b), "not a symbol", "not_a_symbol"))
		if !slices.IsSorted(files[c]) {
			t.Errorf("probes.%s not sorted", c)
		}
	}
	var crashers, untrig []string
	for _, f := range sw.list {
		if strings.HasPrefix(f, "ptfix_crash_") {
			crashers = append(crashers, f)
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(f, "ptfix_f")); err == nil && n%4 == 3 {
			untrig = append(untrig, f)
		}
	}
	wantFailed := slices.Clone(crashers)
	if sw.warner != "" {
		wantFailed = append(wantFailed, sw.warner)
		slices.Sort(wantFailed)
	}
	if !slices.Equal(files[probetest.Failed], wantFailed) {
		t.Errorf("failed %v, want exactly %v", files[probetest.Failed], wantFailed)
	}
	for _, f := range crashers {
		b, err := os.ReadFile(filepath.Join(out, "crash", f+".txt"))
		if err != nil || !strings.Contains(string(b), "kernel BUG at") {
			t.Errorf("crash/%s.txt: %v, want the console tail with the BUG", f, err)
		}
	}
	if sw.warner != "" {
		b, err := os.ReadFile(filepath.Join(out, "crash", sw.warner+".txt"))
		if err != nil || !strings.Contains(string(b), "WARNING: kgen e2e") {
			t.Errorf("crash/%s.txt: %v, want the console tail with the WARNING", sw.warner, err)
		}
	}
	for _, f := range untrig {
		if !slices.Contains(files[probetest.Untriggered], f) {
			t.Errorf("%s is never called: want it untriggered", f)
		}
	}
	for _, f := range []string{"vfs_read", "ptfix_f000"} {
		if !slices.Contains(files[probetest.Passed], f) {
			t.Errorf("%s: want it passed", f)
		}
	}
	if want := []string{"jiffies", "not_a_symbol", "notify_die", "ptfix_no_such_fn"}; !slices.Equal(files[probetest.Unregistered], want) {
		t.Errorf("unregistered %v, want %v", files[probetest.Unregistered], want)
	}
	s, err := probetest.LoadState(out)
	if err != nil || s == nil {
		t.Fatalf("state: %v", err)
	}
	if sw.warner != "" && !strings.Contains(s.Funcs[sw.warner].Crash, "WARNING: kgen e2e") {
		t.Errorf("%s: crash line %q, want the logged WARNING", sw.warner, s.Funcs[sw.warner].Crash)
	}
	errnos := map[string]int{"jiffies": -22, "notify_die": -22, "ptfix_no_such_fn": -2, "not a symbol": -22}
	if sw.kernel == arm64Kernel {
		errnos["jiffies"] = -2 // no name kprobes finds there (TestVMArm64)
	}
	for f, e := range errnos {
		if s.Funcs[f].Errno != e {
			t.Errorf("%s: errno %d, want %d", f, s.Funcs[f].Errno, e)
		}
	}
	// The bound counts the functions that were run (not the refused name).
	n := len(sw.list) - 1
	crashAt := map[int]bool{}
	for i, f := range sw.list {
		if strings.HasPrefix(f, "ptfix_crash_") || f == sw.warner && f != "" {
			crashAt[i] = true
		}
	}
	bound := probetest.Bound(n, len(wantFailed), sw.group)
	t.Logf("boots %d; bound %d; the seed's scheme (1000-function buckets) %d", s.Boots, bound, probetest.SeedBoots(n, crashAt, 1000))
	if s.Boots > bound {
		t.Errorf("boots %d above the bound k*ceil(log2(N/k)) + 2k + ceil(N/G) = %d", s.Boots, bound)
	}
}

// killAt runs kgen with args and SIGKILLs its process group (qemu too)
// once dir/state.json records groups groups run; it returns the output.
func killAt(t *testing.T, args []string, dir string, groups int) string {
	t.Helper()
	cmd := exec.Command(kgenBin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			t.Fatalf("kgen ended (%v) before %d groups:\n%s", err, groups, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if s, err := probetest.LoadState(dir); err == nil && s != nil && s.Groups >= groups {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return out.String()
		}
	}
}

func lastLine(s, prefix string) string {
	for _, l := range slices.Backward(strings.Split(s, "\n")) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
