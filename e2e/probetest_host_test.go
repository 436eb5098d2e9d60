package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kgen/probetest"
)

// TestVMProbeTestHost runs kgen probe-test --host inside a debian-6.1
// guest, on the guest's own kernel (testdata/probetest_host.sh, one
// boot): 40 functions in groups of 8, once uninterrupted (D1) and once
// SIGKILLed twice while a group is armed and resumed (D2). Both must end
// with the same four files; the resume unit must exist while a run is
// stopped and be gone, with its enable symlink, after the run ends. D3:
// the fixture testdata/ptfix BUG()s when its crasher is probed, the guest
// survives the oops (panic_on_oops 0), and the sweep must find it in the
// kernel log and bisect down to it. D4: kgen is SIGKILLed after such an
// oops; the resumed run must take the crash from the kernel log after the
// group's mark instead of running the group again.
func TestVMProbeTestHost(t *testing.T) {
	k := needVM(t, "debian-6.1")
	dir := t.TempDir()
	sp := filepath.Join(dir, "kgen_ptest.yaml")
	if err := os.WriteFile(sp, []byte("apiVersion: kgen/v1\nkind: probetest\nname: kgen_ptest\nmax_probes: 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := kgen(t, "build", sp, "--kdir", k.KDIR, "-o", dir); err != nil {
		t.Fatalf("kgen build: %v\n%s", err, o)
	}
	fix, _ := buildTestModule(t, k, "ptfix")
	start := time.Now()
	o, err := kgen(t, "vm", "--kernel", k.Vmlinux, "--timeout", "3m",
		"--add", filepath.Join(dir, "kgen_ptest.ko")+":/root/kgen_ptest.ko",
		"--add", fix+":/root/ptfix.ko", "--add", "testdata/ptfix/workload.sh:/root/ptfix_wl.sh",
		"--add", "testdata/probetest_host.sh:/root/probetest_host.sh", "--", "sh /root/probetest_host.sh")
	if err != nil {
		t.Fatalf("kgen vm: %v\n%s", err, o)
	}
	t.Logf("boot and guest script: %s", time.Since(start).Round(time.Second))
	s := sections(o)
	if _, ok := s["end"]; !ok {
		t.Fatalf("the guest script did not finish:\n%s", o)
	}
	checkProbeTestHost(t, s)
	if t.Failed() || testing.Verbose() {
		t.Logf("guest output:\n%s", o)
	}
}

func checkProbeTestHost(t *testing.T, s map[string]string) {
	for _, run := range []string{"d1", "d2"} {
		if !strings.HasPrefix(s[run], "rc=0\n") {
			t.Errorf("%s: kgen probe-test --host failed:\n%s", run, s[run])
		}
		for _, l := range strings.Split(s[run], "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "took" {
				a, _ := strconv.ParseFloat(f[1], 64)
				b, _ := strconv.ParseFloat(f[2], 64)
				t.Logf("%s: the last run took %.1f s in the guest", run, b-a)
			}
		}
		// Nothing left: no unit, no symlink, no module, no kprobe.
		after := s[run+"-after"]
		if strings.Count(after, "No such file or directory") != 2 || !strings.Contains(after, "\n0\n") {
			t.Errorf("%s: after the run, want the unit and its symlink gone and no kgen_ptest loaded:\n%s", run, after)
		}
	}
	if strings.TrimSpace(strings.SplitN(s["d2-after"], "\n", 4)[3]) != "" {
		t.Errorf("kprobes left registered:\n%s", s["d2-after"])
	}
	for _, k := range []string{"d2-kill1", "d2-kill2"} {
		if !strings.Contains(s[k], "host.json while armed: yes") || !strings.Contains(s[k], "module loaded: yes") || strings.Contains(s[k], "did not reach") {
			t.Errorf("%s: kgen was not killed with a group armed:\n%s", k, s[k])
		}
	}
	// The unit of the killed run: the same command, absolute paths, enabled.
	for _, want := range []string{"Type=oneshot", "After=local-fs.target", "WantedBy=multi-user.target",
		"ExecStart=/bin/kgen probe-test --host --dir /root/D2 --ko /root/kgen_ptest.ko --probes /root/ph.list --workload /root/ph.wl --group 8 --levels 1 --timeout 1m0s\n"} {
		if !strings.Contains(s["unit"], want) {
			t.Errorf("unit lacks %q:\n%s", want, s["unit"])
		}
	}
	if !strings.Contains(s["unit"], "/etc/systemd/system/kgen-probe-test.service\n") {
		t.Errorf("no enable symlink to the unit:\n%s", s["unit"])
	}
	if n := strings.Count(s["d2"], "probe-test: resuming"); n != 2 {
		t.Errorf("d2: %d resumes, want 2:\n%s", n, s["d2"])
	}
	if !strings.Contains(s["d2"], "removing a leftover kgen_ptest") || !strings.Contains(s["d2"], "kgen was stopped while a group of 8 functions was armed: running it again") {
		t.Errorf("d2: the resumed runs did not clean up the killed group and run it again:\n%s", s["d2"])
	}
	// The same four files, and the expected ones.
	for _, c := range probetest.Categories {
		if s["D1-"+c] != s["D2-"+c] {
			t.Errorf("probes.%s differs between the uninterrupted run and the killed one:\nD1:\n%sD2:\n%s", c, s["D1-"+c], s["D2-"+c])
		}
	}
	files := map[string][]string{}
	for _, c := range probetest.Categories {
		files[c] = strings.Fields(s["D1-"+c])
		if !slices.IsSorted(files[c]) {
			t.Errorf("probes.%s not sorted", c)
		}
	}
	if len(files[probetest.Failed]) != 0 {
		t.Errorf("failed %v, want none", files[probetest.Failed])
	}
	if !slices.Equal(files[probetest.Unregistered], []string{"kgen_no_such_fn"}) {
		t.Errorf("unregistered %v, want kgen_no_such_fn", files[probetest.Unregistered])
	}
	for _, f := range []string{"vfs_read", "vfs_write", "do_mkdirat", "do_rmdir", "do_unlinkat", "do_renameat2", "ksys_sync", "do_truncate", "do_pipe2", "kernel_clone", "do_nanosleep"} {
		if !slices.Contains(files[probetest.Passed], f) {
			t.Errorf("%s: the workload calls it, want it passed (passed: %v)", f, files[probetest.Passed])
		}
	}
	for _, f := range []string{"__x64_sys_reboot", "__x64_sys_kexec_load", "__x64_sys_swapon", "__x64_sys_pivot_root", "__x64_sys_sethostname", "__x64_sys_acct"} {
		if !slices.Contains(files[probetest.Untriggered], f) {
			t.Errorf("%s: nothing calls it, want it untriggered (untriggered: %v)", f, files[probetest.Untriggered])
		}
	}
	if n := len(files[probetest.Passed]) + len(files[probetest.Untriggered]) + len(files[probetest.Unregistered]); n != 40 {
		t.Errorf("%d functions in the files, want 40", n)
	}
	var rep probetest.Report
	if err := json.Unmarshal([]byte(s["D1-report"]), &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, s["D1-report"])
	}
	if f := rep.Funcs["kgen_no_such_fn"]; f == nil || f.Errno != -2 {
		t.Errorf("kgen_no_such_fn: %+v, want errno -2", f)
	}
	if rep.Boots != 5 {
		t.Errorf("D1 ran %d groups, want 5 (40 functions in groups of 8)", rep.Boots)
	}
	checkProbeTestHostOops(t, s)
}

// checkProbeTestHostOops: D3's survived oops made its crasher failed,
// with the BUG line and the log's tail, and nothing else.
func checkProbeTestHostOops(t *testing.T, s map[string]string) {
	if !strings.Contains(s["d3"], "insmod rc=0") || !strings.Contains(s["d3"], "\nrc=0\n") {
		t.Fatalf("d3: the fixture or kgen probe-test --host failed:\n%s", s["d3"])
	}
	if strings.Contains(s["d3"], "probe-test: wrote") || !strings.Contains(s["d3"], "No such file or directory") {
		t.Errorf("d3: --no-unit wrote a unit:\n%s", s["d3"])
	}
	if got := strings.Fields(s["D3-failed"]); !slices.Equal(got, []string{"ptfix_crash_a"}) {
		t.Errorf("D3 failed %v, want [ptfix_crash_a]", got)
	}
	if !strings.Contains(s["D3-crash"], "kernel BUG at") {
		t.Errorf("D3: crash/ptfix_crash_a.txt lacks the BUG:\n%s", s["D3-crash"])
	}
	passed := strings.Fields(s["D3-passed"])
	for _, f := range []string{"ptfix_f000", "ptfix_f006", "vfs_read", "do_nanosleep"} {
		if !slices.Contains(passed, f) {
			t.Errorf("D3: %s not passed (%v)", f, passed)
		}
	}
	if got := strings.Fields(s["D3-untriggered"]); !slices.Equal(got, []string{"ptfix_f003"}) {
		t.Errorf("D3 untriggered %v, want [ptfix_f003]", got)
	}
	var rep probetest.Report
	if err := json.Unmarshal([]byte(s["D3-report"]), &rep); err != nil {
		t.Fatalf("D3 report.json: %v", err)
	}
	if f := rep.Funcs["ptfix_crash_a"]; f == nil || !strings.Contains(f.Crash, "kernel BUG at") {
		t.Errorf("D3: ptfix_crash_a: %+v, want the BUG line as its crash", f)
	}
	// D4: kgen killed after the oops; the resumed run reads the log.
	if !strings.Contains(s["d4"], "killed with host.json: yes") || !strings.Contains(s["d4"], "\nrc=0\n") ||
		!strings.Contains(s["d4"], "and the kernel logged \"kernel BUG at") || strings.Contains(s["d4"], "running it again") {
		t.Errorf("d4: the resumed run did not count the killed group as crashed from the kernel log:\n%s", s["d4"])
	}
	if got := strings.Fields(s["D4-failed"]); !slices.Equal(got, []string{"ptfix_crash_a"}) {
		t.Errorf("D4 failed %v, want [ptfix_crash_a]", got)
	}
	t.Logf("D3: %d groups for 10 functions with one crasher in groups of 8 (bound %d)", rep.Boots, probetest.Bound(10, 1, 8))
	if rep.Boots > probetest.Bound(10, 1, 8) {
		t.Errorf("D3: %d groups, above the bound %d", rep.Boots, probetest.Bound(10, 1, 8))
	}
}
