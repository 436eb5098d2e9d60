package generator

import (
	"fmt"
	"strings"

	"kgen/spec"
)

func init() { Register(spec.KindOtst, otstKind{}) }

// otstKind generates the one-time stacktrace module of a spec.Otst: one
// /proc file, a kprobe per armed symbol, one trace event.
type otstKind struct{}

type otstData struct {
	Header
	Upper      string
	Proc       string // the validated proc path, for comments
	ProcC      string // the same as a C string literal
	Mode       string // C octal literal, e.g. 0600
	Shots      int
	MaxShots   int
	MaxSymbols int
	Symbols    []string // C string literals of the validated symbols
}

func (otstKind) Files(s spec.Spec, h Header, out Output) ([]string, error) {
	o, ok := s.(*spec.Otst)
	if !ok {
		return nil, fmt.Errorf("otst generator given %T", s)
	}
	if o.ModeBits < 0 || o.ModeBits&^0o666 != 0 {
		return nil, fmt.Errorf("mode: %q not validated", o.Mode)
	}
	d := otstData{
		Header:     h,
		Upper:      strings.ToUpper(h.Name),
		Proc:       o.Proc,
		ProcC:      CString(o.Proc),
		Mode:       fmt.Sprintf("0%03o", o.ModeBits),
		Shots:      o.Shots,
		MaxShots:   spec.MaxOtstShots,
		MaxSymbols: o.MaxSymbols,
	}
	for _, sym := range o.Symbols {
		d.Symbols = append(d.Symbols, CString(sym))
	}
	for _, f := range []struct{ tmpl, name string }{
		{"otst/module.c.tmpl", h.Name + ".c"},
		{"otst/trace.h.tmpl", h.Name + "_trace.h"},
	} {
		b, err := render(f.tmpl, d)
		if err != nil {
			return nil, err
		}
		if err := out.WriteFile(f.name, b); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return []string{"HAVE_PROC_OPS", "HAVE_STACK_TRACE_SAVE", "HAVE_ASSIGN_STR_ONE_ARG", "HAVE_PRINTK_CPU_SYNC"}, nil
}
