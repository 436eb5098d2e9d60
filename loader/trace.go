package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// TraceOptions configure Trace.
type TraceOptions struct {
	Options *Options
	// Symbolize resolves stack addresses through <proc>/kallsyms into
	// Event.StackSyms; when kallsyms is unreadable they stay hex.
	Symbolize bool
	// OnUnparsed receives lines that are not events of the module's format
	// (e.g. "CPU:1 [LOST 12 EVENTS]"); nil drops them.
	OnUnparsed func(line string) error
	// PollInterval bounds how long cancellation takes; default 200ms.
	PollInterval time.Duration
	// Drain bounds the reading of what the ring buffer still holds once
	// ctx is done (reading stops earlier when the buffer is empty);
	// default drainLimit. kgen run, whose traced command has exited,
	// gives it longer: the buffer may hold a burst the reader is behind.
	Drain time.Duration
	// LostSinceLoad counts every event the instance lost since it was
	// created (kgen run: the traced command starts before the reader),
	// not only those lost while Trace ran.
	LostSinceLoad bool
}

// TraceSummary is what Trace saw.
type TraceSummary struct {
	Events   uint64 // events passed to the callback
	Unparsed uint64 // lines that did not parse
	// Lost is the growth, over the run, of the instance's ring-buffer
	// overruns and dropped events summed over CPUs (per_cpu/cpuN/stats).
	Lost uint64
	// Unread is what the ring buffer still held when Trace stopped (its
	// drain ran out of time): neither seen nor lost.
	Unread uint64
}

// Trace streams the events of module name from its kgen tracefs instance
// (instances/kgen_<name>/trace_pipe) to fn until ctx is done, fn returns an
// error, or reading fails. A done ctx is not an error. Trace changes no
// tracing state: the module stays loaded, its events stay enabled.
func Trace(ctx context.Context, name string, topts *TraceOptions, fn func(Event) error) (*TraceSummary, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if topts == nil {
		topts = &TraceOptions{}
	}
	o := topts.Options.withDefaults()
	interval := topts.PollInterval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	dirs, err := locateFS(o)
	if err != nil {
		return nil, err
	}
	if dirs.tracing == "" {
		return nil, fmt.Errorf("trace %s: %w: tracefs is not mounted; load the module with `kgen load` first", name, ErrNoTracefs)
	}
	inst := path.Join(dirs.tracing, "instances", InstanceName(name))
	// Another tool may have removed the instance (trace-cmd extract -B
	// deletes it): when kgen loaded the module, put it back.
	recreate := func() error {
		st, err := readState(o, name)
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("trace %s: %w: %s does not exist; load the module with `kgen load` first", name, ErrNoInstance, inst)
		}
		if err := restoreInstance(o, name, inst); err != nil {
			return fmt.Errorf("trace %s: %w", name, err)
		}
		o.logf("note: tracefs instance %s was removed by another tool; recreated it with module %s's events enabled", inst, name)
		return nil
	}
	// trace-cmd extract -B kgen_<name> also turns the instance's
	// tracing_on and events off before it tries to remove it (which fails
	// while kgen trace holds trace_pipe open): turn them back on.
	turnOn := func() error {
		var fixed []string
		for _, k := range []string{path.Join(inst, "tracing_on"), path.Join(inst, "events", name, "enable")} {
			b, err := os.ReadFile(o.host(k))
			if err != nil || strings.TrimSpace(string(b)) == "1" {
				continue // a module without events has no enable file
			}
			if err := writeKnob(o, k, "1"); err != nil {
				return fmt.Errorf("trace %s: %w", name, err)
			}
			fixed = append(fixed, k)
		}
		switch len(fixed) {
		case 1:
			o.logf("note: another tool turned off %s; turned it back on", fixed[0])
		case 2:
			o.logf("note: another tool turned off %s and %s; turned them back on", fixed[0], fixed[1])
		}
		return nil
	}
	if !isDir(o.host(inst)) {
		if err := recreate(); err != nil {
			return nil, err
		}
	}
	if err := turnOn(); err != nil {
		return nil, err
	}
	// The reads of trace_pipe below must not trace themselves: a probe on
	// vfs_read would otherwise feed itself an event per read, forever.
	// Pin this goroutine to one thread and hide that thread's events.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore := ignoreSelf(o, inst)
	defer func() { restore() }()

	parser, err := loadParser(o, path.Join(inst, "events", name))
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	var before uint64
	if !topts.LostSinceLoad {
		before = overruns(o, inst)
	}
	pipe := o.host(path.Join(inst, "trace_pipe"))
	fd, err := unix.Open(pipe, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: pipe, Err: err}
	}
	// gone is checked while the pipe is idle: the instance still records
	// (turnOn), or it went away. The kernels tested refuse to remove an
	// instance whose trace_pipe is open (EBUSY), but one that lets it go
	// must not leave kgen trace reading a dead file: reopen the pipe of a
	// recreated instance.
	gone := func() (bool, error) {
		if isDir(o.host(inst)) {
			return false, turnOn()
		}
		unix.Close(fd)
		fd = -1
		if err := recreate(); err != nil {
			return true, err
		}
		restore = ignoreSelf(o, inst)
		before = 0
		nfd, err := unix.Open(pipe, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return true, &os.PathError{Op: "open", Path: pipe, Err: err}
		}
		fd = nfd
		return true, nil
	}
	sum := &TraceSummary{}
	var sym *Symbolizer
	symTried := !topts.Symbolize

	handle := func(line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		ev, err := parser.Parse(line)
		if err != nil {
			sum.Unparsed++
			if topts.OnUnparsed != nil {
				return topts.OnUnparsed(strings.TrimSpace(line))
			}
			return nil
		}
		if len(ev.Stack) > 0 {
			if !symTried {
				symTried = true
				sym, err = LoadKallsyms(filepath.Join(o.ProcDir, "kallsyms"))
				if err != nil {
					o.logf("warning: %v; stacks stay hex", err)
				}
			}
			if sym != nil {
				ev.StackSyms = make([]string, len(ev.Stack))
				for i, a := range ev.Stack {
					ev.StackSyms[i] = sym.Symbolize(a)
				}
			}
		}
		sum.Events++
		return fn(ev)
	}

	drainFor := topts.Drain
	if drainFor <= 0 {
		drainFor = drainLimit
	}
	err = readPipe(ctx, func() int { return fd }, interval, drainFor, handle, gone)
	if fd >= 0 {
		unix.Close(fd)
	}
	sum.Unread = bufferStat(o, inst, "entries")
	after := overruns(o, inst)
	if after >= before {
		sum.Lost = after - before
	}
	if err != nil {
		return sum, err
	}
	return sum, nil
}

// ignoreSelf adds the calling thread to the instance's
// set_event_notrace_pid (5.8+) and returns a func restoring the list as it
// was. Kernels without the file trace the reader too (noted once).
func ignoreSelf(o *Options, inst string) func() {
	file := o.host(path.Join(inst, "set_event_notrace_pid"))
	old, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return func() {} // before 5.8: nothing to do about it
	}
	if err != nil {
		o.logf("note: %s: %v; kgen trace's own reads may show up as events", path.Join(inst, "set_event_notrace_pid"), err)
		return func() {}
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		o.logf("note: %v; kgen trace's own reads may show up as events", err)
		return func() {}
	}
	_, err = fmt.Fprintf(f, "%d\n", unix.Gettid())
	f.Close()
	if err != nil {
		o.logf("note: write %s: %v; kgen trace's own reads may show up as events", file, err)
		return func() {}
	}
	return func() {
		// O_TRUNC empties the list; then the old pids go back.
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			o.logf("warning: restore %s: %v", file, err)
			return
		}
		defer f.Close()
		if pids := strings.Fields(string(old)); len(pids) > 0 {
			if _, err := f.WriteString(strings.Join(pids, " ") + "\n"); err != nil {
				o.logf("warning: restore %s: %v", file, err)
			}
		}
	}
}

// drainLimit bounds the last read after the context ends: what the ring
// buffer already holds is printed, but a busy probe cannot keep the
// reader from exiting.
const drainLimit = 2 * time.Second

// readPipe calls line for every line of the non-blocking trace_pipe fd()
// until ctx ends, then for what is still buffered (for up to drainFor),
// so events recorded before a Ctrl-C or the end of --duration are not
// dropped. When the pipe is idle it asks gone (if not nil) whether the
// file went away, which may replace fd().
func readPipe(ctx context.Context, fdf func() int, interval, drainFor time.Duration, line func(string) error, gone func() (bool, error)) error {
	buf := make([]byte, 64*1024)
	var pending []byte
	ms := int(interval / time.Millisecond)
	// readAll reads until the pipe is empty, while more is true; it
	// reports whether it read anything.
	readAll := func(more func() bool) (bool, error) {
		got := false
		for more() {
			r, err := unix.Read(fdf(), buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) || (err == nil && r == 0) {
				break
			}
			if err != nil {
				return got, fmt.Errorf("read trace_pipe: %w", err)
			}
			got = true
			pending = append(pending, buf[:r]...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				if err := line(string(pending[:i])); err != nil {
					return got, err
				}
				pending = pending[i+1:]
			}
			pending = append([]byte(nil), pending...)
		}
		return got, nil
	}
	// idle asks gone whether the pipe went away; a new pipe starts with
	// no partial line.
	idle := func() error {
		if gone == nil {
			return nil
		}
		replaced, err := gone()
		if replaced {
			pending = nil
		}
		return err
	}
	drain := func() error {
		end := time.Now().Add(drainFor)
		_, err := readAll(func() bool { return time.Now().Before(end) })
		return err
	}
	for {
		if ctx.Err() != nil {
			return drain()
		}
		pfd := []unix.PollFd{{Fd: int32(fdf()), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll trace_pipe: %w", err)
		}
		if n == 0 {
			if err := idle(); err != nil {
				return err
			}
			continue
		}
		got, err := readAll(func() bool { return ctx.Err() == nil })
		if err != nil {
			return err
		}
		if !got {
			if err := idle(); err != nil {
				return err
			}
			// Readable but nothing to read (a regular file at EOF, or a
			// spurious wakeup): do not spin.
			select {
			case <-ctx.Done():
				return drain()
			case <-time.After(interval / 4):
			}
		}
	}
}

// overruns sums "overrun:" and "dropped events:" over the instance's CPUs.
func overruns(o *Options, inst string) uint64 {
	return bufferStat(o, inst, "overrun", "dropped events")
}

// bufferStat sums the per-CPU ring-buffer stats keys of instance inst.
func bufferStat(o *Options, inst string, keys ...string) uint64 {
	dir := o.host(path.Join(inst, "per_cpu"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total uint64
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "cpu") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stats"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok || !slices.Contains(keys, k) {
				continue
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
				total += n
			}
		}
	}
	return total
}

// loadParser reads the format files of the events under dir (the
// module's events in its instance). A module without events gets a parser
// that parses nothing.
func loadParser(o *Options, dir string) (*Parser, error) {
	ents, err := os.ReadDir(o.host(dir))
	if errors.Is(err, os.ErrNotExist) {
		return NewParser(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read event formats: %w", err)
	}
	var fs []*EventFormat
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		file := o.host(path.Join(dir, e.Name(), "format"))
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read event format: %w", err)
		}
		f, err := ParseFormat(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		fs = append(fs, f)
	}
	return NewParser(fs...), nil
}
