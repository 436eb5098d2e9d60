package loader

import (
	"bytes"
	"strings"
	"testing"
)

// straceParser parses the events of a process module named "process",
// with the format files a 6.1 guest gave.
func straceParser(t *testing.T) *Parser {
	var fs []*EventFormat
	for _, e := range []string{"sys_enter", "sys_exit", "fork", "exec", "exit", "signal_deliver", "signal_generate"} {
		fs = append(fs, readFormat(t, "process-6.1-"+e))
	}
	fs = append(fs, readFormat(t, "kretprobe-6.1"))
	return NewParser(fs...)
}

// TestStrace feeds trace_pipe lines of a process module through the
// format-driven parser and Strace, as kgen trace does, and checks the
// strace-style output.
func TestStrace(t *testing.T) {
	lines := []string{
		// trace_syscall_entry=1: entry and exit events pair up
		`sh-95 [000] ...1. 8.316647: process_sys_enter: pid=95 tid=95 nr=257 a0=0xffffff9c a1=0x273cdb90 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=1 path='/etc/passwd'`,
		`sh-95 [000] ...1. 8.316847: process_sys_exit: pid=95 tid=95 nr=257 ret=3 a0=0xffffff9c a1=0x273cdb90 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=1 ns=2000 path='/etc/passwd'`,
		`cat-96 [000] ...1. 8.4: process_sys_enter: pid=96 tid=96 nr=257 a0=0xffffff9c a1=0x1000 a2=0x80241 a3=0x1b6 a4=0x0 a5=0x0 path_arg=1 path='/nonexistent'`,
		`sh-95 [000] ...1. 8.5: process_sys_enter: pid=95 tid=95 nr=61 a0=0xffffffff a1=0x7ffc0c553768 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 path=''`,
		`cat-96 [000] ...1. 8.6: process_sys_exit: pid=96 tid=96 nr=257 ret=-2 a0=0xffffff9c a1=0x1000 a2=0x80241 a3=0x1b6 a4=0x0 a5=0x0 path_arg=1 ns=1000 path='/nonexistent'`,
		`sh-95 [000] ...1. 8.7: process_fork: pid=95 tid=95 comm='sh' child=97 child_pid=97 flags=0x11`,
		`cat-97 [000] ...1. 8.8: process_exec: pid=97 tid=97 comm='exe' old_tid=97 filename='/bin/cat' argv='["cat", "a \"b\""]'`,
		// the default: an exit event alone makes the line; an execve whose
		// entry was not seen takes the exec event's filename and argv
		`cat-97 [000] ...1. 8.81: process_sys_exit: pid=97 tid=97 nr=59 ret=0 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 ns=0 path=''`,
		`cat-97 [000] ...1. 8.82: process_sys_exit: pid=97 tid=97 nr=257 ret=3 a0=0xffffff9c a1=0x1000 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=1 ns=900 path='a "b"'`,
		`cat-97 [000] ...1. 8.83: process_sys_exit: pid=97 tid=97 nr=0 ret=-14 a0=0x3 a1=0x0 a2=0x1000 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 ns=300 path=''`,
		// rt_sigreturn: an entry event, no exit the module can number;
		// another task's event flushes it unfinished, and the task's next
		// call is its own line, not a resumed rt_sigreturn
		`cat-97 [000] ...1. 8.84: process_sys_enter: pid=97 tid=97 nr=15 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 path=''`,
		`sh-95 [000] ...1. 8.85: process_sys_exit: pid=95 tid=95 nr=110 ret=94 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 ns=100 path=''`,
		`cat-97 [000] ...1. 8.86: process_sys_exit: pid=97 tid=97 nr=110 ret=95 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 ns=100 path=''`,
		`cat-97 [000] ...1. 8.87: process_sys_enter: pid=97 tid=97 nr=15 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 path=''`,
		`cat-97 [000] ...1. 8.88: process_sys_exit: pid=97 tid=97 nr=110 ret=95 a0=0x0 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 ns=100 path=''`,
		`sh-95 [000] ...1. 8.9: process_signal_deliver: pid=95 tid=95 comm='sh' sig=10 errno=0 code=0 sender=95 handler=0x4000 result=0`,
		`cat-96 [000] ...1. 9.0: process_sys_enter: pid=96 tid=96 nr=231 a0=0x7 a1=0x0 a2=0x0 a3=0x0 a4=0x0 a5=0x0 path_arg=-1 path=''`,
		`cat-96 [000] ...1. 9.1: process_exit: pid=96 tid=96 comm='cat' code=1792 group_dead=1`,
		`sh-98 [000] ...1. 9.2: process_exit: pid=98 tid=98 comm='sh' code=9 group_dead=1`,
	}
	want := `95 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3
96 openat(AT_FDCWD, "/nonexistent", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) <unfinished ...>
95 wait4(-1, 0x7ffc0c553768, 0, 0) <unfinished ...>
96 <... openat resumed>) = -1 ENOENT (No such file or directory)
95 --- forked 97 (SIGCHLD) ---
97 --- exec "/bin/cat" ["cat", "a \"b\""] ---
97 execve("/bin/cat", ["cat", "a \"b\""], ...) = 0
97 openat(AT_FDCWD, "a \"b\"", O_RDONLY) = 3
97 read(3, 0, 4096) = -1 EFAULT (Bad address)
97 rt_sigreturn() <unfinished ...>
95 getppid() = 94
97 getppid() = 95
97 rt_sigreturn() = ?
97 getppid() = 95
95 --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=95} ---
96 exit_group(7) = ?
96 +++ exited with 7 +++
98 +++ killed by SIGKILL +++
`
	var out bytes.Buffer
	s := &Strace{Module: "process", W: &out, Names: parseSyscallNames("0 read\n15 rt_sigreturn\n59 execve\n61 wait4\n110 getppid\n231 exit_group\n257 openat\n")}
	p := straceParser(t)
	for _, l := range lines {
		ev, err := p.Parse(l)
		if err != nil {
			t.Fatalf("Parse(%q): %v", l, err)
		}
		if ok, err := s.Handle(ev); !ok || err != nil {
			t.Fatalf("Handle(%s) = %v, %v", ev.Event, ok, err)
		}
	}
	if got := out.String(); got != want {
		t.Errorf("strace output:\n%s\nwant:\n%s", got, want)
	}
	ev, err := p.Parse(`x-1 [000] ...1. 1.0: vfs_read_lat_vfs_read: pid=1 comm="x" count=8 ret=3 latency=5 stack={}`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Handle(ev); ok {
		t.Errorf("an event of another module was handled")
	}
}

func TestSyscallSummary(t *testing.T) {
	st := &Stats{Probes: []ProbeStats{
		{Probe: "pt", Counters: []Counter{{"forks", 2}}},
		{Probe: "read", Counters: []Counter{{"calls", 10}, {"errors", 0}, {"time_ns", 30000}}},
		{Probe: "openat", Counters: []Counter{{"calls", 4}, {"errors", 1}, {"time_ns", 90000}}},
	}}
	got := SyscallSummary(st)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 6 || !strings.HasSuffix(lines[2], " 4         1 openat") ||
		!strings.HasPrefix(lines[2], " 75.00    0.000090          22") ||
		!strings.HasSuffix(lines[5], "14         1 total") {
		t.Errorf("summary:\n%s", got)
	}
	if SyscallSummary(&Stats{Probes: st.Probes[:1]}) != "" {
		t.Errorf("summary of a module without syscall rows is not empty")
	}
}
