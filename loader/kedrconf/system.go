package kedrconf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"kgen/loader"
)

// Options are where Load and Unload act and report.
type Options struct {
	Loader *loader.Options // the system the modules go to; nil = the real one
	Stdout io.Writer       // the commands' stdout and the payloads' counters; nil = discarded
	Stderr io.Writer       // the commands' stderr and progress lines; nil = discarded
	Shell  string          // runs on_load/on_unload commands as SHELL -c CMD; "" = /bin/sh
}

func (o Options) withDefaults() Options {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Shell == "" {
		o.Shell = "/bin/sh"
	}
	lo := &loader.Options{}
	if o.Loader != nil {
		*lo = *o.Loader
	}
	if lo.Log == nil {
		lo.Log = o.Stderr
	}
	o.Loader = lo
	return o
}

// Load parses the configuration at file and runs it (see run); once ctx
// is done (Ctrl-C), the line running finishes and everything is rolled
// back. What it loaded is recorded for Unload. A configuration loaded and
// not unloaded yet is refused.
func Load(ctx context.Context, file string, opts Options) error {
	o := opts.withDefaults()
	c, err := ParseFile(file)
	if err != nil {
		return err
	}
	rp, err := recordPath(o, file)
	if err != nil {
		return err
	}
	if _, err := os.Stat(rp); err == nil {
		return fmt.Errorf("load configuration %s: %w: it was loaded (%s) and not unloaded; `kgen unload -c %s` first", file, loader.ErrAlreadyLoaded, rp, file)
	}
	rec, err := run(ctx, c, &System{o}, o.Stderr)
	if err != nil {
		return err
	}
	if err := writeRecord(rp, rec); err != nil {
		fmt.Fprintf(o.Stderr, "warning: %v: kgen unload -c %s will remove the modules the lines name, not their dependencies\n", err, file)
	}
	return nil
}

// Unload parses the configuration at file and undoes it (see unrun),
// with what Load recorded when there is a record.
func Unload(file string, opts Options) error {
	o := opts.withDefaults()
	c, err := ParseFile(file)
	if err != nil {
		return err
	}
	rp, err := recordPath(o, file)
	if err != nil {
		return err
	}
	rec, err := readRecord(rp)
	if err != nil {
		fmt.Fprintf(o.Stderr, "warning: %v; unloading the modules the lines name\n", err)
	}
	if err := unrun(c, rec, &System{o}, o.Stderr); err != nil {
		return err
	}
	if err := os.Remove(rp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove record: %w", err)
	}
	return nil
}

// recordPath is where the record of the configuration at file lives:
// <run dir>/kedrconf/<hash of its absolute path>.json.
func recordPath(o Options, file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("read configuration: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(loader.RunDir(o.Loader), "kedrconf", hex.EncodeToString(sum[:8])+".json"), nil
}

func writeRecord(path string, r *Record) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("record configuration: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("record configuration: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("record configuration: %w", err)
	}
	return nil
}

// readRecord returns the record at path; nil without one.
func readRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read record %s: %w", path, err)
	}
	return &r, nil
}

// System is the real Actions: modules through package loader, commands
// through the shell.
type System struct{ o Options }

// Shell runs cmd with SHELL -c, its output passed through.
func (s *System) Shell(cmd string) error {
	c := exec.Command(s.o.Shell, "-c", cmd)
	c.Stdout, c.Stderr = s.o.Stdout, s.o.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("run %s -c: %w", s.o.Shell, err)
	}
	return nil
}

// LoadModule loads a file as insmod does, or a name as modprobe does.
func (s *System) LoadModule(l Line) ([]string, error) {
	if loader.IsModulePath(l.Arg) {
		name, did, err := loader.InsertFile(l.Arg, l.Params, s.o.Loader)
		if err != nil || !did {
			return nil, err
		}
		return []string{name}, nil
	}
	return loader.Modprobe(l.Arg, l.Params, s.o.Loader)
}

// LoadPayload loads a kgen module as kgen load does.
func (s *System) LoadPayload(l Line) (string, error) {
	st, err := loader.Load(l.Arg, l.Params, s.o.Loader)
	if err != nil {
		return "", err
	}
	if st.Events != "" {
		fmt.Fprintf(s.o.Stderr, "loaded %s; events enabled in %s\n", st.Name, st.Instance)
	} else {
		fmt.Fprintf(s.o.Stderr, "loaded %s\n", st.Name)
	}
	return st.Name, nil
}

// UnloadModules removes modules in reverse.
func (s *System) UnloadModules(names []string) error {
	return loader.RemoveModules(names, s.o.Loader)
}

// UnloadPayload removes a payload as kgen unload does, printing its final
// counters; one that is gone already is a note.
func (s *System) UnloadPayload(name string) error {
	res, err := loader.Unload(name, s.o.Loader)
	if res != nil {
		if res.Stats != nil {
			if werr := res.Stats.WriteTable(s.o.Stdout); werr != nil && err == nil {
				err = werr
			}
		}
		for _, n := range res.Notes {
			fmt.Fprintln(s.o.Stderr, n)
		}
	}
	if errors.Is(err, loader.ErrNotLoaded) && (res == nil || !res.Managed) {
		fmt.Fprintf(s.o.Stderr, "module %s was not loaded; skipped\n", name)
		return nil
	}
	return err
}

// ModuleName reads a module file's name, or normalises a module name.
func (s *System) ModuleName(l Line) (string, error) {
	if l.Kind == Payload || loader.IsModulePath(l.Arg) {
		mi, err := loader.ReadModInfo(l.Arg)
		if err != nil {
			return "", err
		}
		return mi.Name, nil
	}
	return loader.ModuleFileName(l.Arg), nil
}
