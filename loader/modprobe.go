package loader

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrNoSuchModule: a module name the installed modules do not have.
var ErrNoSuchModule = errors.New("module not found")

// depEntry is a module in modules.dep: its file (relative to the
// release's directory unless absolute) and its direct and indirect
// dependencies, as depmod lists them.
type depEntry struct {
	file string
	deps []string // module names
}

// modulesDep is a parsed modules.dep, by module name.
type modulesDep map[string]depEntry

// parseModulesDep reads depmod's text format:
//
//	kernel/drivers/block/null_blk/null_blk.ko.xz: kernel/fs/configfs/configfs.ko.xz
func parseModulesDep(path string) (modulesDep, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dep := modulesDep{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok || file == "" {
			return nil, fmt.Errorf("parse %s:%d: want \"module: dependencies\", got %q: regenerate it with depmod", path, n, line)
		}
		e := depEntry{file: file}
		for _, d := range strings.Fields(rest) {
			e.deps = append(e.deps, ModuleFileName(d))
		}
		name := ModuleFileName(file)
		if _, dup := dep[name]; !dup { // depmod lists the preferred file first
			dep[name] = e
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return dep, nil
}

// readBuiltin returns the names in modules.builtin (missing file: none).
func readBuiltin(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out[ModuleFileName(l)] = true
		}
	}
	return out, nil
}

// loadedModules returns the names in /proc/modules.
func loadedModules(o *Options) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(o.ProcDir, "modules"))
	if errors.Is(err, fs.ErrNotExist) {
		// A kernel without CONFIG_MODULES has no /proc/modules and
		// loads nothing; finit_module will say so.
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read loaded modules: %w", err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out[f[0]] = true
		}
	}
	return out, nil
}

// ModuleLoaded reports whether the kernel has module name loaded.
func ModuleLoaded(name string, opts *Options) (bool, error) {
	m, err := loadedModules(opts.withDefaults())
	return m[normName(name)], err
}

func normName(s string) string { return strings.ReplaceAll(s, "-", "_") }

var modNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// modprobeOrder returns name's dependencies, depth-first, then name: the
// order to load them in. A dependency cycle (a broken modules.dep) is an
// error naming it.
func modprobeOrder(dep modulesDep, name string) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order, stack []string
	var visit func(m string) error
	visit = func(m string) error {
		switch state[m] {
		case done:
			return nil
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != m {
				i--
			}
			cycle := append(append([]string{}, stack[i:]...), m)
			return fmt.Errorf("resolve dependencies of %s: cycle %s: modules.dep is broken; regenerate it with depmod", name, strings.Join(cycle, " -> "))
		}
		e, ok := dep[m]
		if !ok {
			return fmt.Errorf("resolve dependencies of %s: %w: %s is not in modules.dep: regenerate it with depmod", name, ErrNoSuchModule, m)
		}
		state[m] = visiting
		stack = append(stack, m)
		for _, d := range e.deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[m] = done
		order = append(order, m)
		return nil
	}
	if err := visit(name); err != nil {
		return nil, err
	}
	return order, nil
}

// Modprobe loads the installed module name the way modprobe does: from
// <ModulesDir>/<uname -r>/modules.dep, its dependencies first (depth
// first), skipping built-in and already-loaded modules; params go to name
// only. Compressed files (.ko.xz, .ko.zst, .ko.gz) are loaded as insmod
// loads them. It returns the modules it loaded, in load order; when one
// fails, those are removed again, in reverse.
func Modprobe(name string, params []string, opts *Options) ([]string, error) {
	o := opts.withDefaults()
	name = normName(name)
	if !modNameRE.MatchString(name) {
		return nil, fmt.Errorf("load module %q: %w: a module name is letters, digits, _ and -; give a path (with a /) to load a file", name, ErrInvalidName)
	}
	ps, err := FormatParams(params)
	if err != nil {
		return nil, err
	}
	release, _, err := o.Uname()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.ModulesDir, release)
	builtin, err := readBuiltin(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("load module %s: %w", name, err)
	}
	dep, err := parseModulesDep(filepath.Join(dir, "modules.dep"))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("load module %s: %w: no %s: the modules of kernel %s are not installed "+
				"(Debian: apt-get install linux-image-%s; or give the module's path)", name, ErrNoSuchModule, dir, release, release)
		}
		return nil, fmt.Errorf("load module %s: modules.dep missing in %s: run depmod %s", name, dir, release)
	}
	if err != nil {
		return nil, fmt.Errorf("load module %s: %w", name, err)
	}
	if _, ok := dep[name]; !ok {
		if builtin[name] {
			o.logf("module %s is built into kernel %s; nothing to load", name, release)
			return nil, nil
		}
		return nil, fmt.Errorf("load module %s: %w in %s/modules.dep: check the name (`find %s -name '%s.ko*'`); "+
			"a module of another package must be installed first (Debian ships most in linux-image-%s), "+
			"and one installed by hand needs `depmod %s`", name, ErrNoSuchModule, dir, dir, name, release, release)
	}
	order, err := modprobeOrder(dep, name)
	if err != nil {
		return nil, err
	}

	unlock, err := lock(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	loaded, err := loadedModules(o)
	if err != nil {
		return nil, err
	}
	var did []string
	for _, m := range order {
		if loaded[m] || builtin[m] {
			if m == name {
				o.logf("module %s is already loaded; left as it is", m)
			}
			continue
		}
		file := dep[m].file
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		p := ""
		if m == name {
			p = ps
		}
		if err := insmod(o, m, file, p); err != nil {
			if errors.Is(err, ErrAlreadyLoaded) { // loaded meanwhile
				continue
			}
			if m != name {
				err = fmt.Errorf("load %s, a dependency of %s: %w", m, name, err)
			}
			return nil, rollbackModules(o, did, err)
		}
		o.logf("inserted module %s (%s)", m, file)
		did = append(did, m)
	}
	return did, nil
}

// InsertFile inserts the module file at path (plain or compressed) with
// params, as insmod does: no vermagic check beyond the kernel's, no
// tracefs instance, no state. It returns the module's name, and whether it
// loaded it (false: a module of that name was loaded already and is left
// as it is).
func InsertFile(path string, params []string, opts *Options) (string, bool, error) {
	o := opts.withDefaults()
	mi, err := ReadModInfo(path)
	if err != nil {
		return "", false, err
	}
	ps, err := FormatParams(params)
	if err != nil {
		return "", false, err
	}
	unlock, err := lock(o)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	loaded, err := loadedModules(o)
	if err != nil {
		return "", false, err
	}
	if loaded[normName(mi.Name)] {
		o.logf("module %s is already loaded; left as it is", mi.Name)
		return mi.Name, false, nil
	}
	if err := insmod(o, mi.Name, path, ps); err != nil {
		return "", false, err
	}
	o.logf("inserted module %s (%s)", mi.Name, path)
	return mi.Name, true, nil
}

// RemoveModules deletes the named modules in reverse order (the order
// Modprobe returns undone), retrying each briefly while it is busy. A
// module already gone is skipped with a note. It stops at the first
// failure, leaving the ones before it loaded (they are what it depends on).
func RemoveModules(names []string, opts *Options) error {
	o := opts.withDefaults()
	unlock, err := lock(o)
	if err != nil {
		return err
	}
	defer unlock()
	for i := len(names) - 1; i >= 0; i-- {
		err := rmmod(o, names[i])
		if errors.Is(err, ErrNotLoaded) {
			o.logf("module %s was not loaded; skipped", names[i])
			continue
		}
		if err != nil {
			return err
		}
		o.logf("removed module %s", names[i])
	}
	return nil
}

// rollbackModules removes did in reverse after err.
func rollbackModules(o *Options, did []string, err error) error {
	var errs []error
	for i := len(did) - 1; i >= 0; i-- {
		if e := rmmod(o, did[i]); e != nil {
			errs = append(errs, e)
		} else {
			o.logf("removed module %s (roll back)", did[i])
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nroll back: %w", err, errors.Join(errs...))
	}
	return err
}
