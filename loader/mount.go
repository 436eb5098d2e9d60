package loader

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel-view paths (mapped through Options.host before use).
const (
	debugfsPath    = "/sys/kernel/debug"
	tracefsPath    = "/sys/kernel/tracing"
	oldTracingPath = "/sys/kernel/debug/tracing" // tracing inside debugfs (< 4.1)
)

// Mount is a file system kgen mounted and must unmount.
type Mount struct {
	Target string `json:"target"`
	FSType string `json:"fstype"`
}

type mountEntry struct {
	point, fstype, source string
}

// readMountinfo parses <proc>/self/mountinfo.
func readMountinfo(o *Options) ([]mountEntry, error) {
	p := filepath.Join(o.ProcDir, "self", "mountinfo")
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if e, ok := parseMountinfoLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts %s: %w", p, err)
	}
	return out, nil
}

// parseMountinfoLine parses one line of proc(5) mountinfo:
// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func parseMountinfoLine(line string) (mountEntry, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
		return mountEntry{}, false
	}
	return mountEntry{point: unescapeOctal(f[4]), fstype: f[sep+1], source: f[sep+2]}, true
}

// unescapeOctal undoes the \040-style escapes of mountinfo.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findMount returns the kernel-view mount point of fstype, preferring the
// given paths, or "" if it is not mounted.
func findMount(ms []mountEntry, fstype string, prefer ...string) string {
	first := ""
	for _, m := range ms {
		if m.fstype != fstype {
			continue
		}
		for _, p := range prefer {
			if m.point == p {
				return p
			}
		}
		if first == "" {
			first = m.point
		}
	}
	return first
}

// fsDirs are the kernel-view roots of debugfs and of the tracing directory.
type fsDirs struct {
	debugfs string // "" if not mounted
	tracing string // "" if not found
}

// locateFS finds debugfs and tracing without mounting anything.
func locateFS(o *Options) (fsDirs, error) {
	ms, err := readMountinfo(o)
	if err != nil {
		return fsDirs{}, err
	}
	d := fsDirs{debugfs: findMount(ms, "debugfs", debugfsPath)}
	d.tracing = findMount(ms, "tracefs", tracefsPath, oldTracingPath)
	if d.tracing == "" && d.debugfs != "" {
		// Kernels before 4.1 have tracing inside debugfs itself.
		old := path.Join(d.debugfs, "tracing")
		if isDir(o.host(path.Join(old, "instances"))) {
			d.tracing = old
		}
	}
	return d, nil
}

// ensureFS mounts debugfs and tracefs where they are missing and returns
// their roots and what it mounted, in mount order.
func ensureFS(o *Options) (fsDirs, []Mount, error) {
	d, err := locateFS(o)
	if err != nil {
		return d, nil, err
	}
	var mounted []Mount
	undo := func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			_ = unmount(o, mounted[i])
		}
	}
	if d.debugfs == "" {
		if err := mountFS(o, "debugfs", debugfsPath); err != nil {
			return d, nil, fmt.Errorf("%w: the kernel needs CONFIG_DEBUG_FS", err)
		}
		mounted = append(mounted, Mount{Target: debugfsPath, FSType: "debugfs"})
		d.debugfs = debugfsPath
	}
	if d.tracing == "" && isDir(o.host(tracefsPath)) {
		err := mountFS(o, "tracefs", tracefsPath)
		switch {
		case err == nil:
			mounted = append(mounted, Mount{Target: tracefsPath, FSType: "tracefs"})
			d.tracing = tracefsPath
		case errors.Is(err, unix.ENODEV):
			// No tracefs: fall back to tracing inside debugfs below.
		default:
			undo()
			return d, nil, err
		}
	}
	if d.tracing == "" {
		old := path.Join(d.debugfs, "tracing")
		if isDir(o.host(old)) {
			d.tracing = old
		}
	}
	if d.tracing == "" || !isDir(o.host(path.Join(d.tracing, "instances"))) {
		undo()
		return d, nil, fmt.Errorf("find tracing instances: %w: the kernel needs CONFIG_TRACING (ftrace) and Linux 3.10 or later", ErrNoTracefs)
	}
	return d, mounted, nil
}

func mountFS(o *Options, fstype, target string) error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := o.Mount(fstype, o.host(target), fstype, flags, ""); err != nil {
		return &os.PathError{Op: "mount " + fstype, Path: target, Err: err}
	}
	o.logf("mounted %s on %s", fstype, target)
	return nil
}

// unmount undoes a mount kgen made; a busy mount (say a tracefs automount
// below debugfs) is detached lazily.
func unmount(o *Options, m Mount) error {
	err := o.Unmount(o.host(m.Target), 0)
	if errors.Is(err, unix.EBUSY) {
		err = o.Unmount(o.host(m.Target), unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // no longer mounted
	}
	if err != nil {
		return &os.PathError{Op: "unmount " + m.FSType, Path: m.Target, Err: err}
	}
	o.logf("unmounted %s from %s", m.FSType, m.Target)
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
