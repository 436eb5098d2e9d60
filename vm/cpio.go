package vm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// ErrCPIO is wrapped by every error the cpio writer returns.
var ErrCPIO = errors.New("cpio")

// cpioWriter writes an uncompressed "newc" (SVR4, no CRC) cpio archive,
// the format the kernel unpacks into its initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Every field that could vary between runs (inode numbers, mtimes, owners)
// is fixed, so the same inputs give a byte-identical archive. Entries are
// written in the order they are added; a parent directory must be added
// before its children, which the writer checks because the kernel's
// unpacker does not create missing parents.
type cpioWriter struct {
	w     io.Writer
	off   int64
	ino   uint32
	seen  map[string]bool
	err   error
	close bool
	rdev  [2]uint32 // device numbers of the entry being written
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1, seen: map[string]bool{".": true}}
}

// cpio mode bits (they are the same as the stat(2) S_IF* values).
const (
	cpioDir     = 0o040000
	cpioFile    = 0o100000
	cpioSymlink = 0o120000
	cpioCharDev = 0o020000
)

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm fs.FileMode) error {
	return c.entry(name, cpioDir|unixPerm(perm), 0, nil)
}

// File adds a regular file of size bytes read from r.
func (c *cpioWriter) File(name string, perm fs.FileMode, size int64, r io.Reader) error {
	return c.entry(name, cpioFile|unixPerm(perm), size, r)
}

// Symlink adds a symbolic link to target.
func (c *cpioWriter) Symlink(name, target string) error {
	return c.entry(name, cpioSymlink|0o777, int64(len(target)), strings.NewReader(target))
}

// CharDev adds a character device node major:minor.
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	c.rdev = [2]uint32{major, minor}
	defer func() { c.rdev = [2]uint32{} }()
	return c.entry(name, cpioCharDev|uint32(perm.Perm()), 0, nil)
}

// Has reports whether name was already added.
func (c *cpioWriter) Has(name string) bool {
	n, err := cleanName(name)
	return err == nil && c.seen[n]
}

// Close writes the trailer. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if c.close {
		return nil
	}
	c.close = true
	// The trailer is an entry with nlink 1 and the magic name.
	if err := c.header("TRAILER!!!", 0, 0, 1, 0); err != nil {
		return err
	}
	// Pad the archive to a 512-byte block as cpio(1) does; the kernel
	// skips zero padding between and after archives.
	return c.pad(512)
}

// unixPerm maps Go's permission and special bits to the stat(2) ones.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// cleanName turns an absolute or relative slash path into the archive's
// relative form ("bin/sh"), rejecting names that would escape the root.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrCPIO)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: name %q holds a NUL byte", ErrCPIO, name)
	}
	n := path.Clean("/" + name)
	if n == "/" {
		return ".", nil
	}
	return n[1:], nil
}

func (c *cpioWriter) entry(name string, mode uint32, size int64, r io.Reader) error {
	if c.err != nil {
		return c.err
	}
	if c.close {
		return fmt.Errorf("%w: write %s after close", ErrCPIO, name)
	}
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if n == "." {
		return fmt.Errorf("%w: add %q: the archive root cannot be an entry", ErrCPIO, name)
	}
	if c.seen[n] {
		return fmt.Errorf("%w: add /%s: already in the archive", ErrCPIO, n)
	}
	if dir := path.Dir(n); !c.seen[dir] {
		return fmt.Errorf("%w: add /%s: parent directory /%s not added first", ErrCPIO, n, dir)
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("%w: add /%s: size %d does not fit newc's 32-bit field", ErrCPIO, n, size)
	}
	c.seen[n] = true
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	if err := c.header(n, mode, c.ino, nlink, uint32(size)); err != nil {
		return err
	}
	c.ino++
	if size > 0 {
		got, err := io.CopyN(c, r, size)
		if err != nil {
			if c.err == nil { // a read error, not the archive's
				c.err = fmt.Errorf("%w: read /%s: got %d of %d bytes: %w", ErrCPIO, n, got, size, err)
			}
			return c.err
		}
	}
	return c.pad(4)
}

func (c *cpioWriter) header(name string, mode, ino, nlink, size uint32) error {
	// 110-byte ASCII header: magic, then 13 eight-digit hex fields.
	h := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, c.rdev[0], c.rdev[1], len(name)+1, 0)
	if _, err := io.WriteString(c, h+name+"\x00"); err != nil {
		return err
	}
	return c.pad(4)
}

// pad writes zero bytes up to the next multiple of n.
func (c *cpioWriter) pad(n int64) error {
	if r := c.off % n; r != 0 {
		_, err := c.Write(make([]byte, n-r))
		return err
	}
	return nil
}

func (c *cpioWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.off += int64(n)
	if err != nil {
		c.err = fmt.Errorf("%w: write archive: %w", ErrCPIO, err)
		return n, c.err
	}
	return n, nil
}
