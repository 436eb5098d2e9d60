package probepoint

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sysmap = `ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81001000 t __pfx_vfs_read
ffffffff81001010 T vfs_read
ffffffff81001100 T vfs_readv
ffffffff81001200 t vfs_read_iter.isra.0
ffffffff81001300 T vfs_write
ffffffff81001400 T __kprobes_text_start
ffffffff81001400 T kprobe_handler
ffffffff81001500 T __kprobes_text_end
ffffffff81001600 T __noinstr_text_start
ffffffff81001600 t exc_int3
ffffffff81001700 T __noinstr_text_end
ffffffff81001800 t do_int3
ffffffff82000000 D jiffies
garbage line
ffffffffc0000000 t helper	[mymod]
`

func names(fs []Func) []string {
	var out []string
	for _, f := range fs {
		s := f.Name
		if f.Module != "" {
			s += "[" + f.Module + "]"
		}
		if f.Blacklist != "" {
			s += "!" + f.Blacklist
		}
		out = append(out, s)
	}
	return out
}

func TestOffline(t *testing.T) {
	syms, err := ParseSymbols(strings.NewReader(sysmap))
	if err != nil {
		t.Fatal(err)
	}
	tab := Offline("map", syms, []uint64{0xffffffff81001800})
	want := []string{"do_int3!marked NOKPROBE_SYMBOL", "exc_int3!noinstr", "helper[mymod]", "kprobe_handler!in .kprobes.text (__kprobes)",
		"startup_64", "vfs_read", "vfs_readv", "vfs_write"}
	if got := names(tab.Funcs); !reflect.DeepEqual(got, want) {
		t.Errorf("Offline:\n got %q\nwant %q", got, want)
	}
	for _, c := range []struct{ name, want string }{
		{"vfs_read", ""},
		{"vfs_raed", "vfs_raed is not a function of this kernel (inlined away, renamed or absent); did you mean `vfs_read`, `vfs_readv`?"},
		{"vfs_read_iter", "vfs_read_iter was inlined or specialised by the compiler: this kernel has only vfs_read_iter.isra.0 (a probe on that symbol sees the clone's arguments, not the source's); did you mean `vfs_read`, `vfs_readv`?"},
		{"exc_int3", "exc_int3 is noinstr: kprobes refuse it (probe a caller)"},
		{"nosuchthing_at_all", "nosuchthing_at_all is not a function of this kernel (inlined away, renamed or absent)"},
	} {
		if got := tab.Problem(c.name); got != c.want {
			t.Errorf("Problem(%s) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseSymbolsEmpty(t *testing.T) {
	if _, err := ParseSymbols(strings.NewReader("not a map\n")); err == nil {
		t.Error("no error for an input with no symbol")
	}
}

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunning(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"/proc/kallsyms":    "0000000000000000 T vfs_read\n0000000000000000 t notrace_fn\n0000000000000000 T do_int3\n0000000000000000 t helper\t[mymod]\n0000000000000000 d data\n",
		"/proc/self/mounts": "debugfs /sys/kernel/debug debugfs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\n",
		"/sys/kernel/tracing/available_filter_functions":       "vfs_read\ndo_int3\nhelper [mymod]\n",
		"/sys/kernel/debug/kprobes/blacklist":                  "0x0000000000000000-0x0000000000000000\tdo_int3\n",
		"/sys/kernel/tracing/events/sched/sched_switch/format": "name: sched_switch\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\nprint fmt: \"x\"\n",
		"/sys/kernel/tracing/events/sched/enable":              "0\n",
		"/sys/kernel/tracing/events/ftrace/function/format":    "",
	})
	tab, err := Running(root)
	if err != nil {
		t.Fatal(err)
	}
	var tr []Func
	for _, f := range tab.Funcs {
		if f.Traceable {
			tr = append(tr, f)
		}
	}
	want := []string{"do_int3!on the kprobe blacklist (debugfs kprobes/blacklist)", "helper[mymod]", "vfs_read"}
	if got := names(tr); !reflect.DeepEqual(got, want) {
		t.Errorf("Running:\n got %q\nwant %q", got, want)
	}
	_, tracing := Mounts(root)
	tps, err := Tracepoints(root, tracing, true)
	if err != nil {
		t.Fatal(err)
	}
	wantTP := []Tracepoint{{System: "sched", Event: "sched_switch", Fields: []string{"char prev_comm[16]", "pid_t prev_pid"}}}
	if !reflect.DeepEqual(tps, wantTP) {
		t.Errorf("Tracepoints: %+v, want %+v", tps, wantTP)
	}
}

// kernelFile returns a file of a fetched kernel, or skips.
func kernelFile(t *testing.T, name, file string) string {
	t.Helper()
	d := os.Getenv("KGEN_KERNELS")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".cache", "kgen", "kernels")
	}
	p := filepath.Join(d, name, file)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatalf("%s: %v (run make kernels)", p, err)
		}
		t.Skipf("%s: %v", p, err)
	}
	return p
}

// TestRealKernel reads the debug-6.1 kernel's System.map and vmlinux (the
// Debian images are stripped): the two agree on the functions, the ELF
// adds the NOKPROBE_SYMBOL table, and both know what x86 blacklists.
func TestRealKernel(t *testing.T) {
	mapT, err := LoadFile(kernelFile(t, "debug-6.1", "kdir/System.map"))
	if err != nil {
		t.Fatal(err)
	}
	elfT, err := LoadFile(kernelFile(t, "debug-6.1", "vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mapT.Funcs) < 10000 || len(elfT.Funcs) < 10000 {
		t.Fatalf("%d functions in System.map, %d in vmlinux: want > 10000", len(mapT.Funcs), len(elfT.Funcs))
	}
	for _, c := range []struct {
		tab  *Table
		name string
		want string
	}{
		{mapT, "vfs_read", ""},
		{elfT, "vfs_read", ""},
		{elfT, "do_int3", "marked NOKPROBE_SYMBOL"},
		{elfT, "exc_int3", "noinstr"},
		{mapT, "exc_int3", "noinstr"},
		{mapT, "entry_SYSCALL_64", "in the entry text"},
	} {
		fs := c.tab.Lookup(c.name)
		if len(fs) == 0 || fs[0].Blacklist != c.want {
			t.Errorf("%s: %s: %+v, want blacklist %q", c.tab.Source, c.name, fs, c.want)
		}
	}
	if p := mapT.Problem("vfs_raed"); !strings.Contains(p, "did you mean `vfs_read`") {
		t.Errorf("Problem(vfs_raed) = %q", p)
	}
}

// TestDebianImages lists the functions of the stripped Debian images from
// their embedded kallsyms, with the kprobe blacklist from their no-kprobe
// areas and NOKPROBE_SYMBOL table.
func TestDebianImages(t *testing.T) {
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12"} {
		t.Run(k, func(t *testing.T) {
			tab, err := LoadFile(kernelFile(t, k, "vmlinux"))
			if err != nil {
				t.Fatal(err)
			}
			black := 0
			for _, f := range tab.Funcs {
				if f.Blacklist != "" {
					black++
				}
			}
			t.Logf("%s: %d functions, %d blacklisted", tab.Source, len(tab.Funcs), black)
			if len(tab.Funcs) < 30000 || black < 100 {
				t.Errorf("%d functions, %d blacklisted: want > 30000 and > 100", len(tab.Funcs), black)
			}
			for _, c := range []struct{ name, want string }{
				{"vfs_read", ""},
				{"do_int3", "marked NOKPROBE_SYMBOL"},
				{"exc_int3", "noinstr"},
				{"entry_SYSCALL_64", "in the entry text"},
			} {
				fs := tab.Lookup(c.name)
				if len(fs) == 0 || fs[0].Blacklist != c.want {
					t.Errorf("%s: %+v, want blacklist %q", c.name, fs, c.want)
				}
			}
		})
	}
}

func FuzzParseSymbols(f *testing.F) {
	f.Add([]byte(sysmap))
	f.Add([]byte("ffffffffc0000000 t helper\t[mymod]\n0 T x [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		syms, err := ParseSymbols(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		tab := Offline("fuzz", syms, []uint64{0})
		for _, fn := range tab.Funcs {
			if fn.Name == "" || strings.ContainsAny(fn.Name, " \t\n") {
				t.Fatalf("bad function name %q", fn.Name)
			}
			_ = tab.Problem(fn.Name + "x")
		}
	})
}
