// Package generator turns a validated spec into the files of a kernel
// module tree, in memory. It is deterministic: the same spec gives
// byte-identical files. It never touches the disk, runs make or talks to
// the kernel.
//
// A module tree is the kind's templates (templates/<kind>/module.c.tmpl
// becomes <name>.c, templates/<kind>/X.tmpl becomes <name>_X), the shared
// runtime kgen_rt.h (the parts the module uses), the feature probes the
// rendered sources test (every KGEN_HAVE_* they mention), Kbuild and a
// standalone Makefile.
package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"kgen/spec"
	"kgen/templates"
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

// Header is what every generated file's banner says.
type Header struct {
	SpecFile string // base name of the spec file
	Name     string // module name
}

// Runtime selects the optional parts of kgen_rt.h a module uses; the
// stats file and debugfs directory are always there.
type Runtime struct {
	Args  bool // kgen_arg: function arguments from pt_regs
	Stack bool // kgen_stack_save, kgen_stack_from
	Hist  bool // struct kgen_hist, kgen_hist_add, kgen_hist_fops
	When  bool // kgen_div, kgen_mod of the when language
	Log   bool // kgen_warn_ratelimited
	// Tracepoints: struct kgen_tp, kgen_tp_find (for_each_kernel_tracepoint),
	// kgen_tp_register, kgen_tp_unregister.
	Tracepoints bool
	// User: kgen_user_str, kgen_user_copy (nofault user memory reads).
	User bool
	// Stacks: struct kgen_stacks, kgen_stacks_add, kgen_stacks_fops (hit
	// counts per distinct stack in a bounded lock-free table).
	Stacks bool
}

// Module is what a kind makes of a spec: the data its templates render
// and the runtime parts they call.
type Module struct {
	Data    any
	Runtime Runtime
}

// Kind generates the module of one spec kind.
type Kind interface {
	// Module checks s (a validated spec of the kind) and returns the
	// data for the kind's templates, which embeds h.
	Module(s spec.Spec, h Header) (Module, error)
}

// kinds is the registry: spec kind name -> generator. Kinds register from
// their file's init, so it is complete before main runs and read-only
// after.
var kinds = map[string]Kind{}

// Register makes a kind's generator available; each kind calls it from
// its own file's init.
func Register(kind string, k Kind) {
	if _, dup := kinds[kind]; dup {
		panic("generator: kind registered twice: " + kind)
	}
	kinds[kind] = k
}

// Kinds returns the kinds that have a generator, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// featureRE finds the feature probes a source tests: KGEN_HAVE_X is
// defined in kgen_features.h when templates/features/HAVE_X.{c,sym} holds.
var featureRE = regexp.MustCompile(`\bKGEN_(HAVE_[A-Z0-9_]+)\b`)

// Generate renders the module tree of s into out.
func Generate(s spec.Spec, opts Options, out Output) error {
	m := s.Header()
	k, ok := kinds[m.Kind]
	if !ok {
		return fmt.Errorf("generate %s: %w %q", m.Name, ErrUnknownKind, m.Kind)
	}
	specFile := safeFileName(path.Base(filepath.ToSlash(opts.SpecFile)))
	if opts.SpecFile == "" {
		specFile = m.Name + ".yaml"
	}
	h := Header{SpecFile: specFile, Name: m.Name}
	if err := generate(k, m.Kind, s, h, out); err != nil {
		return fmt.Errorf("generate %s: %w", m.Name, err)
	}
	return nil
}

func generate(k Kind, kind string, s spec.Spec, h Header, out Output) error {
	mod, err := k.Module(s, h)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	tmpls, err := fs.Glob(templates.FS, kind+"/*.tmpl")
	if err != nil || len(tmpls) == 0 {
		return fmt.Errorf("no templates in templates/%s", kind)
	}
	for _, t := range tmpls {
		b, err := render(t, mod.Data)
		if err != nil {
			return err
		}
		files[sourceName(h.Name, t)] = b
	}
	rt, err := render("runtime/kgen_rt.h.tmpl", struct {
		Header
		Rt Runtime
	}{h, mod.Runtime})
	if err != nil {
		return err
	}
	files["kgen_rt.h"] = rt

	// The probes are what the sources test, so the list cannot drift
	// from the templates.
	var features []string
	for _, b := range files {
		for _, m := range featureRE.FindAllSubmatch(b, -1) {
			features = append(features, string(m[1]))
		}
	}
	features = dedupe(features)
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
			return err
		}
		files[f.name] = b
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := out.WriteFile(n, files[n]); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
	}
	return writeFeatures(features, out)
}

// sourceName maps templates/<kind>/module.c.tmpl to <name>.c and
// templates/<kind>/X.tmpl to <name>_X.
func sourceName(name, tmpl string) string {
	base := strings.TrimSuffix(path.Base(tmpl), ".tmpl")
	if base == "module.c" {
		return name + ".c"
	}
	return name + "_" + base
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
