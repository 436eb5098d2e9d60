package loader

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is how a module file is compressed, from its magic bytes.
type Compression string

const (
	NotCompressed Compression = ""
	Gzip          Compression = "gzip"
	XZ            Compression = "xz"
	Zstd          Compression = "zstd"
)

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
}

// sniffCompression tells a compressed module from its first bytes.
func sniffCompression(head []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return NotCompressed
}

// fileCompression reads the first bytes of f (and seeks back).
func fileCompression(f *os.File) (Compression, error) {
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return sniffCompression(head[:n]), nil
}

// maxModuleSize bounds a decompressed module (the largest Debian module,
// amdgpu, is ~30 MiB uncompressed with debug info stripped), so a
// corrupt or hostile file cannot exhaust memory.
const maxModuleSize = 512 << 20

// decompress returns the whole decompressed content of r.
func decompress(c Compression, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		dr = zr
	case XZ:
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		dr = xr
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleSize))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		dr = zr
	default:
		return io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	}
	b, err := io.ReadAll(io.LimitReader(dr, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModuleSize {
		return nil, fmt.Errorf("more than %d MiB decompressed", maxModuleSize>>20)
	}
	return b, nil
}

// readModuleImage returns the module at path, decompressed if it is.
func readModuleImage(path string) ([]byte, Compression, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("read module %s: %w", path, err)
	}
	defer f.Close()
	c, err := fileCompression(f)
	if err != nil {
		return nil, "", fmt.Errorf("read module %s: %w", path, err)
	}
	b, err := decompress(c, f)
	if err != nil {
		return nil, c, fmt.Errorf("decompress module %s (%s): %w: the file is corrupt or truncated; reinstall the package that ships it", path, c, err)
	}
	return b, c, nil
}

// moduleSuffixes are the file name endings of kernel modules, longest first.
var moduleSuffixes = []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"}

// ModuleFileName returns the module name a file name implies:
// "kernel/fs/fat/vfat.ko.xz" -> "vfat", dashes folded to underscores as
// the kernel does.
func ModuleFileName(file string) string {
	base := file[strings.LastIndexByte(file, '/')+1:]
	for _, s := range moduleSuffixes {
		if b, ok := strings.CutSuffix(base, s); ok {
			base = b
			break
		}
	}
	return strings.ReplaceAll(base, "-", "_")
}

// IsModulePath reports whether s names a module file rather than a
// module: it holds a slash or ends in .ko, .ko.xz, .ko.zst or .ko.gz.
func IsModulePath(s string) bool {
	if strings.Contains(s, "/") {
		return true
	}
	for _, suf := range moduleSuffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}
