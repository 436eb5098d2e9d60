package generator

import (
	"fmt"

	"kgen/spec"
)

func init() { Register(spec.KindProbetest, probetestKind{}) }

// probetestKind generates kgen probe-test's group module from a
// spec.Probetest: a debugfs file of functions and a control file.
type probetestKind struct{}

type probetestData struct {
	Header
	MaxProbes int
}

func (probetestKind) Module(s spec.Spec, h Header) (Module, error) {
	p, ok := s.(*spec.Probetest)
	if !ok {
		return Module{}, fmt.Errorf("probetest generator given %T", s)
	}
	if p.MaxProbes < 1 || p.MaxProbes > spec.MaxProbetestMaxProbes {
		return Module{}, fmt.Errorf("max_probes: %d not validated", p.MaxProbes)
	}
	return Module{Data: probetestData{Header: h, MaxProbes: p.MaxProbes}}, nil
}
