package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"kgen/internal/lockfile"
	"kgen/internal/safedir"
)

// State is what Load did, recorded in <RunDir>/<name>.json so that Unload
// in another process knows what to undo. Paths are as the kernel sees them.
type State struct {
	Name     string    `json:"name"`
	Module   string    `json:"module"` // path of the .ko that was loaded
	Params   string    `json:"params,omitempty"`
	Debugfs  string    `json:"debugfs"`
	Tracing  string    `json:"tracing"`           // tracefs root
	Instance string    `json:"instance"`          // tracing/instances/kgen_<name>
	Events   string    `json:"events,omitempty"`  // instance/events/<name>; "" if the module has none
	Mounted  []Mount   `json:"mounted,omitempty"` // what this load mounted, in order
	LoadedAt time.Time `json:"loaded_at"`
}

// mountsFile lists every mount kgen made that is still in place; it is
// shared by all loaded modules and undone when the last one is unloaded.
// Its name cannot collide with a module's (names start with a letter).
const mountsFile = "_mounts.json"

func statePath(o *Options, name string) string { return filepath.Join(o.RunDir, name+".json") }

// ReadState returns the recorded state of module name, or nil if kgen did
// not load it.
func ReadState(name string, opts *Options) (*State, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return readState(opts.withDefaults(), name)
}

func readState(o *Options, name string) (*State, error) {
	b, err := os.ReadFile(statePath(o, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w: delete it if no kgen module is loaded", statePath(o, name), err)
	}
	if err := st.check(name); err != nil {
		return nil, fmt.Errorf("read state %s: %w: delete it if no kgen module is loaded", statePath(o, name), err)
	}
	return &st, nil
}

// check says whether a state file describes what kgen load of name
// records: Unload removes the instance, disables the events and unmounts
// the mounts it names, so they must be where kgen puts them.
func (st *State) check(name string) error {
	switch {
	case st.Name != name:
		return fmt.Errorf("it is for module %q", st.Name)
	case st.Instance != "" && st.Instance != path.Join(st.Tracing, "instances", InstanceName(name)):
		return fmt.Errorf("instance %q is not kgen's instance of %s", st.Instance, name)
	case st.Events != "" && st.Events != path.Join(st.Instance, "events", name):
		return fmt.Errorf("events %q are not %s's events", st.Events, name)
	case st.Instance != "" && !path.IsAbs(st.Tracing):
		return fmt.Errorf("tracing dir %q is not absolute", st.Tracing)
	}
	for _, m := range st.Mounted {
		if err := m.check(); err != nil {
			return err
		}
	}
	return nil
}

// check says whether m is a mount kgen makes.
func (m Mount) check() error {
	switch {
	case m.Target == debugfsPath && m.FSType == "debugfs", m.Target == tracefsPath && m.FSType == "tracefs":
		return nil
	}
	return fmt.Errorf("mount %s on %q is not one kgen makes", m.FSType, m.Target)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := ensureRunDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func readMounts(o *Options) ([]Mount, error) {
	b, err := os.ReadFile(filepath.Join(o.RunDir, mountsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var ms []Mount
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("read state %s: %w", mountsFile, err)
	}
	for _, m := range ms {
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("read state %s: %w", mountsFile, err)
		}
	}
	return ms, nil
}

func addMounts(o *Options, add []Mount) error {
	if len(add) == 0 {
		return nil
	}
	ms, err := readMounts(o)
	if err != nil {
		return err
	}
	for _, m := range add {
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	return writeJSON(filepath.Join(o.RunDir, mountsFile), ms)
}

// loadedNames lists the modules that have a state file.
func loadedNames(o *Options) ([]string, error) {
	ents, err := os.ReadDir(o.RunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var names []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && ValidName(n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// Loaded lists the modules kgen loaded that have not been unloaded.
func Loaded(opts *Options) ([]string, error) { return loadedNames(opts.withDefaults()) }

// stateLockTimeout bounds how long kgen load/unload wait for another one.
var stateLockTimeout = 30 * time.Second

// lock serialises kgen load/unload across processes. The state dir is
// 0700 and the lock 0600: flock works on a read-only descriptor, so a
// lock anyone can open is a lock anyone can hold forever.
func lock(o *Options) (func(), error) {
	if err := ensureRunDir(o.RunDir); err != nil {
		return nil, err
	}
	unlock, err := lockfile.Acquire(context.Background(), filepath.Join(o.RunDir, ".lock"), stateLockTimeout, func(pid int) {
		who := "another kgen load or unload"
		if pid > 0 {
			who = lockfile.Describe(pid)
		}
		o.logf("waiting for %s to finish ...", who)
	})
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	return unlock, nil
}

// ensureRunDir creates the state dir 0700, tightens one an older kgen
// made 0755, and refuses one another user can change: its state files say
// what to unload and unmount.
func ensureRunDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && fi.Mode().Perm()&0o077 != 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Geteuid() {
			if err := os.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("create state dir: %w", err)
			}
		}
	}
	if err := safedir.Check(dir); err != nil {
		return fmt.Errorf("use state dir %s: %w: remove it (after kgen unload of what it lists) and let kgen recreate it", dir, err)
	}
	return nil
}
