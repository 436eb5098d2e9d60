package vm

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Add is a host file or directory copied into the guest.
type Add struct {
	// Src is the host path. A directory is copied recursively; symlinks
	// inside it are kept as symlinks, a symlink given as Src is followed.
	Src string
	// Dst is the guest path. Empty means /root/<base of Src>; a path
	// ending in "/" means that directory/<base of Src>; a relative path
	// is relative to /root (the command's working directory).
	Dst string
}

// ParseAdd parses the command-line form SRC[:DST]. The first colon
// splits, so a SRC holding a colon needs an explicit DST.
func ParseAdd(s string) (Add, error) {
	src, dst, _ := strings.Cut(s, ":")
	if src == "" {
		return Add{}, fmt.Errorf("parse add %q: empty source; use SRC[:DST]", s)
	}
	return Add{Src: src, Dst: dst}, nil
}

// guestPath resolves a's destination in the guest.
func (a Add) guestPath() string {
	base := filepath.Base(filepath.Clean(a.Src))
	dst := a.Dst
	switch {
	case dst == "":
		dst = "/root/" + base
	case strings.HasSuffix(dst, "/"):
		dst += base
	}
	if !path.IsAbs(dst) {
		dst = "/root/" + dst
	}
	return path.Clean(dst)
}

// initramfs describes the archive buildInitramfs writes.
type initramfs struct {
	busybox string   // host path of a static busybox
	kgen    string   // host path of a static kgen, "" for none
	modules []string // host paths of modules, added to moduleDir
	init    string   // the /init script
	files   map[string]string
	adds    []Add
}

// The fixed skeleton: busybox --install -s needs the bin directories,
// /init mounts proc, sysfs and devtmpfs on the others.
var skeletonDirs = []struct {
	name string
	perm fs.FileMode
}{
	{"/bin", 0o755}, {"/sbin", 0o755}, {"/usr", 0o755}, {"/usr/bin", 0o755},
	{"/usr/sbin", 0o755}, {"/dev", 0o755}, {"/proc", 0o555}, {"/sys", 0o555},
	{"/tmp", 0o1777}, {"/root", 0o700}, {"/mnt", 0o755}, {"/etc", 0o755},
	{"/etc/kgen", 0o755}, {"/run", 0o755}, {"/var", 0o755},
}

// buildInitramfs writes the newc archive for r to w.
func buildInitramfs(w io.Writer, r initramfs) error {
	c := newCPIOWriter(w)
	for _, d := range skeletonDirs {
		perm := d.perm.Perm()
		if d.perm&0o1000 != 0 {
			perm |= fs.ModeSticky
		}
		if err := c.Dir(d.name, perm); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's stdio before /dev is
	// mounted; its built-in archive has the node too, but not every
	// kernel config keeps that archive.
	if err := c.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := addHostFile(c, r.busybox, "/bin/busybox", 0o755); err != nil {
		return err
	}
	if err := c.Symlink("/bin/sh", "busybox"); err != nil {
		return err
	}
	if r.kgen != "" {
		if err := addHostFile(c, r.kgen, "/bin/kgen", 0o755); err != nil {
			return err
		}
	}
	for _, m := range r.modules {
		if err := mkdirAll(c, moduleDir+"/x"); err != nil {
			return err
		}
		if err := addHostFile(c, m, moduleDir+"/"+filepath.Base(m), 0o644); err != nil {
			return err
		}
	}
	if err := addBytes(c, "/init", 0o755, r.init); err != nil {
		return err
	}
	names := make([]string, 0, len(r.files))
	for n := range r.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := addBytes(c, n, 0o644, r.files[n]); err != nil {
			return err
		}
	}
	for _, a := range r.adds {
		if err := addTree(c, a.Src, a.guestPath()); err != nil {
			return fmt.Errorf("add %s: %w", a.Src, err)
		}
	}
	return c.Close()
}

func addBytes(c *cpioWriter, name string, perm fs.FileMode, s string) error {
	return c.File(name, perm, int64(len(s)), strings.NewReader(s))
}

// addHostFile copies the host file src to dst with mode perm (0: src's).
func addHostFile(c *cpioWriter, src, dst string, perm fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("add %s: not a regular file", src)
	}
	if perm == 0 {
		perm = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	return c.File(dst, perm, fi.Size(), f)
}

// mkdirAll adds the missing parents of name (not name itself).
func mkdirAll(c *cpioWriter, name string) error {
	dir := path.Dir(name)
	if dir == "/" || c.Has(dir) {
		return nil
	}
	if err := mkdirAll(c, dir); err != nil {
		return err
	}
	return c.Dir(dir, 0o755)
}

// addTree copies the host file or directory src to the guest path dst.
func addTree(c *cpioWriter, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := mkdirAll(c, dst); err != nil {
		return err
	}
	if !fi.IsDir() {
		return addHostFile(c, src, dst, 0)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		g := path.Join(dst, filepath.ToSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if c.Has(g) {
				return nil // merging into an existing directory
			}
			return c.Dir(g, mode&(fs.ModePerm|fs.ModeSticky))
		case mode.IsRegular():
			return addHostFile(c, p, g, 0)
		case mode&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return c.Symlink(g, t)
		default:
			return fmt.Errorf("add %s: unsupported file type %v; add regular files, directories and symlinks only", p, mode.Type())
		}
	})
}
