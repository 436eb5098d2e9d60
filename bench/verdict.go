package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bounds the figures must meet before any verdict is drawn from them.
const (
	// maxDrift bounds the baseline drift (last - first unprobed run, per
	// hit) as a share of the smallest probe cost measured: beyond it the
	// run-to-run noise is no longer far below what is measured.
	maxDrift = 0.01
	// cacheHitTarget and the other targets are the README's.
	cacheHitTarget = 50 * time.Millisecond
	coldVsMake     = 1.15
	countVsFloor   = 1.1
	otstVsFloor    = 0.01
)

// guest is what the benchmark VM printed, unvalidated: the raw start and
// end of each run, the facts and kgen unload's table.
type guest struct {
	runs    map[string][2]string // key -> timer "now" before and after
	facts   map[string]string
	unload  []string // kgen unload's counters table, line by line
	eunload []string // the same for the entry-only module
	sunload []string // the same for the stack event module
	done    bool
}

// parseGuest reads the KGBENCH lines of the guest's output and ignores
// the rest. It keeps values as text: evaluate decides what is valid.
func parseGuest(out string) guest {
	g := guest{runs: map[string][2]string{}, facts: map[string]string{}}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		rest, ok := strings.CutPrefix(l, "KGBENCH ")
		if !ok {
			continue
		}
		what, rest, _ := strings.Cut(rest, " ")
		f := strings.Fields(rest)
		switch what {
		case "run":
			var r [2]string
			if len(f) > 1 {
				r[0] = f[1]
			}
			if len(f) > 2 {
				r[1] = f[2]
			}
			if len(f) > 0 {
				g.runs[f[0]] = r
			}
		case "fact":
			if len(f) > 0 {
				g.facts[f[0]] = strings.Join(f[1:], " ")
			}
		case "unload":
			g.unload = append(g.unload, rest)
		case "eunload":
			g.eunload = append(g.eunload, rest)
		case "sunload":
			g.sunload = append(g.sunload, rest)
		case "done":
			g.done = true
		}
	}
	return g
}

// builds are the host wall times of part B.
type builds struct {
	cold, make, hit []time.Duration
}

// Statuses of a row.
const (
	met     = "met"
	missed  = "**MISSED**"
	invalid = "invalid"
	okFact  = "ok"
)

type row struct {
	label, value, target, ratio, status string
}

// report is the table and why any of it is invalid.
type report struct {
	rows []row
	pl   []plRow  // the payload kind's table
	pr   []prRow  // the process kind's table
	plFn string   // the kmalloc function of its workload
	why  []string // reasons for the invalid rows
	// extra is each configuration's extra instructions per hit, valid
	// when probes (timer, baselines and drift checked).
	extra  map[string]float64
	probes bool
}

func (r *report) add(label, value, target, ratio, status string) {
	r.rows = append(r.rows, row{label, value, target, ratio, status})
}

func (r *report) invalidf(format string, a ...any) {
	r.why = append(r.why, fmt.Sprintf(format, a...))
}

// verdict is met or missed when valid, else invalid.
func verdict(valid, ok bool) string {
	switch {
	case !valid:
		return invalid
	case ok:
		return met
	}
	return missed
}

// fact is met-style status for a row that is a validity check only.
func fact(ok bool) string {
	if ok {
		return okFact
	}
	return invalid
}

// err is non-nil when a target is missed or a figure invalid.
func (r *report) err() error {
	var nMissed, nInvalid int
	var st []string
	for _, row := range r.rows {
		st = append(st, row.status)
	}
	for _, row := range r.pl {
		st = append(st, row.status)
	}
	for _, row := range r.pr {
		st = append(st, row.status)
	}
	for _, s := range st {
		switch s {
		case missed:
			nMissed++
		case invalid:
			nInvalid++
		}
	}
	if nMissed+nInvalid == 0 {
		return nil
	}
	return fmt.Errorf("%d target(s) missed, %d row(s) invalid (see the table and its invalid figures)", nMissed, nInvalid)
}

// duration validates one run: both timer reads are integers, the first
// is positive and the second later.
func (g guest) duration(key string, r *report) (float64, bool) {
	raw, ok := g.runs[key]
	if !ok {
		r.invalidf("no %s run in the guest output", key)
		return 0, false
	}
	a, errA := strconv.ParseInt(raw[0], 10, 64)
	b, errB := strconv.ParseInt(raw[1], 10, 64)
	if errA != nil || errB != nil || a <= 0 || b <= a {
		r.invalidf("%s: timer read %q then %q; want two increasing positive ns counts", key, raw[0], raw[1])
		return 0, false
	}
	return float64(b - a), true
}

// count parses a non-negative integer fact.
func (g guest) count(key string, r *report) (int64, bool) {
	v, ok := g.facts[key]
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || n < 0 {
		r.invalidf("%s = %q; want a count", key, v)
		return 0, false
	}
	return n, true
}

// counters reads kgen unload's table: a header row starting with
// "probe", then the vfs_read row; columns by name.
func (g guest) counters(r *report) (map[string]int64, bool) {
	return tableCounters(g.unload, r)
}

func tableCounters(unload []string, r *report) (map[string]int64, bool) {
	var head []string
	for _, l := range unload {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "probe" {
			head = f
			continue
		}
		if f[0] != "vfs_read" || head == nil {
			continue
		}
		if len(f) != len(head) {
			r.invalidf("kgen unload row %q does not match its header %q", l, strings.Join(head, " "))
			return nil, false
		}
		c := map[string]int64{}
		for i := 1; i < len(f); i++ {
			if n, err := strconv.ParseInt(f[i], 10, 64); err == nil && n >= 0 {
				c[head[i]] = n
			}
		}
		for _, k := range []string{"hits", "nmissed", "emitted"} {
			if _, ok := c[k]; !ok {
				r.invalidf("kgen unload's table has no %s count for vfs_read: %q", k, unload)
				return nil, false
			}
		}
		return c, true
	}
	r.invalidf("no vfs_read counters in kgen unload's output %q", unload)
	return nil, false
}

func positive(d []time.Duration) bool {
	for _, x := range d {
		if x <= 0 {
			return false
		}
	}
	return len(d) > 0
}

// evaluate validates every figure and derives the table. A verdict is met
// or missed only when everything it rests on is valid:
//   - the timer: every run has two increasing positive readings;
//   - the baselines: both present, and their drift (per hit) at most
//     maxDrift of the smallest probe cost, every probe cost positive;
//   - the probes saw every read: the kgen module's hits >= 2 runs of the
//     workload with nmissed 0 (and emitted >= one run), the tracefs probe's
//     hits read back >= one run with nmissed 0, the floor's nmissed 0;
//   - otst: the count of vfs_read kprobes left was read;
//   - build times: at least one run of each, all positive.
func evaluate(g guest, bt builds) *report {
	r := &report{}
	evaluateProbes(g, r, hits)
	evaluatePayload(g, r)
	evaluateProcess(g, r)
	evaluateBuilds(r, bt)
	return r
}

// evaluateProbes adds the probe-cost rows (part A) of a guest whose runs
// read n bytes each, and keeps the extra instructions per hit in r.extra
// (valid when r.probes).
func evaluateProbes(g guest, r *report, n int64) {
	nf := float64(n)
	b1, ok1 := g.duration("base1", r)
	b2, ok2 := g.duration("base2", r)
	base := (b1 + b2) / 2
	timed := ok1 && ok2
	extra := map[string]float64{}
	for _, c := range configs {
		d, ok := g.duration(c.key, r)
		timed = timed && ok
		extra[c.key] = (d - base) / nf
	}
	fl, ct, em, tr := extra["floor"], extra["count"], extra["emit"], extra["tracefs"]
	drift := math.Abs(b2-b1) / nf
	costs := timed
	smallest := math.Inf(1)
	if timed {
		for _, k := range []string{"floor", "count", "emit", "tracefs", "kfloor", "ecount", "eemit", "tracefs_p", "stacks", "stackev"} {
			if extra[k] <= 0 {
				r.invalidf("%s costs %.1f instr/hit; a probe cannot be free", k, extra[k])
				costs = false
			}
			smallest = min(smallest, extra[k])
		}
	}
	steady := costs && drift <= maxDrift*smallest
	if costs && !steady {
		r.invalidf("baseline drift %.2f instr/hit exceeds %.0f%% of the smallest probe cost (%.1f)", drift, 100*maxDrift, smallest)
	}
	probes := timed && steady

	floorMissed, floorOK := g.count("floor_nmissed", r)
	if floorOK && floorMissed != 0 {
		r.invalidf("the floor kretprobe missed %d hits", floorMissed)
		floorOK = false
	}
	c, countersOK := g.counters(r)
	if countersOK && (c["hits"] < 2*n || c["nmissed"] != 0 || c["emitted"] < n) {
		r.invalidf("kgen module counters hits %d, nmissed %d, emitted %d; want hits >= %d, nmissed 0, emitted >= %d",
			c["hits"], c["nmissed"], c["emitted"], 2*n, n)
		countersOK = false
	}
	trHits, ok := g.count("tracefs_hits", r)
	trMissed, ok2 := g.count("tracefs_nmissed", r)
	tracefsOK := ok && ok2 && trHits >= n && trMissed == 0
	if ok && ok2 && !tracefsOK {
		r.invalidf("tracefs probe hits %d, nmissed %d; want hits >= %d, nmissed 0", trHits, trMissed, n)
	}
	left, leftOK := g.count("otst_left", r)

	r.add("baseline, unprobed (first / last / mean)", fmt.Sprintf("%.0f / %.0f / %.0f ns", b1, b2, base), "", "", fact(ok1 && ok2))
	driftTarget := fmt.Sprintf("<= %.0f%% of the smallest probe cost", 100*maxDrift)
	if costs {
		driftTarget += fmt.Sprintf(" (%.2f)", maxDrift*smallest)
	}
	r.add("baseline drift (last - first)", fmt.Sprintf("%.2f instr/hit", drift), driftTarget, "", fact(probes))
	r.add(configs[0].label, fmt.Sprintf("%.0f instr/hit (nmissed %s)", fl, g.facts["floor_nmissed"]), "nmissed 0", "", fact(probes && floorOK))
	r.add(configs[1].label, fmt.Sprintf("%.0f instr/hit", ct), fmt.Sprintf("<= %.1f x floor (%.0f)", countVsFloor, countVsFloor*fl),
		fmt.Sprintf("%.2f x floor", ct/fl), verdict(probes && floorOK && countersOK, ct <= countVsFloor*fl))
	r.add(configs[2].label, fmt.Sprintf("%.0f instr/hit", em), fmt.Sprintf("<= tracefs `r:` (%.0f)", tr),
		fmt.Sprintf("%.2f x tracefs", em/tr), verdict(probes && countersOK && tracefsOK, em <= tr))
	r.add(configs[3].label, fmt.Sprintf("%.0f instr/hit (hits %s, nmissed %s)", tr, g.facts["tracefs_hits"], g.facts["tracefs_nmissed"]),
		fmt.Sprintf("hits >= %d, nmissed 0", n), "", fact(probes && tracefsOK))
	r.add("kgen module counters at unload (count + emit runs)", fmt.Sprintf("hits %d, emitted %d, nmissed %d", c["hits"], c["emitted"], c["nmissed"]),
		fmt.Sprintf("hits >= %d, emitted >= %d, nmissed 0", 2*n, n), "", fact(countersOK))
	oi, of := extra["otst_idle"], extra["otst_fired"]
	r.add(configs[4].label, fmt.Sprintf("%.1f instr/hit", oi), "", fmt.Sprintf("%.3f x floor", oi/fl), "")
	r.add(configs[5].label, fmt.Sprintf("%.1f instr/hit, %s vfs_read kprobes left", of, g.facts["otst_left"]),
		fmt.Sprintf("<= %.2f x floor (%.1f), none left", otstVsFloor, otstVsFloor*fl), fmt.Sprintf("%.3f x floor", of/fl),
		verdict(probes && floorOK && leftOK, of <= otstVsFloor*fl && left == 0))
	evaluateEntry(g, r, extra, probes, n)
	evaluateStacks(g, r, extra, probes, n)
	r.extra, r.probes = extra, probes
}

// evaluateBuilds adds the build time rows (part B).
func evaluateBuilds(r *report, bt builds) {
	cold, mk, hit := median(bt.cold), median(bt.make), median(bt.hit)
	buildsOK := positive(bt.cold) && positive(bt.make)
	if !buildsOK {
		r.invalidf("build timings cold %v, plain make %v; want at least one positive each", bt.cold, bt.make)
	}
	hitOK := positive(bt.hit)
	if !hitOK {
		r.invalidf("cache hit timings %v; want at least one positive", bt.hit)
	}
	r.add("kgen build, cold (fresh cache)", fmt.Sprintf("%s (%s)", ms(cold), msList(bt.cold)),
		fmt.Sprintf("<= %.2f x plain make (%s)", coldVsMake, ms(time.Duration(coldVsMake*float64(mk)))),
		fmt.Sprintf("%.2f x make", float64(cold)/float64(mk)), verdict(buildsOK, float64(cold) <= coldVsMake*float64(mk)))
	r.add("plain make on the generated tree (probes included)", fmt.Sprintf("%s (%s)", ms(mk), msList(bt.make)), "", "", "")
	r.add("kgen build, cache hit (whole process)", fmt.Sprintf("%s (%s)", ms(hit), msList(bt.hit)), "<= "+ms(cacheHitTarget),
		fmt.Sprintf("%.2f x target", float64(hit)/float64(cacheHitTarget)), verdict(hitOK, hit <= cacheHitTarget))
}

func (r *report) print(w io.Writer, kernel, release, spec string, runs int) {
	fmt.Fprintf(w, "\n## kgen bench: %s (%s)\n\n", kernel, release)
	fmt.Fprintf(w, "Probe cost: one `kgen vm --icount` boot (1 instruction = 1 ns), workload `%s` (%d vfs_read hits); "+
		"extra instructions per hit = (t - baseline) / %d, baseline = mean of the first and last unprobed runs. "+
		"Build times: host wall time of %s, median of %d runs. "+
		"A verdict whose figures fail validation says invalid.\n\n", fmt.Sprintf("dd if=/dev/zero of=/dev/null bs=1 count=%d", hits), hits, hits, spec, runs)
	fmt.Fprintln(w, "| measurement | value | target | ratio | status |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, x := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", x.label, x.value, x.target, x.ratio, x.status)
	}
	r.printPL(w)
	r.printPR(w)
	if len(r.why) > 0 {
		fmt.Fprintln(w, "\nInvalid figures:")
		for _, y := range r.why {
			fmt.Fprintf(w, "- %s\n", y)
		}
	}
}

// evaluateEntry adds the entry-only probe's rows: its floor (an empty
// kprobe), the kgen module counting and emitting, and tracefs p:.
func evaluateEntry(g guest, r *report, extra map[string]float64, probes bool, n int64) {
	label := map[string]string{}
	for _, c := range configs {
		label[c.key] = c.label
	}
	fl, ct, em, tr := extra["kfloor"], extra["ecount"], extra["eemit"], extra["tracefs_p"]
	floorMissed, floorOK := g.count("kfloor_nmissed", r)
	if floorOK && floorMissed != 0 {
		r.invalidf("the floor kprobe missed %d hits", floorMissed)
		floorOK = false
	}
	c, countersOK := tableCounters(g.eunload, r)
	if countersOK && (c["hits"] < 2*n || c["nmissed"] != 0 || c["emitted"] < n) {
		r.invalidf("entry-only module counters hits %d, nmissed %d, emitted %d; want hits >= %d, nmissed 0, emitted >= %d",
			c["hits"], c["nmissed"], c["emitted"], 2*n, n)
		countersOK = false
	}
	trHits, ok := g.count("tracefs_p_hits", r)
	trMissed, ok2 := g.count("tracefs_p_nmissed", r)
	tracefsOK := ok && ok2 && trHits >= n && trMissed == 0
	if ok && ok2 && !tracefsOK {
		r.invalidf("tracefs p: probe hits %d, nmissed %d; want hits >= %d, nmissed 0", trHits, trMissed, n)
	}
	r.add(label["kfloor"], fmt.Sprintf("%.0f instr/hit (nmissed %s)", fl, g.facts["kfloor_nmissed"]), "nmissed 0", "", fact(probes && floorOK))
	r.add(label["ecount"], fmt.Sprintf("%.0f instr/hit", ct), fmt.Sprintf("<= %.1f x kprobe floor (%.0f)", countVsFloor, countVsFloor*fl),
		fmt.Sprintf("%.2f x floor", ct/fl), verdict(probes && floorOK && countersOK, ct <= countVsFloor*fl))
	r.add(label["eemit"], fmt.Sprintf("%.0f instr/hit", em), fmt.Sprintf("<= tracefs `p:` (%.0f)", tr),
		fmt.Sprintf("%.2f x tracefs", em/tr), verdict(probes && countersOK && tracefsOK, em <= tr))
	r.add(label["tracefs_p"], fmt.Sprintf("%.0f instr/hit (hits %s, nmissed %s)", tr, g.facts["tracefs_p_hits"], g.facts["tracefs_p_nmissed"]),
		fmt.Sprintf("hits >= %d, nmissed 0", n), "", fact(probes && tracefsOK))
	r.add("entry-only module counters at unload (count + emit runs)", fmt.Sprintf("hits %d, emitted %d, nmissed %d", c["hits"], c["emitted"], c["nmissed"]),
		fmt.Sprintf("hits >= %d, emitted >= %d, nmissed 0", 2*n, n), "", fact(countersOK))
}

// evaluateStacks adds the stack rows: counting stacks in the module (every
// hit in the table, none dropped) against emitting a stack event per hit.
func evaluateStacks(g guest, r *report, extra map[string]float64, probes bool, n int64) {
	label := map[string]string{}
	for _, c := range configs {
		label[c.key] = c.label
	}
	st, ev := extra["stacks"], extra["stackev"]
	sum, ok1 := g.count("stacks_sum", r)
	dropped, ok2 := g.count("stacks_dropped", r)
	tableOK := ok1 && ok2 && sum >= n && dropped == 0
	if ok1 && ok2 && !tableOK {
		r.invalidf("stack table holds %d hits, dropped %d; want >= %d, dropped 0", sum, dropped, n)
	}
	c, evOK := tableCounters(g.sunload, r)
	if evOK && (c["nmissed"] != 0 || c["emitted"] < n) {
		r.invalidf("stack event module emitted %d, nmissed %d; want emitted >= %d, nmissed 0", c["emitted"], c["nmissed"], n)
		evOK = false
	}
	r.add(label["stacks"], fmt.Sprintf("%.0f instr/hit (table: %s hits, %s dropped)", st, g.facts["stacks_sum"], g.facts["stacks_dropped"]),
		"< emitting a stack event, none dropped", fmt.Sprintf("%.2f x stack event", st/ev), verdict(probes && tableOK && evOK, st < ev))
	r.add(label["stackev"], fmt.Sprintf("%.0f instr/hit (emitted %d, nmissed %d)", ev, c["emitted"], c["nmissed"]), "", "", fact(probes && evOK))
}
