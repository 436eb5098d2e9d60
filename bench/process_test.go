package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// goodPR is the process part of a healthy guest's output: each run's
// instructions per call, the baselines' drift.
func goodPR(v map[string]float64, drift float64) string {
	var b strings.Builder
	f := func(k string, x float64) { fmt.Fprintf(&b, "KGBENCH fact pr_%s %.2f\n", k, x) }
	f("base1", v["base"])
	b.WriteString("KGBENCH fact pr_others_exclusive 1\n")
	f("others", v["others"])
	f("followed", v["followed"])
	b.WriteString("KGBENCH fact pr_followed_calls 200000\nKGBENCH fact pr_followed_exits 200004\n")
	f("followed_entry", v["followed_entry"])
	b.WriteString("KGBENCH fact pr_followed_entry_enters 200010\n")
	f("followed_nosys", v["followed_nosys"])
	b.WriteString("KGBENCH fact pr_shared_exclusive 0\n")
	f("others_shared", v["others_shared"])
	f("ftrace", v["ftrace"])
	f("base2", v["base"]+drift)
	b.WriteString("KGBENCH fact pr_status 0\n")
	return b.String()
}

// Instructions per getppid, about as measured on 6.1.
var goodPRCosts = map[string]float64{"base": 365.2, "others": 365.3, "followed": 1396.3, "followed_entry": 2057.6,
	"followed_nosys": 365.3, "others_shared": 1195.6, "ftrace": 1731.5}

func TestEvaluateProcess(t *testing.T) {
	head := goodGuest(goodCosts, 200) + goodPL(goodPLCosts, 0)
	good := head + goodPR(goodPRCosts, 0)
	with := func(k string, x float64) string {
		c := map[string]float64{}
		for a, b := range goodPRCosts {
			c[a] = b
		}
		c[k] = x
		return head + goodPR(c, 0)
	}
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	drop := func(re string) string { return regexp.MustCompile(`(?m)^`+re+`\n`).ReplaceAllString(good, "") }
	label := map[string]string{}
	for _, c := range prRuns {
		label[c.key] = c.label
	}
	rows := []string{label["others"], label["followed"], label["followed_entry"], label["followed_nosys"], label["others_shared"]}
	const (
		M = met
		X = missed
		I = invalid
		K = okFact
	)
	tests := []struct {
		name, guest string
		want        []string
	}{
		{"healthy", good, []string{M, M, K, M, K}},
		{"others pay 4%", with("others", 380), []string{X, M, K, M, K}},
		{"followed dearer than ftrace", with("followed", 1800), []string{M, X, K, M, K}},
		{"followed, syscalls off, pays 5%", with("followed_nosys", 384), []string{M, M, K, X, K}},
		{"no process part", head, []string{I, I, I, I, I}},
		{"script failed", replace("pr_status 0", "pr_status 2"), []string{I, I, I, I, I}},
		{"baseline drift", head + goodPR(goodPRCosts, 3), []string{I, I, I, I, I}},
		{"missing base2", drop(`KGBENCH fact pr_base2 .*`), []string{I, I, I, I, I}},
		{"flag not cleared", replace("pr_others_exclusive 1", "pr_others_exclusive 0"), []string{I, M, K, M, K}},
		{"calls miscounted", replace("pr_followed_calls 200000", "pr_followed_calls 199000"), []string{M, I, K, M, K}},
		{"exit events missing", replace("pr_followed_exits 200004", "pr_followed_exits 100"), []string{M, I, K, M, K}},
		{"entry events missing", replace("pr_followed_entry_enters 200010", "pr_followed_entry_enters 7"), []string{M, M, I, M, K}},
		{"flag not given back", replace("pr_shared_exclusive 0", "pr_shared_exclusive 1"), []string{M, M, K, M, I}},
		{"no ftrace reference", drop(`KGBENCH fact pr_ftrace .*`), []string{M, I, I, M, K}},
		{"unparsable figure", replace("pr_followed 1396.30", "pr_followed x"), []string{M, I, K, M, K}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := evaluate(parseGuest(tt.guest), goodBuilds())
			status := map[string]string{}
			for _, r := range rep.pr {
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
		})
	}
}

// TestGuestScriptProcess checks that the main script runs the process
// part and that the part prints every fact the verdicts need.
func TestGuestScriptProcess(t *testing.T) {
	s, err := guestScript("", hits, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "sh "+prDir+"/guest.sh") {
		t.Errorf("the guest script does not run the process part:\n%s", s)
	}
	part, err := testdata.ReadFile("testdata/process/guest.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range prRuns {
		if !regexp.MustCompile(`(?m)^\s*[LF] ` + c.key + `\b`).Match(part) {
			t.Errorf("the process part never runs %s", c.key)
		}
	}
	for _, k := range []string{"L base1", "L base2", "pr_status $fail", "pr_others_exclusive", "pr_followed_calls",
		"pr_followed_exits", "pr_followed_entry_enters", "pr_shared_exclusive"} {
		if !strings.Contains(string(part), k) {
			t.Errorf("the process part lacks %q", k)
		}
	}
}
