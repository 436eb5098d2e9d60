// Package generator turns a validated spec into the files of a kernel
// module tree, in memory. It is deterministic: the same spec gives
// byte-identical files. It never touches the disk, runs make or talks to
// the kernel.
package generator

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"sync"

	"kgen/spec"
)

// ErrUnknownKind is returned for a spec whose kind has no generator.
var ErrUnknownKind = errors.New("no generator for kind")

// Output receives the generated files (controller-tools' genall.Output
// shape): the CLI writes them to a directory, kbuild hashes and builds
// them, tests compare them with golden files.
type Output interface {
	WriteFile(name string, data []byte) error
}

// Tree is an in-memory Output: file name (slash-separated, relative to the
// module directory) to content.
type Tree map[string][]byte

// WriteFile implements Output.
func (t Tree) WriteFile(name string, data []byte) error {
	t[name] = append([]byte(nil), data...)
	return nil
}

// Names returns the tree's file names, sorted.
func (t Tree) Names() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options are the inputs of generation beyond the spec itself.
type Options struct {
	// SpecFile names the spec in the generated header comment. Only its
	// base name is used, so output does not depend on where it lives.
	SpecFile string
}

// Kind generates the module files of one spec kind.
type Kind interface {
	// Files renders the kind's own sources (C, trace header) into out and
	// returns the feature probes (templates/features/<name>.c or .sym)
	// the sources test with KGEN_<name>.
	Files(s spec.Spec, h Header, out Output) (features []string, err error)
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register makes a kind's generator available; each kind calls it from
// its own file's init.
func Register(kind string, k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("generator: kind registered twice: " + kind)
	}
	kinds[kind] = k
}

// Header is what every generated file's banner says.
type Header struct {
	SpecFile string // base name of the spec file
	Name     string // module name
}

// Generate renders the module tree of s into out: the kind's sources, the
// feature probes they need, Kbuild and a standalone Makefile.
func Generate(s spec.Spec, opts Options, out Output) error {
	m := s.Header()
	kindsMu.RLock()
	k, ok := kinds[m.Kind]
	kindsMu.RUnlock()
	if !ok {
		return fmt.Errorf("generate %s: %w %q", m.Name, ErrUnknownKind, m.Kind)
	}
	specFile := safeFileName(path.Base(filepath.ToSlash(opts.SpecFile)))
	if opts.SpecFile == "" {
		specFile = m.Name + ".yaml"
	}
	h := Header{SpecFile: specFile, Name: m.Name}
	features, err := k.Files(s, h, out)
	if err != nil {
		return fmt.Errorf("generate %s: %w", m.Name, err)
	}
	features = dedupe(features)
	if err := writeFeatures(features, out); err != nil {
		return fmt.Errorf("generate %s: %w", m.Name, err)
	}
	data := struct {
		Header
		Features []string
	}{h, features}
	for _, f := range []struct{ tmpl, name string }{
		{"common/Kbuild.tmpl", "Kbuild"},
		{"common/Makefile.tmpl", "Makefile"},
	} {
		b, err := render(f.tmpl, data)
		if err != nil {
			return fmt.Errorf("generate %s: %w", m.Name, err)
		}
		if err := out.WriteFile(f.name, b); err != nil {
			return fmt.Errorf("generate %s: write %s: %w", m.Name, f.name, err)
		}
	}
	return nil
}

// safeFileName keeps a file name fit for a C comment and a Makefile
// comment: anything but [A-Za-z0-9._+-] becomes '_'.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '+'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
