package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Costs in tenths of an instruction per hit, about as a by-hand arm64
// run measured them.
var arm64Costs = map[string]int64{"floor": 9500, "count": 10290, "emit": 17150, "tracefs": 18420, "otst_idle": 5, "otst_fired": 2,
	"kfloor": 4000, "ecount": 4300, "eemit": 11000, "tracefs_p": 12000, "stacks": 30000, "stackev": 40000}

// TestEvaluateArm64 checks the arm64 boot's verdicts: runs of arm64Hits
// reads are judged against arm64Hits (not the main kernel's 200,000), with
// the same checks as the main kernel's.
func TestEvaluateArm64(t *testing.T) {
	good := goodGuestN(arm64Costs, 50, arm64Hits)
	rows := []string{configs[1].label, configs[2].label, configs[5].label, configs[8].label, configs[10].label}
	tests := []struct {
		name, guest string
		want        []string
	}{
		{"healthy", good, []string{met, met, met, met, met}},
		// drift: at most 1% of the smallest cost (400), 4 instr/hit
		{"baseline drift", goodGuestN(arm64Costs, 5*arm64Hits, arm64Hits), []string{invalid, invalid, invalid, invalid, invalid}},
		{"counting too dear", goodGuestN(with(arm64Costs, "count", 11000), 50, arm64Hits), []string{missed, met, met, met, met}},
		{"kgen probe missed reads", strings.Replace(good, "vfs_read  100012 ", "vfs_read  99999 ", 1), []string{invalid, invalid, met, met, met}},
		{"tracefs hits too few", strings.Replace(good, "tracefs_hits 50003", "tracefs_hits 49999", 1), []string{met, invalid, met, met, met}},
		{"stack table short", strings.Replace(good, "stacks_sum 50003", "stacks_sum 49999", 1), []string{met, met, met, met, invalid}},
		// runs of fewer reads than arm64Hits: the probes' counts fall short
		{"runs of fewer reads", goodGuestN(arm64Costs, 50, arm64Hits/2), []string{invalid, invalid, met, invalid, invalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.guest == good && tt.name != "healthy" {
				t.Fatal("fixture unchanged")
			}
			rep := evaluateArm64(parseGuest(tt.guest))
			status := map[string]string{}
			for _, r := range rep.rows {
				status[r.label] = r.status
			}
			for i, l := range rows {
				if status[l] != tt.want[i] {
					t.Errorf("%s: %q, want %q (why: %q)", l, status[l], tt.want[i], rep.why)
				}
			}
			allMet := !strings.Contains(strings.Join(tt.want, ","), invalid) && !strings.Contains(strings.Join(tt.want, ","), missed)
			if (rep.err() == nil) != allMet {
				t.Errorf("err = %v, want an error iff a verdict is not met", rep.err())
			}
			var out bytes.Buffer
			rep.printArm64(&out, "debian-6.1-arm64", "6.1.0-57-arm64")
			if !strings.Contains(out.String(), "count=50000") || strings.Contains(out.String(), "payload") {
				t.Errorf("arm64 table: want the 50,000-read workload and no payload rows:\n%s", out.String())
			}
		})
	}
	// The arm64 rows are the main kernel's probe-cost rows, no more.
	main := evaluate(parseGuest(goodGuest(goodCosts, 200)+goodPL(goodPLCosts, 0)+goodPR(goodPRCosts, 0)), goodBuilds())
	arm := evaluateArm64(parseGuest(good))
	for i, r := range arm.rows {
		if i >= len(main.rows) || main.rows[i].label != r.label {
			t.Fatalf("arm64 row %d %q is not the main kernel's row %d", i, r.label, i)
		}
	}
}

// TestPrintColumns checks the side-by-side table: one column per kernel
// measured, invalid figures said so, a skipped arm64 kernel's reason.
func TestPrintColumns(t *testing.T) {
	main := evaluate(parseGuest(goodGuest(goodCosts, 200)+goodPL(goodPLCosts, 0)+goodPR(goodPRCosts, 0)), goodBuilds())
	arm := evaluateArm64(parseGuest(goodGuestN(arm64Costs, 50, arm64Hits)))
	bad := evaluateArm64(parseGuest(goodGuestN(arm64Costs, 5*arm64Hits, arm64Hits)))
	row := func(out, key string) string {
		for _, c := range configs {
			if c.key == key {
				m := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(c.label) + ` \|.*$`).FindString(out)
				return m
			}
		}
		t.Fatalf("no configuration %s", key)
		return ""
	}
	tests := []struct {
		name      string
		main, arm *report
		skip      string
		head      string
		count     string // the kgen counting row
		otst      string
	}{
		{"both", main, arm, "", "| configuration | debian-6.1 | debian-6.1-arm64 |", " 400 | 1029 |", " 0.2 | 0.2 |"},
		{"main only", main, nil, "", "| configuration | debian-6.1 |", "| 400 |", "| 0.2 |"},
		{"arm64 only", nil, arm, "", "| configuration | debian-6.1-arm64 |", "| 1029 |", "| 0.2 |"},
		{"arm64 invalid", main, bad, "", "| configuration | debian-6.1 | debian-6.1-arm64 |", " 400 | invalid |", " 0.2 | invalid |"},
		{"arm64 skipped", main, nil, "no qemu-system-aarch64", "| configuration | debian-6.1 |", "| 400 |", "| 0.2 |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printColumns(&b, "debian-6.1", tt.main, "debian-6.1-arm64", tt.arm, tt.skip)
			out := b.String()
			if !strings.Contains(out, tt.head+"\n") {
				t.Errorf("no header %q:\n%s", tt.head, out)
			}
			if r := row(out, "count"); !strings.HasSuffix(r, tt.count) {
				t.Errorf("counting row %q, want it to end %q", r, tt.count)
			}
			if r := row(out, "otst_fired"); !strings.HasSuffix(r, tt.otst) {
				t.Errorf("otst row %q, want it to end %q", r, tt.otst)
			}
			if got := strings.Contains(out, "debian-6.1-arm64: not measured: "+tt.skip+"."); got != (tt.skip != "") {
				t.Errorf("skip reason printed %v, want %v:\n%s", got, tt.skip != "", out)
			}
			if n := strings.Count(out, "\n| "); n != len(configs)+1 {
				t.Errorf("%d table lines, want %d:\n%s", n, len(configs)+1, out)
			}
		})
	}
	var b bytes.Buffer
	printColumns(&b, "debian-6.1", nil, "debian-6.1-arm64", nil, "")
	if b.Len() != 0 {
		t.Errorf("nothing measured, yet printed %q", b.String())
	}
}

// TestArm64Missing checks each reason the arm64 kernel is skipped for.
func TestArm64Missing(t *testing.T) {
	dir := t.TempDir()
	k := filepath.Join(dir, "debian-6.1-arm64")
	if err := os.MkdirAll(filepath.Join(k, "kdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := arm64Missing(dir, "debian-6.1-arm64"); !strings.Contains(got, "Image") || !strings.Contains(got, "scripts/fetch-kernels.sh debian-6.1-arm64") {
		t.Errorf("no Image: %q, want it named with the fetch command", got)
	}
	for _, f := range []string{"Image", "busybox"} {
		if err := os.WriteFile(filepath.Join(k, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := arm64Missing(dir, "debian-6.1-arm64"); !strings.Contains(got, "make.env") {
		t.Errorf("no make.env: %q", got)
	}
	if err := os.WriteFile(filepath.Join(k, "make.env"), []byte("ARCH=arm64\nCROSS_COMPILE=kgen-no-such-cross-\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := arm64Missing(dir, "debian-6.1-arm64"); !strings.Contains(got, "no kgen-no-such-cross-gcc (install it with scripts/install-deps.sh --arm64)") {
		t.Errorf("no cross compiler: %q", got)
	}
	if got := bootFile(k); got != filepath.Join(k, "Image") {
		t.Errorf("bootFile without vmlinux = %q, want the Image", got)
	}
	if err := os.WriteFile(filepath.Join(k, "vmlinux"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := bootFile(k); got != filepath.Join(k, "vmlinux") {
		t.Errorf("bootFile with vmlinux = %q, want it", got)
	}
}

// TestGuestScriptArm64 checks the arm64 boot's script: the probe-cost runs
// of n reads, without the payload and process parts.
func TestGuestScriptArm64(t *testing.T) {
	s, err := guestScript("", arm64Hits, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "count=50000 ") || strings.Contains(s, "count=200000") {
		t.Errorf("arm64 script does not read 50,000 bytes a run:\n%s", s)
	}
	if strings.Contains(s, plDir) || strings.Contains(s, prDir) || !strings.Contains(s, "KGBENCH done") {
		t.Errorf("arm64 script runs the payload or process part, or never says done:\n%s", s)
	}
	for _, c := range configs {
		if !strings.Contains(s, "measure "+c.key+"\n") {
			t.Errorf("arm64 script does not measure %s", c.key)
		}
	}
	full, _ := guestScript("", hits, true)
	if !strings.Contains(full, plDir+"/guest.sh") || !strings.Contains(full, prDir+"/guest.sh") {
		t.Error("the main script lost its payload or process part")
	}
}

// TestRunArm64Flags checks -only and -arm64: an arm64-only run of a kernel
// that is not fetched fails with the fetch command, a bad -only is refused.
func TestRunArm64Flags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-kernels", dir, "-only", "arm64"}, "measure debian-6.1-arm64: no " + filepath.Join(dir, "debian-6.1-arm64", "kdir") + " (fetch it with scripts/fetch-kernels.sh debian-6.1-arm64)"},
		{[]string{"-kernels", dir, "-only", "arm64", "-arm64="}, "-only arm64 needs an -arm64 kernel"},
		{[]string{"-kernels", dir, "-only", "both"}, `-only "both": want main or arm64`},
	} {
		var out, log bytes.Buffer
		err := run(&out, &log, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %q: %v, want an error with %q", tt.args, err, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("run %q printed a table: %q", tt.args, out.String())
		}
	}
}

// TestMeasureArm64Skip checks that a full run on a host without the arm64
// kernel skips its column with the reason, on the log and in the table.
func TestMeasureArm64Skip(t *testing.T) {
	dir := t.TempDir()
	var out, log bytes.Buffer
	arm, skip, err := measureArm64(options{kernels: dir, arm64: "debian-6.1-arm64"}, &out, &log)
	if err != nil || arm != nil || !strings.Contains(skip, "scripts/fetch-kernels.sh debian-6.1-arm64") {
		t.Fatalf("measureArm64 = %v, %q, %v; want a skip naming the fetch command", arm, skip, err)
	}
	if want := "bench: skipping the debian-6.1-arm64 column: " + skip + "\n"; log.String() != want || out.Len() != 0 {
		t.Errorf("log %q, table %q; want the log %q and no table", log.String(), out.String(), want)
	}
}
