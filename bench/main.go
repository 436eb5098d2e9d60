// Command bench is kgen's benchmark (make bench). It measures, on one
// kernel (debian-6.1 by default):
//
//   - the extra guest instructions per hit of vfs_read for an empty-handler
//     kretprobe (the floor), a kgen kretprobe that only counts, the same one
//     emitting its event, and a tracefs r: probe, in one --icount VM boot
//     (the README's Benchmarks section says how);
//   - in the same boot, the cost per hit left by an otst module after its
//     one-time probe on vfs_read fired: the probe is gone, so ~0;
//   - in the same boot, the payload kind's cost per kmalloc(64)+kfree pair
//     and per intercepted call: for other callers while a payload is
//     attached to brd (against empty kprobes on the same functions, the
//     issue's 0.3x budget) and for the target's own calls per action;
//   - the host wall time of a cold kgen build, of plain make on the same
//     generated tree, and of a kgen build cache hit.
//
// It prints progress to stderr and one markdown table to stdout. Every
// verdict rests on validated figures (see evaluate): one that cannot be
// trusted says invalid. A missed or invalid target makes it exit 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

//go:embed testdata/count.yaml testdata/entry.yaml testdata/stacks.yaml testdata/stackev.yaml testdata/floor/floor.c testdata/floor/kfloor.c testdata/floor/Kbuild testdata/payload testdata/process/guest.sh
var testdata embed.FS

const (
	// hits is the number of vfs_read calls of the workload on the main
	// kernel: dd with bs=1 reads one byte per read(2).
	hits = 200000
	// countName is the module name in testdata/count.yaml.
	countName = "kgbench_count"
	// entryName is the module name in testdata/entry.yaml.
	entryName = "kgbench_entry"
	// stacksName and stackevName are the modules of testdata/stacks.yaml
	// and testdata/stackev.yaml.
	stacksName  = "kgbench_stacks"
	stackevName = "kgbench_stackev"
	// floorName and kfloorName are the modules built from testdata/floor.
	floorName  = "kgbench_floor"
	kfloorName = "kgbench_kfloor"
	// otstSpec is the otst example; its module is otst.
	otstSpec = "examples/otst.yaml"
	// plDir is where the payload part's modules and script go in the guest.
	plDir = "/root/pl"
	// prDir is where the process part's module, loop and script go.
	prDir = "/root/pr"
)

type options struct {
	kernels string // $KGEN_KERNELS: holds <kernel>/{kdir,vmlinux}
	kernel  string // which kernel under kernels
	kgen    string // the kgen binary (static)
	spec    string // the spec whose build is timed
	runs    int    // build timings per kind; the median is reported
	timeout time.Duration
	keep    bool   // keep the work directory
	fault   string // break the guest script on purpose (guestScript)
	arm64   string // the arm64 kernel under kernels measured too ("" skips it)
	only    string // "" (everything), "main" or "arm64"
}

func main() {
	if err := run(os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(stdout, stderr io.Writer, args []string) error {
	var o options
	home, _ := os.UserHomeDir()
	defKernels := os.Getenv("KGEN_KERNELS")
	if defKernels == "" {
		defKernels = filepath.Join(home, ".cache", "kgen", "kernels")
	}
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&o.kernels, "kernels", defKernels, "directory of fetched kernels (scripts/fetch-kernels.sh)")
	fl.StringVar(&o.kernel, "kernel", "debian-6.1", "kernel under -kernels to measure")
	fl.StringVar(&o.kgen, "kgen", "bin/kgen", "static kgen binary (make build)")
	fl.StringVar(&o.spec, "spec", "examples/kretprobe.yaml", "spec whose build times are measured")
	fl.IntVar(&o.runs, "runs", 3, "runs of each build timing (the median is reported)")
	fl.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for the VM run")
	fl.BoolVar(&o.keep, "keep", false, "keep the work directory")
	fl.StringVar(&o.fault, "guest-fault", "", "break the guest on purpose to see bench fail: notimer (the timer read fails) or nocounters (kgen unload's counters are lost)")
	fl.StringVar(&o.arm64, "arm64", "debian-6.1-arm64", "arm64 kernel under -kernels whose probe costs are measured too, in a second boot (skipped with its reason when not fetched; empty: not measured)")
	fl.StringVar(&o.only, "only", "", "run one part only: main (-kernel's boot and the build times) or arm64 (-arm64's probe costs)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("parse arguments: unexpected %q; bench takes flags only", fl.Args())
	}
	if o.runs < 1 {
		return errors.New("parse arguments: -runs must be at least 1")
	}
	if _, err := guestScript(o.fault, hits, true); err != nil {
		return err
	}
	switch o.only {
	case "", "main":
	case "arm64":
		if o.arm64 == "" {
			return errors.New("parse arguments: -only arm64 needs an -arm64 kernel")
		}
	default:
		return fmt.Errorf("parse arguments: -only %q: want main or arm64", o.only)
	}
	var rep, arm *report
	var armSkip string
	if o.only != "arm64" {
		b, err := newBench(o, o.kernel, stderr)
		if err != nil {
			return err
		}
		defer b.cleanup()
		g, err := b.probeCost(hits, true)
		if err != nil {
			return err
		}
		var bt builds
		if err := b.buildTimes(&bt); err != nil {
			return err
		}
		rep = evaluate(g, bt)
		rep.print(stdout, b.o.kernel, b.release, filepath.Base(b.o.spec), b.o.runs)
	}
	if o.only != "main" && o.arm64 != "" {
		var err error
		if arm, armSkip, err = measureArm64(o, stdout, stderr); err != nil {
			return err
		}
	}
	printColumns(stdout, o.kernel, rep, o.arm64, arm, armSkip)
	var errs []error
	for _, r := range []*report{rep, arm} {
		if r != nil {
			errs = append(errs, r.err())
		}
	}
	return errors.Join(errs...)
}

// bench holds the resolved inputs and the work directory.
type bench struct {
	o         options
	log       io.Writer
	kgen      string // absolute
	kernel    string // the kernel's name under kernels
	kdir      string
	vmlinux   string // what kgen vm boots: vmlinux, or an arm64 kernel's Image
	release   string
	cc        string   // the kernel's own gcc when installed
	guestKgen string   // the guest's /bin/kgen: kgen, or kgen cross-built for arm64
	makeEnv   []string // KEY=VALUE lines of <kernel>/make.env
	work      string
}

func newBench(o options, kernel string, log io.Writer) (*bench, error) {
	b := &bench{o: o, log: log, kernel: kernel}
	var err error
	if b.kgen, err = filepath.Abs(o.kgen); err != nil {
		return nil, fmt.Errorf("resolve kgen: %w", err)
	}
	if _, err := os.Stat(b.kgen); err != nil {
		return nil, fmt.Errorf("find kgen: %w; build it with make build", err)
	}
	if o.spec, err = filepath.Abs(o.spec); err != nil {
		return nil, fmt.Errorf("resolve spec: %w", err)
	}
	if _, err := os.Stat(o.spec); err != nil {
		return nil, fmt.Errorf("find spec: %w; give one with -spec", err)
	}
	b.o = o
	kd := filepath.Join(o.kernels, kernel)
	b.kdir = filepath.Join(kd, "kdir")
	b.vmlinux = bootFile(kd)
	for _, p := range []string{b.kdir, b.vmlinux} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("find kernel %s: %w; fetch it with scripts/fetch-kernels.sh %s", kernel, err, kernel)
		}
	}
	if rel, err := os.ReadFile(filepath.Join(kd, "release")); err == nil {
		b.release = strings.TrimSpace(string(rel))
	}
	if env, err := os.ReadFile(filepath.Join(kd, "make.env")); err == nil {
		for _, l := range strings.Split(string(env), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				b.makeEnv = append(b.makeEnv, l)
			}
		}
	}
	b.cc = kernelCC(b.kdir, b.makeVar("CROSS_COMPILE"))
	if b.work, err = os.MkdirTemp("", "kgbench-"); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	b.guestKgen = b.kgen
	if b.makeVar("ARCH") == "arm64" {
		if b.guestKgen, err = b.buildGuestKgen("arm64"); err != nil {
			b.cleanup()
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) cleanup() {
	if b.o.keep {
		fmt.Fprintln(b.log, "bench: kept", b.work)
		return
	}
	os.RemoveAll(b.work)
}

func (b *bench) step(format string, a ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", a...)
}

// makeVar returns the value of NAME in the kernel's make.env, or "".
func (b *bench) makeVar(name string) string {
	for _, v := range b.makeEnv {
		if val, ok := strings.CutPrefix(v, name+"="); ok {
			return val
		}
	}
	return ""
}

// kernelCC returns <cross>gcc-N for the kernel's CONFIG_GCC_VERSION when
// that compiler is installed, else <cross>gcc: the floor module must build
// with the compiler kgen picks, or the comparison is not like for like.
func kernelCC(kdir, cross string) string {
	cfg, err := os.ReadFile(filepath.Join(kdir, ".config"))
	if err != nil {
		return cross + "gcc"
	}
	m := regexp.MustCompile(`(?m)^CONFIG_GCC_VERSION=(\d+)\d{4}$`).FindSubmatch(cfg)
	if m == nil {
		return cross + "gcc"
	}
	cc := cross + "gcc-" + string(m[1])
	if _, err := exec.LookPath(cc); err != nil {
		return cross + "gcc"
	}
	return cc
}

// Configurations of part A, in the order the guest runs them.
var configs = []struct{ key, label string }{
	{"floor", "floor: kretprobe, empty handler"},
	{"count", "kgen kretprobe, counting (events off)"},
	{"emit", "kgen kretprobe, emitting its event"},
	{"tracefs", "tracefs `r:` probe, recording"},
	{"otst_idle", "otst loaded, nothing armed"},
	{"otst_fired", "otst after its one-time probe on vfs_read fired"},
	{"kfloor", "floor: kprobe, empty handler"},
	{"ecount", "kgen entry-only probe (a kprobe), counting (events off)"},
	{"eemit", "kgen entry-only probe (a kprobe), emitting its event"},
	{"tracefs_p", "tracefs `p:` probe, recording"},
	{"stacks", "kgen entry-only probe counting stacks in the module"},
	{"stackev", "kgen entry-only probe emitting a stack event"},
}

// guestScript runs the workload unprobed, under each configuration, and
// unprobed again, printing "KGBENCH run <key> <start> <end>" per run (the
// timer's "now at" before and after; guest time is instructions under
// --icount, so each run is exact), "KGBENCH fact <key> <value>" for what
// the verdicts check besides, and "KGBENCH unload <line>" for kgen
// unload's counters table. It computes nothing: bench validates every
// figure (see evaluate).
//
// n is the workload's reads; full adds the payload and process parts.
func guestScript(fault string, n int, full bool) (string, error) {
	workload := fmt.Sprintf("dd if=/dev/zero of=/dev/null bs=1 count=%d", n)
	s := `set -e
T=/sys/kernel/tracing
now() { grep -m1 '^now at' /proc/timer_list | sed 's/^now at \([0-9]*\) nsecs.*/\1/'; }
measure() {
	a=$(now)
	` + workload + ` 2>/dev/null
	b=$(now)
	echo "KGBENCH run $1 $a $b"
}
sleep 5	# 6.12 runs its crypto self-tests after boot, on the one CPU
measure warmup
measure base1
insmod /root/` + floorName + `.ko
measure floor
rmmod ` + floorName + `
echo "KGBENCH fact floor_nmissed $(dmesg | sed -n 's/.*` + floorName + `: nmissed \([0-9-]*\).*/\1/p' | tail -n 1)"
kgen load /root/` + countName + `.ko >&2
echo 0 > $T/instances/kgen_` + countName + `/events/` + countName + `/enable
measure count
echo 1 > $T/instances/kgen_` + countName + `/events/` + countName + `/enable
measure emit
kgen unload ` + countName + ` >/tmp/unload.txt
sed 's/^/KGBENCH unload /' /tmp/unload.txt
insmod /root/` + kfloorName + `.ko
measure kfloor
rmmod ` + kfloorName + `
echo "KGBENCH fact kfloor_nmissed $(dmesg | sed -n 's/.*` + kfloorName + `: nmissed \([0-9-]*\).*/\1/p' | tail -n 1)"
kgen load /root/` + entryName + `.ko >&2
echo 0 > $T/instances/kgen_` + entryName + `/events/` + entryName + `/enable
measure ecount
echo 1 > $T/instances/kgen_` + entryName + `/events/` + entryName + `/enable
measure eemit
kgen unload ` + entryName + ` >/tmp/eunload.txt
sed 's/^/KGBENCH eunload /' /tmp/eunload.txt
kgen load /root/` + stacksName + `.ko >&2
echo 0 > $T/instances/kgen_` + stacksName + `/events/` + stacksName + `/enable
measure stacks
awk '$2 == "dropped" { print "KGBENCH fact stacks_dropped " $3 } $2 != "dropped" { s += $2 } END { print "KGBENCH fact stacks_sum " s + 0 }' /sys/kernel/debug/kgen/` + stacksName + `/stacks
kgen unload ` + stacksName + ` >&2
kgen load /root/` + stackevName + `.ko >&2
measure stackev
kgen unload ` + stackevName + ` >/tmp/sunload.txt
sed 's/^/KGBENCH sunload /' /tmp/sunload.txt
mounted=
if [ ! -e $T/kprobe_events ]; then mount -t tracefs nodev $T; mounted=1; fi
echo 'p:kgbenchp vfs_read' >> $T/kprobe_events
echo 1 > $T/events/kprobes/kgbenchp/enable
measure tracefs_p
echo 0 > $T/events/kprobes/kgbenchp/enable
awk '$1 == "kgbenchp" { print "KGBENCH fact tracefs_p_hits " $2; print "KGBENCH fact tracefs_p_nmissed " $3 }' $T/kprobe_profile
echo '-:kgbenchp' >> $T/kprobe_events
echo 'r:kgbench vfs_read ret=$retval' >> $T/kprobe_events
echo 1 > $T/events/kprobes/kgbench/enable
measure tracefs
echo 0 > $T/events/kprobes/kgbench/enable
awk '$1 == "kgbench" { print "KGBENCH fact tracefs_hits " $2; print "KGBENCH fact tracefs_nmissed " $3 }' $T/kprobe_profile
echo '-:kgbench' >> $T/kprobe_events
if [ -n "$mounted" ]; then umount $T; fi
kgen load /root/otst.ko >&2
measure otst_idle
echo -n vfs_read > /proc/driver/otst
n=0
while grep -q ' vfs_read+' /sys/kernel/debug/kprobes/list && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
echo "KGBENCH fact otst_left $(grep -c ' vfs_read+' /sys/kernel/debug/kprobes/list || true)"
measure otst_fired
kgen unload otst >&2
measure base2
`
	if full {
		s += `sh ` + plDir + `/guest.sh || echo "KGBENCH fact pl_status $?"
sh ` + prDir + `/guest.sh || echo "KGBENCH fact pr_status $?"
`
	}
	s += `echo KGBENCH done
`
	switch fault {
	case "":
	case "notimer":
		s = strings.Replace(s, "/proc/timer_list", "/proc/kgbench_no_timer_list", 1)
	case "nocounters":
		s = strings.Replace(s, "kgen unload "+countName+" >/tmp/unload.txt", "kgen unload "+countName+" >/dev/null; : >/tmp/unload.txt", 1)
	default:
		return "", fmt.Errorf("parse arguments: -guest-fault %q: want notimer or nocounters", fault)
	}
	return s, nil
}

// probeCost builds the modules and runs the guest script in one --icount
// boot of b's kernel: n reads per run; full adds the payload and process
// parts.
func (b *bench) probeCost(n int, full bool) (guest, error) {
	dir := filepath.Join(b.work, "vm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return guest{}, fmt.Errorf("create vm dir: %w", err)
	}
	floorKo, err := b.buildFloor()
	if err != nil {
		return guest{}, err
	}
	countSpec := filepath.Join(b.work, "count.yaml")
	if err := copyEmbedded("testdata/count.yaml", countSpec); err != nil {
		return guest{}, err
	}
	b.step("building %s with kgen", countName)
	args := []string{"build", countSpec, "--kdir", b.kdir, "-o", dir, "--cache-dir", filepath.Join(b.work, "cache-count")}
	for _, v := range b.makeEnv {
		args = append(args, "--make-var", v)
	}
	if out, err := exec.Command(b.kgen, args...).CombinedOutput(); err != nil {
		return guest{}, fmt.Errorf("build %s: %w\n%s", countName, err, out)
	}
	countKo := filepath.Join(dir, countName+".ko")
	for _, m := range []string{"entry", "stacks", "stackev"} {
		spec := filepath.Join(b.work, m+".yaml")
		if err := copyEmbedded("testdata/"+m+".yaml", spec); err != nil {
			return guest{}, err
		}
		b.step("building testdata/%s.yaml with kgen", m)
		args = []string{"build", spec, "--kdir", b.kdir, "-o", dir, "--cache-dir", filepath.Join(b.work, "cache-count")}
		for _, v := range b.makeEnv {
			args = append(args, "--make-var", v)
		}
		if out, err := exec.Command(b.kgen, args...).CombinedOutput(); err != nil {
			return guest{}, fmt.Errorf("build testdata/%s.yaml: %w\n%s", m, err, out)
		}
	}
	entryKo := filepath.Join(dir, entryName+".ko")
	otstSrc, err := filepath.Abs(otstSpec)
	if err != nil {
		return guest{}, fmt.Errorf("resolve %s: %w", otstSpec, err)
	}
	b.step("building otst with kgen")
	args = []string{"build", otstSrc, "--kdir", b.kdir, "-o", dir, "--cache-dir", filepath.Join(b.work, "cache-count")}
	for _, v := range b.makeEnv {
		args = append(args, "--make-var", v)
	}
	if out, err := exec.Command(b.kgen, args...).CombinedOutput(); err != nil {
		return guest{}, fmt.Errorf("build %s: %w; run bench from the repository root\n%s", otstSpec, err, out)
	}
	otstKo := filepath.Join(dir, "otst.ko")
	var parts []string
	if full {
		pl, err := b.buildPayload()
		if err != nil {
			return guest{}, err
		}
		pr, err := b.buildProcess()
		if err != nil {
			return guest{}, err
		}
		parts = []string{"--add", pl + ":" + plDir, "--add", pr + ":" + prDir}
	}

	script, err := guestScript(b.o.fault, n, full)
	if err != nil {
		return guest{}, err
	}
	if b.o.fault != "" {
		b.step("guest fault %q: the verdicts must say invalid", b.o.fault)
	}
	if full {
		b.step("booting %s with --icount: warm-up, baseline, %d configurations, baseline, then the payload kind's %d runs and the process kind's %d (a few minutes)", b.kernel, len(configs), len(plRuns), len(prRuns)+2)
	} else {
		b.step("booting %s with --icount: warm-up, baseline, %d configurations of %d reads, baseline (a few minutes)", b.kernel, len(configs), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.timeout+time.Minute)
	defer cancel()
	args = []string{"vm", "--kernel", b.vmlinux, "--icount",
		"--timeout", b.o.timeout.String(), "--kgen-binary", b.guestKgen,
		"--add", floorKo + ":/root/" + floorName + ".ko",
		"--add", filepath.Join(filepath.Dir(floorKo), kfloorName+".ko") + ":/root/" + kfloorName + ".ko",
		"--add", entryKo + ":/root/" + entryName + ".ko",
		"--add", filepath.Join(dir, stacksName+".ko") + ":/root/" + stacksName + ".ko",
		"--add", filepath.Join(dir, stackevName+".ko") + ":/root/" + stackevName + ".ko",
		"--add", countKo + ":/root/" + countName + ".ko",
		"--add", otstKo + ":/root/otst.ko"}
	args = append(append(args, parts...), "--", script)
	cmd := exec.CommandContext(ctx, b.kgen, args...)
	var guestErr bytes.Buffer
	cmd.Stderr = &guestErr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return guest{}, fmt.Errorf("run vm: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return guest{}, fmt.Errorf("run vm: %w", err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "KGBENCH" {
			b.step("  guest %s [%s]", strings.Join(f[1:], " "), time.Since(start).Round(time.Second))
		}
	}
	werr := cmd.Wait()
	g := parseGuest(out.String())
	if werr != nil || !g.done {
		return g, fmt.Errorf("run the benchmark VM: %v; guest output:\n%s%s", werr, out.String(), tail(guestErr.String(), 40))
	}
	return g, nil
}

// buildFloor builds testdata/floor with the kernel's Kbuild in the work dir
// (never in the source tree) and returns the .ko.
func (b *bench) buildFloor() (string, error) {
	dir := filepath.Join(b.work, "floor")
	for _, f := range []string{"floor.c", "kfloor.c", "Kbuild"} {
		if err := copyEmbedded("testdata/floor/"+f, filepath.Join(dir, f)); err != nil {
			return "", err
		}
	}
	b.step("building the floor module with %s", b.cc)
	args := append([]string{"-C", b.kdir, "M=" + dir, "modules", "CC=" + b.cc}, b.makeEnv...)
	if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the floor module: %w\n%s", err, tail(string(out), 30))
	}
	return filepath.Join(dir, floorName+".ko"), nil
}

// Payload specs in testdata/payload, each built with kgen.
var plSpecs = []string{"trace", "one", "dump", "fault", "leak"}

// allocFn is the function kmalloc(64) reaches on a kernel release (as in
// testdata/payload/guest.sh).
func allocFn(release string) string {
	switch {
	case strings.HasPrefix(release, "5.10."):
		return "kmem_cache_alloc_trace"
	case strings.HasPrefix(release, "6.1."):
		return "kmalloc_trace"
	}
	return "__kmalloc_cache_noprof"
}

// buildPayload builds the payload part's modules into one directory for
// the guest: the workload and the kprobe floor with the kernel's Kbuild,
// the payloads of testdata/payload with kgen, and the kernel's own brd.ko
// (the other target), with the part's guest script.
func (b *bench) buildPayload() (string, error) {
	src := filepath.Join(b.work, "plsrc")
	for _, f := range []string{"Kbuild", "kgbench_pl.c", "kgbench_kpfloor.c"} {
		if err := copyEmbedded("testdata/payload/"+f, filepath.Join(src, f)); err != nil {
			return "", err
		}
	}
	out := filepath.Join(b.work, "pl")
	if err := copyEmbedded("testdata/payload/guest.sh", filepath.Join(out, "guest.sh")); err != nil {
		return "", err
	}
	b.step("building the payload workload and kprobe floor with %s", b.cc)
	args := append([]string{"-C", b.kdir, "M=" + src, "modules", "CC=" + b.cc}, b.makeEnv...)
	if o, err := exec.Command("make", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the payload workload: %w\n%s", err, tail(string(o), 30))
	}
	for _, m := range []string{"kgbench_pl.ko", "kgbench_kpfloor.ko"} {
		if err := copyFile(filepath.Join(src, m), filepath.Join(out, m)); err != nil {
			return "", err
		}
	}
	for _, s := range plSpecs {
		spec := filepath.Join(b.work, "pl-"+s+".yaml")
		if err := copyEmbedded("testdata/payload/"+s+".yaml", spec); err != nil {
			return "", err
		}
		if s == "one" {
			data, err := os.ReadFile(spec)
			if err != nil {
				return "", fmt.Errorf("read %s: %w", spec, err)
			}
			data = bytes.Replace(data, []byte("- name: kmalloc_trace"), []byte("- name: "+allocFn(b.release)), 1)
			if err := os.WriteFile(spec, data, 0o644); err != nil {
				return "", fmt.Errorf("write %s: %w", spec, err)
			}
		}
		b.step("building payload %s with kgen", s)
		args := []string{"build", spec, "--kdir", b.kdir, "-o", out, "--cache-dir", filepath.Join(b.work, "cache-pl")}
		for _, v := range b.makeEnv {
			args = append(args, "--make-var", v)
		}
		if o, err := exec.Command(b.kgen, args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("build payload %s: %w\n%s", s, err, o)
		}
	}
	brd := filepath.Join(b.o.kernels, b.kernel, "modules", "ko", "brd.ko")
	if err := copyFile(brd, filepath.Join(out, "brd.ko")); err != nil {
		return "", fmt.Errorf("%w; extract the kernel's modules with scripts/extract-modules.sh %s", err, b.kernel)
	}
	return out, nil
}

// buildProcess builds the process part's files into one directory for
// the guest: examples/process.yaml with kgen, the getppid loop (static Go,
// for the guest's architecture) and the part's guest script.
func (b *bench) buildProcess() (string, error) {
	out := filepath.Join(b.work, "pr")
	if err := copyEmbedded("testdata/process/guest.sh", filepath.Join(out, "guest.sh")); err != nil {
		return "", err
	}
	b.step("building the getppid loop")
	cmd := exec.Command("go", "build", "-o", filepath.Join(out, "loop"), "./bench/testdata/process/loop.go")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the getppid loop: %w; run bench from the repository root\n%s", err, o)
	}
	b.step("building examples/process.yaml with kgen")
	args := []string{"build", "examples/process.yaml", "--kdir", b.kdir, "-o", out, "--cache-dir", filepath.Join(b.work, "cache-pr")}
	for _, v := range b.makeEnv {
		args = append(args, "--make-var", v)
	}
	if o, err := exec.Command(b.kgen, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build examples/process.yaml: %w\n%s", err, o)
	}
	return out, nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

func copyEmbedded(name, dst string) error {
	data, err := fs.ReadFile(testdata, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// buildTimes times, -runs times each: a cold kgen build (fresh cache dir),
// plain make on a freshly generated tree (feature probes included, as in a
// cold kgen build), and a kgen build cache hit (whole process).
func (b *bench) buildTimes(r *builds) error {
	out := filepath.Join(b.work, "out")
	mv := func(args []string) []string {
		for _, v := range b.makeEnv {
			args = append(args, "--make-var", v)
		}
		return args
	}
	// Cold builds and plain makes alternate, so a change in the host's load
	// during the run hits both alike.
	for i := 0; i < b.o.runs; i++ {
		cache := filepath.Join(b.work, fmt.Sprintf("cache-cold-%d", i))
		d, err := b.timed(b.kgen, mv([]string{"build", b.o.spec, "--kdir", b.kdir, "-o", out, "--cache-dir", cache})...)
		if err != nil {
			return fmt.Errorf("time a cold kgen build: %w", err)
		}
		r.cold = append(r.cold, d)
		b.step("kgen build cold %d/%d: %s", i+1, b.o.runs, ms(d))

		tree := filepath.Join(b.work, fmt.Sprintf("tree-%d", i))
		if o, err := exec.Command(b.kgen, "generate", b.o.spec, "-o", tree).CombinedOutput(); err != nil {
			return fmt.Errorf("generate %s: %w\n%s", b.o.spec, err, o)
		}
		d, err = b.timed("make", append([]string{"-C", tree, "KDIR=" + b.kdir}, b.makeEnv...)...)
		if err != nil {
			return fmt.Errorf("time plain make: %w", err)
		}
		r.make = append(r.make, d)
		b.step("plain make %d/%d: %s", i+1, b.o.runs, ms(d))
	}
	// The cache of the last cold run is warm for this spec and kernel.
	cache := filepath.Join(b.work, fmt.Sprintf("cache-cold-%d", b.o.runs-1))
	for i := 0; i < b.o.runs; i++ {
		d, err := b.timed(b.kgen, mv([]string{"build", b.o.spec, "--kdir", b.kdir, "-o", out, "--cache-dir", cache})...)
		if err != nil {
			return fmt.Errorf("time a kgen build cache hit: %w", err)
		}
		r.hit = append(r.hit, d)
		b.step("kgen build cache hit %d/%d: %s", i+1, b.o.runs, ms(d))
	}
	return nil
}

func (b *bench) timed(name string, args ...string) (time.Duration, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return d, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func msList(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, ms(x))
	}
	return strings.Join(s, ", ")
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n") + "\n"
}
