package loader

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ModInfo is what kgen reads from a .ko's .modinfo section.
type ModInfo struct {
	Name     string            // "name=" or, on old kernels, the file name
	Vermagic string            // full vermagic string
	Fields   map[string]string // every key=value (last one wins)
}

// Release is the kernel release the module was built for (vermagic's first word).
func (m *ModInfo) Release() string {
	if f := strings.Fields(m.Vermagic); len(f) > 0 {
		return f[0]
	}
	return ""
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ValidName reports whether s is a valid kgen module, event or instance name.
func ValidName(s string) bool { return len(s) <= 64 && nameRE.MatchString(s) }

func checkName(s string) error {
	if !ValidName(s) {
		return fmt.Errorf("check name %q: %w: want [a-z][a-z0-9_]*, at most 64 characters", s, ErrInvalidName)
	}
	return nil
}

// ReadModInfo parses the .modinfo section of the module at path.
func ReadModInfo(path string) (*ModInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		// Not there or not readable: that, not "not a module".
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	defer f.Close()
	c, err := fileCompression(f)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	if c != NotCompressed {
		b, err := decompress(c, f)
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w: %s: %v", path, ErrNotModule, c, err)
		}
		return readModInfo(bytes.NewReader(b), path)
	}
	return readModInfo(f, path)
}

// readModInfo parses the .modinfo section of the ELF module in r. A
// malformed file is an error, never a panic (debug/elf is not hardened
// against every corrupt header).
func readModInfo(r io.ReaderAt, path string) (mi *ModInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			mi, err = nil, fmt.Errorf("read module %s: %w: corrupt ELF (%v)", path, ErrNotModule, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w: %v", path, ErrNotModule, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("read module %s: %w: no .modinfo section", path, ErrNotModule)
	}
	if sec.Size > maxModInfo {
		return nil, fmt.Errorf("read module %s: %w: .modinfo is %d bytes", path, ErrNotModule, sec.Size)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w: .modinfo: %v", path, ErrNotModule, err)
	}
	mi = parseModInfo(data)
	if mi.Vermagic == "" {
		return nil, fmt.Errorf("read module %s: %w: no vermagic in .modinfo", path, ErrNotModule)
	}
	if mi.Name == "" {
		mi.Name = ModuleFileName(filepath.Base(path))
	}
	return mi, nil
}

// maxModInfo bounds the .modinfo section read (real ones are < 4 KiB).
const maxModInfo = 1 << 20

func parseModInfo(data []byte) *ModInfo {
	mi := &ModInfo{Fields: map[string]string{}}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		mi.Fields[k] = v
		switch k {
		case "vermagic":
			mi.Vermagic = v
		case "name":
			mi.Name = v
		}
	}
	return mi
}

// CheckVermagic compares the module's release with the running kernel's.
func CheckVermagic(path string, mi *ModInfo, kernelRelease string) error {
	if mi.Release() != kernelRelease {
		return &VermagicError{Module: path, ModuleVermagic: mi.Vermagic, KernelRelease: kernelRelease}
	}
	return nil
}

var paramKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

// FormatParams validates "key=value" arguments and joins them into the
// string finit_module takes. A value holding any byte the kernel's
// isspace() accepts (space, \t \n \v \f \r, and 0xa0 in the kernel's
// Latin-1 table) is quoted, so the kernel's next_arg() cannot split it
// into more parameters; quotes and NUL, which next_arg cannot carry in a
// value, are refused.
func FormatParams(args []string) (string, error) {
	out := make([]string, 0, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !paramKeyRE.MatchString(k) {
			return "", fmt.Errorf("parse parameter %q: %w: want name=value", a, ErrInvalidParam)
		}
		if !ok {
			out = append(out, k) // a bare bool parameter, as insmod accepts
			continue
		}
		if strings.ContainsAny(v, "\"\x00") {
			return "", fmt.Errorf("parse parameter %q: %w: quotes and NUL are not allowed in values", a, ErrInvalidParam)
		}
		if hasKernelSpace(v) {
			v = `"` + v + `"`
		}
		out = append(out, k+"="+v)
	}
	return strings.Join(out, " "), nil
}

// hasKernelSpace reports whether s holds a byte the kernel's isspace()
// accepts (lib/ctype.c: _S).
func hasKernelSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if kernelIsSpace(s[i]) {
			return true
		}
	}
	return false
}

func kernelIsSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0:
		return true
	}
	return false
}
