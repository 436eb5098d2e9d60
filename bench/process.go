package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

// The process kind's part of the benchmark (testdata/process/guest.sh):
// a loop of prN getppid calls, timed by the loop itself (guest time is
// instructions under --icount), under each configuration.
const (
	prN = 200000
	// prOthersMax is issue 15's bound for what a process pays that the
	// tracer does not follow, and for a followed one with syscall tracing
	// off: at most 1.03x its untraced cost.
	prOthersMax = 1.03
	// prDriftMax bounds the baseline drift as a share of the baseline.
	prDriftMax = 0.005
)

// prRuns are the configurations, in the guest's order (the baselines
// pr_base1 and pr_base2 come first and last).
var prRuns = []struct{ key, label string }{
	{"others", "a process not followed, the tracer following another tree, syscalls on"},
	{"followed", "followed, every syscall traced (one event per call, at exit)"},
	{"followed_entry", "followed, every syscall traced with trace_syscall_entry=1 (two events per call)"},
	{"followed_nosys", "followed, trace_syscalls=0 (lifecycle and signals only)"},
	{"others_shared", "a process not followed, ftrace raw_syscalls enabled too (kgen gives the flag back)"},
	{"ftrace", "ftrace raw_syscalls, set_event_pid on the loop (the reference)"},
}

type prRow struct {
	label, call, extra, target, ratio, status string
}

// prValue reads the loop's figure of run key.
func (g guest) prValue(key string, r *report) (float64, bool) {
	s, ok := g.facts["pr_"+key]
	if !ok {
		r.invalidf("pr_%s missing (the process part of the guest script stopped early)", key)
		return math.NaN(), false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		r.invalidf("pr_%s = %q; want a positive number", key, s)
		return math.NaN(), false
	}
	return v, true
}

// evaluateProcess validates the process part and adds its rows. Every
// figure rests on: the part's script having run without a failed step;
// both baselines and their drift (at most prDriftMax of the baseline);
// the module's own counters showing what each row claims (the followed
// loop's getppid calls counted exactly, its exit events written, the
// entry events too with trace_syscall_entry; the flag cleared on tasks
// not followed while kgen was the sole user, and given back when ftrace
// came).
func evaluateProcess(g guest, r *report) {
	is := func(m int64) func(int64) bool { return func(n int64) bool { return n == m } }
	atLeast := func(m int64) func(int64) bool { return func(n int64) bool { return n >= m } }
	fct := func(key string, ok func(int64) bool, want string) bool {
		n, valid := g.count("pr_"+key, r)
		if valid && !ok(n) {
			r.invalidf("pr_%s = %d; want %s", key, n, want)
			return false
		}
		return valid
	}
	statusOK := fct("status", is(0), "0 failed steps in the process part (last failed: "+g.facts["pr_failed"]+")")
	b1, ok1 := g.prValue("base1", r)
	b2, ok2 := g.prValue("base2", r)
	base := (b1 + b2) / 2
	drift := math.Abs(b2 - b1)
	steady := statusOK && ok1 && ok2 && drift <= prDriftMax*base
	if ok1 && ok2 && drift > prDriftMax*base {
		r.invalidf("process baseline drift %.2f instr/call exceeds %.1f%% of the baseline (%.1f)", drift, 100*prDriftMax, base)
	}
	v := map[string]float64{}
	ok := map[string]bool{}
	for _, c := range prRuns {
		v[c.key], ok[c.key] = g.prValue(c.key, r)
		ok[c.key] = ok[c.key] && steady
	}
	n := fmt.Sprint(prN)
	ok["others"] = ok["others"] && fct("others_exclusive", is(1), "1 (kgen the sole user: the flag cleared on tasks not followed)")
	ok["followed"] = ok["followed"] && fct("followed_calls", is(prN), n) && fct("followed_exits", atLeast(prN), ">= "+n)
	ok["followed_entry"] = ok["followed_entry"] && fct("followed_entry_enters", atLeast(prN), ">= "+n)
	ok["others_shared"] = ok["others_shared"] && fct("shared_exclusive", is(0), "0 (the flag given back for ftrace)")

	r.addPR(prRow{label: "baseline, untraced (first / last)", call: fmt.Sprintf("%.1f / %.1f", b1, b2), status: fact(ok1 && ok2 && statusOK)})
	r.addPR(prRow{label: "baseline drift (last - first)", call: fmt.Sprintf("%.2f", drift),
		target: fmt.Sprintf("<= %.1f%% of the baseline (%.2f)", 100*prDriftMax, prDriftMax*base), status: fact(steady)})
	ft := v["ftrace"] - base
	for _, c := range prRuns {
		x := prRow{label: c.label, call: fmt.Sprintf("%.1f", v[c.key]), extra: fmt.Sprintf("%+.1f", v[c.key]-base)}
		switch c.key {
		case "others", "followed_nosys":
			rt := v[c.key] / base
			x.target = fmt.Sprintf("<= %.2f x untraced", prOthersMax)
			x.ratio = fmt.Sprintf("%.3f x untraced", rt)
			x.status = verdict(ok[c.key], rt <= prOthersMax)
		case "followed":
			rt := (v[c.key] - base) / ft
			x.target = "extra < ftrace's extra"
			x.ratio = fmt.Sprintf("%.2f x ftrace, %.2f x untraced", rt, v[c.key]/base)
			x.status = verdict(ok[c.key] && ok["ftrace"], rt < 1)
		case "followed_entry":
			x.ratio = fmt.Sprintf("%.2f x ftrace, %.2f x untraced", (v[c.key]-base)/ft, v[c.key]/base)
			x.status = fact(ok[c.key] && ok["ftrace"])
		default:
			x.ratio = fmt.Sprintf("%.2f x untraced", v[c.key]/base)
			x.status = fact(ok[c.key])
		}
		r.addPR(x)
	}
}

func (r *report) addPR(x prRow) { r.pr = append(r.pr, x) }

func (r *report) printPR(w io.Writer) {
	if len(r.pr) == 0 {
		return
	}
	fmt.Fprintf(w, "\nProcess kind: the same boot; a loop of %d `getppid` calls times itself (instructions per call); "+
		"extra = the run - the mean of the first and last untraced runs.\n\n", prN)
	fmt.Fprintln(w, "| measurement | instr/call | extra | target | ratio | status |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, x := range r.pr {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", x.label, x.call, x.extra, x.target, x.ratio, x.status)
	}
}
