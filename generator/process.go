package generator

import (
	"fmt"

	"kgen/spec"
)

func init() { Register(spec.KindProcess, processKind{}) }

// processKind generates the process tracer of a spec.Process: probes on
// the sched, raw_syscalls and signal tracepoints, a followed-process set,
// the seed's controls as module parameters and debugfs files, one trace
// event per event type.
type processKind struct{}

type processData struct {
	Header
	FollowPid      int
	TraceLifecycle int // 0 or 1
	TraceSyscalls  int
	TraceSignals   int
	SyscallEntry   int
	UIDFilter      int
	Comm           string // C string literal
	ArgvBytes      int
	ArgvOut        int // bytes of the rendered argv buffer
	PathBytes      int
	MaxProcesses   int
	Slots          int // hash slots of the followed set: a power of two >= 2*MaxProcesses
	Syscalls       []processSyscall
}

// processSyscall is one entry of syscalls: restricting the events.
type processSyscall struct {
	Path string // spec path, for the C comment
	Name string // validated [a-z_][a-z0-9_]*: becomes __NR_<name>
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (processKind) Module(s spec.Spec, h Header) (Module, error) {
	p, ok := s.(*spec.Process)
	if !ok {
		return Module{}, fmt.Errorf("process generator given %T", s)
	}
	if p.UIDFilter == nil || p.MaxProcesses < 1 || p.ExecArgvBytes < 1 || p.PathBytes < 1 {
		return Module{}, fmt.Errorf("process spec %s not defaulted", p.Name)
	}
	slots := 16
	for slots < 2*p.MaxProcesses {
		slots *= 2
	}
	d := processData{
		Header:         h,
		FollowPid:      p.FollowPid,
		TraceLifecycle: b01(spec.Bool(p.TraceLifecycle, true)),
		TraceSyscalls:  b01(spec.Bool(p.TraceSyscalls, true)),
		TraceSignals:   b01(spec.Bool(p.TraceSignals, true)),
		SyscallEntry:   b01(spec.Bool(p.TraceSyscallEntry, false)),
		UIDFilter:      *p.UIDFilter,
		Comm:           CString(p.TaskcommFilter),
		ArgvBytes:      p.ExecArgvBytes,
		ArgvOut:        min(8*p.ExecArgvBytes+16, 3072),
		PathBytes:      p.PathBytes,
		MaxProcesses:   p.MaxProcesses,
		Slots:          slots,
	}
	for i, n := range p.Syscalls {
		if !isSyscallName(n) {
			return Module{}, fmt.Errorf("syscalls[%d]: %q not validated", i, n)
		}
		d.Syscalls = append(d.Syscalls, processSyscall{Path: fmt.Sprintf("syscalls[%d]", i), Name: n})
	}
	return Module{Data: d, Runtime: Runtime{Tracepoints: true, User: true}}, nil
}

// isSyscallName re-checks what reaches the C source as __NR_<name>.
func isSyscallName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
