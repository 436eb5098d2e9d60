package vm

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestOutputFilter(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		want    string
		status  int
		started bool
	}{
		{"plain", "hello\n" + exitMarker + "3\x00", "hello\n", 3, false},
		{"init marker", initMarker + "hi\n" + exitMarker + "0\x00", "hi\n", 0, true},
		{"init marker inside output", "a" + initMarker + "b" + exitMarker + "0\x00", "ab", 0, true},
		{"init marker prefix", "\x00KGEN-VM-INI\n" + exitMarker + "1\x00", "\x00KGEN-VM-INI\n", 1, false},
		{"no final newline", "abc" + exitMarker + "0\x00", "abc", 0, false},
		{"status 255", exitMarker + "255\x00", "", 255, false},
		{"nul bytes in output", "a\x00b\x00\x00K" + exitMarker + "1\x00", "a\x00b\x00\x00K", 1, false},
		{"marker prefix in output", "\x00KGEN-VM-\n" + exitMarker + "2\x00", "\x00KGEN-VM-\n", 2, false},
		{"bad status", exitMarker + "9999\x00x" + exitMarker + "4\x00", exitMarker + "9999\x00x", 4, false},
		{"after marker dropped", "x" + exitMarker + "5\x00late output", "x", 5, false},
		{"no marker", "partial\x00KGEN", "partial\x00KGEN", -1, false},
	}
	for _, tt := range tests {
		// Every split of the stream into two writes must give the same.
		for cut := 0; cut <= len(tt.stream); cut++ {
			var out bytes.Buffer
			f := newOutputFilter(&out)
			f.Write([]byte(tt.stream[:cut]))
			f.Write([]byte(tt.stream[cut:]))
			f.flush()
			status, err := f.exitStatus()
			if started := isClosed(f.started); started != tt.started {
				t.Errorf("%s, cut %d: started %v, want %v", tt.name, cut, started, tt.started)
			}
			if out.String() != tt.want || status != tt.status || err != nil {
				t.Errorf("%s, cut %d: got %q status %d err %v, want %q status %d",
					tt.name, cut, out.String(), status, err, tt.want, tt.status)
			}
		}
		// And byte by byte.
		var out bytes.Buffer
		f := newOutputFilter(&out)
		for i := range len(tt.stream) {
			f.Write([]byte{tt.stream[i]})
		}
		f.flush()
		if status, _ := f.exitStatus(); out.String() != tt.want || status != tt.status {
			t.Errorf("%s, bytewise: got %q status %d", tt.name, out.String(), status)
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// An oops as 6.1 prints it (trimmed), to check the classification.
const oopsConsole = "[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\r\n" +
	"[    2.1] #PF: supervisor write access in kernel mode\r\n" +
	"[    2.1] Oops: 0002 [#1] PREEMPT SMP NOPTI\r\n" +
	"[    2.1] RIP: 0010:demo_init+0x5/0x1000 [demo]\r\n"

func TestConsole(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string
		line   string
	}{
		{"clean", "[    0.0] Linux version 6.1\r\n[    2.8] reboot: Power down\r\n", "", ""},
		{"oops", oopsConsole, "oops", "[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000000"},
		{"warning", "[ 1.0] WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2\r\n", "warning", "[ 1.0] WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2"},
		{"gpf", "[ 1.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]\n", "oops", "[ 1.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]"},
		{"warning then panic", "[ 1] WARNING: x\n" + oopsConsole + "[ 3] Kernel panic - not syncing: Fatal exception\n", "panic", "[ 3] Kernel panic - not syncing: Fatal exception"},
		{"unterminated", "[ 3] Kernel panic - not syncing: x", "panic", "[ 3] Kernel panic - not syncing: x"},
		{"arm64", "[ 1] Unable to handle kernel NULL pointer dereference at virtual address 0\n", "oops", "[ 1] Unable to handle kernel NULL pointer dereference at virtual address 0"},
		// The debug kernel's checkers, as 6.1 prints them.
		{"kasan", "[ 5.1] ==================================================================\n[ 5.1] BUG: KASAN: slab-out-of-bounds in badmod_oob+0x3c/0x50 [badmod]\n[ 5.1] Write of size 1 at addr ffff888003b4e290 by task sh/63\n",
			"report", "[ 5.1] BUG: KASAN: slab-out-of-bounds in badmod_oob+0x3c/0x50 [badmod]"},
		{"lockdep", "[ 5.1] ======================================================\n[ 5.1] WARNING: possible circular locking dependency detected\n",
			"report", "[ 5.1] WARNING: possible circular locking dependency detected"},
		{"lockdep irq", "[ 5.1] WARNING: inconsistent lock state\n", "report", "[ 5.1] WARNING: inconsistent lock state"},
		{"recursive", "[ 5.1] WARNING: possible recursive locking detected\n", "report", "[ 5.1] WARNING: possible recursive locking detected"},
		{"atomic sleep", "[ 5.1] BUG: sleeping function called from invalid context at kernel/sched/completion.c:101\n",
			"report", "[ 5.1] BUG: sleeping function called from invalid context at kernel/sched/completion.c:101"},
		{"preempt", "[ 5.1] BUG: using smp_processor_id() in preemptible [00000000] code: sh/1\n", "report", "[ 5.1] BUG: using smp_processor_id() in preemptible [00000000] code: sh/1"},
		// DEBUG_LIST and ODEBUG report through WARN(): the message first.
		{"list", "[ 5.1] ------------[ cut here ]------------\n[ 5.1] list_add corruption. next->prev should be prev (ffff8880), but was 0000000000000000.\n[ 5.1] WARNING: CPU: 0 PID: 1 at lib/list_debug.c:29 __list_add_valid+0x7a/0xa0\n",
			"report", "[ 5.1] list_add corruption. next->prev should be prev (ffff8880), but was 0000000000000000."},
		{"list del", "[ 5.1] list_del corruption, ffff8880->next is LIST_POISON1 (dead000000000100)\n", "report", "[ 5.1] list_del corruption, ffff8880->next is LIST_POISON1 (dead000000000100)"},
		{"odebug", "[ 5.1] ODEBUG: free active (active state 0) object: ffff8880 object type: timer_list hint: f+0x0/0x10\n",
			"report", "[ 5.1] ODEBUG: free active (active state 0) object: ffff8880 object type: timer_list hint: f+0x0/0x10"},
		{"lockdep off", "[ 9.9] " + lockdepOffLine + " (debug_locks 0): it checked nothing after that\n",
			"report", "[ 9.9] " + lockdepOffLine + " (debug_locks 0): it checked nothing after that"},
		// An oops outranks what it causes: the exiting task sleeps in
		// atomic context.
		{"oops then report", oopsConsole + "[ 2.2] BUG: sleeping function called from invalid context at include/linux/percpu-rwsem.h:49\n",
			"oops", "[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000000"},
		{"report then warning", "[ 1] BUG: KASAN: use-after-free in f+0x1/0x2\n[ 2] WARNING: CPU: 0 PID: 1 at x.c:1 g+0x1/0x2\n",
			"report", "[ 1] BUG: KASAN: use-after-free in f+0x1/0x2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var streamed bytes.Buffer
			c := newConsole(&streamed)
			for i := range len(tt.in) { // byte by byte: lines split anywhere
				c.Write([]byte{tt.in[i]})
			}
			c.finish()
			tail, reason, line := c.result()
			if reason != tt.reason || line != tt.line {
				t.Errorf("got reason %q line %q, want %q %q", reason, line, tt.reason, tt.line)
			}
			want := strings.ReplaceAll(tt.in, "\r", "")
			if string(tail) != want || streamed.String() != want {
				t.Errorf("tail %q streamed %q, want %q", tail, streamed.String(), want)
			}
		})
	}
}

func TestConsoleTailBounded(t *testing.T) {
	c := newConsole(nil)
	line := strings.Repeat("x", 99) + "\n"
	for range 2000 {
		c.Write([]byte(line))
	}
	tail, _, _ := c.result()
	if len(tail) != consoleTailSize {
		t.Errorf("tail is %d bytes, want %d", len(tail), consoleTailSize)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 5, "a\nb\nc"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := lastLines([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestEnvFile(t *testing.T) {
	got, err := envFile(map[string]string{"B": "it's $HOME", "A_1": ""})
	if err != nil {
		t.Fatal(err)
	}
	if want := "export A_1=''\nexport B='it'\\''s $HOME'\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := envFile(map[string]string{"1X": ""}); err == nil {
		t.Error("bad name accepted")
	}
	// The quoting must survive a real shell.
	if sh, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command(sh, "-c", got+`printf %s "$B"`).Output()
		if err != nil || string(out) != "it's $HOME" {
			t.Errorf("sh read B as %q (%v)", out, err)
		}
	}
}

func TestCheckStatic(t *testing.T) {
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Skipf("no %s (install busybox-static): %v", DefaultBusybox, err)
	}
	if err := checkStatic(DefaultBusybox, elf.EM_X86_64, "busybox", "fix"); err != nil {
		t.Errorf("busybox: %v", err)
	}
	if err := checkStatic(DefaultBusybox, elf.EM_AARCH64, "busybox", "fix"); !errors.Is(err, ErrWrongArch) {
		t.Errorf("busybox as arm64: got %v, want ErrWrongArch", err)
	}
	sh, err := filepath.EvalSymlinks("/bin/sh") // dynamic on Debian
	if err != nil {
		t.Skip(err)
	}
	if err := checkStatic(sh, elf.EM_X86_64, "shell", "rebuild it"); !errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), "rebuild it") {
		t.Errorf("%s: got %v, want ErrNotStatic with the fix", sh, err)
	}
	if err := checkStatic("/etc/passwd", elf.EM_X86_64, "x", ""); err == nil {
		t.Error("a text file passed")
	}
}

func TestConfigChecks(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "vmlinux")
	os.WriteFile(kernel, []byte("x"), 0o644)
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no kernel", Config{Cmd: "true"}, "no kernel given"},
		{"missing kernel", Config{Kernel: "/nonexistent/vmlinux", Cmd: "true"}, "no such file"},
		{"no command", Config{Kernel: kernel}, "no command"},
		{"arch", Config{Kernel: kernel, Cmd: "true", Arch: "mips"}, "only aarch64, x86_64 guests"},
		{"icount smp", Config{Kernel: kernel, Cmd: "true", Icount: true, SMP: 2}, "use one CPU"},
		{"negative", Config{Kernel: kernel, Cmd: "true", MemMB: -1}, "must be positive"},
		{"qemu missing", Config{Kernel: kernel, Cmd: "true", QEMU: "qemu-system-nonesuch"}, "apt-get install qemu-system-x86"},
		{"bad env", Config{Kernel: kernel, Cmd: "true", KgenBinary: "-", Env: map[string]string{"a-b": ""}}, "not a shell variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(t.Context(), tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) || res != nil {
				t.Fatalf("got %v, %v; want an error containing %q", res, err, tt.want)
			}
		})
	}
}
