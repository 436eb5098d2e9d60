// Package probepoint finds what can be probed on a kernel: the functions
// a kprobe may attach to (the running kernel's /proc/kallsyms and
// available_filter_functions minus its kprobe blacklist, or offline a
// vmlinux's ELF symbols (or, stripped, its embedded kallsyms tables) or a
// System.map, with the blacklist worked out
// from the kernel's no-kprobe text areas), and the running kernel's
// tracepoints. It also says why a function cannot be probed there, with
// the closest names that can.
package probepoint

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"kgen/internal/editdist"
)

// Symbol is one line of kallsyms or System.map.
type Symbol struct {
	Addr   uint64
	Type   byte // 't', 'T', 'd', ...
	Name   string
	Module string // "" for the kernel itself
}

// ParseSymbols parses "addr type name [module]" lines (/proc/kallsyms,
// System.map). Malformed lines are skipped; an input with no symbol at
// all is an error.
func ParseSymbols(r io.Reader) ([]Symbol, error) {
	var syms []Symbol
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[1]) != 1 {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		s := Symbol{Addr: a, Type: f[1][0], Name: f[2]}
		if len(f) > 3 && strings.HasPrefix(f[3], "[") && strings.HasSuffix(f[3], "]") {
			s.Module = f[3][1 : len(f[3])-1]
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read symbols: %w", err)
	}
	if len(syms) == 0 {
		return nil, errors.New("read symbols: no \"address type name\" line")
	}
	return syms, nil
}

// Func is a kernel function.
type Func struct {
	Name   string
	Module string
	// Traceable: in available_filter_functions (always true offline).
	Traceable bool
	// Blacklist says why kprobes refuse it; "" = probeable.
	Blacklist string
}

// Table is a kernel's functions.
type Table struct {
	Source string // where they came from
	Funcs  []Func // sorted by name, then module
	names  map[string][]int
	clones map[string][]string // foo -> foo.isra.0, foo.cold, ...
}

func newTable(src string, fs []Func, syms []Symbol) *Table {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Name != fs[j].Name {
			return fs[i].Name < fs[j].Name
		}
		return fs[i].Module < fs[j].Module
	})
	t := &Table{Source: src, names: map[string][]int{}, clones: map[string][]string{}}
	for _, s := range syms {
		if base, _, ok := strings.Cut(s.Name, "."); ok && isText(s.Type) && base != "" && !slices.Contains(t.clones[base], s.Name) {
			t.clones[base] = append(t.clones[base], s.Name)
		}
	}
	for _, f := range fs {
		if n := len(t.Funcs); n > 0 && t.Funcs[n-1].Name == f.Name && t.Funcs[n-1].Module == f.Module {
			continue // a static function's namesakes
		}
		t.names[f.Name] = append(t.names[f.Name], len(t.Funcs))
		t.Funcs = append(t.Funcs, f)
	}
	return t
}

// Lookup returns the functions named name (one per module).
func (t *Table) Lookup(name string) []Func {
	var fs []Func
	for _, i := range t.names[name] {
		fs = append(fs, t.Funcs[i])
	}
	return fs
}

func isText(typ byte) bool { return typ == 't' || typ == 'T' || typ == 'w' || typ == 'W' }

// isFuncName leaves out what is not a function one probes by name: the
// compiler's clones (foo.isra.0, foo.cold), the padding and CFI stubs of
// newer kernels, and the linker's section markers.
func isFuncName(n string) bool {
	switch {
	case strings.ContainsRune(n, '.'),
		strings.HasPrefix(n, "__pfx_"), strings.HasPrefix(n, "__cfi_"),
		strings.HasPrefix(n, "__") && (strings.HasSuffix(n, "_start") || strings.HasSuffix(n, "_end")),
		n == "_stext", n == "_etext", n == "_text", n == "_sinittext", n == "_einittext":
		return false
	}
	return true
}

// areas are the text ranges kprobes refuse as a whole (kernel/kprobes.c
// populate_kprobe_blacklist and x86's arch_populate_kprobe_blacklist).
var areas = []struct{ start, end, why string }{
	{"__kprobes_text_start", "__kprobes_text_end", "in .kprobes.text (__kprobes)"},
	{"__noinstr_text_start", "__noinstr_text_end", "noinstr"},
	{"__entry_text_start", "__entry_text_end", "in the entry text"},
}

// Offline builds the table of a kernel not running here from its
// symbols; nokprobe are the addresses of its NOKPROBE_SYMBOL table (nil
// when unknown, as for a System.map).
func Offline(src string, syms []Symbol, nokprobe []uint64) *Table {
	addr := map[string]uint64{}
	for _, s := range syms {
		if _, ok := addr[s.Name]; !ok {
			addr[s.Name] = s.Addr
		}
	}
	type rng struct {
		lo, hi uint64
		why    string
	}
	var rs []rng
	for _, a := range areas {
		lo, ok1 := addr[a.start]
		hi, ok2 := addr[a.end]
		if ok1 && ok2 && lo < hi {
			rs = append(rs, rng{lo, hi, a.why})
		}
	}
	nk := map[uint64]bool{}
	for _, a := range nokprobe {
		nk[a] = true
	}
	var fs []Func
	for _, s := range syms {
		if !isText(s.Type) || !isFuncName(s.Name) {
			continue
		}
		f := Func{Name: s.Name, Module: s.Module, Traceable: true}
		for _, r := range rs {
			if s.Addr >= r.lo && s.Addr < r.hi {
				f.Blacklist = r.why
			}
		}
		if f.Blacklist == "" && nk[s.Addr] {
			f.Blacklist = "marked NOKPROBE_SYMBOL"
		}
		fs = append(fs, f)
	}
	return newTable(src, fs, syms)
}

// LoadFile reads a kernel's symbols offline: an ELF vmlinux (its symbol
// table and NOKPROBE_SYMBOL table) or a System.map.
func LoadFile(path string) (*Table, error) {
	b := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err == nil && string(b) == elf.ELFMAG {
		return loadELF(path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	syms, err := ParseSymbols(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: want a System.map (\"address type name\" lines)", path, err)
	}
	return Offline(path, syms, nil), nil
}

func loadELF(path string) (*Table, error) {
	ef, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer ef.Close()
	es, err := ef.Symbols()
	if err != nil {
		// A stripped image (Debian's): its embedded kallsyms tables.
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("read kernel symbols: %w", rerr)
		}
		syms, kerr := imageKallsyms(data)
		if kerr != nil || ef.Class != elf.ELFCLASS64 || ef.ByteOrder != binary.LittleEndian {
			return nil, fmt.Errorf("read kernel symbols of %s: %w, and no kallsyms table found in it (a 64-bit little-endian image with CONFIG_KALLSYMS is read without one; else pass the vmlinux of linux-image-<release>-dbg, or a System.map with --system-map)", path, err)
		}
		addr := map[string]uint64{}
		for _, s := range syms {
			if _, ok := addr[s.Name]; !ok {
				addr[s.Name] = s.Addr
			}
		}
		return Offline(path+" (kallsyms)", syms, nokprobeTable(ef, addr)), nil
	}
	var syms []Symbol
	addr := map[string]uint64{}
	for _, s := range es {
		typ := byte('d')
		switch {
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && elf.ST_BIND(s.Info) == elf.STB_LOCAL:
			typ = 't'
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC:
			typ = 'T'
		case elf.ST_TYPE(s.Info) == elf.STT_NOTYPE:
			typ = 'a' // markers: used for the areas, never listed
		}
		syms = append(syms, Symbol{Addr: s.Value, Type: typ, Name: s.Name})
		addr[s.Name] = s.Value
	}
	return Offline(path, syms, nokprobeTable(ef, addr)), nil
}

// nokprobeTable reads the addresses NOKPROBE_SYMBOL put between
// __start_kprobe_blacklist and __stop_kprobe_blacklist (64-bit kernels).
func nokprobeTable(ef *elf.File, addr map[string]uint64) []uint64 {
	lo, ok1 := addr["__start_kprobe_blacklist"]
	hi, ok2 := addr["__stop_kprobe_blacklist"]
	if !ok1 || !ok2 || hi <= lo || ef.Class != elf.ELFCLASS64 {
		return nil
	}
	for _, sec := range ef.Sections {
		if sec.Type != elf.SHT_PROGBITS || lo < sec.Addr || hi > sec.Addr+sec.Size {
			continue
		}
		b := make([]byte, hi-lo)
		if _, err := sec.ReadAt(b, int64(lo-sec.Addr)); err != nil {
			return nil
		}
		var out []uint64
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, ef.ByteOrder.Uint64(b[i:]))
		}
		return out
	}
	return nil
}

// Running reads the running kernel's functions below root ("" = "/"):
// /proc/kallsyms, tracing/available_filter_functions and
// debugfs kprobes/blacklist, from where debugfs and tracefs are mounted.
func Running(root string) (*Table, error) {
	p := func(s string) string { return filepath.Join(root, s) }
	kb, err := os.ReadFile(p("/proc/kallsyms"))
	if err != nil {
		return nil, fmt.Errorf("read running kernel's symbols: %w", err)
	}
	syms, err := ParseSymbols(bytes.NewReader(kb))
	if err != nil {
		return nil, fmt.Errorf("read /proc/kallsyms: %w", err)
	}
	debugfs, tracing := Mounts(root)
	traceable := map[string]bool{}
	haveFilter := false
	if tracing != "" {
		if b, err := os.ReadFile(p(filepath.Join(tracing, "available_filter_functions"))); err == nil {
			haveFilter = true
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 0 {
					traceable[f[0]] = true
				}
			}
		}
	}
	black := map[string]bool{}
	if debugfs != "" {
		if b, err := os.ReadFile(p(filepath.Join(debugfs, "kprobes/blacklist"))); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) >= 2 {
					black[f[1]] = true
				}
			}
		}
	}
	var fs []Func
	for _, s := range syms {
		if !isText(s.Type) || !isFuncName(s.Name) {
			continue
		}
		f := Func{Name: s.Name, Module: s.Module, Traceable: !haveFilter || traceable[s.Name]}
		if black[s.Name] {
			f.Blacklist = "on the kprobe blacklist (debugfs kprobes/blacklist)"
		}
		fs = append(fs, f)
	}
	src := "/proc/kallsyms"
	if !haveFilter {
		src += " (no available_filter_functions: mount tracefs to leave out untraceable functions)"
	}
	return newTable(src, fs, syms), nil
}

// Mounts returns where debugfs and tracing are mounted below root (kernel
// paths, "" when not mounted), the standard places first.
func Mounts(root string) (debugfs, tracing string) {
	b, _ := os.ReadFile(filepath.Join(root, "/proc/self/mounts"))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		switch {
		case f[2] == "debugfs" && (debugfs == "" || f[1] == "/sys/kernel/debug"):
			debugfs = f[1]
		case f[2] == "tracefs" && (tracing == "" || f[1] == "/sys/kernel/tracing"):
			tracing = f[1]
		}
	}
	if tracing == "" && debugfs != "" {
		if fi, err := os.Stat(filepath.Join(root, debugfs, "tracing/events")); err == nil && fi.IsDir() {
			tracing = filepath.Join(debugfs, "tracing")
		}
	}
	return debugfs, tracing
}

// Problem says why name cannot be probed on this kernel, "" if it can:
// absent (or inlined away), present only as a compiler clone, or
// blacklisted; with the closest probeable names.
func (t *Table) Problem(name string) string {
	if base, _, ok := strings.Cut(name, "."); ok && slices.Contains(t.clones[base], name) {
		return "" // a clone named on purpose: foo.isra.0
	}
	fs := t.Lookup(name)
	for _, f := range fs {
		if f.Blacklist == "" {
			return ""
		}
	}
	if len(fs) > 0 {
		return fmt.Sprintf("%s is %s: kprobes refuse it (probe a caller)", name, fs[0].Blacklist)
	}
	if cl := t.clones[name]; len(cl) > 0 {
		return fmt.Sprintf("%s was inlined or specialised by the compiler: this kernel has only %s (a probe on that symbol sees the clone's arguments, not the source's)%s", name, strings.Join(cl, ", "), t.didYouMean(name))
	}
	return fmt.Sprintf("%s is not a function of this kernel (inlined away, renamed or absent)%s", name, t.didYouMean(name))
}

func (t *Table) didYouMean(name string) string {
	s := t.Suggest(name, 3)
	if len(s) == 0 {
		return ""
	}
	return "; did you mean " + "`" + strings.Join(s, "`, `") + "`?"
}

// Suggest returns up to n probeable names closest to name: first its
// compiler clones (name.isra.0 is listed under name's own prefix by
// nothing else), then by edit distance.
func (t *Table) Suggest(name string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	max := len(name)/3 + 1
	for _, f := range t.Funcs {
		if f.Blacklist != "" || !f.Traceable || f.Name == name || seen[f.Name] {
			continue
		}
		if l := len(f.Name) - len(name); l > max || -l > max {
			continue
		}
		if d := editdist.Distance(name, f.Name, max); d <= max {
			seen[f.Name] = true
			cs = append(cs, cand{f.Name, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// Tracepoint is one tracefs event.
type Tracepoint struct {
	System, Event string
	Fields        []string // "TYPE NAME" of its own fields (not common_*), when asked
}

// Tracepoints lists the events under root/tracing/events, with their
// fields from each format file when fields is set.
func Tracepoints(root, tracing string, fields bool) ([]Tracepoint, error) {
	dir := filepath.Join(root, tracing, "events")
	systems, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list tracepoints: %w: mount tracefs (mount -t tracefs nodev /sys/kernel/tracing) as root", err)
	}
	var tps []Tracepoint
	for _, s := range systems {
		if !s.IsDir() || s.Name() == "ftrace" { // ftrace's are not tracepoints
			continue
		}
		evs, err := os.ReadDir(filepath.Join(dir, s.Name()))
		if err != nil {
			continue
		}
		for _, e := range evs {
			if !e.IsDir() {
				continue
			}
			tp := Tracepoint{System: s.Name(), Event: e.Name()}
			if fields {
				b, err := os.ReadFile(filepath.Join(dir, s.Name(), e.Name(), "format"))
				if err != nil {
					continue
				}
				tp.Fields = FormatFields(b)
			}
			tps = append(tps, tp)
		}
	}
	return tps, nil
}

// FormatFields returns a format file's own fields, "TYPE NAME" in order.
func FormatFields(format []byte) []string {
	var out []string
	for _, l := range strings.Split(string(format), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "field:") {
			continue
		}
		decl, _, _ := strings.Cut(strings.TrimPrefix(l, "field:"), ";")
		decl = strings.TrimSpace(decl)
		f := strings.Fields(decl)
		if len(f) == 0 || strings.HasPrefix(f[len(f)-1], "common_") {
			continue
		}
		out = append(out, decl)
	}
	return out
}

// Problems returns Problem's answer for each of names that has one.
func (t *Table) Problems(names []string) []string {
	var out []string
	for _, n := range names {
		if p := t.Problem(n); p != "" {
			out = append(out, p)
		}
	}
	return out
}
