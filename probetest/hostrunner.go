package probetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"kgen/loader"
	"kgen/vm"
)

// HostFile is the name, in the output directory, of the record of the
// group armed on the machine itself (kgen probe-test --host): the boot it
// was armed in and its functions. It exists from before the module is
// loaded until it is unloaded, so finding it at the start of a run means
// the last run stopped with that group armed.
const HostFile = "host.json"

// hostRecord is HostFile's content.
type hostRecord struct {
	BootID string   `json:"boot_id"`
	Funcs  []string `json:"funcs"`
	// Mark is the line kgen wrote to the kernel log before loading the
	// group's module: what the kernel logged after it is the group's.
	Mark string `json:"kmsg_mark,omitempty"`
}

// HostRunner runs each group on the running kernel, as SystemTap's
// kprobes_test did: it loads the group module, arms the group, runs the
// workload, disarms, reads the counts and unloads. A crash the machine
// survives (an oops, BUG, WARNING or checker report in the kernel log
// while the group was in) is the group's crash; one it does not survive
// is seen at the next run, from HostFile and the boot id.
type HostRunner struct {
	Module   string        // the group module's .ko, built for the running kernel
	Workload string        // a script run with sh while a group is armed; "" = DefaultWorkload
	Dir      string        // the output directory, where HostFile is kept
	Timeout  time.Duration // the workload's; a workload still running then is a hang (default 5m)
	Log      io.Writer     // notes (a leftover module removed, a reboot seen); nil = none

	// BootIDFile holds the current boot's id (default
	// /proc/sys/kernel/random/boot_id); tests fake a reboot with it.
	BootIDFile string
	// DebugDir is where debugfs is, or is mounted (default /sys/kernel/debug).
	DebugDir string
	// Kmsg is the kernel log device (default /dev/kmsg).
	Kmsg string
	// Loader are the loader's options (the real system when nil).
	Loader *loader.Options
	// LastBootLog returns the end of the previous boot's kernel log, the
	// tail of a group that rebooted the machine; nil = none.
	LastBootLog func() string
}

// JournalLastBoot is a HostRunner.LastBootLog: the last 80 kernel lines
// of the previous boot from journalctl, when the journal keeps them
// (Storage=persistent); "" otherwise.
func JournalLastBoot() string {
	jc, err := exec.LookPath("journalctl")
	if err != nil {
		return ""
	}
	out, err := exec.Command(jc, "-k", "-b", "-1", "-n", "80", "--no-pager", "-q").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func (r *HostRunner) defaults() {
	if r.BootIDFile == "" {
		r.BootIDFile = "/proc/sys/kernel/random/boot_id"
	}
	if r.DebugDir == "" {
		r.DebugDir = "/sys/kernel/debug"
	}
	if r.Kmsg == "" {
		r.Kmsg = "/dev/kmsg"
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Minute
	}
}

func (r *HostRunner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, "probe-test: "+format+"\n", args...)
	}
}

// hostAction is what a HostFile found at the start of a group means.
type hostAction int

const (
	hostNone     hostAction = iota // no record: nothing was armed
	hostRebooted                   // this group was armed when the machine went down
	hostKilled                     // kgen was killed in this boot: clean up, run it again
	hostStale                      // a record of another group: clean up, forget it
)

// checkHost reads dir's HostFile against the current boot id and funcs.
func checkHost(dir, bootID string, funcs []string) (hostAction, hostRecord, error) {
	var rec hostRecord
	b, err := os.ReadFile(filepath.Join(dir, HostFile))
	if errors.Is(err, os.ErrNotExist) {
		return hostNone, rec, nil
	}
	if err != nil {
		return hostNone, rec, fmt.Errorf("read %s: %w", HostFile, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.BootID == "" {
		// A torn record cannot be: it is written atomically. Someone
		// else's file; say what to do.
		return hostNone, rec, fmt.Errorf("read %s: not a kgen record (%v): remove it and run again", filepath.Join(dir, HostFile), err)
	}
	switch {
	case !slices.Equal(rec.Funcs, funcs):
		return hostStale, rec, nil
	case rec.BootID != bootID:
		return hostRebooted, rec, nil
	default:
		return hostKilled, rec, nil
	}
}

// writeKmsg logs line in the kernel log (level info).
func writeKmsg(name, line string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write the kernel log: %w", err)
	}
	_, err = f.WriteString("<6>" + line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the kernel log: %w", err)
	}
	return nil
}

// loggedSince classifies what the kernel log holds after mark; no mark
// (the log wrapped, or it was never written) is no crash.
func (r *HostRunner) loggedSince(mark string) Outcome {
	if mark == "" {
		return Outcome{}
	}
	k, err := openKmsg(r.Kmsg, false)
	if err != nil {
		return Outcome{}
	}
	defer k.Close()
	k.read()
	if after, ok := afterMark(k.lines, mark); ok {
		return classifyLog(after)
	}
	return Outcome{}
}

// afterMark returns the lines after the last line ending in mark.
func afterMark(lines []string, mark string) ([]string, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasSuffix(lines[i], mark) {
			return lines[i+1:], true
		}
	}
	return nil, false
}

// bootID reads the current boot's id.
func (r *HostRunner) bootID() (string, error) {
	b, err := os.ReadFile(r.BootIDFile)
	if err != nil {
		return "", fmt.Errorf("read the boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("read the boot id: %s is empty", r.BootIDFile)
	}
	return id, nil
}

// Run implements Runner.
func (r *HostRunner) Run(ctx context.Context, funcs []string) (Outcome, error) {
	r.defaults()
	id, err := r.bootID()
	if err != nil {
		return Outcome{}, err
	}
	act, rec, err := checkHost(r.Dir, id, funcs)
	if err != nil {
		return Outcome{}, err
	}
	host := filepath.Join(r.Dir, HostFile)
	switch act {
	case hostRebooted:
		r.logf("the machine rebooted while a group of %d functions was armed: it counts as crashed", len(funcs))
		if err := removeSync(host); err != nil {
			return Outcome{}, err
		}
		o := Outcome{Crashed: true, Reason: "reboot", Line: "the machine rebooted while this group was armed"}
		if r.LastBootLog != nil {
			o.Tail = r.LastBootLog()
			o.CrashHits = parseCrashHits(o.Tail) // the group module's panic notifier's
		}
		return o, nil
	}
	if act == hostKilled {
		// An oops can kill kgen itself (in arm, in the workload's
		// wait): what the kernel logged since the group's mark decides.
		if o := r.loggedSince(rec.Mark); o.Crashed {
			r.logf("kgen was stopped while a group of %d functions was armed, and the kernel logged %q: it counts as crashed", len(funcs), o.Line)
			if err := r.removeLeftover(); err != nil {
				// The group is decided; the next one stops on it.
				r.logf("%v", err)
			}
			return o, removeSync(host)
		}
		r.logf("kgen was stopped while a group of %d functions was armed: running it again", len(funcs))
	}
	if err := r.removeLeftover(); err != nil {
		return Outcome{}, err
	}
	mark := fmt.Sprintf("kgen probe-test: arming a group of %d functions (%s %d)", len(funcs), id, time.Now().UnixNano())
	b, err := json.Marshal(hostRecord{BootID: id, Funcs: funcs, Mark: mark})
	if err != nil {
		return Outcome{}, fmt.Errorf("run group: %w", err)
	}
	if err := WriteFileSync(host, append(b, '\n')); err != nil {
		return Outcome{}, err
	}
	if err := writeKmsg(r.Kmsg, mark); err != nil {
		removeSync(host) // nothing was loaded: a reboot now is not this group's
		return Outcome{}, err
	}
	o, err := r.runGroup(ctx, funcs)
	if err != nil {
		// The module was unloaded (or never loaded): the record is
		// only kept when the group may still be armed.
		if !r.loaded() {
			_ = removeSync(host)
		}
		return o, err
	}
	return o, removeSync(host)
}

// removeSync removes name and syncs its directory; a missing file is fine.
func removeSync(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (r *HostRunner) loaded() bool {
	ok, err := loader.ModuleLoaded(ModuleName, r.Loader)
	return err == nil && ok
}

func (r *HostRunner) moduleDir() string { return filepath.Join(r.DebugDir, "kgen", ModuleName) }

// removeLeftover disarms and unloads a group module left loaded by a
// killed run.
func (r *HostRunner) removeLeftover() error {
	if !r.loaded() {
		return nil
	}
	r.logf("removing a leftover %s (a run was stopped with it loaded)", ModuleName)
	_ = writeCtl(filepath.Join(r.moduleDir(), "ctl"), "disarm")
	if err := loader.RemoveModules([]string{ModuleName}, r.Loader); err != nil {
		return fmt.Errorf("remove the leftover %s: %w (rmmod it by hand)", ModuleName, err)
	}
	return nil
}

func writeCtl(name, s string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.WriteString(s + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", s, name, err)
	}
	return nil
}

// debugfsMagic is DEBUGFS_MAGIC (include/uapi/linux/magic.h).
const debugfsMagic = 0x64626720

// mountDebugfs mounts debugfs on DebugDir unless it is there already.
func (r *HostRunner) mountDebugfs() error {
	var st unix.Statfs_t
	if err := unix.Statfs(r.DebugDir, &st); err == nil && st.Type == debugfsMagic {
		return nil
	}
	if err := unix.Mount("debugfs", r.DebugDir, "debugfs", 0, ""); err != nil {
		return fmt.Errorf("mount debugfs on %s: %w", r.DebugDir, err)
	}
	r.logf("mounted debugfs on %s", r.DebugDir)
	return nil
}

// runGroup loads the module, arms funcs, runs the workload, disarms,
// reads the counts and unloads, watching the kernel log throughout.
func (r *HostRunner) runGroup(ctx context.Context, funcs []string) (Outcome, error) {
	if err := r.mountDebugfs(); err != nil {
		return Outcome{}, err
	}
	klog, err := openKmsg(r.Kmsg, true)
	if err != nil {
		return Outcome{}, err
	}
	defer klog.Close()
	if _, _, err := loader.InsertFile(r.Module, nil, r.Loader); err != nil {
		return Outcome{}, fmt.Errorf("load the group module: %w", err)
	}
	unload := func() error {
		if err := loader.RemoveModules([]string{ModuleName}, r.Loader); err != nil {
			return fmt.Errorf("unload the group module: %w", err)
		}
		return nil
	}
	// failed unloads after a failed stage or arm. An oops in between (the
	// arm write registers the kprobes) is the group's crash, not kgen's
	// error.
	failed := func(err error) (Outcome, error) {
		err = errors.Join(err, unload())
		if o := klog.scan(); o.Crashed {
			r.logf("%v", err)
			return o, nil
		}
		return Outcome{}, err
	}
	d := r.moduleDir()
	probes := filepath.Join(d, "probes")
	if err := os.WriteFile(probes, []byte(strings.Join(funcs, "\n")+"\n"), 0); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("%w: the group module takes fewer functions than --group (%d): build it with a larger max_probes", err, len(funcs))
		}
		return failed(fmt.Errorf("stage the group: %w", err))
	}
	if err := writeCtl(filepath.Join(d, "ctl"), "arm"); err != nil {
		return failed(err)
	}
	hung, werr := r.workload(ctx)
	derr := writeCtl(filepath.Join(d, "ctl"), "disarm")
	counts, rerr := os.ReadFile(probes)
	// A crash's counts order its bisection, and decide nothing.
	crashed := func(o Outcome) Outcome {
		if rerr == nil {
			if c, err := parseProbesFile(counts); err == nil {
				o.CrashHits = c.Hits
			}
		}
		return o
	}
	if err := errors.Join(werr, derr, unload()); err != nil {
		// A module the crash left stuck: the crash is the group's
		// outcome; the next group stops on the leftover.
		if o := klog.scan(); o.Crashed {
			r.logf("%v", err)
			return crashed(o), nil
		}
		return Outcome{}, err
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	if o := klog.scan(); o.Crashed {
		return crashed(o), nil
	}
	if hung != nil {
		return Outcome{Crashed: true, Reason: "timeout", Line: hung.Error(), Tail: klog.tail()}, nil
	}
	if rerr != nil {
		return Outcome{}, fmt.Errorf("read the counts: %w", rerr)
	}
	return parseProbesFile(counts)
}

// parseProbesFile reads the group module's probes file, as the guest
// prints it between its marks.
func parseProbesFile(b []byte) (Outcome, error) {
	return parseCounts(beginMark + "\n" + string(b) + endMark + "\n")
}

// workload runs the workload with sh in a scratch directory, in its own
// process group, killed with its children after Timeout (hung then says
// so) or when ctx ends. Its exit status does not matter.
func (r *HostRunner) workload(ctx context.Context) (hung, err error) {
	dir, err := os.MkdirTemp("", "kgen-ptest-*")
	if err != nil {
		return nil, fmt.Errorf("run the workload: %w", err)
	}
	defer os.RemoveAll(dir)
	wl := r.Workload
	if wl == "" {
		wl = filepath.Join(dir, "workload.sh")
		if err := os.WriteFile(wl, []byte(DefaultWorkload), 0o644); err != nil {
			return nil, fmt.Errorf("run the workload: %w", err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "sh", wl)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run the workload: %w", err)
	}
	_ = cmd.Wait()
	// What the workload left in the background goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if ctx.Err() == nil && tctx.Err() != nil {
		return fmt.Errorf("the workload was still running after %s", r.Timeout), nil
	}
	return nil, nil
}

// kmsg reads the kernel log from where it was opened. It reads the raw
// non-blocking descriptor: an *os.File would park a read of a pollable
// device in the poller instead of returning EAGAIN at the log's end.
type kmsg struct {
	fd    int
	lines []string
}

// openKmsg opens the kernel log at its oldest record, or at its end when
// atEnd: what is read later was logged after the open.
func openKmsg(name string, atEnd bool) (*kmsg, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the kernel log: %w", &os.PathError{Op: "open", Path: name, Err: err})
	}
	if atEnd {
		if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("open the kernel log: seek %s: %w", name, err)
		}
	}
	return &kmsg{fd: fd}, nil
}

func (k *kmsg) Close() error { return unix.Close(k.fd) }

// read takes every record logged since the last read.
func (k *kmsg) read() {
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(k.fd, buf)
		if err == unix.EPIPE {
			continue // records were overwritten before we read them
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return // EAGAIN: the end of the log
		}
		k.lines = append(k.lines, kmsgText(buf[:n])...)
	}
}

// kmsgText returns a /dev/kmsg record's message lines: the text after
// "prio,seq,time,flags;", without the " KEY=value" lines that follow.
// The kernel escapes control characters (a newline is \x0a).
func kmsgText(rec []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(rec), "\n"), "\n") {
		if strings.HasPrefix(l, " ") {
			continue
		}
		if i := strings.IndexByte(l, ';'); i >= 0 {
			l = l[i+1:]
		}
		out = append(out, strings.Split(l, `\x0a`)...)
	}
	return out
}

// scan reads what was logged since the open and classifies it: the first
// line vm.Classify calls bad makes a crash.
func (k *kmsg) scan() Outcome {
	k.read()
	return classifyLog(k.lines)
}

func (k *kmsg) tail() string { return lastLines(strings.Join(k.lines, "\n"), 80) }

// classifyLog is a crash outcome for the first bad line of lines, or a
// zero Outcome.
func classifyLog(lines []string) Outcome {
	for _, l := range lines {
		if reason := vm.Classify(l); reason != "" {
			return Outcome{Crashed: true, Reason: reason, Line: strings.TrimSpace(l),
				Tail: lastLines(strings.Join(lines, "\n"), 80)}
		}
	}
	return Outcome{}
}

// ListFunctions returns every function kprobes could take on the
// running kernel: available_filter_functions (built-in ones, not
// modules') minus the kprobe blacklist, sorted.
func (r *HostRunner) ListFunctions(ctx context.Context) ([]string, error) {
	r.defaults()
	if err := r.mountDebugfs(); err != nil {
		return nil, fmt.Errorf("list the kernel's functions: %w", err)
	}
	var funcs []byte
	var err error
	for _, f := range []string{"/sys/kernel/tracing/available_filter_functions", filepath.Join(r.DebugDir, "tracing/available_filter_functions")} {
		if funcs, err = os.ReadFile(f); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list the kernel's functions: %w (is tracefs mounted? mount -t tracefs none /sys/kernel/tracing)", err)
	}
	black, err := os.ReadFile(filepath.Join(r.DebugDir, "kprobes/blacklist"))
	if err != nil {
		return nil, fmt.Errorf("list the kernel's functions: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "KGEN-PTEST-FUNCS\n%s\nKGEN-PTEST-BLACKLIST\n%s\n%s\n", funcs, black, endMark)
	return parseFunctionList(b.String()), nil
}
