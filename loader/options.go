package loader

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options holds the roots of the file systems the loader touches and the
// syscalls it makes. The zero value means the real system; tests override
// fields to exercise kgen's own logic (ordering, rollback, state files)
// without a kernel.
type Options struct {
	SysDir  string // root of sysfs; default "/sys"
	ProcDir string // root of procfs; default "/proc"
	RunDir  string // where state files live; default "/run/kgen"
	// ModulesDir holds the installed modules, per release
	// (<ModulesDir>/<uname -r>/modules.dep); default "/lib/modules".
	ModulesDir string

	Uname        func() (release, version string, err error)
	FinitModule  func(fd int, params string, flags int) error
	InitModule   func(image []byte, params string) error
	DeleteModule func(name string, flags int) error
	Mount        func(source, target, fstype string, flags uintptr, data string) error
	Unmount      func(target string, flags int) error
	// Mkdir and Rmdir create and remove tracefs instances (on tracefs a
	// mkdir populates the instance and rmdir removes a non-empty one).
	Mkdir func(path string, perm os.FileMode) error
	Rmdir func(path string) error
	// Klog returns the kernel log, for error hints; nil errors are fine.
	Klog func() ([]byte, error)
	Now  func() time.Time
	// Sleep waits between retries of delete_module and rmdir.
	Sleep func(time.Duration)
	// Log receives progress notes (what was mounted, warnings); nil = quiet.
	Log io.Writer
	// BufferKB, if > 0, is the per-CPU ring buffer size of the module's
	// tracefs instance (buffer_size_kb), set by Load before the events are
	// enabled; 0 keeps the kernel's default (1408 KiB).
	BufferKB int
}

func (o *Options) withDefaults() *Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	if c.SysDir == "" {
		c.SysDir = "/sys"
	}
	if c.ProcDir == "" {
		c.ProcDir = "/proc"
	}
	if c.RunDir == "" {
		c.RunDir = "/run/kgen"
	}
	if c.ModulesDir == "" {
		c.ModulesDir = "/lib/modules"
	}
	if c.Uname == nil {
		c.Uname = uname
	}
	if c.FinitModule == nil {
		c.FinitModule = unix.FinitModule
	}
	if c.InitModule == nil {
		c.InitModule = unix.InitModule
	}
	if c.DeleteModule == nil {
		c.DeleteModule = unix.DeleteModule
	}
	if c.Mount == nil {
		c.Mount = unix.Mount
	}
	if c.Unmount == nil {
		c.Unmount = unix.Unmount
	}
	if c.Mkdir == nil {
		c.Mkdir = os.Mkdir
	}
	if c.Rmdir == nil {
		c.Rmdir = func(p string) error { return unix.Rmdir(p) }
	}
	if c.Klog == nil {
		c.Klog = klog
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = time.Sleep
	}
	return &c
}

// host maps an absolute path as the kernel sees it (in mountinfo, in the
// state file) to the path kgen opens, honouring the overridden roots.
func (o *Options) host(p string) string {
	for _, r := range []struct{ prefix, dir string }{
		{"/sys", o.SysDir}, {"/proc", o.ProcDir},
	} {
		if p == r.prefix || strings.HasPrefix(p, r.prefix+"/") {
			return filepath.Join(r.dir, strings.TrimPrefix(p, r.prefix))
		}
	}
	return p
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

func uname() (string, string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", "", fmt.Errorf("uname: %w", err)
	}
	return cstr(u.Release[:]), cstr(u.Version[:]), nil
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func klog() ([]byte, error) {
	const syslogActionReadAll = 3
	buf := make([]byte, 1<<17)
	n, err := unix.Klogctl(syslogActionReadAll, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// RunDir is the directory kgen keeps its state in under opts.
func RunDir(opts *Options) string { return opts.withDefaults().RunDir }
