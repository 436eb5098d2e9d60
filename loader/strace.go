package loader

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Strace prints the events of a process-kind module (<name>_sys_enter,
// _sys_exit, _fork, _exec, _exit, _signal_*) the way strace users read
// them, one line per event: `1234 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3`.
// A call's exit event carries its arguments, so one event makes the line;
// when there is an entry event too (trace_syscall_entry=1, or execve and
// the calls that do not return), entry and exit pair up on one line, else
// `<unfinished ...>` and `<... openat resumed>`. An execve whose entry was
// not seen (kgen run follows CMD from its exec) shows the exec event's
// filename and argv. Syscall names come from the kernel's own table, which
// the module lists in debugfs kgen/<name>/syscalls (SyscallNames).
type Strace struct {
	Module  string // the module name, the events' prefix
	W       io.Writer
	Names   map[int64]string // syscall number -> name; nil shows syscall_<nr>
	pending map[int]Event    // tid -> sys_enter not yet printed
	execs   map[int]Event    // pid -> its last exec event, for an execve without entry
	cut     map[int]int64    // tid -> the call in flight shown unfinished (its nr)
}

// Annotate adds the field name (the syscall's, from Names) to a sys_enter
// or sys_exit event of the module; the events carry only the number, as
// copying a string per syscall would cost every traced call.
func (s *Strace) Annotate(ev *Event) {
	if ev.Event != s.Module+"_sys_enter" && ev.Event != s.Module+"_sys_exit" {
		return
	}
	if _, ok := ev.Fields["name"]; ok {
		return
	}
	nr := fint64(*ev, "nr")
	if n, ok := s.Names[nr]; ok {
		ev.Fields["name"] = n
	} else {
		ev.Fields["name"] = "syscall_" + strconv.FormatInt(nr, 10)
	}
}

// SyscallNames reads the syscall table a process module lists in debugfs
// kgen/<name>/syscalls ("<nr> <name>" lines).
func SyscallNames(name string, opts *Options) (map[int64]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	d, err := locateFS(o)
	if err != nil {
		return nil, err
	}
	if d.debugfs == "" {
		return nil, fmt.Errorf("read syscall names of %s: debugfs is not mounted", name)
	}
	b, err := os.ReadFile(o.host(path.Join(d.debugfs, "kgen", name, "syscalls")))
	if err != nil {
		return nil, fmt.Errorf("read syscall names of %s: %w", name, err)
	}
	return parseSyscallNames(string(b)), nil
}

func parseSyscallNames(s string) map[int64]string {
	m := map[int64]string{}
	for _, l := range strings.Split(s, "\n") {
		nr, n, ok := strings.Cut(strings.TrimSpace(l), " ")
		if v, err := strconv.ParseInt(nr, 10, 64); ok && err == nil && n != "" {
			m[v] = n
		}
	}
	return m
}

// Handle prints ev when it is a process event and reports whether it was.
func (s *Strace) Handle(ev Event) (bool, error) {
	kind, ok := strings.CutPrefix(ev.Event, s.Module+"_")
	if _, hasTid := ev.Fields["tid"]; !ok || !hasTid {
		return false, nil
	}
	if s.pending == nil {
		s.pending = map[int]Event{}
		s.execs = map[int]Event{}
		s.cut = map[int]int64{}
	}
	s.Annotate(&ev)
	tid := fint(ev, "tid")
	// A call in flight is shown unfinished once another task's event
	// comes between its entry and its exit.
	line := s.flush(tid)
	switch kind {
	case "sys_enter":
		if old, ok := s.pending[tid]; ok {
			line += fmt.Sprintf("%d %s <unfinished ...>\n", tid, callText(old))
		}
		delete(s.cut, tid)
		s.pending[tid] = ev
		_, err := io.WriteString(s.W, line)
		return true, err
	case "sys_exit":
		name := fstr(ev, "name")
		ret := retText(name, fint64(ev, "ret"))
		in, paired := s.pending[tid]
		if paired && fint(in, "nr") != fint(ev, "nr") {
			// An entry without its exit (rt_sigreturn, whose exit the
			// module cannot number): it did not return as itself.
			line += fmt.Sprintf("%d %s = ?\n", tid, callText(in))
			delete(s.pending, tid)
			paired = false
		}
		cutNr, wasCut := s.cut[tid]
		ex, execed := s.execs[fint(ev, "pid")]
		_, hasArgs := ev.Fields["a0"]
		switch {
		case wasCut && cutNr == fint64(ev, "nr"):
			line += fmt.Sprintf("%d <... %s resumed>) = %s\n", tid, name, ret)
		case paired:
			line += fmt.Sprintf("%d %s = %s\n", tid, callText(in), ret)
		case (name == "execve" || name == "execveat") && execed:
			line += fmt.Sprintf("%d %s(%q, %s, ...) = %s\n", tid, name, fstr(ex, "filename"), fstr(ex, "argv"), ret)
		case hasArgs && !entryAlways[name]:
			line += fmt.Sprintf("%d %s = %s\n", tid, callText(ev), ret)
		default:
			line += fmt.Sprintf("%d <... %s resumed>) = %s\n", tid, name, ret)
		}
		delete(s.pending, tid)
		delete(s.cut, tid)
		delete(s.execs, fint(ev, "pid"))
	case "fork":
		line += fmt.Sprintf("%d --- forked %d (%s) ---\n", tid, fint(ev, "child"), cloneFlags(fuint(ev, "flags")))
	case "exec":
		s.execs[fint(ev, "pid")] = ev
		line += fmt.Sprintf("%d --- exec %q %s ---\n", tid, fstr(ev, "filename"), fstr(ev, "argv"))
	case "exit":
		if p, ok := s.pending[tid]; ok {
			line += fmt.Sprintf("%d %s = ?\n", tid, callText(p))
			delete(s.pending, tid)
		}
		code := fint(ev, "code")
		switch {
		case fint(ev, "group_dead") == 0:
			line += fmt.Sprintf("%d +++ thread exited +++\n", tid)
		case code&0x7f != 0:
			core := ""
			if code&0x80 != 0 {
				core = " (core dumped)"
			}
			line += fmt.Sprintf("%d +++ killed by %s%s +++\n", tid, unix.SignalName(unix.Signal(code&0x7f)), core)
		default:
			line += fmt.Sprintf("%d +++ exited with %d +++\n", tid, code>>8&0xff)
		}
	case "signal_deliver":
		line += fmt.Sprintf("%d --- %s {si_signo=%[2]s, si_code=%s, si_pid=%d} ---\n", tid,
			sigName(fint(ev, "sig")), siCode(fint(ev, "code")), fint(ev, "sender"))
	case "signal_generate":
		line += fmt.Sprintf("%d --- %s sent by %d (si_code=%s, result %d) ---\n", tid,
			sigName(fint(ev, "sig")), fint(ev, "sender"), siCode(fint(ev, "code")), fint(ev, "result"))
	default:
		return false, nil
	}
	_, err := io.WriteString(s.W, line)
	return true, err
}

// flush shows the calls in flight of tasks other than tid as unfinished,
// in tid order; their exits print as resumed.
func (s *Strace) flush(tid int) string {
	var tids []int
	for t := range s.pending {
		if t != tid {
			tids = append(tids, t)
		}
	}
	sort.Ints(tids)
	var b strings.Builder
	for _, t := range tids {
		fmt.Fprintf(&b, "%d %s <unfinished ...>\n", t, callText(s.pending[t]))
		s.cut[t] = fint64(s.pending[t], "nr")
		delete(s.pending, t)
	}
	return b.String()
}

func fint64(ev Event, k string) int64 {
	switch v := ev.Fields[k].(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 0, 64)
		return n
	}
	return 0
}

func fint(ev Event, k string) int { return int(fint64(ev, k)) }

func fuint(ev Event, k string) uint64 {
	switch v := ev.Fields[k].(type) {
	case int64:
		return uint64(v)
	case uint64:
		return v
	case string:
		n, _ := strconv.ParseUint(v, 0, 64)
		return n
	}
	return 0
}

func fstr(ev Event, k string) string { s, _ := ev.Fields[k].(string); return s }

// entryAlways are the calls whose exit event cannot show their arguments
// (the module zeroes them): they always have an entry event.
var entryAlways = map[string]bool{"execve": true, "execveat": true, "exit": true, "exit_group": true, "rt_sigreturn": true}

// arity of the calls whose argument count the display needs; others show
// up to their last non-zero argument.
var arity = map[string]int{
	"read": 3, "write": 3, "open": 3, "close": 1, "openat": 4, "openat2": 4, "stat": 2,
	"newfstatat": 4, "fstat": 2, "lstat": 2, "execve": 3, "exit_group": 1, "exit": 1,
	"getpid": 0, "getppid": 0, "getuid": 0, "gettid": 0, "kill": 2, "wait4": 4, "dup2": 2,
	"unlink": 1, "unlinkat": 3, "mkdir": 2, "access": 2, "faccessat": 3, "chdir": 1,
	"brk": 1, "mmap": 6, "munmap": 2, "mprotect": 3, "fcntl": 3, "ioctl": 3, "pipe2": 2,
}

// callText renders a sys_enter event as name(args...).
func callText(ev Event) string {
	name := fstr(ev, "name")
	if name == "" {
		name = "syscall_" + strconv.Itoa(fint(ev, "nr"))
	}
	var a [6]uint64
	n := 0
	for i := range a {
		a[i] = fuint(ev, "a"+strconv.Itoa(i))
		if a[i] != 0 {
			n = i + 1
		}
	}
	if k, ok := arity[name]; ok {
		n = k
	}
	// open's and openat's mode is there only with O_CREAT or O_TMPFILE.
	if fl := map[string]int{"open": 1, "openat": 2}[name]; fl > 0 && a[fl]&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		n = fl + 1
	}
	pa := fint(ev, "path_arg")
	if pa >= n {
		n = pa + 1
	}
	args := make([]string, n)
	for i := 0; i < n; i++ {
		switch {
		case i == pa:
			p := fstr(ev, "path")
			if p == "(bad address)" {
				args[i] = p
			} else {
				args[i] = strconv.Quote(p)
			}
		case i == 0 && pa == 1 && int32(a[0]) == -100:
			args[i] = "AT_FDCWD"
		case (name == "open" && i == 1) || (name == "openat" && i == 2):
			args[i] = openFlags(a[i])
		case (name == "open" && i == 2) || (name == "openat" && i == 3):
			args[i] = fmt.Sprintf("0%o", a[i])
		case int32(a[i]) < 0 && int32(a[i]) >= -4096 && a[i] <= 0xffffffff:
			args[i] = strconv.Itoa(int(int32(a[i])))
		case a[i] > 0xffff:
			args[i] = fmt.Sprintf("0x%x", a[i])
		default:
			args[i] = strconv.FormatInt(int64(int32(a[i])), 10)
		}
	}
	return name + "(" + strings.Join(args, ", ") + ")"
}

// retText: errors as strace shows them, addresses in hex.
func retText(name string, r int64) string {
	if r < 0 && r >= -4095 {
		e := unix.Errno(-r)
		if n := unix.ErrnoName(e); n != "" {
			return fmt.Sprintf("-1 %s (%s)", n, strings.ToUpper(e.Error()[:1])+e.Error()[1:])
		}
		return fmt.Sprintf("-1 errno %d", -r)
	}
	if name == "mmap" || name == "brk" || name == "mremap" {
		return fmt.Sprintf("0x%x", uint64(r))
	}
	return strconv.FormatInt(r, 10)
}

var oFlags = []struct {
	bit  uint64
	name string
}{
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_LARGEFILE, "O_LARGEFILE"},
}

func openFlags(f uint64) string {
	parts := []string{[]string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"}[f&3]}
	f &^= 3
	for _, o := range oFlags {
		if f&o.bit != 0 {
			parts = append(parts, o.name)
			f &^= o.bit
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", f))
	}
	return strings.Join(parts, "|")
}

var cFlags = []struct {
	bit  uint64
	name string
}{
	{unix.CLONE_VM, "CLONE_VM"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"}, {unix.CLONE_VFORK, "CLONE_VFORK"}, {unix.CLONE_THREAD, "CLONE_THREAD"},
}

func cloneFlags(f uint64) string {
	var parts []string
	for _, c := range cFlags {
		if f&c.bit != 0 {
			parts = append(parts, c.name)
		}
	}
	if s := f & 0xff; s != 0 {
		parts = append(parts, sigName(int(s)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

func sigName(n int) string {
	if s := unix.SignalName(unix.Signal(n)); s != "" {
		return s
	}
	return "SIG" + strconv.Itoa(n)
}

func siCode(c int) string {
	switch c {
	case 0:
		return "SI_USER"
	case 0x80:
		return "SI_KERNEL"
	case -1:
		return "SI_QUEUE"
	case -6:
		return "SI_TKILL"
	}
	return strconv.Itoa(c)
}

// SyscallSummary renders a process module's per-syscall stats rows
// (calls, errors, time_ns) as strace -c does; "" when there are none.
func SyscallSummary(st *Stats) string {
	type row struct {
		name                string
		calls, errors, nsec uint64
	}
	var rows []row
	var total row
	for _, p := range st.Probes {
		r := row{name: p.Probe}
		has := false
		for _, c := range p.Counters {
			switch c.Name {
			case "calls":
				r.calls, has = c.Value, true
			case "errors":
				r.errors = c.Value
			case "time_ns":
				r.nsec = c.Value
			}
		}
		if has {
			rows = append(rows, r)
			total.calls += r.calls
			total.errors += r.errors
			total.nsec += r.nsec
		}
	}
	if len(rows) == 0 {
		return ""
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].nsec > rows[j].nsec })
	var b strings.Builder
	fmt.Fprintf(&b, "%% time     seconds  usecs/call     calls    errors syscall\n")
	fmt.Fprintf(&b, "------ ----------- ----------- --------- --------- ----------------\n")
	line := func(r row) {
		pct := 0.0
		if total.nsec > 0 {
			pct = 100 * float64(r.nsec) / float64(total.nsec)
		}
		per := uint64(0)
		if r.calls > 0 {
			per = r.nsec / 1000 / r.calls
		}
		errs := ""
		if r.errors > 0 {
			errs = strconv.FormatUint(r.errors, 10)
		}
		fmt.Fprintf(&b, "%6.2f %11.6f %11d %9d %9s %s\n", pct, float64(r.nsec)/1e9, per, r.calls, errs, r.name)
	}
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintf(&b, "------ ----------- ----------- --------- --------- ----------------\n")
	total.name = "total"
	line(total)
	return b.String()
}
