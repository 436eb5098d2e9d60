package spec

import (
	"fmt"
	"slices"
	"strings"
)

// KindKretprobe is the kind name of Kretprobe specs.
const KindKretprobe = "kretprobe"

// Kretprobe is the spec of a module with one kretprobe per probe.
type Kretprobe struct {
	Meta   `yaml:",inline"`
	Probes []KretprobeFunc `yaml:"probes" json:"probes"`
}

// KretprobeFunc is one probed function.
type KretprobeFunc struct {
	// Function is a kernel symbol name: [A-Za-z_][A-Za-z0-9_.]*, at most 127 chars.
	Function string `yaml:"function" json:"function"`
	// Maxactive: absent or 0 = the kernel's default; at most 4096.
	Maxactive int `yaml:"maxactive,omitempty" json:"maxactive,omitempty"`
	// Args are captured in the entry handler; at most 6 (register-passed).
	Args []Arg `yaml:"args,omitempty" json:"args,omitempty"`
	// Retval, when set, captures the return value.
	Retval *Retval `yaml:"retval,omitempty" json:"retval,omitempty"`
	// Latency records the ns between entry and return as field "latency".
	Latency bool   `yaml:"latency,omitempty" json:"latency,omitempty"`
	Filter  Filter `yaml:"filter,omitempty" json:"filter,omitempty"`
	// Stack records the kernel stack at entry in the event.
	Stack bool `yaml:"stack,omitempty" json:"stack,omitempty"`
	// Histogram names a captured integer field, or "latency", to keep a
	// log2 histogram of; "" = none.
	Histogram string `yaml:"histogram,omitempty" json:"histogram,omitempty"`
	// Stacks, when set, counts hits per distinct kernel stack in the module.
	Stacks *Stacks `yaml:"stacks,omitempty" json:"stacks,omitempty"`

	// ID is derived by validation: Function with '.' replaced by '_'. It
	// names the probe's trace event, parameters and debugfs files.
	ID string `yaml:"-" json:"-"`
	// When is the parsed and type-checked Filter.When, nil when empty.
	When Expr `yaml:"-" json:"-"`
}

// Arg is a captured function argument.
type Arg struct {
	// Name is a C identifier [a-z_][a-z0-9_]*, unique within the probe,
	// not a C keyword nor a reserved field name (pid, comm, latency, stack).
	Name string `yaml:"name" json:"name"`
	// Index is the 0-based argument position, 0..5.
	Index int `yaml:"index" json:"index"`
	// Type is one of the names in Types.
	Type string `yaml:"type" json:"type"`
}

// Stacks counts the probe's hits (those its filters let through) per
// distinct kernel stack, and optionally per comm and/or pid, in a bounded
// table kept in the module (debugfs kgen/<name>/stacks).
type Stacks struct {
	// Count must be true: count hits per stack.
	Count bool `yaml:"count" json:"count"`
	// By adds keys to the stack: "comm", "pid" (tgid), or both.
	By []string `yaml:"by,omitempty" json:"by,omitempty"`
	// MaxEntries bounds the distinct keys kept (default 1024); hits whose
	// key does not fit are counted as dropped.
	MaxEntries int `yaml:"max_entries,omitempty" json:"max_entries,omitempty"`
	// Depth is the frames kept per stack (default 24, including the
	// probe machinery's few frames, which kgen hides when printing).
	Depth int `yaml:"depth,omitempty" json:"depth,omitempty"`
}

// ByComm tells whether the stacks are keyed by comm too.
func (s *Stacks) ByComm() bool { return slices.Contains(s.By, "comm") }

// ByPid tells whether the stacks are keyed by pid (tgid) too.
func (s *Stacks) ByPid() bool { return slices.Contains(s.By, "pid") }

// Limits and defaults of stacks.
const (
	DefaultStackEntries = 1024
	MaxStackEntries     = 16384
	DefaultStackDepth   = 24
	MaxStackDepth       = 32
)

// Retval captures the probed function's return value.
type Retval struct {
	Name string `yaml:"name" json:"name"` // default "ret"
	Type string `yaml:"type" json:"type"` // default "long"
}

func init() {
	Register(KindKretprobe, func() Kind { return &Kretprobe{} })
}

// Limits of the kretprobe kind.
const (
	MaxProbes    = 64
	MaxArgs      = 6
	MaxArgIndex  = 5
	MaxMaxactive = 4096
)

// Default sets retval's name to "ret" and type to "long" and the stack
// table's sizes when omitted, and derives every probe's ID. An explicit
// "" or 0 is an error, not a request for the default.
func (k *Kretprobe) Default(v *Validator) {
	for i := range k.Probes {
		p := &k.Probes[i]
		at := fmt.Sprintf("probes[%d].", i)
		if p.Retval != nil {
			if p.Retval.Name == "" {
				v.NotEmpty(at+"retval.name", "ret")
				p.Retval.Name = "ret"
			}
			if p.Retval.Type == "" {
				v.NotEmpty(at+"retval.type", "long")
				p.Retval.Type = "long"
			}
		}
		p.ID = strings.ReplaceAll(p.Function, ".", "_")
		if st := p.Stacks; st != nil {
			if st.MaxEntries == 0 {
				v.NotEmpty(at+"stacks.max_entries", DefaultStackEntries)
				st.MaxEntries = DefaultStackEntries
			}
			if st.Depth == 0 {
				v.NotEmpty(at+"stacks.depth", DefaultStackDepth)
				st.Depth = DefaultStackDepth
			}
		}
	}
}

// CapturedFields returns the names of the fields a probe's event carries
// and its filter may use, in event order: args, the retval name, "latency"
// when latency is on, "pid".
func (p *KretprobeFunc) CapturedFields() []string {
	var fs []string
	for _, a := range p.Args {
		fs = append(fs, a.Name)
	}
	if p.Retval != nil {
		fs = append(fs, p.Retval.Name)
	}
	if p.Latency {
		fs = append(fs, "latency")
	}
	return append(fs, "pid")
}

// EntryOnly reports whether the probe needs nothing at the function's
// return (no retval, no latency; its filter and histogram can then only
// use arguments and pid), so that it is generated as a plain kprobe: the
// kretprobe machinery costs about twice a kprobe's.
func (p *KretprobeFunc) EntryOnly() bool {
	return p.Retval == nil && !p.Latency
}

// Validate checks every probe and parses its filter expression into When.
func (k *Kretprobe) Validate(v *Validator) {
	switch {
	case len(k.Probes) == 0:
		v.Errorf("probes", "at least one probe is required")
	case len(k.Probes) > MaxProbes:
		v.Errorf("probes", "%d probes; at most %d", len(k.Probes), MaxProbes)
	}
	defer validateProbeIDs(v, k.Probes)
	ids := map[string]int{}
	for i := range k.Probes {
		p := &k.Probes[i]
		path := fmt.Sprintf("probes[%d]", i)
		switch {
		case p.Function == "":
			v.Errorf(path+".function", "required; the kernel function to probe, e.g. vfs_read")
		case len(p.Function) > MaxFunctionName:
			v.Errorf(path+".function", "%d characters; at most %d", len(p.Function), MaxFunctionName)
		case !reSymbol.MatchString(p.Function):
			v.Errorf(path+".function", "%q must match [A-Za-z_][A-Za-z0-9_.]* (a kernel symbol name)", p.Function)
		default:
			if j, dup := ids[p.ID]; dup {
				v.Errorf(path+".function", "probe id %q already used by probes[%d] (function %q); probe each function once", p.ID, j, k.Probes[j].Function)
			} else {
				ids[p.ID] = i
			}
		}
		if p.Maxactive < 0 || p.Maxactive > MaxMaxactive {
			v.Errorf(path+".maxactive", "must be between 0 and %d (0 = the kernel's default); got %d", MaxMaxactive, p.Maxactive)
		}
		k.validateFields(v, p, path)
		p.When = v.Filter(path+".filter", &p.Filter, p.CapturedFields(), func(name string) string {
			if name == "latency" {
				return "field \"latency\" requires latency: true on this probe"
			}
			return ""
		})
		if st := p.Stacks; st != nil {
			validateStacks(v, path+".stacks", st)
		}
		if h := p.Histogram; h != "" {
			var allowed []string
			for _, f := range p.CapturedFields() {
				if f != "pid" {
					allowed = append(allowed, f)
				}
			}
			switch {
			case h == "latency" && !p.Latency:
				v.Errorf(path+".histogram", "histogram of latency requires latency: true")
			case len(allowed) == 0:
				v.Errorf(path+".histogram", "unknown field %q; this probe captures no field to histogram (add args, retval or latency: true)", h)
			case !slices.Contains(allowed, h):
				v.Errorf(path+".histogram", "unknown field %q; one of: %s", h, strings.Join(allowed, ", "))
			}
		}
	}
}

func validateStacks(v *Validator, path string, st *Stacks) {
	if !st.Count {
		v.Errorf(path+".count", "must be true (count hits per stack); remove stacks to keep no table")
	}
	seen := map[string]bool{}
	for i, b := range st.By {
		switch {
		case b != "comm" && b != "pid":
			v.Errorf(fmt.Sprintf("%s.by[%d]", path, i), "%q: want comm or pid", b)
		case seen[b]:
			v.Errorf(fmt.Sprintf("%s.by[%d]", path, i), "%q given twice", b)
		}
		seen[b] = true
	}
	if st.MaxEntries < 1 || st.MaxEntries > MaxStackEntries {
		v.Errorf(path+".max_entries", "must be between 1 and %d; got %d", MaxStackEntries, st.MaxEntries)
	}
	if st.Depth < 1 || st.Depth > MaxStackDepth {
		v.Errorf(path+".depth", "must be between 1 and %d; got %d", MaxStackDepth, st.Depth)
	}
}

func (k *Kretprobe) validateFields(v *Validator, p *KretprobeFunc, path string) {
	if len(p.Args) > MaxArgs {
		v.Errorf(path+".args", "%d args; at most %d (the register-passed arguments)", len(p.Args), MaxArgs)
	}
	names := map[string]string{} // name -> path of its first use
	indexes := map[int]int{}
	for j, a := range p.Args {
		ap := fmt.Sprintf("%s.args[%d]", path, j)
		v.FieldName(ap+".name", a.Name, names)
		if !v.Has(ap + ".index") {
			v.Errorf(ap+".index", "required; the 0-based argument position, 0..%d", MaxArgIndex)
		} else if a.Index < 0 || a.Index > MaxArgIndex {
			v.Errorf(ap+".index", "must be between 0 and %d; got %d", MaxArgIndex, a.Index)
		} else if first, dup := indexes[a.Index]; dup {
			v.Errorf(ap+".index", "argument %d already captured by args[%d]", a.Index, first)
		} else {
			indexes[a.Index] = j
		}
		v.FieldType(ap+".type", a.Type)
	}
	if p.Retval != nil {
		v.FieldName(path+".retval.name", p.Retval.Name, names)
		v.FieldType(path+".retval.type", p.Retval.Type)
	}
}

func (*Kretprobe) fieldDocs() map[string]fieldDoc {
	return map[string]fieldDoc{
		"":       {Description: "A module with one kretprobe per probe: captures arguments at entry, the return value and latency at return, and emits a trace event per hit. A probe that needs nothing at return (no retval, no latency) is a plain kprobe."},
		"probes": {Description: "The probed functions.", MinItems: 1, MaxItems: MaxProbes},
		"probes.function": {Description: "The kernel function (symbol) to probe, e.g. vfs_read.",
			Pattern: reSymbol.String(), MaxLength: MaxFunctionName},
		"probes.maxactive": {Description: "Instances of the function that may be probed at once; 0 = the kernel's default.",
			Min: intp(0), Max: intp(MaxMaxactive)},
		"probes.args":       {Description: "Function arguments captured at entry (register-passed, at most 6).", MaxItems: MaxArgs},
		"probes.args.name":  {Description: "The field name: a C identifier, not a C keyword nor pid, comm, latency, stack, nr_stack, ip.", Pattern: reCIdent.String(), MaxLength: MaxFieldName},
		"probes.args.index": {Description: "The 0-based argument position.", Min: intp(0), Max: intp(MaxArgIndex)},
		"probes.args.type":  {Description: "The argument's type.", Enum: TypeNames()},
		"probes.retval":     {Description: "Capture the return value."},
		"probes.retval.name": {Description: "The field name of the return value (default ret).",
			Pattern: reCIdent.String(), MaxLength: MaxFieldName, Optional: true},
		"probes.retval.type": {Description: "The return value's type (default long).", Enum: TypeNames(), Optional: true},
		"probes.latency":     {Description: "Record the nanoseconds between entry and return as field latency."},
		"probes.filter":      {Description: "Which hits become events."},
		"probes.filter.pid":  {Description: "Only this process (tgid); 0 = any. Also a module parameter.", Min: intp(0), Max: intp(MaxPid)},
		"probes.filter.comm": {Description: "Only tasks with this comm (at most 15 printable ASCII bytes); \"\" = any. Also a module parameter.",
			Pattern: `^[ !#-\[\]-~]*$`, MaxLength: MaxComm},
		"probes.filter.when": {Description: "An expression over captured fields (args, retval, latency, pid): integers, + - * / % == != < <= > >= && || ! and parentheses, e.g. \"ret < 0 || count > 4096\".",
			MaxLength: MaxExprLen},
		"probes.stack":        {Description: "Record the kernel stack at entry in the event."},
		"probes.histogram":    {Description: "Keep a log2 histogram of this captured field, or of latency; \"\" = none."},
		"probes.stacks":       {Description: "Count the hits the filters let through per distinct kernel stack, in a bounded table in the module (debugfs kgen/<name>/stacks; kgen stacks NAME)."},
		"probes.stacks.count": {Description: "Must be true: count hits per stack."},
		"probes.stacks.by":    {Description: "Also key the stacks by comm and/or pid (tgid).", MaxItems: 2},
		"probes.stacks.max_entries": {Description: "Distinct keys kept (default 1024); hits that do not fit are counted as dropped.",
			Min: intp(1), Max: intp(MaxStackEntries), Optional: true},
		"probes.stacks.depth": {Description: "Frames kept per stack (default 24).", Min: intp(1), Max: intp(MaxStackDepth), Optional: true},
	}
}
