package spec

// KindProbetest is the kind name of Probetest specs.
const KindProbetest = "probetest"

// Probetest is the spec of kgen probe-test's group module: the guest
// writes a group of function names to its debugfs file, arms them (one
// kprobe per function, each with its own errno), runs a workload, and
// reads back "name hits errno" per function.
type Probetest struct {
	Meta `yaml:",inline"`
	// MaxProbes bounds the functions staged at once; default 10000.
	MaxProbes int `yaml:"max_probes,omitempty" json:"max_probes,omitempty"`
}

// Limits and defaults of the probetest kind.
const (
	DefaultProbetestMaxProbes = 10000
	// MaxProbetestMaxProbes bounds the module's memory: some 150 bytes
	// per staged function.
	MaxProbetestMaxProbes = 200000
)

func init() {
	Register(KindProbetest, func() Kind { return &Probetest{} })
}

// Default fills max_probes; an explicit 0 is an error.
func (p *Probetest) Default(v *Validator) {
	if p.MaxProbes == 0 {
		if v.Has("max_probes") {
			v.Errorf("max_probes", "must be between 1 and %d; got 0 (omit it for the default, %d)",
				MaxProbetestMaxProbes, DefaultProbetestMaxProbes)
		}
		p.MaxProbes = DefaultProbetestMaxProbes
	}
}

// Validate checks the bounds.
func (p *Probetest) Validate(v *Validator) {
	if p.MaxProbes < 1 || p.MaxProbes > MaxProbetestMaxProbes {
		v.Errorf("max_probes", "must be between 1 and %d; got %d", MaxProbetestMaxProbes, p.MaxProbes)
	}
}

func (*Probetest) fieldDocs() map[string]fieldDoc {
	return map[string]fieldDoc{
		"": {Description: "kgen probe-test's group module: functions written to its debugfs file probes are armed as one kprobe each (own errno) by writing arm to ctl; reading probes gives name, hits and errno per function."},
		"max_probes": {Description: "Functions staged at once, at most (default 10000).",
			Min: intp(1), Max: intp(MaxProbetestMaxProbes)},
	}
}
