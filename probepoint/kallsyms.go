package probepoint

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// The kernel keeps its symbol table for /proc/kallsyms inside the image
// (scripts/kallsyms.c), also in a stripped vmlinux such as Debian's:
// kallsyms_names (one entry per symbol: a length, then that many token
// bytes, the first expanding to the type letter), kallsyms_markers (the
// offset in names of every 256th symbol), kallsyms_token_table (256
// NUL-terminated strings) and kallsyms_token_index (256 u16 offsets into
// it), kallsyms_num_syms, and addresses as kallsyms_offsets from
// kallsyms_relative_base. Their order changed across releases (6.1 put
// kallsyms_seqs_of_names between markers and tokens; 6.12 moved the
// offsets after the token index), so each is found by what it holds and
// checked against the others, not by position.

var errNoKallsyms = errors.New("no kallsyms table found")

// imageKallsyms reads the symbols of a little-endian 64-bit kernel image
// from its embedded kallsyms tables. data is the image as loaded (the
// file bytes are fine: the tables are in one read-only section, and only
// offsets between them are used).
func imageKallsyms(data []byte) ([]Symbol, error) {
	le := binary.LittleEndian
	digits := []byte("0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00")
	for from := 0; ; {
		i := bytes.Index(data[from:], digits)
		if i < 0 {
			return nil, errNoKallsyms
		}
		i += from
		from = i + 1
		// The strings of bytes 0..47 come before '0': walk back over 48.
		start, n := i, 0
		for n < 48 && start > 1 {
			start--
			if data[start-1] == 0 {
				n++
			}
		}
		if n < 48 {
			continue
		}
		tokens, offs, end, ok := tokenTable(data, start)
		if !ok {
			continue
		}
		idx := make([]byte, 512)
		for t, o := range offs {
			le.PutUint16(idx[2*t:], uint16(o))
		}
		ti := bytes.Index(data[end:min(len(data), end+64+512)], idx)
		if ti < 0 {
			continue
		}
		ti += end
		if syms, err := namesBefore(data, start, ti+512, tokens); err == nil {
			return syms, nil
		}
	}
}

func tokenTable(data []byte, start int) ([256]string, [256]int, int, bool) {
	var tokens [256]string
	var offs [256]int
	p := start
	for t := 0; t < 256; t++ {
		e := bytes.IndexByte(data[p:min(len(data), p+256)], 0)
		if e <= 0 {
			return tokens, offs, 0, false
		}
		offs[t] = p - start
		tokens[t] = string(data[p : p+e])
		p += e + 1
	}
	return tokens, offs, p, true
}

// namesBefore finds kallsyms_markers and kallsyms_names before the token
// table at tokStart, decodes the names, and finds their addresses.
func namesBefore(data []byte, tokStart, idxEnd int, tokens [256]string) ([]Symbol, error) {
	le := binary.LittleEndian
	// markers: u32, markers[0] = 0, rising by a block of 256 names (at
	// least 256 bytes, at most 256*255), within 4 MB before the tokens.
	lo := max(0, tokStart-4<<20) &^ 3
	for m := (tokStart - 8) &^ 3; m >= lo; m -= 4 {
		if le.Uint32(data[m:]) != 0 {
			continue
		}
		var marks []uint32
		for p := m; p+4 <= tokStart; p += 4 {
			v := le.Uint32(data[p:])
			if len(marks) > 0 {
				d := v - marks[len(marks)-1]
				if v < marks[len(marks)-1] || d < 256 || d > 256*255 {
					break
				}
			}
			marks = append(marks, v)
		}
		if len(marks) < 8 {
			continue
		}
		// num_syms precedes the names: a u32 (or u64) in
		// (256*(M-1), 256*M], the names start after it.
		M := len(marks)
		nlo := (m - int(marks[M-1]) - 256*255 - 16) &^ 3
		for q := (m - int(marks[M-1]) - 8) &^ 3; q >= max(0, nlo); q -= 4 {
			num := int(le.Uint32(data[q:]))
			if num <= 256*(M-1) || num > 256*M {
				continue
			}
			for _, ns := range []int{q + 4, q + 8} {
				syms, end, ok := decodeNames(data, ns, num, marks, tokens)
				if !ok || end > m {
					continue
				}
				if addrs := findOffsets(data, q, idxEnd, num); addrs != nil {
					for i := range syms {
						syms[i].Addr = addrs[i]
					}
				}
				return syms, nil
			}
		}
	}
	return nil, errNoKallsyms
}

// decodeNames decodes num names from ns, checking every 256th against
// marks; it returns the names (type letter split off) and where they end.
func decodeNames(data []byte, ns, num int, marks []uint32, tokens [256]string) ([]Symbol, int, bool) {
	syms := make([]Symbol, 0, num)
	p := ns
	var b []byte
	for i := 0; i < num; i++ {
		if i%256 == 0 && (i/256 >= len(marks) || uint32(p-ns) != marks[i/256]) {
			return nil, 0, false
		}
		if p >= len(data) {
			return nil, 0, false
		}
		l := int(data[p])
		p++
		if l&0x80 != 0 { // 6.1+: a long name's length takes two bytes
			if p >= len(data) {
				return nil, 0, false
			}
			l = l&0x7f | int(data[p])<<7
			p++
		}
		if l == 0 || p+l > len(data) {
			return nil, 0, false
		}
		b = b[:0]
		for _, c := range data[p : p+l] {
			b = append(b, tokens[c]...)
		}
		p += l
		if len(b) < 2 || !isSymName(b[1:]) {
			return nil, 0, false
		}
		syms = append(syms, Symbol{Type: b[0], Name: string(b[1:])})
	}
	return syms, p, true
}

func isSymName(b []byte) bool {
	for _, c := range b {
		if !(c == '_' || c == '.' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// findOffsets returns the num addresses of kallsyms_offsets +
// kallsyms_relative_base: before num_syms at q (5.10, 6.1: offsets, then
// relative_base, then num_syms) or after the token index (6.12: offsets,
// then relative_base). nil when neither holds a kernel address base and
// offsets that mostly rise.
func findOffsets(data []byte, q, idxEnd, num int) []uint64 {
	le := binary.LittleEndian
	try := func(off, rb int) []uint64 {
		if off < 0 || rb < 0 || rb+8 > len(data) || off+4*num > len(data) {
			return nil
		}
		base := le.Uint64(data[rb:])
		if base>>40 != 0xffffff {
			return nil
		}
		out := make([]uint64, num)
		rising := 0
		for i := 0; i < num; i++ {
			o := int32(le.Uint32(data[off+4*i:]))
			if o >= 0 {
				out[i] = base + uint64(o)
			} else {
				out[i] = base - 1 - uint64(int64(o)) // absolute per-CPU
			}
			if i > 0 && out[i] >= out[i-1] {
				rising++
			}
		}
		if rising < num*9/10 {
			return nil
		}
		return out
	}
	for _, rb := range []int{(q - 8) &^ 7, (q - 4) &^ 7} {
		for _, pad := range []int{0, 4} {
			if a := try(rb-pad-4*num, rb); a != nil {
				return a
			}
		}
	}
	for _, al := range []int{4, 8} {
		off := (idxEnd + al - 1) &^ (al - 1)
		rb := (off + 4*num + 7) &^ 7
		if a := try(off, rb); a != nil {
			return a
		}
	}
	return nil
}
