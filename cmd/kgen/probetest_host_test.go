package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCheckHostFlags: --host refuses the VM's flags, -j above 1, --ko
// with --kdir, and a user other than root, each with its fix.
func TestCheckHostFlags(t *testing.T) {
	for _, tt := range []struct {
		name  string
		set   []string
		f     probeTestFlags
		euid  int
		want  string // "" = accepted
		jobs1 bool
	}{
		{name: "ok", f: probeTestFlags{probes: "p", group: 100, levels: 1}, jobs1: true},
		{name: "kernel", set: []string{"kernel"}, f: probeTestFlags{probes: "p", group: 1, levels: 1}, want: "--host takes no --kernel"},
		{name: "smp", set: []string{"smp"}, f: probeTestFlags{probes: "p", group: 1, levels: 1}, want: "--host takes no --smp"},
		{name: "module", set: []string{"module"}, f: probeTestFlags{probes: "p", group: 1, levels: 1}, want: "--host takes no --module"},
		{name: "add", set: []string{"add"}, f: probeTestFlags{probes: "p", group: 1, levels: 1}, want: "--host takes no --add"},
		{name: "per-boot", set: []string{"per-boot"}, f: probeTestFlags{probes: "p", group: 1, levels: 1}, want: "--host takes no --per-boot"},
		{name: "jobs", f: probeTestFlags{probes: "p", group: 1, levels: 1, jobs: 2}, want: "one group at a time"},
		{name: "ko and kdir", f: probeTestFlags{probes: "p", group: 1, levels: 1, kdir: "k", host: hostFlags{ko: "m.ko"}}, want: "--ko and --kdir exclude each other"},
		{name: "nothing", f: probeTestFlags{group: 1, levels: 1}, want: "say what to test"},
		{name: "group", f: probeTestFlags{probes: "p", levels: 1}, want: "--group and --levels must be at least 1"},
		{name: "not root", f: probeTestFlags{probes: "p", group: 1, levels: 1}, euid: 1000, want: "run it as root"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.host.set = func(n string) bool { return slices.Contains(tt.set, n) }
			f.host.euid = func() int { return tt.euid }
			err := checkHostFlags(&f)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkHostFlags: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkHostFlags = %v, want %q", err, tt.want)
			}
			if tt.jobs1 && f.jobs != 1 {
				t.Errorf("jobs %d, want 1", f.jobs)
			}
		})
	}
}

// TestHostUnitArgs: the unit runs the same command with absolute paths
// and without --fresh.
func TestHostUnitArgs(t *testing.T) {
	t.Chdir("/tmp")
	f := probeTestFlags{dir: "out", probes: "/p/probes.all", workload: "wl.sh", glob: "vfs_*", group: 40, levels: 2,
		timeout: 90 * time.Second, fresh: true, host: hostFlags{on: true, ko: "m/kgen_ptest.ko"}}
	got, err := hostUnitArgs("/usr/bin/kgen", f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/kgen", "probe-test", "--host", "--dir", "/tmp/out", "--ko", "/tmp/m/kgen_ptest.ko",
		"--probes", "/p/probes.all", "--workload", "/tmp/wl.sh", "--glob", "vfs_*", "--group", "40", "--levels", "2", "--timeout", "1m30s"}
	if !slices.Equal(got, want) {
		t.Errorf("hostUnitArgs =\n%q\nwant\n%q", got, want)
	}
	f = probeTestFlags{dir: "/o", all: true, kdir: "/k", group: 100, levels: 1, timeout: time.Minute}
	got, _ = hostUnitArgs("/kgen", f)
	want = []string{"/kgen", "probe-test", "--host", "--dir", "/o", "--kdir", "/k", "--all", "--group", "100", "--levels", "1", "--timeout", "1m0s"}
	if !slices.Equal(got, want) {
		t.Errorf("hostUnitArgs =\n%q\nwant\n%q", got, want)
	}
}
