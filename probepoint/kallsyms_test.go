package probepoint

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
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

// synthKallsyms builds an image holding kallsyms tables in 6.12's order
// (num_syms, names, markers, token_table, token_index, offsets,
// relative_base) for n functions fn0000.. at 0xffffffff81000000+16*i.
func synthKallsyms(n int) []byte {
	le := binary.LittleEndian
	var tokens [256]string
	for c := 0; c < 256; c++ {
		if c > ' ' && c < 0x7f {
			tokens[c] = string(rune(c))
		} else {
			tokens[c] = "fn" // a compression token
		}
	}
	img := make([]byte, 64) // something before the tables
	img = le.AppendUint32(img, uint32(n))
	names := []byte{}
	var marks []uint32
	for i := 0; i < n; i++ {
		if i%256 == 0 {
			marks = append(marks, uint32(len(names)))
		}
		s := fmt.Sprintf("T\x01%04d", i) // \x01 expands to "fn"
		names = append(names, byte(len(s)))
		names = append(names, s...)
	}
	img = append(img, names...)
	for len(img)%4 != 0 {
		img = append(img, 0)
	}
	for _, m := range marks {
		img = le.AppendUint32(img, m)
	}
	var offs []uint16
	tt := len(img)
	for _, t := range tokens {
		offs = append(offs, uint16(len(img)-tt))
		img = append(img, t...)
		img = append(img, 0)
	}
	for len(img)%2 != 0 {
		img = append(img, 0)
	}
	for _, o := range offs {
		img = le.AppendUint16(img, o)
	}
	for len(img)%4 != 0 {
		img = append(img, 0)
	}
	for i := 0; i < n; i++ {
		img = le.AppendUint32(img, uint32(16*i))
	}
	for len(img)%8 != 0 {
		img = append(img, 0)
	}
	return le.AppendUint64(img, 0xffffffff81000000)
}

func TestSynthKallsyms(t *testing.T) {
	syms, err := imageKallsyms(synthKallsyms(2100))
	if err != nil {
		t.Fatal(err)
	}
	if len(syms) != 2100 || syms[7].Name != "fn0007" || syms[7].Type != 'T' || syms[7].Addr != 0xffffffff81000070 {
		t.Fatalf("%d symbols, [7] = %+v", len(syms), syms[min(7, len(syms)-1)])
	}
}

func FuzzImageKallsyms(f *testing.F) {
	f.Add(synthKallsyms(2100))
	f.Fuzz(func(t *testing.T, b []byte) {
		syms, err := imageKallsyms(b)
		if err != nil {
			return
		}
		for _, s := range syms {
			if !isSymName([]byte(s.Name)) {
				t.Fatalf("bad name %q", s.Name)
			}
		}
	})
}
