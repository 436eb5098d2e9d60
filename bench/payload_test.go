package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// goodPL is the payload part of a healthy guest's output: the extra
// instructions per pair of each run and the baselines' drift (total).
func goodPL(extra map[string]int64, drift int64) string {
	const base = 325
	var b strings.Builder
	at := int64(5_000_000_000)
	run := func(key string, pairs, perPair, add int64) {
		d := pairs*perPair + add
		fmt.Fprintf(&b, "KGBENCH run pl_%s %d %d\n", key, at, at+d)
		null := int64(0)
		if key == "fault" {
			null = pairs
		}
		fmt.Fprintf(&b, "KGBENCH fact pl_%s_pairs %d\nKGBENCH fact pl_%s_null %d\n", key, pairs, key, null)
		at += 2 * d
	}
	stats := func(key string, calls, passed, fcalls, fpassed, fired, faults, hooked int64) {
		fmt.Fprintf(&b, "KGBENCH fact pl_%s_alloc_calls %d\nKGBENCH fact pl_%s_alloc_passed %d\n", key, calls, key, passed)
		if hooked == 2 {
			fmt.Fprintf(&b, "KGBENCH fact pl_%s_free_calls %d\nKGBENCH fact pl_%s_free_passed %d\n", key, fcalls, key, fpassed)
		}
		fmt.Fprintf(&b, "KGBENCH fact pl_%s_fired %d\nKGBENCH fact pl_%s_faults %d\nKGBENCH fact pl_%s_hooked %d\n", key, fired, key, faults, key, hooked)
	}
	b.WriteString("KGBENCH fact pl_alloc_fn kmalloc_trace\n")
	run("warmup", plPairs, base+3, 0)
	run("base1", plPairs, base, 0)
	run("others", plPairs, base+extra["others"], 0)
	stats("others", 1, 201290, 0, 0, 1, 0, 1)
	run("others_one", plPairs, base+extra["others_one"], 0)
	stats("others_one", 1, 201290, 0, 0, 1, 0, 1)
	run("waiting", plPairs, base+extra["waiting"], 0)
	run("others_leak", plPairs, base+extra["others_leak"], 0)
	stats("others_leak", 1, 201290, 3, 412000, 0, 0, 2)
	run("kprobe", plPairs, base+extra["kprobe"], 0)
	b.WriteString("KGBENCH fact pl_kprobe_nmissed 0\n")
	run("trace", plPairs, base+extra["trace"], 0)
	stats("trace", 201000, 0, 0, 0, 201000, 0, 1)
	b.WriteString("KGBENCH fact pl_trace_events 201000\n")
	run("dump_off", plPairs, base+extra["dump_off"], 0)
	stats("dump_off", 201000, 0, 0, 0, 0, 0, 1)
	run("dump_on", plDumpOn, base+extra["dump_on"], 0)
	stats("dump_on", 100, 0, 0, 0, 100, 0, 1)
	run("fault", plPairs, base+extra["fault"], 0)
	stats("fault", 201000, 0, 0, 0, 201000, 201000, 1)
	run("leak", plPairs, base+extra["leak"], 0)
	stats("leak", 201000, 0, 201000, 0, 0, 0, 2)
	b.WriteString("KGBENCH fact pl_leak_possible 0\n")
	run("base2", plPairs, base, drift)
	b.WriteString("KGBENCH fact pl_status 0\n")
	return b.String()
}

// Extra instructions per pair, about as measured on 6.1.
var goodPLCosts = map[string]int64{"others": 46, "others_one": 44, "waiting": 0, "others_leak": 92, "kprobe": 312,
	"trace": 900, "dump_off": 400, "dump_on": 40000, "fault": 500, "leak": 1200}

func TestEvaluatePayload(t *testing.T) {
	good := goodGuest(goodCosts, 200) + goodPL(goodPLCosts, 0) + goodPR(goodPRCosts, 0)
	label := map[string]string{}
	for _, c := range plRuns {
		label[c.key] = c.label
	}
	var rows []string
	for _, k := range []string{"others", "others_one", "others_leak", "kprobe", "trace", "dump_on", "fault", "leak"} {
		rows = append(rows, label[k])
	}
	drop := func(re string) string { return regexp.MustCompile(`(?m)^`+re+`\n`).ReplaceAllString(good, "") }
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	with := func(k string, v int64) string {
		c := map[string]int64{}
		for a, b := range goodPLCosts {
			c[a] = b
		}
		c[k] = v
		return goodGuest(goodCosts, 200) + goodPL(c, 0) + goodPR(goodPRCosts, 0)
	}
	const (
		M = met
		X = missed
		I = invalid
		K = okFact
	)
	tests := []struct {
		name  string
		guest string
		want  []string // statuses of rows
	}{
		{"healthy", good, []string{M, M, M, K, K, K, K, K}},
		{"others over budget (5.10)", with("others", 73), []string{X, M, M, K, K, K, K, K}},
		{"leak pre-filter over budget", with("others_leak", 146), []string{M, M, X, K, K, K, K, K}},
		{"no payload part", goodGuest(goodCosts, 200), []string{I, I, I, I, I, I, I, I}},
		{"script failed", replace("pl_status 0", "pl_status 1"), []string{I, I, I, I, I, I, I, I}},
		{"missing base2", drop(`KGBENCH run pl_base2 .*`), []string{I, I, I, I, I, I, I, I}},
		{"baseline drift", goodGuest(goodCosts, 200) + goodPL(goodPLCosts, plPairs) + goodPR(goodPRCosts, 0), []string{I, I, I, I, I, I, I, I}},
		{"wrong pair count", replace("pl_others_pairs 200000", "pl_others_pairs 20000"), []string{I, M, M, K, K, K, K, K}},
		{"workload counted as brd's", replace("pl_others_alloc_calls 1\n", "pl_others_alloc_calls 201000\n"), []string{I, M, M, K, K, K, K, K}},
		{"others not passed through", replace("pl_others_alloc_passed 201290", "pl_others_alloc_passed 0"), []string{I, M, M, K, K, K, K, K}},
		{"free not hooked", replace("pl_others_leak_hooked 2", "pl_others_leak_hooked 1"), []string{M, M, I, K, K, K, K, K}},
		{"one function counted as brd's", replace("pl_others_one_alloc_calls 1\n", "pl_others_one_alloc_calls 201000\n"), []string{M, I, M, K, K, K, K, K}},
		{"one function over budget", with("others_one", 47), []string{M, X, M, K, K, K, K, K}},
		{"kprobe nmissed", replace("pl_kprobe_nmissed 0", "pl_kprobe_nmissed 401"), []string{I, I, I, I, K, K, K, K}},
		{"kprobe nmissed within 0.1%", replace("pl_kprobe_nmissed 0", "pl_kprobe_nmissed 233"), []string{M, M, M, K, K, K, K, K}},
		{"a free kprobe", with("kprobe", 0), []string{I, I, I, I, K, K, K, K}},
		{"trace events lost", replace("pl_trace_events 201000", "pl_trace_events 100"), []string{M, M, M, K, I, K, K, K}},
		{"dump_on fired too often", replace("pl_dump_on_fired 100", "pl_dump_on_fired 1100"), []string{M, M, M, K, K, I, K, K}},
		{"fault did not fault", replace("pl_fault_null 200000", "pl_fault_null 0"), []string{M, M, M, K, K, K, I, K}},
		{"leak reported", replace("pl_leak_possible 0", "pl_leak_possible 3"), []string{M, M, M, K, K, K, K, I}},
		{"missing run", drop(`KGBENCH run pl_leak .*`), []string{M, M, M, K, K, K, K, I}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := evaluate(parseGuest(tt.guest), goodBuilds())
			status := map[string]string{}
			for _, r := range rep.pl {
				status[r.label] = r.status
			}
			var got []string
			for _, l := range rows {
				got = append(got, status[l])
			}
			var out bytes.Buffer
			rep.print(&out, "debian-6.1", "6.1.0-57-amd64", "kretprobe.yaml", 3)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("statuses %q, want %q\n%s", got, tt.want, out.String())
			}
			bad := strings.Contains(strings.Join(tt.want, ","), I) || strings.Contains(strings.Join(tt.want, ","), X)
			if err := rep.err(); (err != nil) != bad {
				t.Errorf("err = %v; want an error iff a row is missed or invalid\n%s", err, out.String())
			}
			if strings.Contains(strings.Join(tt.want, ","), I) && !strings.Contains(out.String(), "Invalid figures:") {
				t.Errorf("table does not say why:\n%s", out.String())
			}
		})
	}
}

// TestGuestScriptPayload checks that the main script runs the payload
// part and that the part prints every run and fact the verdicts need.
func TestGuestScriptPayload(t *testing.T) {
	s, err := guestScript("", hits, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "sh "+plDir+"/guest.sh") {
		t.Errorf("guest script does not run the payload part:\n%s", s)
	}
	data, err := testdata.ReadFile("testdata/payload/guest.sh")
	if err != nil {
		t.Fatal(err)
	}
	g := string(data)
	for _, k := range []string{"run base1\n", "run base2\n", "pl_status $fail", "kgbench_kpfloor: \\(KGBENCH", "pl_leak_possible", "events trace ", "n=100 warm=0"} {
		if !strings.Contains(g, k) {
			t.Errorf("payload guest script lacks %q", k)
		}
	}
	for _, c := range plRuns {
		if !strings.Contains(g, "run "+c.key+"\n") && !strings.Contains(g, "run "+c.key+" ") {
			t.Errorf("payload guest script does not run %s", c.key)
		}
	}
	c, err := testdata.ReadFile("testdata/payload/kgbench_kpfloor.c")
	if err != nil || !strings.Contains(string(c), `pr_fmt(fmt) KBUILD_MODNAME ": " fmt`) || !strings.Contains(string(c), "KGBENCH fact pl_kprobe_nmissed") {
		t.Errorf("the kprobe floor does not log its nmissed with its name (%v)", err)
	}
	for _, s := range plSpecs {
		if _, err := testdata.ReadFile("testdata/payload/" + s + ".yaml"); err != nil {
			t.Errorf("spec %s: %v", s, err)
		}
	}
}

func TestAllocFn(t *testing.T) {
	for rel, want := range map[string]string{
		"5.10.0-46-amd64":      "kmem_cache_alloc_trace",
		"6.1.0-57-amd64":       "kmalloc_trace",
		"6.12.118+deb13-amd64": "__kmalloc_cache_noprof",
		"6.10.0":               "__kmalloc_cache_noprof",
	} {
		if got := allocFn(rel); got != want {
			t.Errorf("allocFn(%q) = %q, want %q", rel, got, want)
		}
	}
	one, err := testdata.ReadFile("testdata/payload/one.yaml")
	if err != nil || !strings.Contains(string(one), "- name: kmalloc_trace\n") {
		t.Errorf("one.yaml has no point kmalloc_trace for bench to replace (%v)", err)
	}
}
