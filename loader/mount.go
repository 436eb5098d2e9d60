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
	// ID is the mount's ID in mountinfo, read right after mounting: kgen
	// unmounts only that mount, never one made later at the same place.
	// 0 in the state of an older kgen.
	ID int `json:"id,omitempty"`
}

type mountEntry struct {
	id, parent            int
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
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return mountEntry{}, false
	}
	return mountEntry{id: id, parent: parent, point: unescapeOctal(f[4]), fstype: f[sep+1], source: f[sep+2]}, true
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
	// A debugfs or tracefs mounted elsewhere (a KEDR configuration's
	// "mount debugfs -t debugfs /tmp/kedr/debugfs", with the tracefs the
	// kernel automounts below it) may be unmounted while the module is
	// loaded, taking the instance's path, the stats files and kgen trace
	// with it: kgen uses the standard places, and mounts them itself.
	if d.debugfs != debugfsPath {
		d.debugfs = ""
	}
	if d.tracing != tracefsPath && d.tracing != oldTracingPath {
		d.tracing = ""
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
		mounted = append(mounted, recordMount(o, debugfsPath, "debugfs"))
		d.debugfs = debugfsPath
	}
	if d.tracing == "" && isDir(o.host(tracefsPath)) {
		err := mountFS(o, "tracefs", tracefsPath)
		switch {
		case err == nil:
			mounted = append(mounted, recordMount(o, tracefsPath, "tracefs"))
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

// recordMount returns the Mount kgen just made at target, with its ID:
// the last (topmost) fstype mount at target in mountinfo.
func recordMount(o *Options, target, fstype string) Mount {
	m := Mount{Target: target, FSType: fstype}
	ms, err := readMountinfo(o)
	if err != nil {
		o.logf("warning: %v; kgen unload will know %s only by its path", err, target)
		return m
	}
	if e, ok := topMount(ms, target); ok && e.fstype == fstype {
		m.ID = e.id
	}
	return m
}

// topMount is the last mount listed at point, the one a path lookup sees.
func topMount(ms []mountEntry, point string) (mountEntry, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].point == point {
			return ms[i], true
		}
	}
	return mountEntry{}, false
}

// errMountKept says why a mount kgen made stays in place.
var errMountKept = errors.New("left mounted")

// unmount undoes the mount m kgen made, and only it: if it is gone there
// is nothing to do; if a later mount is stacked on it (an admin's,
// systemd's) or it is busy (another tracer, a shell in it), it stays
// (errMountKept): a lazy detach would pull it from under its users.
// Unmounting is by path (Linux has no unmount by ID), right after checking
// that m is the mount that path leads to.
func unmount(o *Options, m Mount) error {
	ms, err := readMountinfo(o)
	if err != nil {
		return err
	}
	mine, ok := findMountID(ms, m)
	if !ok {
		return nil // no longer mounted
	}
	if top, _ := topMount(ms, m.Target); top.id != mine.id {
		return fmt.Errorf("%w: %s on %s: another mount (ID %d, %s) was made on top of it since kgen mounted it", errMountKept, m.FSType, m.Target, top.id, top.fstype)
	}
	err = o.Unmount(o.host(m.Target), 0)
	if errors.Is(err, unix.EBUSY) && unmountAutomounts(o, ms, mine) {
		err = o.Unmount(o.host(m.Target), 0)
	}
	switch {
	case err == nil:
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %s on %s is in use (a process has a file open there, or a mount below it); run kgen unload again when it is free, or umount it yourself", errMountKept, m.FSType, m.Target)
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
		return nil // no longer mounted
	default:
		return &os.PathError{Op: "unmount " + m.FSType, Path: m.Target, Err: err}
	}
	o.logf("unmounted %s from %s", m.FSType, m.Target)
	return nil
}

// findMountID finds m in mountinfo by its ID; a Mount of an older kgen
// (no ID) is matched by the topmost mount at its target, if of its type.
func findMountID(ms []mountEntry, m Mount) (mountEntry, bool) {
	if m.ID == 0 {
		e, ok := topMount(ms, m.Target)
		return e, ok && e.fstype == m.FSType
	}
	for _, e := range ms {
		if e.id == m.ID {
			return e, e.point == m.Target && e.fstype == m.FSType
		}
	}
	return mountEntry{}, false
}

// unmountAutomounts unmounts (not lazily) the tracefs the kernel
// automounts at debugfs's tracing/ on first access (4.1+), which keeps a
// debugfs kgen mounted busy. Only a tracefs right below mine, at its
// tracing/, with nothing below or on top of it, is taken. It reports
// whether it unmounted one.
func unmountAutomounts(o *Options, ms []mountEntry, mine mountEntry) bool {
	done := false
	for _, e := range ms {
		if e.parent != mine.id || e.fstype != "tracefs" || e.point != path.Join(mine.point, "tracing") {
			continue
		}
		if top, _ := topMount(ms, e.point); top.id != e.id || hasChildren(ms, e.id) {
			continue
		}
		if o.Unmount(o.host(e.point), 0) == nil {
			done = true
		}
	}
	return done
}

func hasChildren(ms []mountEntry, id int) bool {
	for _, e := range ms {
		if e.parent == id && e.id != id {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
