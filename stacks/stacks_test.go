package stacks

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// fakeSyms resolves the addresses of the fixture.
type fakeSyms map[uint64]string

func (f fakeSyms) Symbolize(a uint64) string {
	if s, ok := f[a]; ok {
		return s
	}
	return fmt.Sprintf("0x%x", a)
}

// ddHex is "dd" as the module prints a comm: 16 bytes in hex.
const ddHex = "64640000000000000000000000000000"

var syms = fakeSyms{
	0xa1: "krp_vfs_read_pre+0x106/0x170 [m]", 0xa2: "kprobe_ftrace_handler+0x10b/0x1b0",
	0xa3: "ftrace_trampoline+0xc8 [__builtin__ftrace]", 0xa4: "vfs_read+0x5/0x310",
	0xa5: "ksys_read+0x6b/0xf0", 0xa6: "do_syscall_64+0x5d/0xb0", 0xa7: "kernel_read+0x10/0x40",
}

const fixture = "vfs_read 7 0 " + ddHex + " a1,a2,a3,a4,a5,a6\n" +
	"vfs_read 3 0 " + ddHex + " a1,a2,a3,a4,a5,a6\n" + // a second slot of one key
	"vfs_read 5 0 " + ddHex + " a1,a2,a3,a4,a7\n" +
	"vfs_read 1 42 00000000000000000000000000000000\n" + // an empty stack
	"vfs_read dropped 2\n"

func table(t *testing.T) *Table {
	t.Helper()
	tb, err := Parse(strings.NewReader(fixture))
	if err != nil {
		t.Fatal(err)
	}
	tb.Symbolize(syms)
	tb.TrimMachinery()
	return tb
}

func TestParseTrimMerge(t *testing.T) {
	tb := table(t)
	if len(tb.Stacks) != 3 || tb.Dropped["vfs_read"] != 2 || tb.Total("") != 16 {
		t.Fatalf("got %d stacks, dropped %d, total %d; want 3, 2, 16: %+v", len(tb.Stacks), tb.Dropped["vfs_read"], tb.Total(""), tb.Stacks)
	}
	top := tb.Stacks[0]
	if top.Count != 10 || top.Comm != "dd" || strings.Join(top.Frames, ",") != "vfs_read+0x5/0x310,ksys_read+0x6b/0xf0,do_syscall_64+0x5d/0xb0" {
		t.Errorf("top stack %+v; want the two slots merged (10), comm dd, machinery trimmed", top)
	}
	if tb.Stacks[2].Pid != 42 || len(tb.Stacks[2].Frames) != 0 {
		t.Errorf("last stack %+v; want pid 42 and no frames", tb.Stacks[2])
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"vfs_read x 0 " + ddHex + " a1\n",
		"vfs_read 1 p " + ddHex + " a1\n",
		"vfs_read 1 0 zz a1\n",
		"vfs_read 1 0 " + ddHex + " a1,zz\n",
		"vfs_read dropped -1\n",
		"vfs_read 1\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) = nil error", in)
		}
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := table(t).WriteText(&b, 1); err != nil {
		t.Fatal(err)
	}
	want := `vfs_read: 16 hits in 3 stacks, 2 dropped
  10 comm="dd"
      vfs_read+0x5/0x310
      ksys_read+0x6b/0xf0
      do_syscall_64+0x5d/0xb0
  ... 2 more stacks (kgen stacks NAME shows them all)
`
	if b.String() != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestFolded(t *testing.T) {
	got := strings.Join(table(t).Folded(), "\n")
	want := "dd;do_syscall_64;ksys_read;vfs_read 10\ndd;kernel_read;vfs_read 5\npid_42 1"
	if got != want {
		t.Errorf("Folded:\n%s\nwant:\n%s", got, want)
	}
}

func TestPprof(t *testing.T) {
	var b bytes.Buffer
	if err := table(t).WritePprof(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := gzip.NewReader(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("not gzipped: %v", err)
	}
	p, err := profile.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range p.Sample {
		total += s.Value[0]
	}
	if total != 16 || len(p.Sample) != 3 {
		t.Errorf("profile has %d samples, %d hits; want 3, 16", len(p.Sample), total)
	}
	s := p.Sample[0]
	if s.Label["comm"][0] != "dd" || s.Location[0].Line[0].Function.Name != "vfs_read" {
		t.Errorf("first sample %v: want comm dd, leaf vfs_read", s)
	}
}

func TestFromEvents(t *testing.T) {
	in := `{"task":"dd","event":"m_vfs_read","fields":{},"stack":["krp_vfs_read_pre+0x1/0x2 [m]","kprobe_ftrace_handler+0x1/0x2","vfs_read+0x5/0x310","ksys_read+0x6b/0xf0"]}
{"task":"dd","event":"m_vfs_read","fields":{},"stack":["krp_vfs_read_pre+0x1/0x2 [m]","kprobe_ftrace_handler+0x1/0x2","vfs_read+0x5/0x310","ksys_read+0x6b/0xf0"]}
{"task":"cat","event":"m_vfs_read","fields":{}}
kgen: 2 events, 0 lost
`
	tb, err := FromEvents(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	tb.TrimMachinery()
	if got := strings.Join(tb.Folded(), "\n"); got != "dd;ksys_read;vfs_read 2" {
		t.Errorf("folded events = %q", got)
	}
	if _, err := FromEvents(strings.NewReader("{bad\n")); err == nil {
		t.Error("FromEvents accepted a broken JSON line")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(fixture)
	f.Fuzz(func(t *testing.T, in string) {
		tb, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		tb.Symbolize(nil)
		tb.TrimMachinery()
		_ = tb.WriteText(io.Discard, 3)
		_ = tb.Folded()
		if err := tb.WritePprof(io.Discard); err != nil {
			t.Fatalf("WritePprof of a parsed table: %v", err)
		}
	})
}

// TestTrimArm64: arm64's kprobes take a BRK exception; its path above the
// probed function is trimmed, an exception deeper in the stack is not.
func TestTrimArm64(t *testing.T) {
	brk := []string{"call_break_hook+0x74/0x90", "brk_handler+0x24/0x6c", "do_debug_exception+0x60/0x110",
		"el1_dbg+0x70/0x90", "el1h_64_sync_handler+0xc8/0xe4", "el1h_64_sync+0x64/0x68"}
	read := []string{"vfs_read+0x0/0x2d0", "__arm64_sys_read+0x24/0x30", "invoke_syscall+0x68/0xe0"}
	deep := []string{"vfs_read+0x0/0x2d0", "el1h_64_sync_handler+0x30/0xe4", "el1h_64_sync+0x64/0x68", "do_page_fault+0x10/0x20"}
	tb := &Table{Stacks: []Stack{
		{Probe: "vfs_read", Count: 3, Frames: append(slices.Clone(brk), read...)},
		{Probe: "vfs_read", Count: 4, Frames: append(slices.Clone(brk), deep...)},
	}}
	tb.TrimMachinery()
	got := map[uint64]string{}
	for _, s := range tb.Stacks {
		got[s.Count] = strings.Join(s.Frames, ",")
	}
	if got[3] != strings.Join(read, ",") || got[4] != strings.Join(deep, ",") {
		t.Errorf("trimmed: %q and %q; want %q and %q", got[3], got[4], strings.Join(read, ","), strings.Join(deep, ","))
	}
}
