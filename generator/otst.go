package generator

import (
	"fmt"

	"kgen/spec"
)

func init() { Register(spec.KindOtst, otstKind{}) }

// otstKind generates the one-time stacktrace module of a spec.Otst: one
// /proc file, a kprobe per armed symbol, one trace event.
type otstKind struct{}

type otstData struct {
	Header
	Proc       string // the validated proc path, for comments
	ProcC      string // the same as a C string literal
	Mode       string // C octal literal, e.g. 0600
	Shots      int
	MaxShots   int
	MaxSymbols int
	Symbols    []string // C string literals of the validated symbols
	Raw        bool     // log the probed address with %px
}

func (otstKind) Module(s spec.Spec, h Header) (Module, error) {
	o, ok := s.(*spec.Otst)
	if !ok {
		return Module{}, fmt.Errorf("otst generator given %T", s)
	}
	if o.ModeBits < 0 || o.ModeBits&^0o666 != 0 {
		return Module{}, fmt.Errorf("mode: %q not validated", o.Mode)
	}
	d := otstData{
		Header:     h,
		Proc:       o.Proc,
		ProcC:      CString(o.Proc),
		Mode:       fmt.Sprintf("0%03o", o.ModeBits),
		Shots:      o.Shots,
		MaxShots:   spec.MaxOtstShots,
		MaxSymbols: o.MaxSymbols,
		Raw:        o.RawAddresses,
	}
	for _, sym := range o.Symbols {
		d.Symbols = append(d.Symbols, CString(sym))
	}
	return Module{Data: d, Runtime: Runtime{Stack: true, Log: true}}, nil
}
