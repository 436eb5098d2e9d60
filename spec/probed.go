package spec

import "strings"

// Prober is a spec whose probes name kernel functions, for tools that
// check them against a kernel's symbols before a build (kgen build).
type Prober interface {
	// ProbedFunctions returns the kernel functions the module attaches
	// to by name, in spec order; module-qualified names ("mod:fn") are
	// left out.
	ProbedFunctions() []string
}

// ProbedFunctions: each probe's function.
func (k *Kretprobe) ProbedFunctions() []string {
	var fs []string
	for _, p := range k.Probes {
		fs = append(fs, p.Function)
	}
	return fs
}

// ProbedFunctions: the symbols armed at load.
func (o *Otst) ProbedFunctions() []string {
	var fs []string
	for _, s := range o.Symbols {
		if !strings.Contains(s, ":") {
			fs = append(fs, s)
		}
	}
	return fs
}
