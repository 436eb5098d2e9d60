package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// goodGuest is the output of a healthy benchmark VM, in the guest
// script's format, with the given extra instructions per hit for each
// configuration and the baselines' drift (instructions over the run).
func goodGuest(cost map[string]int64, drift int64) string {
	return goodGuestN(cost, drift, hits)
}

// goodGuestN is goodGuest for runs of n reads.
func goodGuestN(cost map[string]int64, drift, n int64) string {
	base := 400 * n
	var b strings.Builder
	b.WriteString("[    0.000000] Linux version 6.1.0-57-amd64\n")
	fmt.Fprintf(&b, "KGBENCH run warmup 1000000 %d\n", 1000000+base+5000)
	at := int64(100_000_000)
	run := func(key string, d int64) {
		fmt.Fprintf(&b, "KGBENCH run %s %d %d\n", key, at, at+d)
		at += 2 * d
	}
	run("base1", base)
	for _, k := range []string{"floor", "count", "emit", "tracefs", "otst_idle", "otst_fired", "kfloor", "ecount", "eemit", "tracefs_p", "stacks", "stackev"} {
		run(k, base+cost[k]*n/10)
		switch k {
		case "floor":
			b.WriteString("KGBENCH fact floor_nmissed 0\n")
		case "emit":
			fmt.Fprintf(&b, "KGBENCH unload probe      hits  filtered  nmissed  emitted\n"+
				"KGBENCH unload vfs_read  %d         0        0   %d\n"+
				"KGBENCH unload unloaded kgbench_count\n", 2*n+12, n+6)
		case "tracefs":
			fmt.Fprintf(&b, "KGBENCH fact tracefs_hits %d\nKGBENCH fact tracefs_nmissed 0\n", n+3)
		case "otst_idle":
			b.WriteString("KGBENCH fact otst_left 0\n")
		case "kfloor":
			b.WriteString("KGBENCH fact kfloor_nmissed 0\n")
		case "eemit":
			fmt.Fprintf(&b, "KGBENCH eunload probe      hits  filtered  nmissed  emitted\n"+
				"KGBENCH eunload vfs_read  %d         0        0   %d\n"+
				"KGBENCH eunload unloaded kgbench_entry\n", 2*n+12, n+6)
		case "tracefs_p":
			fmt.Fprintf(&b, "KGBENCH fact tracefs_p_hits %d\nKGBENCH fact tracefs_p_nmissed 0\n", n+3)
		case "stacks":
			fmt.Fprintf(&b, "KGBENCH fact stacks_dropped 0\nKGBENCH fact stacks_sum %d\n", n+3)
		case "stackev":
			fmt.Fprintf(&b, "KGBENCH sunload probe      hits  filtered  nmissed  emitted\n"+
				"KGBENCH sunload vfs_read  %d         0        0   %d\n", n+3, n+3)
		}
	}
	run("base2", base+drift)
	b.WriteString("KGBENCH done\n")
	return b.String()
}

// Costs in tenths of an instruction per hit, as measured on 6.1.
var goodCosts = map[string]int64{"floor": 3900, "count": 4000, "emit": 8000, "tracefs": 11620, "otst_idle": 5, "otst_fired": 2,
	"kfloor": 1990, "ecount": 2000, "eemit": 7940, "tracefs_p": 8420, "stacks": 9000, "stackev": 20000}

func goodBuilds() builds {
	s := time.Second
	return builds{
		cold: []time.Duration{3 * s, 3100 * time.Millisecond, 3200 * time.Millisecond},
		make: []time.Duration{3 * s, 3 * s, 3 * s},
		hit:  []time.Duration{20 * time.Millisecond, 21 * time.Millisecond, 22 * time.Millisecond},
	}
}

func with(m map[string]int64, k string, v int64) map[string]int64 {
	c := map[string]int64{}
	for a, b := range m {
		c[a] = b
	}
	c[k] = v
	return c
}

// verdictRows are the rows holding a target, in table order.
var verdictRows = []string{configs[1].label, configs[2].label, configs[5].label, "kgen build, cold (fresh cache)", "kgen build, cache hit (whole process)"}

func TestEvaluate(t *testing.T) {
	good := goodGuest(goodCosts, 200) + goodPL(goodPLCosts, 0) + goodPR(goodPRCosts, 0)
	// all-zero timer: what the guest printed when its timer read failed
	// before the script printed raw readings.
	zeroTimer := regexp.MustCompile(`(?m)^KGBENCH run (\S+) \d+ \d+$`).ReplaceAllString(good, "KGBENCH run $1 0 0")
	emptyTimer := regexp.MustCompile(`(?m)^KGBENCH run (\S+) \d+ \d+$`).ReplaceAllString(good, "KGBENCH run $1  ")
	drop := func(s, re string) string { return regexp.MustCompile(`(?m)^`+re+`\n`).ReplaceAllString(s, "") }
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	const (
		M = met
		X = missed
		I = invalid
	)
	tests := []struct {
		name   string
		guest  string
		builds builds
		want   []string // statuses of verdictRows
	}{
		{"healthy", good, goodBuilds(), []string{M, M, M, M, M}},
		{"all-zero timer", zeroTimer, goodBuilds(), []string{I, I, I, M, M}},
		{"empty timer", emptyTimer, goodBuilds(), []string{I, I, I, M, M}},
		{"timer going backwards", replace("KGBENCH run floor 260000000 ", "KGBENCH run floor 260000000 1 "), goodBuilds(), []string{I, I, I, M, M}},
		{"missing base1", drop(good, `KGBENCH run base1 .*`), goodBuilds(), []string{I, I, I, M, M}},
		{"missing base2", drop(good, `KGBENCH run base2 .*`), goodBuilds(), []string{I, I, I, M, M}},
		{"missing a configuration", drop(good, `KGBENCH run emit .*`), goodBuilds(), []string{I, I, I, M, M}},
		{"baseline drift", goodGuest(goodCosts, 4*hits), goodBuilds(), []string{I, I, I, M, M}},
		{"a free probe", goodGuest(with(goodCosts, "count", 0), 200), goodBuilds(), []string{I, I, I, M, M}},
		{"unparsable counters", replace("vfs_read  400012         0        0   200006", "vfs_read  x y z w"), goodBuilds(), []string{I, I, M, M, M}},
		{"counters row shorter than header", replace("vfs_read  400012         0        0   200006", "vfs_read  400012 0 0"), goodBuilds(), []string{I, I, M, M, M}},
		{"no counters", drop(good, `KGBENCH unload .*`), goodBuilds(), []string{I, I, M, M, M}},
		{"kgen nmissed > 0", replace("vfs_read  400012         0        0   200006", "vfs_read  400012 0 3 200006"), goodBuilds(), []string{I, I, M, M, M}},
		{"kgen probe missed reads", replace("vfs_read  400012         0        0   200006", "vfs_read  399999 0 0 200006"), goodBuilds(), []string{I, I, M, M, M}},
		{"kgen emitted too few", replace("vfs_read  400012         0        0   200006", "vfs_read  400012 0 0 199999"), goodBuilds(), []string{I, I, M, M, M}},
		{"floor nmissed > 0", replace("floor_nmissed 0", "floor_nmissed 12"), goodBuilds(), []string{I, M, I, M, M}},
		{"floor nmissed unread", replace("floor_nmissed 0", "floor_nmissed"), goodBuilds(), []string{I, M, I, M, M}},
		{"tracefs hits unread", drop(good, `KGBENCH fact tracefs_hits .*`), goodBuilds(), []string{M, I, M, M, M}},
		{"tracefs hits too few", replace("tracefs_hits 200003", "tracefs_hits 199999"), goodBuilds(), []string{M, I, M, M, M}},
		{"tracefs nmissed > 0", replace("tracefs_nmissed 0", "tracefs_nmissed 1"), goodBuilds(), []string{M, I, M, M, M}},
		{"otst left unread", replace("otst_left 0", "otst_left "), goodBuilds(), []string{M, M, I, M, M}},
		{"no builds", good, builds{}, []string{M, M, M, I, I}},
		{"zero build time", good, builds{cold: []time.Duration{0}, make: []time.Duration{time.Second}, hit: []time.Duration{0}}, []string{M, M, M, I, I}},
		// Valid figures that miss their targets.
		{"counting too dear", goodGuest(with(goodCosts, "count", 4300), 200), goodBuilds(), []string{X, M, M, M, M}},
		{"emitting dearer than tracefs", goodGuest(with(goodCosts, "emit", 12000), 200), goodBuilds(), []string{M, X, M, M, M}},
		{"otst probe left", replace("otst_left 0", "otst_left 1"), goodBuilds(), []string{M, M, X, M, M}},
		{"otst still costs", goodGuest(with(goodCosts, "otst_fired", 50), 200), goodBuilds(), []string{M, M, X, M, M}},
		{"cold build slow", good, builds{cold: []time.Duration{4 * time.Second}, make: []time.Duration{3 * time.Second}, hit: goodBuilds().hit}, []string{M, M, M, X, M}},
		{"cache hit slow", good, builds{cold: goodBuilds().cold, make: goodBuilds().make, hit: []time.Duration{60 * time.Millisecond}}, []string{M, M, M, M, X}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := evaluate(parseGuest(tt.guest), tt.builds)
			status := map[string]string{}
			for _, r := range rep.rows {
				status[r.label] = r.status
			}
			var got []string
			for _, l := range verdictRows {
				got = append(got, status[l])
			}
			var out bytes.Buffer
			rep.print(&out, "debian-6.1", "6.1.0-57-amd64", "kretprobe.yaml", 3)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("verdicts %q, want %q\n%s", got, tt.want, out.String())
			}
			allMet := strings.Count(strings.Join(tt.want, ","), M) == len(tt.want)
			if err := rep.err(); (err == nil) != allMet {
				t.Errorf("err = %v; want an error iff a verdict is not met\n%s", err, out.String())
			}
			if strings.Contains(strings.Join(tt.want, ","), I) && (!strings.Contains(out.String(), "| invalid |") || !strings.Contains(out.String(), "Invalid figures:")) {
				t.Errorf("table does not say invalid and why:\n%s", out.String())
			}
		})
	}
}

// TestGuestScriptFaults checks that each fault really breaks what it
// names, and that an unknown one is refused.
func TestGuestScriptFaults(t *testing.T) {
	good, err := guestScript("", hits, true)
	if err != nil {
		t.Fatal(err)
	}
	for fault, gone := range map[string]string{"notimer": "/proc/timer_list", "nocounters": "kgen unload " + countName + " >/tmp/unload.txt"} {
		s, err := guestScript(fault, hits, true)
		if err != nil || s == good || strings.Contains(s, gone) || !strings.Contains(good, gone) {
			t.Errorf("fault %s: err %v; the script still has %q or the healthy one lacks it", fault, err, gone)
		}
	}
	if _, err := guestScript("nope", hits, true); err == nil {
		t.Error("unknown fault accepted")
	}
	// Every run and fact the verdicts need is printed by the script.
	for _, k := range []string{"run $1 $a $b", "warmup", "base1", "base2", "fact floor_nmissed", "tracefs_hits", "tracefs_nmissed", "fact otst_left", "KGBENCH unload ", "KGBENCH done"} {
		if !strings.Contains(good, k) {
			t.Errorf("guest script does not print %q", k)
		}
	}
	for _, c := range configs {
		if !strings.Contains(good, "measure "+c.key+"\n") {
			t.Errorf("guest script does not measure %s", c.key)
		}
	}
}

// TestEvaluateEntryStacks checks the entry-only and stack rows' verdicts.
func TestEvaluateEntryStacks(t *testing.T) {
	rows := []string{"kgen entry-only probe (a kprobe), counting (events off)", "kgen entry-only probe (a kprobe), emitting its event",
		"kgen entry-only probe counting stacks in the module"}
	good := goodGuest(goodCosts, 200) + goodPL(goodPLCosts, 0)
	tests := []struct {
		name, guest string
		want        []string
	}{
		{"healthy", good, []string{met, met, met}},
		{"entry counting too dear", goodGuest(with(goodCosts, "ecount", 2300), 200) + goodPL(goodPLCosts, 0), []string{missed, met, met}},
		{"entry emitting dearer than p:", goodGuest(with(goodCosts, "eemit", 9000), 200) + goodPL(goodPLCosts, 0), []string{met, missed, met}},
		{"kprobe floor missed", strings.Replace(good, "kfloor_nmissed 0", "kfloor_nmissed 3", 1), []string{invalid, met, met}},
		{"no entry counters", regexp.MustCompile(`(?m)^KGBENCH eunload .*\n`).ReplaceAllString(good, ""), []string{invalid, invalid, met}},
		{"stacks dropped", strings.Replace(good, "stacks_dropped 0", "stacks_dropped 5", 1), []string{met, met, invalid}},
		{"stack table short", strings.Replace(good, "stacks_sum 200003", "stacks_sum 199999", 1), []string{met, met, invalid}},
		{"stacks dearer than events", goodGuest(with(goodCosts, "stacks", 21000), 200) + goodPL(goodPLCosts, 0), []string{met, met, missed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := evaluate(parseGuest(tt.guest), goodBuilds())
			status := map[string]string{}
			for _, r := range rep.rows {
				status[r.label] = r.status
			}
			for i, l := range rows {
				if status[l] != tt.want[i] {
					t.Errorf("%s: %q, want %q (why: %q)", l, status[l], tt.want[i], rep.why)
				}
			}
		})
	}
}
