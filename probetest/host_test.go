package probetest

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func writeHostRecord(t *testing.T, dir, boot string, funcs ...string) {
	t.Helper()
	b := `{"boot_id":"` + boot + `","funcs":["` + strings.Join(funcs, `","`) + `"]}`
	if err := os.WriteFile(filepath.Join(dir, HostFile), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckHost: a record of this group from another boot is a reboot,
// from this boot a killed kgen, of another group a stale one.
func TestCheckHost(t *testing.T) {
	for _, tt := range []struct {
		name   string
		record string // "" = none; else "boot:f1,f2"
		want   hostAction
		err    bool
	}{
		{"none", "", hostNone, false},
		{"same boot", "b1:vfs_read,vfs_write", hostKilled, false},
		{"other boot", "b0:vfs_read,vfs_write", hostRebooted, false},
		{"other group", "b0:vfs_read", hostStale, false},
		{"other order", "b1:vfs_write,vfs_read", hostStale, false},
		{"garbage", "garbage", hostNone, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			switch {
			case tt.record == "garbage":
				os.WriteFile(filepath.Join(dir, HostFile), []byte("{"), 0o644)
			case tt.record != "":
				boot, fs, _ := strings.Cut(tt.record, ":")
				writeHostRecord(t, dir, boot, strings.Split(fs, ",")...)
			}
			got, _, err := checkHost(dir, "b1", []string{"vfs_read", "vfs_write"})
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("checkHost = %v, %v; want %v, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestHostRunnerReboot: Run on a group the last boot had armed returns
// a crash without touching the kernel, and forgets the record.
func TestHostRunnerReboot(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(dir, "boot_id")
	os.WriteFile(boot, []byte("b1\n"), 0o644)
	writeHostRecord(t, dir, "b0", "vfs_read", "ksys_sync")
	// No module, no debugfs, no kmsg: any use of them fails the test.
	r := &HostRunner{Dir: dir, BootIDFile: boot, Module: "/nonexistent.ko", DebugDir: "/nonexistent", Kmsg: "/nonexistent",
		LastBootLog: func() string {
			return "Kernel panic - not syncing: Fatal exception\nprobetest: KGEN-PTEST-HITS ksys_sync 4\nprobetest: KGEN-PTEST-HITS-END 1\n"
		}}
	o, err := r.Run(context.Background(), []string{"vfs_read", "ksys_sync"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Crashed || o.Reason != "reboot" || o.Line != "the machine rebooted while this group was armed" || !strings.Contains(o.Tail, "Kernel panic") ||
		len(o.CrashHits) != 1 || o.CrashHits["ksys_sync"] != 4 {
		t.Errorf("Run = %+v, want a crash by reboot", o)
	}
	if _, err := os.Stat(filepath.Join(dir, HostFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s kept after the reboot was counted: %v", HostFile, err)
	}
	// The sweep bisects it as a guest's crash: a State given the outcome
	// splits the group.
	s := NewState([]string{"vfs_read", "ksys_sync"}, 10, 1)
	if err := s.Done(s.Jobs[0].ID, o, nil, ""); err != nil {
		t.Fatal(err)
	}
	if len(s.Jobs) != 1 || len(s.Jobs[0].Funcs) != 1 || len(s.Jobs[0].Other) != 1 {
		t.Errorf("after the reboot: jobs %+v, want the group split", s.Jobs)
	}
	// A missing boot id is the harness's error, not a crash.
	r.BootIDFile = filepath.Join(dir, "none")
	if _, err := r.Run(context.Background(), []string{"vfs_read"}); err == nil || !strings.Contains(err.Error(), "boot id") {
		t.Errorf("Run without a boot id: %v", err)
	}
}

// TestKmsgText reads /dev/kmsg records: the message after the header,
// dictionary lines dropped, escaped newlines split.
func TestKmsgText(t *testing.T) {
	for _, tt := range []struct{ rec, want string }{
		{"6,1234,5678901,-;kgen_ptest: armed 3 of 3 probes\n", "kgen_ptest: armed 3 of 3 probes"},
		{"4,99,1,-;WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2\n SUBSYSTEM=cpu\n DEVICE=+cpu:0\n", "WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2"},
		{"3,7,1,c;a\\x0ab\n", "a|b"},
	} {
		if got := strings.Join(kmsgText([]byte(tt.rec)), "|"); got != tt.want {
			t.Errorf("kmsgText(%q) = %q, want %q", tt.rec, got, tt.want)
		}
	}
}

// TestClassifyLog: the first bad line of the log makes the crash, with
// vm's classification; a clean log is no crash.
func TestClassifyLog(t *testing.T) {
	for _, tt := range []struct {
		lines        []string
		reason, line string
	}{
		{[]string{"kgen_ptest: armed 2 of 2 probes", "random: crng init done"}, "", ""},
		{[]string{"ok", "WARNING: CPU: 0 PID: 9 at mm/x.c:3 g", "BUG: kernel NULL pointer dereference, address: 0"}, "warning", "WARNING: CPU: 0 PID: 9 at mm/x.c:3 g"},
		{[]string{"BUG: unable to handle page fault for address: ffff", "Oops: 0000 [#1] SMP"}, "oops", "BUG: unable to handle page fault for address: ffff"},
		{[]string{"BUG: KASAN: slab-out-of-bounds in f+0x1/0x2"}, "report", "BUG: KASAN: slab-out-of-bounds in f+0x1/0x2"},
	} {
		o := classifyLog(tt.lines)
		if o.Crashed != (tt.reason != "") || o.Reason != tt.reason || o.Line != tt.line {
			t.Errorf("classifyLog(%q) = %+v, want reason %q line %q", tt.lines, o, tt.reason, tt.line)
		}
		if o.Crashed && !strings.Contains(o.Tail, tt.lines[len(tt.lines)-1]) {
			t.Errorf("tail %q lacks the last line", o.Tail)
		}
	}
}

// TestUnitText compares the resume unit with testdata/host.service
// (go test ./probetest -run TestUnitText -update to accept a change).
func TestUnitText(t *testing.T) {
	u := Unit{
		Args: []string{"/usr/local/bin/kgen", "probe-test", "--host", "--dir", "/var/lib/kgen/run 1",
			"--probes", "/root/probes.all", "--glob", "vfs_*", "--workload", `/root/my "wl".sh`,
			"--group", "100", "--levels", "1", "--timeout", "3m0s"},
		Dir: "/var/lib/kgen/run 1",
	}
	golden := filepath.Join("testdata", "host.service")
	got := u.Text()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("unit text differs from %s (run with -update):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestUnitDescription: a directory name cannot add a setting to the unit.
func TestUnitDescription(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/var/lib/kgen/run 1", "/var/lib/kgen/run 1"},
		{"/tmp/$HOME", "/tmp/$HOME"},
		{"/tmp/100%", "/tmp/100%%"},
		{"/tmp/a\nExecStartPre=/bin/evil", "/tmp/a?ExecStartPre=/bin/evil"},
	} {
		if got := unitDescription(tt.in); got != tt.want {
			t.Errorf("unitDescription(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUnitQuote: systemd.syntax(7) quoting of ExecStart= words.
func TestUnitQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/usr/bin/kgen", "/usr/bin/kgen"},
		{"--timeout", "--timeout"},
		{"a b", `"a b"`},
		{"", `""`},
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{"100%", "100%%"},
		{"$HOME", "$$HOME"},
		{"vfs_*", `"vfs_*"`},
		{"it's", `"it's"`},
		{";", `";"`},
		{"tab\there", `"tab\there"`},
	} {
		if got := unitQuote(tt.in); got != tt.want {
			t.Errorf("unitQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestUnitInstallRemove writes the unit and its enable symlink under a
// temporary root, as systemctl enable would, and removes both.
func TestUnitInstallRemove(t *testing.T) {
	root := t.TempDir()
	u := Unit{Root: root, Args: []string{"/bin/kgen", "probe-test", "--host"}, Dir: "/d"}
	if err := u.Install(); !errors.Is(err, ErrNoSystemd) {
		t.Fatalf("Install without /etc/systemd/system = %v, want ErrNoSystemd", err)
	}
	sys := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := u.Install(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(sys, UnitName))
	if err != nil || string(b) != u.Text() {
		t.Errorf("unit file: %v\n%s", err, b)
	}
	if fi, err := os.Stat(filepath.Join(sys, UnitName)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("unit file mode: %v %v, want 0644", fi.Mode(), err)
	}
	link := filepath.Join(sys, "multi-user.target.wants", UnitName)
	if tgt, err := os.Readlink(link); err != nil || tgt != "/etc/systemd/system/"+UnitName {
		t.Errorf("enable symlink -> %q (%v), want /etc/systemd/system/%s", tgt, err, UnitName)
	}
	// Installed twice (a resumed run): the same files, left as they are.
	fi1, _ := os.Stat(filepath.Join(sys, UnitName))
	if err := u.Install(); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(filepath.Join(sys, UnitName)); err != nil || !os.SameFile(fi1, fi2) {
		t.Errorf("the unit was written again: %v", err)
	}
	// Another run's unit is replaced.
	u2 := u
	u2.Dir = "/other"
	if err := u2.Install(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(sys, UnitName)); string(b) != u2.Text() {
		t.Errorf("the unit was not replaced:\n%s", b)
	}
	for i := 0; i < 2; i++ {
		if err := u.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{link, filepath.Join(sys, UnitName)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Remove: %v", p, err)
		}
	}
}

// TestAfterMark: the lines the kernel logged after the group's mark.
func TestAfterMark(t *testing.T) {
	const m = "kgen probe-test: arming a group of 2 functions (b1 7)"
	for _, tt := range []struct {
		lines []string
		want  string
		ok    bool
	}{
		{[]string{"a", m, "b", "c"}, "b|c", true},
		{[]string{"a", m, "x", m, "c"}, "c", true},
		{[]string{"a", "b"}, "", false},
		{[]string{"a", m}, "", true},
	} {
		got, ok := afterMark(tt.lines, m)
		if strings.Join(got, "|") != tt.want || ok != tt.ok {
			t.Errorf("afterMark(%q) = %q, %v; want %q, %v", tt.lines, got, ok, tt.want, tt.ok)
		}
	}
}

// TestKmsgRead reads this machine's /dev/kmsg to its end and returns
// (it must not wait for more), and sees a line written after the open.
func TestKmsgRead(t *testing.T) {
	k, err := openKmsg("/dev/kmsg", true)
	if err != nil {
		t.Skipf("no readable /dev/kmsg: %v", err)
	}
	defer k.Close()
	mark := "kgen probetest TestKmsgRead " + t.Name()
	if err := writeKmsg("/dev/kmsg", mark); err != nil {
		k.read()
		if len(k.lines) != 0 {
			t.Errorf("read %q from the end of the log before anything was written", k.lines)
		}
		t.Skipf("cannot write /dev/kmsg: %v", err)
	}
	k.read()
	if len(k.lines) == 0 || !strings.HasSuffix(k.lines[len(k.lines)-1], mark) {
		t.Errorf("read %q after writing %q", k.lines, mark)
	}
	all, err := openKmsg("/dev/kmsg", false)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	all.read()
	if _, ok := afterMark(all.lines, mark); !ok {
		t.Errorf("the whole log lacks the mark")
	}
}
