package probetest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kgen/generator"
	"kgen/kbuild"
	"kgen/spec"
	"kgen/vm"
)

// ModuleName is the group module's name in the guest.
const ModuleName = "kgen_ptest"

// DefaultWorkload is what the guest runs while a group is armed when no
// --workload is given: what busybox reaches in a few seconds.
//
//go:embed workload.sh
var DefaultWorkload string

// BuildModule generates the group module (kind probetest) for up to
// maxProbes functions and builds it with cfg into outDir.
func BuildModule(ctx context.Context, cfg kbuild.Config, maxProbes int, outDir string) (string, error) {
	s := &spec.Probetest{
		Meta:      spec.Meta{APIVersion: spec.APIVersion, Kind: spec.KindProbetest, Name: ModuleName},
		MaxProbes: maxProbes,
	}
	tree := generator.Tree{}
	if err := generator.Generate(s, generator.Options{}, tree); err != nil {
		return "", err
	}
	res, err := kbuild.Build(ctx, cfg, tree, ModuleName, outDir)
	if err != nil {
		return "", err
	}
	return res.Ko, nil
}

// VMRunner runs each group in a fresh qemu guest.
type VMRunner struct {
	Kernel   string   // vmlinux or bzImage
	Module   string   // the group module's .ko
	Workload string   // a host script the guest runs with sh; "" = DefaultWorkload
	Adds     []vm.Add // more files for the guest
	// Preload are modules (host .ko files) loaded before the group is
	// armed, so that their functions can be probed.
	Preload []string
	SMP     int           // guest CPUs (default 1)
	Timeout time.Duration // per group, boot included (default 5m)
	Busybox string        // static busybox (default vm's)
	Scratch string        // a directory for the groups' lists (default os.TempDir())
}

const (
	beginMark = "KGEN-PTEST-BEGIN"
	endMark   = "KGEN-PTEST-END"
	groupMark = "KGEN-PTEST-GROUP"
	badMark   = "KGEN-PTEST-BAD"
	// hitsMark starts the group module's console lines at a panic.
	hitsMark = "KGEN-PTEST-HITS"
	// lockdepOff is the bad line of a group after which lockdep had
	// turned itself off (it does at its first report).
	lockdepOff = "lockdep turned itself off (debug_locks 0)"
)

// GuestAppend is added to a probe-test guest's command line: an oops or
// a warning panics at once, so the guest stops in the group that caused
// it instead of running on into the next one.
const GuestAppend = "oops=panic panic_on_warn=1"

// batchScript loads the module and, for each of n groups, stages and
// arms the group's list, runs the workload (its status does not matter:
// only the kernel's does), disarms, prints the counts between the marks
// and forgets the group. Then it greps the kernel log the group wrote
// (emptied as the group starts) for what the console scanner calls sick
// (/root/ptest.bad): a checker's report or the like does not panic the
// guest, and the console is read apart from the output, so only the
// guest can say for sure which group logged it. A group with such a
// line is reported as bad and ends the guest.
func batchScript(n int) string {
	return `mount -t debugfs none /sys/kernel/debug 2>/dev/null
for m in /root/ptest.preload/*.ko; do [ -e "$m" ] || continue; insmod "$m" || exit 3; done
insmod /root/` + ModuleName + `.ko || exit 4
D=/sys/kernel/debug/kgen/` + ModuleName + `
i=0
while [ $i -lt ` + strconv.Itoa(n) + ` ]; do
	dmesg -c >/dev/null
	echo ` + groupMark + ` $i
	cat /root/ptest.funcs.$i > $D/probes || exit 5
	echo arm > $D/ctl || exit 6
	(cd /tmp && sh /root/ptest.workload) >/dev/null 2>&1 </dev/null
	echo disarm > $D/ctl || exit 7
	echo ` + beginMark + `
	cat $D/probes || exit 8
	echo ` + endMark + `
	echo clear > $D/ctl || exit 9
	bad=$(dmesg | grep -F -f /root/ptest.bad | head -n 1)
	if [ -z "$bad" ] && grep -q '^ *debug_locks: *0' /proc/lockdep_stats 2>/dev/null; then
		bad="` + lockdepOff + `"
	fi
	if [ -n "$bad" ]; then
		echo "` + badMark + ` $i $bad"
		exit 0
	fi
	i=$((i+1))
done
rmmod ` + ModuleName + `
`
}

// Run implements Runner: one group in one guest.
func (r *VMRunner) Run(ctx context.Context, funcs []string) (Outcome, error) {
	var out Outcome
	err := r.RunBatch(ctx, [][]string{funcs}, func(_ int, o Outcome) error {
		out = o
		return nil
	})
	return out, err
}

// RunBatch implements BatchRunner: the groups one after another in one
// guest. A group's clean outcome is reported when the next group starts
// (or the guest ends cleanly), so that a crash between two groups is
// charged to the one before. A group that makes no progress for Timeout
// (the first one: boot included) is hung, a crash.
func (r *VMRunner) RunBatch(ctx context.Context, groups [][]string, done func(int, Outcome) error) error {
	if len(groups) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp(r.Scratch, "kgen-ptest-*")
	if err != nil {
		return fmt.Errorf("run groups: %w", err)
	}
	defer os.RemoveAll(dir)
	wl := r.Workload
	if wl == "" {
		wl = filepath.Join(dir, "ptest.workload")
		if err := os.WriteFile(wl, []byte(DefaultWorkload), 0o644); err != nil {
			return fmt.Errorf("run groups: %w", err)
		}
	}
	bad := filepath.Join(dir, "ptest.bad")
	if err := os.WriteFile(bad, []byte(strings.Join(vm.BadNeedles(), "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("run groups: %w", err)
	}
	adds := []vm.Add{
		{Src: r.Module, Dst: "/root/" + ModuleName + ".ko"},
		{Src: wl, Dst: "/root/ptest.workload"},
		{Src: bad, Dst: "/root/ptest.bad"},
	}
	for i, funcs := range groups {
		list := filepath.Join(dir, "ptest.funcs."+strconv.Itoa(i))
		if err := os.WriteFile(list, []byte(strings.Join(funcs, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("run groups: %w", err)
		}
		adds = append(adds, vm.Add{Src: list, Dst: "/root/ptest.funcs." + strconv.Itoa(i)})
	}
	adds = append(adds, r.Adds...)
	for _, m := range r.Preload {
		adds = append(adds, vm.Add{Src: m, Dst: "/root/ptest.preload/"})
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &batchStream{n: len(groups), cur: -1, bad: -1, done: done, progress: make(chan struct{}, 1), cancel: cancel}
	// The watchdog: no mark for timeout is a hang.
	var hung atomic.Bool
	stop := make(chan struct{})
	go func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-st.progress:
				if !t.Stop() {
					<-t.C
				}
				t.Reset(timeout)
			case <-t.C:
				hung.Store(true)
				cancel()
				return
			}
		}
	}()
	res, err := vm.Run(gctx, vm.Config{
		Kernel: r.Kernel, Adds: adds, SMP: r.SMP, Timeout: timeout * time.Duration(len(groups)+1),
		Busybox: r.Busybox, Append: GuestAppend,
		Cmd: batchScript(len(groups)), KgenBinary: "-", Stdout: st,
	})
	close(stop)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	var crash *Outcome
	var ge *vm.GuestError
	isGE := errors.As(err, &ge)
	switch {
	case st.bad >= 0:
		// The guest said which group logged a sick line; the console
		// scanner's view of it, when it saw it too, has the tail.
		crash = &Outcome{Crashed: true, Reason: "report", Line: st.badLine, CrashHits: st.badHits}
		if isGE {
			crash.Reason, crash.Tail = ge.Reason, ge.Tail
		} else if res != nil {
			crash.Tail = lastLines(string(res.Console), 60)
		}
		return st.report(st.bad, *crash)
	case hung.Load() && err != nil:
		tail := ""
		if res != nil {
			tail = lastLines(string(res.Console), 60)
		}
		crash = &Outcome{Crashed: true, Reason: "timeout", Line: fmt.Sprintf("no progress for %v: hung", timeout), Tail: tail}
	case isGE:
		crash = &Outcome{Crashed: true, Reason: ge.Reason, Line: ge.Line, Tail: ge.Tail}
	case err != nil:
		return err
	case res.ExitCode != 0:
		return fmt.Errorf("the guest's group script exited %d: %s", res.ExitCode, lastLines(st.out.String(), 10))
	}
	if crash != nil {
		if res != nil {
			crash.CrashHits = parseCrashHits(string(res.Console))
		}
		// The group running, or the one that ended last if the next
		// had not started: a crash before any group is the first's.
		return st.report(max(st.cur, 0), *crash)
	}
	if st.pending != nil {
		if err := st.report(st.cur, *st.pending); err != nil {
			return err
		}
	}
	if st.reported != len(groups) {
		return fmt.Errorf("the guest ran %d of %d groups: %s", st.reported, len(groups), lastLines(st.out.String(), 10))
	}
	return nil
}

// batchStream reads the guest's output as it comes: the group marks and
// the counts. It reports a group's clean outcome once the next starts.
type batchStream struct {
	mu       sync.Mutex
	n        int
	line     []byte
	cur      int // the group started last; -1 before the first
	bad      int // the group the guest found a sick log line after; -1 = none
	badLine  string
	badHits  map[string]int64 // that group's counts
	in       bool
	block    strings.Builder
	pending  *Outcome // cur's counts, cur not confirmed yet
	reported int
	done     func(int, Outcome) error
	progress chan struct{}
	cancel   func()
	err      error
	out      bytes.Buffer // the output's end, for errors
}

func (b *batchStream) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out.Len() > 64<<10 {
		keep := b.out.Bytes()[b.out.Len()-16<<10:]
		b.out = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	b.out.Write(p)
	for _, c := range p {
		if c != '\n' {
			b.line = append(b.line, c)
			continue
		}
		b.handle(strings.TrimSpace(string(b.line)))
		b.line = b.line[:0]
	}
	return len(p), nil
}

func (b *batchStream) handle(line string) {
	if b.err != nil {
		return
	}
	fail := func(err error) {
		b.err = err
		b.cancel()
	}
	if b.bad >= 0 {
		return // the guest is ending: nothing after its verdict counts
	}
	switch {
	case strings.HasPrefix(line, badMark+" "):
		f := strings.SplitN(strings.TrimPrefix(line, badMark+" "), " ", 2)
		i, err := strconv.Atoi(f[0])
		if err != nil || i != b.cur || b.pending == nil {
			fail(fmt.Errorf("read the guest's output: unexpected %q in group %d", line, b.cur))
			return
		}
		b.bad, b.badHits, b.pending = i, b.pending.Hits, nil
		if len(f) == 2 {
			b.badLine = f[1]
		}
	case strings.HasPrefix(line, groupMark+" "):
		i, err := strconv.Atoi(strings.TrimPrefix(line, groupMark+" "))
		if err != nil || i != b.cur+1 || i >= b.n {
			fail(fmt.Errorf("read the guest's output: unexpected %q after group %d", line, b.cur))
			return
		}
		if b.pending != nil {
			if err := b.report(b.cur, *b.pending); err != nil {
				fail(err)
				return
			}
		} else if b.cur >= 0 {
			fail(fmt.Errorf("read the guest's output: group %d ended without its counts", b.cur))
			return
		}
		b.cur = i
		b.ping()
	case line == beginMark:
		b.in = true
		b.block.Reset()
		b.block.WriteString(beginMark + "\n")
	case line == endMark && b.in:
		b.in = false
		b.block.WriteString(endMark + "\n")
		o, err := parseCounts(b.block.String())
		if err != nil {
			fail(err)
			return
		}
		b.pending = &o
		b.ping()
	case b.in:
		b.block.WriteString(line + "\n")
	}
}

func (b *batchStream) ping() {
	select {
	case b.progress <- struct{}{}:
	default:
	}
}

// report passes group i's outcome on; mu is held.
func (b *batchStream) report(i int, o Outcome) error {
	b.pending = nil
	b.reported++
	return b.done(i, o)
}

// parseCounts reads the "name hits errno" lines between the marks.
func parseCounts(s string) (Outcome, error) {
	o := Outcome{Hits: map[string]int64{}, Errno: map[string]int{}}
	in, seen := false, false
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == beginMark:
			in = true
		case line == endMark:
			seen = in
			in = false
		case in:
			f := strings.Fields(line)
			if len(f) != 3 {
				return o, fmt.Errorf("read counts: bad line %q", line)
			}
			hits, err1 := strconv.ParseInt(f[1], 10, 64)
			errno, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				return o, fmt.Errorf("read counts: bad line %q", line)
			}
			o.Hits[f[0]] = hits
			o.Errno[f[0]] = errno
		}
	}
	if !seen {
		return o, fmt.Errorf("read counts: no %s...%s block in the guest's output: %s", beginMark, endMark, lastLines(s, 10))
	}
	return o, nil
}

// parseCrashHits reads the group module's lines at a panic from the
// console, "[time] probetest: KGEN-PTEST-HITS <name> <hits>"; nil when
// there are none (no panic, or a kernel that stopped before printing).
func parseCrashHits(console string) map[string]int64 {
	var hits map[string]int64
	for _, line := range strings.Split(console, "\n") {
		i := strings.Index(line, hitsMark+" ")
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len(hitsMark)+1:])
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		if hits == nil {
			hits = map[string]int64{}
		}
		hits[f[0]] = n
	}
	return hits
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

const listScript = `mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
mount -t tracefs none /sys/kernel/tracing 2>/dev/null || true
F=/sys/kernel/tracing/available_filter_functions
[ -r $F ] || F=/sys/kernel/debug/tracing/available_filter_functions
echo KGEN-PTEST-FUNCS
cat $F
echo KGEN-PTEST-BLACKLIST
cat /sys/kernel/debug/kprobes/blacklist
echo ` + endMark + `
`

var reFunc = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// ListFunctions boots the kernel once and returns every function kprobes
// could take: the guest's available_filter_functions (built-in ones, not
// modules', and not ftrace's __ftrace_invalid_address___ placeholders)
// minus /sys/kernel/debug/kprobes/blacklist, sorted.
func (r *VMRunner) ListFunctions(ctx context.Context) ([]string, error) {
	var out bytes.Buffer
	res, err := vm.Run(ctx, vm.Config{
		Kernel: r.Kernel, SMP: r.SMP, Timeout: max(r.Timeout, 2*time.Minute), Busybox: r.Busybox,
		Cmd: listScript, KgenBinary: "-", Stdout: &out,
	})
	if err != nil {
		return nil, fmt.Errorf("list the kernel's functions: %w", err)
	}
	if res.ExitCode != 0 || !strings.Contains(out.String(), endMark) {
		return nil, fmt.Errorf("list the kernel's functions: the guest said: %s", lastLines(out.String(), 10))
	}
	return parseFunctionList(out.String()), nil
}

func parseFunctionList(s string) []string {
	funcs, black := map[string]bool{}, map[string]bool{}
	var cur map[string]bool
	inFuncs := false
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "KGEN-PTEST-FUNCS":
			cur, inFuncs = funcs, true
			continue
		case "KGEN-PTEST-BLACKLIST":
			cur, inFuncs = black, false
			continue
		case endMark:
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := f[len(f)-1] // the blacklist's lines are "0xstart-0xend\tname"
		if inFuncs {
			if len(f) != 1 { // "name [module]": not built in
				continue
			}
			name = f[0]
		}
		// ftrace lists the overridden weak functions it cannot trace as
		// __ftrace_invalid_address___<offset>: not functions.
		if reFunc.MatchString(name) && !strings.HasPrefix(name, "__ftrace_invalid_address__") {
			cur[name] = true
		}
	}
	var list []string
	for f := range funcs {
		if !black[f] {
			list = append(list, f)
		}
	}
	sort.Strings(list)
	return list
}

// ReadList reads a probes.all: one function a line; blank lines and #
// comments are skipped. Names kprobes cannot take as a symbol are
// returned apart, to be reported unregistered with EINVAL.
func ReadList(path string) (funcs, bad []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read function list: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if reFunc.MatchString(line) && len(line) < 128 {
			funcs = append(funcs, line)
		} else {
			bad = append(bad, line)
		}
	}
	return funcs, bad, nil
}

// Glob keeps the functions matching pattern (path.Match syntax).
func Glob(funcs []string, pattern string) ([]string, error) {
	var out []string
	for _, f := range funcs {
		ok, err := filepath.Match(pattern, f)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", pattern, err)
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}
