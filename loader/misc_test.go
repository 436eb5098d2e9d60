package loader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFormatParams(t *testing.T) {
	tests := []struct {
		in   []string
		want string
		err  bool
	}{
		{nil, "", false},
		{[]string{"pid=12", "comm=dd", "flag"}, "pid=12 comm=dd flag", false},
		{[]string{"msg=hello world"}, `msg="hello world"`, false},
		{[]string{"a.b=1"}, "a.b=1", false},
		{[]string{"=1"}, "", true},
		{[]string{"a b=1"}, "", true},
		{[]string{`a=x"y`}, "", true},
		{[]string{"a=x\ny"}, "a=\"x\ny\"", false},
		{[]string{"a=x\x00y"}, "", true},
	}
	for _, tt := range tests {
		got, err := FormatParams(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("FormatParams(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidParam) {
			t.Errorf("err %v is not ErrInvalidParam", err)
		}
	}
}

func TestParseMountinfoLine(t *testing.T) {
	tests := []struct {
		line string
		want mountEntry
		ok   bool
	}{
		{"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue", mountEntry{36, 35, "/mnt2", "ext3", "/dev/root"}, true},
		{"41 22 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime - tracefs tracefs rw", mountEntry{41, 22, "/sys/kernel/tracing", "tracefs", "tracefs"}, true},
		{`50 22 0:40 / /my\040dir rw shared:1 master:2 - debugfs none rw`, mountEntry{50, 22, "/my dir", "debugfs", "none"}, true},
		{"garbage", mountEntry{}, false},
		{"1 2 3 4 5 6 - x", mountEntry{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMountinfoLine(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parse(%q) = %+v, %v", tt.line, got, ok)
		}
	}
	if got := unescapeOctal(`a\134b\0`); got != `a\b\0` {
		t.Errorf("unescape = %q", got)
	}
}

func TestFindMountPrefers(t *testing.T) {
	ms := []mountEntry{{point: "/tracing", fstype: "tracefs"}, {point: "/sys/kernel/tracing", fstype: "tracefs"}}
	if got := findMount(ms, "tracefs", tracefsPath); got != tracefsPath {
		t.Errorf("got %q", got)
	}
	if got := findMount(ms[:1], "tracefs", tracefsPath); got != "/tracing" {
		t.Errorf("got %q", got)
	}
	if got := findMount(ms, "debugfs"); got != "" {
		t.Errorf("got %q", got)
	}
}

func TestSymbolize(t *testing.T) {
	s, err := ParseKallsyms(strings.NewReader("ffffffff81000000 T _stext\nffffffff81000000 D data\nffffffff81000100 t vfs_read\nffffffff81000200 T __do_sys_sync\nffffffff81000200 T __x64_sys_sync\nffffffff81000220 T last\nffffffffc0001000 t f\t[mod]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{
		0xffffffff81000105: "vfs_read+0x5/0x100",
		0xffffffff81000000: "_stext+0x0/0x100",
		0xffffffffc0001002: "f+0x2 [mod]",
		0x10:               "0x10",
		0xffffffff81000230: "last+0x10",
		// Aliases: the first listed, like the kernel's %pS.
		0xffffffff8100020a: "__do_sys_sync+0xa/0x20",
	} {
		if got := s.Symbolize(addr); got != want {
			t.Errorf("Symbolize(%#x) = %q, want %q", addr, got, want)
		}
	}
	if _, err := ParseKallsyms(strings.NewReader("0000000000000000 T _stext\n")); !errors.Is(err, ErrNoKallsyms) {
		t.Errorf("hidden addresses: %v", err)
	}
}

func TestModInfoAndVermagic(t *testing.T) {
	dir := t.TempDir()
	p := writeKO(t, dir, "foo-bar.ko", "vermagic=6.12.117+deb13-amd64 SMP preempt mod_unload modversions ", "license=GPL")
	mi, err := ReadModInfo(p)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Name != "foo_bar" || mi.Release() != "6.12.117+deb13-amd64" || mi.Fields["license"] != "GPL" {
		t.Errorf("modinfo %+v", mi)
	}
	if err := CheckVermagic(p, mi, "6.12.117+deb13-amd64"); err != nil {
		t.Error(err)
	}
	if err := CheckVermagic(p, mi, "6.12.117+deb13-rt-amd64"); !errors.Is(err, ErrVermagic) {
		t.Errorf("mismatch: %v", err)
	}
}

// TestReadPipeDrainsAfterCancel: lines already in the pipe when the
// context ends (Ctrl-C, --duration) are still delivered.
func TestReadPipeDrainsAfterCancel(t *testing.T) {
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_NONBLOCK))
	defer unix.Close(p[0])
	if _, err := unix.Write(p[1], []byte("a\nb\nc\n")); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got []string
	start := time.Now()
	err := readPipe(ctx, func() int { return p[0] }, 50*time.Millisecond, drainLimit, func(l string) error {
		got = append(got, l)
		return nil
	}, nil)
	if err != nil || strings.Join(got, ",") != "a,b,c" {
		t.Errorf("readPipe after cancel = %q, %v; want a,b,c", got, err)
	}
	if d := time.Since(start); d > drainLimit {
		t.Errorf("drain took %v", d)
	}
}
