package kedrconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// seed is the configuration from KEDR's payload_dump_stack README, as written.
const seed = `on_load mkdir -p "/tmp/kedr/debugfs"

# Mount debugfs to enable tracepoints later
on_load mount debugfs -t debugfs "/tmp/kedr/debugfs"

# This allows to roll back in case of error while loading a payload
on_unload mount | grep "/tmp/kedr/debugfs"; if test $? -eq 0; then umount "/tmp/kedr/debugfs"; fi

# Fault simulation infrastructure
module /usr/local/lib/modules/2.6.34.7-0.5-default/misc/kedr_fault_simulation.ko

# Payload modules
payload /home/tester/work/kedr/payload_dump_stack/payload_dump_stack.ko 
on_load echo 1 > /tmp/kedr/debugfs/tracing/events/payload_dump_stack/enable

# Indicators 
# We could use kedr_fsim_indicator_common.ko as well because we are 
# not going to set scenarios involving restrictions on the arguments 
# of __kmalloc.
module /usr/local/lib/modules/2.6.34.7-0.5-default/misc/kedr_fsim_indicator_kmalloc.ko

# After tracepoints are enabled for all payloads, unmount debugfs
on_load umount "/tmp/kedr/debugfs"
`

func TestParseSeed(t *testing.T) {
	c, err := Parse("seed.conf", strings.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{N: 1, Kind: OnLoad, Arg: `mkdir -p "/tmp/kedr/debugfs"`},
		{N: 4, Kind: OnLoad, Arg: `mount debugfs -t debugfs "/tmp/kedr/debugfs"`},
		{N: 7, Kind: OnUnload, Arg: `mount | grep "/tmp/kedr/debugfs"; if test $? -eq 0; then umount "/tmp/kedr/debugfs"; fi`},
		{N: 10, Kind: Module, Arg: "/usr/local/lib/modules/2.6.34.7-0.5-default/misc/kedr_fault_simulation.ko"},
		{N: 13, Kind: Payload, Arg: "/home/tester/work/kedr/payload_dump_stack/payload_dump_stack.ko"},
		{N: 14, Kind: OnLoad, Arg: "echo 1 > /tmp/kedr/debugfs/tracing/events/payload_dump_stack/enable"},
		{N: 20, Kind: Module, Arg: "/usr/local/lib/modules/2.6.34.7-0.5-default/misc/kedr_fsim_indicator_kmalloc.ko"},
		{N: 23, Kind: OnLoad, Arg: `umount "/tmp/kedr/debugfs"`},
	}
	if len(c.Lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %+v", len(c.Lines), len(want), c.Lines)
	}
	for i, w := range want {
		g := c.Lines[i]
		if g.N != w.N || g.Kind != w.Kind || g.Arg != w.Arg || len(g.Params) != 0 {
			t.Errorf("line %d = %+v, want %+v", i, g, w)
		}
		if g.Text != strings.TrimSpace(strings.Split(seed, "\n")[g.N-1]) {
			t.Errorf("line %d text = %q", g.N, g.Text)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    *Line // nil: skipped (blank or comment)
		wantErr string
	}{
		{in: "", want: nil},
		{in: "   \t ", want: nil},
		{in: "# module x", want: nil},
		{in: "   # indented comment", want: nil},
		{in: "\ton_load  echo  a   b ", want: &Line{Kind: OnLoad, Arg: "echo  a   b"}},
		{in: "on_unload echo # not a comment for kgen", want: &Line{Kind: OnUnload, Arg: "echo # not a comment for kgen"}},
		{in: "on_load\techo tab", want: &Line{Kind: OnLoad, Arg: "echo tab"}},
		{in: "module null_blk", want: &Line{Kind: Module, Arg: "null_blk"}},
		{in: "module null_blk nr_devices=2 gb=1\r", want: &Line{Kind: Module, Arg: "null_blk", Params: []string{"nr_devices=2", "gb=1"}}},
		{in: `module /m/x.ko.xz comm="a b" n='1'`, want: &Line{Kind: Module, Arg: "/m/x.ko.xz", Params: []string{"comm=a b", "n=1"}}},
		{in: "payload ./p.ko target=null_blk", want: &Line{Kind: Payload, Arg: "./p.ko", Params: []string{"target=null_blk"}}},
		{in: "module bool_flag", want: &Line{Kind: Module, Arg: "bool_flag"}},
		{in: "on_load", wantErr: "on_load needs a shell command"},
		{in: "on_unload   ", wantErr: "on_unload needs a shell command"},
		{in: "module", wantErr: "module needs a module name or path"},
		{in: "payload ", wantErr: "payload needs a module path"},
		{in: "insmod x.ko", wantErr: `unknown directive "insmod": want on_load, on_unload, module or payload`},
		{in: "Module x", wantErr: `unknown directive "Module"`},
		{in: `module x a="b`, wantErr: "unterminated \" quote"},
		{in: "module x =1", wantErr: "invalid module parameter"},
		{in: "on_load echo \x00", wantErr: "NUL byte"},
	} {
		c, err := Parse("f.conf", strings.NewReader("# first\n"+tt.in+"\n"))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrSyntax) ||
				!strings.HasPrefix(err.Error(), "f.conf:2: ") {
				t.Errorf("Parse(%q) error = %v, want f.conf:2: ... %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if tt.want == nil {
			if len(c.Lines) != 0 {
				t.Errorf("Parse(%q) = %+v, want nothing", tt.in, c.Lines)
			}
			continue
		}
		if len(c.Lines) != 1 {
			t.Errorf("Parse(%q) = %+v, want one line", tt.in, c.Lines)
			continue
		}
		g, w := c.Lines[0], *tt.want
		w.N, w.Text = 2, strings.TrimSpace(tt.in)
		if g.Params == nil {
			g.Params = []string{}
		}
		if w.Params == nil {
			w.Params = []string{}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, g, w)
		}
	}
}

func TestParseLongLine(t *testing.T) {
	_, err := Parse("f", strings.NewReader("on_load true\non_load "+strings.Repeat("x", maxLine)+"\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "f:2: ") || !errors.Is(err, ErrSyntax) {
		t.Errorf("long line: %v", err)
	}
}

// FuzzParse: any input parses or fails with a positioned syntax error;
// every directive found is its source line, trimmed, and has an argument.
func FuzzParse(f *testing.F) {
	f.Add(seed)
	f.Add("module x a=\"b c\" d='e'\npayload ./p.ko\n")
	f.Add("on_load\n")
	f.Add("module x 'unterminated\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse("f", strings.NewReader(s))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line.N < 1 || !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error is not positioned: %v", err)
			}
			return
		}
		lines := strings.Split(s, "\n")
		prev := 0
		for _, l := range c.Lines {
			if l.N <= prev || l.N > len(lines) {
				t.Fatalf("line number %d out of order or range", l.N)
			}
			prev = l.N
			if src := strings.TrimSpace(strings.TrimSuffix(lines[l.N-1], "\r")); src != l.Text {
				t.Fatalf("line %d text %q, source %q", l.N, l.Text, src)
			}
			if l.Arg == "" || !strings.HasPrefix(l.Text, string(l.Kind)) {
				t.Fatalf("line %+v", l)
			}
			switch l.Kind {
			case OnLoad, OnUnload, Module, Payload:
			default:
				t.Fatalf("kind %q", l.Kind)
			}
		}
	})
}
