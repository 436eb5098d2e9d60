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
)

// groupScript loads the module, stages and arms the group, runs the
// workload (its status does not matter: only the kernel's does), disarms
// and prints the counts between the marks.
const groupScript = `set -e
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
for m in /root/ptest.preload/*.ko; do [ -e "$m" ] && insmod "$m"; done
insmod /root/` + ModuleName + `.ko
D=/sys/kernel/debug/kgen/` + ModuleName + `
cat /root/ptest.funcs > $D/probes
echo arm > $D/ctl
(cd /tmp && sh /root/ptest.workload) >/dev/null 2>&1 </dev/null || true
echo disarm > $D/ctl
echo ` + beginMark + `
cat $D/probes
echo ` + endMark + `
rmmod ` + ModuleName + `
`

// Run implements Runner.
func (r *VMRunner) Run(ctx context.Context, funcs []string) (Outcome, error) {
	dir, err := os.MkdirTemp(r.Scratch, "kgen-ptest-*")
	if err != nil {
		return Outcome{}, fmt.Errorf("run group: %w", err)
	}
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "ptest.funcs")
	if err := os.WriteFile(list, []byte(strings.Join(funcs, "\n")+"\n"), 0o644); err != nil {
		return Outcome{}, fmt.Errorf("run group: %w", err)
	}
	wl := r.Workload
	if wl == "" {
		wl = filepath.Join(dir, "ptest.workload")
		if err := os.WriteFile(wl, []byte(DefaultWorkload), 0o644); err != nil {
			return Outcome{}, fmt.Errorf("run group: %w", err)
		}
	}
	adds := append([]vm.Add{
		{Src: r.Module, Dst: "/root/" + ModuleName + ".ko"},
		{Src: list, Dst: "/root/ptest.funcs"},
		{Src: wl, Dst: "/root/ptest.workload"},
	}, r.Adds...)
	for _, m := range r.Preload {
		adds = append(adds, vm.Add{Src: m, Dst: "/root/ptest.preload/"})
	}
	var out bytes.Buffer
	res, err := vm.Run(ctx, vm.Config{
		Kernel: r.Kernel, Adds: adds, SMP: r.SMP, Timeout: r.Timeout, Busybox: r.Busybox,
		Cmd: groupScript, KgenBinary: "-", Stdout: &out,
	})
	var ge *vm.GuestError
	if errors.As(err, &ge) {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return Outcome{Crashed: true, Reason: ge.Reason, Line: ge.Line, Tail: ge.Tail}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	if res.ExitCode != 0 {
		return Outcome{}, fmt.Errorf("group script exited %d: %s", res.ExitCode, lastLines(out.String(), 10))
	}
	return parseCounts(out.String())
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
// modules') minus /sys/kernel/debug/kprobes/blacklist, sorted.
func (r *VMRunner) ListFunctions(ctx context.Context) ([]string, error) {
	var out bytes.Buffer
	res, err := vm.Run(ctx, vm.Config{
		Kernel: r.Kernel, SMP: r.SMP, Timeout: r.Timeout, Busybox: r.Busybox,
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
		if reFunc.MatchString(name) {
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
