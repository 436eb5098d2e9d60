package loader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNoKallsyms means /proc/kallsyms is unreadable or hides addresses
// (kptr_restrict); stacks are then shown as hex.
var ErrNoKallsyms = errors.New("kernel symbols unavailable")

type ksym struct {
	addr      uint64
	name, mod string
}

// Symbolizer resolves kernel text addresses from /proc/kallsyms.
type Symbolizer struct{ syms []ksym }

// LoadKallsyms reads kallsyms from path.
func LoadKallsyms(path string) (*Symbolizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read kallsyms: %w: %w", ErrNoKallsyms, err)
	}
	defer f.Close()
	return ParseKallsyms(f)
}

// Kallsyms reads the running kernel's symbols (procfs kallsyms of opts).
func Kallsyms(opts *Options) (*Symbolizer, error) {
	o := opts.withDefaults()
	return LoadKallsyms(filepath.Join(o.ProcDir, "kallsyms"))
}

// ParseKallsyms parses "addr type name [module]" lines, keeping text symbols.
func ParseKallsyms(r io.Reader) (*Symbolizer, error) {
	s := &Symbolizer{}
	sc := bufio.NewScanner(r)
	nonzero := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		switch f[1] {
		case "t", "T", "w", "W":
		default:
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		nonzero = nonzero || a != 0
		k := ksym{addr: a, name: f[2]}
		if len(f) > 3 {
			k.mod = strings.Trim(f[3], "[]")
		}
		s.syms = append(s.syms, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	if !nonzero {
		return nil, fmt.Errorf("read kallsyms: %w: addresses are hidden (kptr_restrict; run as root)", ErrNoKallsyms)
	}
	sort.SliceStable(s.syms, func(i, j int) bool { return s.syms[i].addr < s.syms[j].addr })
	return s, nil
}

const maxSymSize = 1 << 20

// Symbolize formats addr like the kernel's %pS ("vfs_read+0x12/0x1a0"),
// with " [mod]" for module symbols; unknown addresses stay hex.
func (s *Symbolizer) Symbolize(addr uint64) string {
	if s == nil || len(s.syms) == 0 {
		return fmt.Sprintf("0x%x", addr)
	}
	i := sort.Search(len(s.syms), func(i int) bool { return s.syms[i].addr > addr }) - 1
	if i < 0 {
		return fmt.Sprintf("0x%x", addr)
	}
	// Of aliases (symbols at one address) take the first listed, as the
	// kernel's %pS does, so a stack reads the same here and in dmesg.
	for i > 0 && s.syms[i-1].addr == s.syms[i].addr {
		i--
	}
	k := s.syms[i]
	size := uint64(0)
	for j := i + 1; j < len(s.syms); j++ {
		if s.syms[j].addr > k.addr {
			size = s.syms[j].addr - k.addr
			break
		}
	}
	if size > maxSymSize { // the gap to the next region, not a function
		size = 0
	}
	if size == 0 || addr-k.addr >= size {
		if size == 0 && addr-k.addr < maxSymSize {
			return fmt.Sprintf("%s+0x%x", k.name, addr-k.addr) + modSuffix(k.mod)
		}
		return fmt.Sprintf("0x%x", addr)
	}
	return fmt.Sprintf("%s+0x%x/0x%x", k.name, addr-k.addr, size) + modSuffix(k.mod)
}

func modSuffix(m string) string {
	if m == "" {
		return ""
	}
	return " [" + m + "]"
}
