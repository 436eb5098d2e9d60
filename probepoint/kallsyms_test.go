package probepoint

import (
	"debug/elf"
	"os"
	"testing"
)

// TestImageKallsyms reads the embedded kallsyms tables of the Debian
// images (stripped) and of debug-6.1, whose symbol table says what they
// must hold.
func TestImageKallsyms(t *testing.T) {
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debug-6.1"} {
		t.Run(k, func(t *testing.T) {
			p := kernelFile(t, k, "vmlinux")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			syms, err := imageKallsyms(data)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]Symbol{}
			type key struct {
				name string
				addr uint64
			}
			have := map[key]bool{}
			for _, s := range syms {
				have[key{s.Name, s.Addr}] = true
				if _, ok := byName[s.Name]; !ok {
					byName[s.Name] = s
				}
			}
			t.Logf("%d symbols; vfs_read %+v", len(syms), byName["vfs_read"])
			if len(syms) < 30000 {
				t.Errorf("%d symbols, want > 30000", len(syms))
			}
			for _, n := range []string{"vfs_read", "do_int3", "__noinstr_text_start", "__kprobes_text_start", "__entry_text_start"} {
				s, ok := byName[n]
				if !ok || s.Addr>>32 != 0xffffffff || s.Type != 'T' && s.Type != 't' {
					t.Errorf("%s: %+v, want a text symbol at a kernel address", n, s)
				}
			}
			if k != "debug-6.1" {
				return
			}
			ef, err := elf.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			es, err := ef.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			// Every function of the symbol table is in kallsyms, at its
			// address.
			bad, n := 0, 0
			for _, e := range es {
				if elf.ST_TYPE(e.Info) != elf.STT_FUNC || e.Name == "" {
					continue
				}
				n++
				if !have[key{e.Name, e.Value}] {
					bad++
					if bad < 5 {
						t.Errorf("%s at %#x: not in kallsyms (%+v)", e.Name, e.Value, byName[e.Name])
					}
				}
			}
			if bad > 0 || n < 20000 {
				t.Errorf("%d of %d functions of the symbol table not in kallsyms at their address", bad, n)
			}
		})
	}
}
