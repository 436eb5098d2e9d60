package spec

import (
	"fmt"
	"regexp"
	"strings"
)

// KindProcess is the kind name of Process specs.
const KindProcess = "process"

// Process is the spec of a process tracer after F. Eigler's utrace
// "process" engine: follow one process tree (or every process) and trace
// its lifecycle (fork, exec, exit), its system calls with arguments and
// results, and its signals, from the tracepoints every kernel has. The
// controls are the seed's, with its names and meanings; the spec sets
// their defaults, and each is also a module parameter and a debugfs file
// under kgen/<name>/, changeable while tracing.
type Process struct {
	Meta `yaml:",inline"`
	// FollowPid is the process followed with its threads and all its
	// descendants; 0 = every process (system-wide).
	FollowPid int `yaml:"follow_pid,omitempty" json:"follow_pid,omitempty"`
	// TraceLifecycle, TraceSyscalls, TraceSignals select the event
	// groups; absent = true.
	TraceLifecycle *bool `yaml:"trace_lifecycle,omitempty" json:"trace_lifecycle,omitempty"`
	TraceSyscalls  *bool `yaml:"trace_syscalls,omitempty" json:"trace_syscalls,omitempty"`
	TraceSignals   *bool `yaml:"trace_signals,omitempty" json:"trace_signals,omitempty"`
	// TraceSyscallEntry also writes an event at each system call's entry,
	// as it happens (strace's "<unfinished ...>" view of a call that
	// blocks); absent = false: a call's one event, with its arguments, path
	// and result, is written when it returns, and only the calls that do
	// not return or replace their registers (execve, execveat, exit,
	// exit_group, rt_sigreturn) have an entry event. The entry events cost
	// a second ring-buffer event per call.
	TraceSyscallEntry *bool `yaml:"trace_syscall_entry,omitempty" json:"trace_syscall_entry,omitempty"`
	// UIDFilter keeps only events of tasks with this uid; absent = -1 = any.
	UIDFilter *int `yaml:"uid_filter,omitempty" json:"uid_filter,omitempty"`
	// TaskcommFilter keeps only events of tasks with this comm; "" = any.
	TaskcommFilter string `yaml:"taskcomm_filter,omitempty" json:"taskcomm_filter,omitempty"`
	// Syscalls restricts syscall events to these names (the kernel's
	// __NR_<name>); empty = every system call.
	Syscalls []string `yaml:"syscalls,omitempty" json:"syscalls,omitempty"`
	// ExecArgvBytes is how many bytes of an exec's argv are recorded.
	ExecArgvBytes int `yaml:"exec_argv_bytes,omitempty" json:"exec_argv_bytes,omitempty"`
	// PathBytes is how many bytes of a syscall's path argument are recorded.
	PathBytes int `yaml:"path_bytes,omitempty" json:"path_bytes,omitempty"`
	// MaxProcesses bounds the followed processes (tgids) at once.
	MaxProcesses int `yaml:"max_processes,omitempty" json:"max_processes,omitempty"`
}

// Limits and defaults of the process kind.
const (
	DefaultProcessArgvBytes    = 256
	MaxProcessArgvBytes        = 1024
	DefaultProcessPathBytes    = 128
	MaxProcessPathBytes        = 256
	DefaultProcessMaxProcesses = 1024
	MaxProcessMaxProcesses     = 65536
	MaxProcessSyscalls         = 512
)

// reSyscallName is a system call as the kernel's __NR_<name> names it.
var reSyscallName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func init() {
	Register(KindProcess, func() Kind { return &Process{} })
}

// Bool returns *b, or def when b is nil.
func Bool(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// Default fills the seed's defaults: every event group on, uid_filter -1,
// and the byte and process bounds. An explicit 0 for a bound is an error.
func (p *Process) Default(v *Validator) {
	t := true
	for _, b := range []**bool{&p.TraceLifecycle, &p.TraceSyscalls, &p.TraceSignals} {
		if *b == nil {
			*b = &t
		}
	}
	if p.UIDFilter == nil {
		u := -1
		p.UIDFilter = &u
	}
	for _, f := range []struct {
		key      string
		val      *int
		def, max int
	}{
		{"exec_argv_bytes", &p.ExecArgvBytes, DefaultProcessArgvBytes, MaxProcessArgvBytes},
		{"path_bytes", &p.PathBytes, DefaultProcessPathBytes, MaxProcessPathBytes},
		{"max_processes", &p.MaxProcesses, DefaultProcessMaxProcesses, MaxProcessMaxProcesses},
	} {
		if *f.val == 0 {
			if v.Has(f.key) {
				v.Errorf(f.key, "must be between 1 and %d; got 0 (omit it for the default, %d)", f.max, f.def)
			}
			*f.val = f.def
		}
	}
}

// Validate checks the controls' ranges and every syscall name.
func (p *Process) Validate(v *Validator) {
	if p.FollowPid < 0 || p.FollowPid > MaxPid {
		v.Errorf("follow_pid", "must be between 0 and %d (0 = every process); got %d", MaxPid, p.FollowPid)
	}
	if u := *p.UIDFilter; u < -1 || u > 1<<31-2 {
		v.Errorf("uid_filter", "must be a uid (0..%d) or -1 (any); got %d", 1<<31-2, u)
	}
	if c := p.TaskcommFilter; len(c) > MaxComm {
		v.Errorf("taskcomm_filter", "%q is %d bytes; at most %d (a task comm)", c, len(c), MaxComm)
	} else if strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
		v.Errorf("taskcomm_filter", "%q must be printable ASCII without '\"' or '\\'", c)
	}
	for _, f := range []struct {
		key      string
		val, max int
	}{
		{"exec_argv_bytes", p.ExecArgvBytes, MaxProcessArgvBytes},
		{"path_bytes", p.PathBytes, MaxProcessPathBytes},
		{"max_processes", p.MaxProcesses, MaxProcessMaxProcesses},
	} {
		if f.val < 1 || f.val > f.max {
			v.Errorf(f.key, "must be between 1 and %d; got %d", f.max, f.val)
		}
	}
	if len(p.Syscalls) > MaxProcessSyscalls {
		v.Errorf("syscalls", "%d names; at most %d", len(p.Syscalls), MaxProcessSyscalls)
	}
	seen := map[string]int{}
	for i, s := range p.Syscalls {
		path := fmt.Sprintf("syscalls[%d]", i)
		n := strings.TrimPrefix(s, "sys_")
		switch {
		case s == "":
			v.Errorf(path, "empty; a system call name, e.g. openat")
		case len(s) > 64:
			v.Errorf(path, "%d characters; at most 64", len(s))
		case !reSyscallName.MatchString(s):
			v.Errorf(path, "%q must be a system call name as in the kernel's __NR_<name> ([a-z_][a-z0-9_]*)", s)
		case n != s:
			v.Errorf(path, "%q: name the system call without sys_ (%s)", s, n)
		default:
			if j, dup := seen[s]; dup {
				v.Errorf(path, "%q already listed as syscalls[%d]", s, j)
			} else {
				seen[s] = i
			}
		}
	}
}

func (*Process) fieldDocs() map[string]fieldDoc {
	return map[string]fieldDoc{
		"": {Description: "A process tracer (after the utrace \"process\" engine): follows one process tree and traces its fork/exec/exit, its system calls with arguments and results, and its signals, from the kernel's tracepoints. Each control is also a module parameter and a debugfs file under kgen/<name>/."},
		"follow_pid": {Description: "The process followed with its threads and all its descendants, including those forked before the tracer was loaded; 0 = every process.",
			Min: intp(0), Max: intp(MaxPid)},
		"trace_lifecycle": {Description: "Trace fork, exec and exit (default true)."},
		"trace_syscalls":  {Description: "Trace system call entry and exit with arguments and results (default true)."},
		"trace_signals":   {Description: "Trace signals generated for and delivered to followed tasks (default true)."},
		"uid_filter": {Description: "Only events of tasks with this uid (-1 = any, the default). Filtered tasks are still followed.",
			Min: intp(-1), Max: intp(1<<31 - 2)},
		"taskcomm_filter": {Description: "Only events of tasks with this comm (\"\" = any). Filtered tasks are still followed.",
			MaxLength: MaxComm, Pattern: `^[ !#-\[\]-~]*$`},
		"syscalls": {Description: "Only these system calls, by the kernel's __NR_<name> (e.g. openat, read); empty = all. A name the target kernel lacks fails the build.",
			MaxItems: MaxProcessSyscalls},
		"exec_argv_bytes": {Description: "Bytes of an exec's argv recorded (default 256).", Min: intp(1), Max: intp(MaxProcessArgvBytes)},
		"path_bytes":      {Description: "Bytes of a system call's path argument recorded (default 128).", Min: intp(1), Max: intp(MaxProcessPathBytes)},
		"max_processes":   {Description: "Followed processes at once, at most (default 1024); a fork beyond it is counted, not followed.", Min: intp(1), Max: intp(MaxProcessMaxProcesses)},
	}
}
