package loader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// InstanceName is the tracefs instance kgen creates for module name.
func InstanceName(name string) string { return "kgen_" + name }

// Load inserts the module at modPath with params ("key=value"), after
// checking its vermagic against the running kernel; mounts debugfs and
// tracefs if needed, creates the tracefs instance kgen_<name> and enables
// the module's events in it. On failure every step already done is undone
// in reverse and the error says what to do.
func Load(modPath string, params []string, opts *Options) (*State, error) {
	o := opts.withDefaults()
	mi, err := ReadModInfo(modPath)
	if err != nil {
		return nil, err
	}
	name := mi.Name
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("load module %s: %w", modPath, err)
	}
	release, _, err := o.Uname()
	if err != nil {
		return nil, err
	}
	if err := CheckVermagic(modPath, mi, release); err != nil {
		return nil, err
	}
	ps, err := FormatParams(params)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(modPath)
	if err != nil {
		return nil, fmt.Errorf("load module %s: %w", modPath, err)
	}

	unlock, err := lock(o)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var undo []func() error
	fail := func(err error) (*State, error) {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			if e := undo[i](); e != nil {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("%w\nroll back: %w", err, errors.Join(errs...))
		}
		return nil, err
	}

	dirs, mounted, err := ensureFS(o)
	if err != nil {
		return nil, err
	}
	for _, m := range mounted {
		undo = append(undo, func() error { return unmount(o, m) })
	}

	if err := insmod(o, name, abs, ps); err != nil {
		return fail(err)
	}
	o.logf("inserted module %s", name)
	undo = append(undo, func() error { return rmmod(o, name) })

	inst := path.Join(dirs.tracing, "instances", InstanceName(name))
	if err := o.Mkdir(o.host(inst), 0o755); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("create tracefs instance %s: %w", inst, err))
		}
		o.logf("warning: reusing the existing tracefs instance %s", inst)
	}
	undo = append(undo, func() error { return removeInstance(o, inst) })

	events := path.Join(inst, "events", name)
	if !isDir(o.host(events)) {
		// Not a kgen module with events (brd, a leak check): no
		// instance is left behind for a later plain rmmod to leak.
		o.logf("module %s defines no trace events", name)
		if err := removeInstance(o, inst); err != nil {
			return fail(err)
		}
		undo = undo[:len(undo)-1]
		events = ""
	} else {
		if o.BufferKB > 0 {
			if err := writeKnob(o, path.Join(inst, "buffer_size_kb"), strconv.Itoa(o.BufferKB)); err != nil {
				return fail(fmt.Errorf("set the ring buffer of %s to %d KiB per CPU: %w; pass a smaller --buffer-kb", inst, o.BufferKB, err))
			}
			o.logf("ring buffer of %s: %d KiB per CPU", inst, o.BufferKB)
		}
		if err := writeKnob(o, path.Join(events, "enable"), "1"); err != nil {
			return fail(err)
		}
		undo = append(undo, func() error { return writeKnob(o, path.Join(events, "enable"), "0") })
	}

	st := &State{
		Name: name, Module: abs, Params: ps,
		Debugfs: dirs.debugfs, Tracing: dirs.tracing,
		Instance: inst, Events: events, Mounted: mounted,
		LoadedAt: o.Now().UTC(),
	}
	if err := writeJSON(statePath(o, name), st); err != nil {
		return fail(err)
	}
	undo = append(undo, func() error { return os.Remove(statePath(o, name)) })
	if err := addMounts(o, mounted); err != nil {
		return fail(err)
	}
	return st, nil
}

// moduleInitCompressedFile is finit_module's MODULE_INIT_COMPRESSED_FILE
// (Linux 6.4+, CONFIG_MODULE_DECOMPRESS): the kernel decompresses.
const moduleInitCompressedFile = 4

// insmod inserts the module file at modPath, plain or compressed (gzip,
// xz, zstd). A compressed one goes to finit_module with
// MODULE_INIT_COMPRESSED_FILE first; a kernel that refuses that flag
// (EINVAL before 6.4, EOPNOTSUPP without CONFIG_MODULE_DECOMPRESS or for
// another algorithm, ENOSYS without finit_module) gets the image
// decompressed here, through init_module.
func insmod(o *Options, name, modPath, params string) error {
	f, err := os.Open(modPath)
	if err != nil {
		return fmt.Errorf("load module %s: %w", name, err)
	}
	defer f.Close()
	c, err := fileCompression(f)
	if err != nil {
		return fmt.Errorf("load module %s: %w", name, err)
	}
	flags := 0
	if c != NotCompressed {
		flags = moduleInitCompressedFile
	}
	mark := klogMark(o)
	err = o.FinitModule(int(f.Fd()), params, flags)
	if errors.Is(err, unix.ENOSYS) ||
		(c != NotCompressed && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP))) {
		// Kernels before 3.8 have no finit_module; before 6.4 it cannot
		// take a compressed file.
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return fmt.Errorf("load module %s: %w", name, serr)
		}
		img, derr := decompress(c, f)
		if derr != nil {
			return fmt.Errorf("load module %s: read %s: %w", name, modPath, derr)
		}
		if c != NotCompressed {
			o.logf("decompressed %s (%s) in user space: the kernel refused it compressed (%v)", modPath, c, err)
		}
		err = o.InitModule(img, params)
	}
	if errors.Is(err, unix.EKEYREJECTED) {
		return signatureError(o, name, err, f, c, mark)
	}
	if err != nil {
		var hint string
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EPERM) {
			hint = klogLines(o, name, mark)
		}
		if errors.Is(err, unix.EEXIST) {
			// EEXIST from the module's own init (a payload whose target
			// is already loaded), not from a module of that name.
			if mods, lerr := loadedModules(o); lerr == nil && !mods[name] {
				return &ModuleError{Op: "load", Module: name, Errno: err,
					Hint: "its init refused to load (File exists); kernel log:\n" + klogLines(o, name, mark)}
			}
		}
		return loadError(name, err, hint)
	}
	return nil
}

// rmmod deletes module name, retrying briefly while it is busy.
func rmmod(o *Options, name string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = o.DeleteModule(name, unix.O_NONBLOCK)
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
			break
		}
		o.Sleep(retryDelay)
	}
	if err != nil {
		return unloadError(name, err)
	}
	return nil
}

// removeInstance removes a tracefs instance, retrying briefly while a
// reader still has its files open.
func removeInstance(o *Options, inst string) error {
	var err error
	for i := 0; i < 10; i++ {
		err = o.Rmdir(o.host(inst))
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		o.Sleep(retryDelay)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("remove tracefs instance %s: %w: stop `kgen trace` (or whatever reads its trace_pipe) and retry", inst, err)
	}
	if err != nil {
		return fmt.Errorf("remove tracefs instance %s: %w", inst, err)
	}
	return nil
}

// restoreInstance recreates module name's tracefs instance inst after
// another tool removed it (trace-cmd extract/reset -B kgen_<name>, rmdir)
// and enables the module's events in it again, as Load did. A module that
// is no longer loaded has no events: then the new instance is removed
// again and ErrNoInstance returned.
func restoreInstance(o *Options, name, inst string) error {
	if err := o.Mkdir(o.host(inst), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("recreate tracefs instance %s: %w", inst, err)
	}
	events := path.Join(inst, "events", name)
	if !isDir(o.host(events)) {
		_ = removeInstance(o, inst)
		return fmt.Errorf("recreate tracefs instance %s: %w: module %s has no events there (is it loaded? `kgen load` it again)", inst, ErrNoInstance, name)
	}
	return writeKnob(o, path.Join(events, "enable"), "1")
}

func writeKnob(o *Options, p, v string) error {
	f, err := os.OpenFile(o.host(p), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// UnloadResult is what Unload found and did.
type UnloadResult struct {
	Stats   *Stats   // final counters; nil if the module has no stats file
	Managed bool     // kgen's state file existed
	Notes   []string // warnings worth showing the user
}

// Unload reads the module's final counters, disables its events, removes
// its tracefs instance, deletes the module and, when no other kgen module
// remains loaded, unmounts what kgen mounted. A module kgen did not load
// (no state file) is still deleted and its counters read.
func Unload(name string, opts *Options) (*UnloadResult, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	unlock, err := lock(o)
	if err != nil {
		return nil, err
	}
	defer unlock()

	st, err := readState(o, name)
	if err != nil {
		return nil, err
	}
	res := &UnloadResult{Managed: st != nil}
	note := func(format string, args ...any) {
		res.Notes = append(res.Notes, fmt.Sprintf(format, args...))
	}

	dirs, err := locateFS(o)
	if err != nil {
		return nil, err
	}
	inst, events := "", ""
	if st != nil {
		inst, events = st.Instance, st.Events
	} else if dirs.tracing != "" {
		inst = path.Join(dirs.tracing, "instances", InstanceName(name))
		events = path.Join(inst, "events", name)
	}
	if inst != "" && !isDir(o.host(inst)) {
		inst, events = "", ""
	}

	if events != "" && isDir(o.host(events)) {
		if err := writeKnob(o, path.Join(events, "enable"), "0"); err != nil {
			return nil, err
		}
	}
	if inst != "" {
		if err := removeInstance(o, inst); err != nil {
			if events != "" {
				_ = writeKnob(o, path.Join(events, "enable"), "1")
			}
			return nil, err
		}
	}

	if dirs.debugfs != "" {
		s, err := readStats(o, path.Join(dirs.debugfs, "kgen", name))
		switch {
		case err == nil:
			res.Stats = s
		case errors.Is(err, ErrStatsMissing):
		default:
			note("warning: %v", err)
		}
	}

	if err := rmmod(o, name); err != nil {
		if st != nil && errors.Is(err, ErrNotLoaded) {
			note("warning: module %s was already removed; cleaned up kgen's state", name)
		} else {
			if inst != "" { // put the instance back as we found it
				if o.Mkdir(o.host(inst), 0o755) == nil && events != "" {
					_ = writeKnob(o, path.Join(events, "enable"), "1")
				}
			}
			return res, err
		}
	}
	o.logf("unloaded module %s", name)

	if st != nil {
		if err := os.Remove(statePath(o, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("remove state: %w", err)
		}
	}
	if err := releaseMounts(o); err != nil {
		return res, err
	}
	return res, nil
}

// releaseMounts unmounts what kgen mounted once no kgen module is loaded.
func releaseMounts(o *Options) error {
	names, err := loadedNames(o)
	if err != nil || len(names) > 0 {
		return err
	}
	ms, err := readMounts(o)
	if err != nil || len(ms) == 0 {
		return err
	}
	var errs []error
	var kept []Mount
	for i := len(ms) - 1; i >= 0; i-- {
		err := unmount(o, ms[i])
		switch {
		case errors.Is(err, errMountKept):
			// Not kgen's to force; recorded, so a later unload retries.
			o.logf("note: %v", err)
			kept = append([]Mount{ms[i]}, kept...)
		case err != nil:
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(kept) > 0 {
		return writeJSON(filepath.Join(o.RunDir, mountsFile), kept)
	}
	if err := os.Remove(filepath.Join(o.RunDir, mountsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}
