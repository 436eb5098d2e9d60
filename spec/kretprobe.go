package spec

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// KindKretprobe is the kind name of Kretprobe specs.
const KindKretprobe = "kretprobe"

// Kretprobe is the spec of a module with one kretprobe per probe.
type Kretprobe struct {
	Meta   `yaml:",inline"`
	Probes []KretProbe `yaml:"probes" json:"probes"`
}

// KretProbe is one probed function.
type KretProbe struct {
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

// Retval captures the probed function's return value.
type Retval struct {
	Name string `yaml:"name" json:"name"` // default "ret"
	Type string `yaml:"type" json:"type"` // default "long"
}

// Filter decides which hits become events.
type Filter struct {
	// Pid is a tgid; 0 = any. Also the module parameter <id>_pid.
	Pid int `yaml:"pid,omitempty" json:"pid,omitempty"`
	// Comm is a task comm (at most 15 bytes, printable ASCII); "" = any.
	// Also the module parameter <id>_comm.
	Comm string `yaml:"comm,omitempty" json:"comm,omitempty"`
	// When is an expression over captured fields (see Expr).
	When string `yaml:"when,omitempty" json:"when,omitempty"`
}

// CType describes a type a spec may name for a captured field.
type CType struct {
	Name   string // the spec name, e.g. "size_t"
	C      string // the C type, e.g. "size_t"
	Signed bool
	Bits   int    // 8, 16, 32 or 64
	Format string // printk conversion for the value widened to s64/u64: "%lld" or "%llu" or "0x%llx"
}

// Types lists the field types a spec may use, by spec name.
var Types = map[string]CType{
	"s8":            {"s8", "s8", true, 8, "%lld"},
	"u8":            {"u8", "u8", false, 8, "%llu"},
	"s16":           {"s16", "s16", true, 16, "%lld"},
	"u16":           {"u16", "u16", false, 16, "%llu"},
	"s32":           {"s32", "s32", true, 32, "%lld"},
	"u32":           {"u32", "u32", false, 32, "%llu"},
	"s64":           {"s64", "s64", true, 64, "%lld"},
	"u64":           {"u64", "u64", false, 64, "%llu"},
	"int":           {"int", "int", true, 32, "%lld"},
	"unsigned int":  {"unsigned int", "unsigned int", false, 32, "%llu"},
	"long":          {"long", "long", true, 64, "%lld"},
	"unsigned long": {"unsigned long", "unsigned long", false, 64, "%llu"},
	"size_t":        {"size_t", "size_t", false, 64, "%llu"},
	"ssize_t":       {"ssize_t", "ssize_t", true, 64, "%lld"},
	"loff_t":        {"loff_t", "loff_t", true, 64, "%lld"},
	"pid_t":         {"pid_t", "pid_t", true, 32, "%lld"},
	"bool":          {"bool", "bool", false, 8, "%llu"},
	"pointer":       {"pointer", "unsigned long", false, 64, "0x%llx"},
}

func init() {
	Register(KindKretprobe, func() Kind { return &Kretprobe{} })
}

// Limits of the kretprobe kind.
const (
	MaxProbes       = 64
	MaxArgs         = 6
	MaxArgIndex     = 5
	MaxMaxactive    = 4096
	MaxFunctionName = 127
	MaxFieldName    = 32
	MaxPid          = 4194304 // PID_MAX_LIMIT
	MaxComm         = 15      // TASK_COMM_LEN - 1
)

// ReservedFields are event field names kgen itself uses; captured fields
// may not take them.
var ReservedFields = []string{"pid", "comm", "latency", "stack", "nr_stack", "ip"}

var (
	reSymbol = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	reCIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// cWords are C keywords and kernel type and macro names a field may not
// be called, as the generated C would not compile.
var cWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`auto break case char const continue default do double else enum
		extern float for goto if inline int long register restrict return short signed sizeof static
		struct switch typedef union unsigned void volatile while asm typeof true false bool current
		s8 u8 s16 u16 s32 u32 s64 u64 size_t ssize_t loff_t pid_t`) {
		cWords[w] = true
	}
}

// Default sets retval's name to "ret" and type to "long" when empty and
// derives every probe's ID.
func (k *Kretprobe) Default() {
	for i := range k.Probes {
		p := &k.Probes[i]
		if p.Retval != nil {
			if p.Retval.Name == "" {
				p.Retval.Name = "ret"
			}
			if p.Retval.Type == "" {
				p.Retval.Type = "long"
			}
		}
		p.ID = strings.ReplaceAll(p.Function, ".", "_")
	}
}

// CapturedFields returns the names of the fields a probe's event carries
// and its filter may use, in event order: args, the retval name, "latency"
// when latency is on, "pid".
func (p *KretProbe) CapturedFields() []string {
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
		validateFilter(v, p, path)
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

func (k *Kretprobe) validateFields(v *Validator, p *KretProbe, path string) {
	if len(p.Args) > MaxArgs {
		v.Errorf(path+".args", "%d args; at most %d (the register-passed arguments)", len(p.Args), MaxArgs)
	}
	names := map[string]string{} // name -> path of its first use
	indexes := map[int]int{}
	for j, a := range p.Args {
		ap := fmt.Sprintf("%s.args[%d]", path, j)
		validateFieldName(v, ap+".name", a.Name, names)
		if !v.Has(ap + ".index") {
			v.Errorf(ap+".index", "required; the 0-based argument position, 0..%d", MaxArgIndex)
		} else if a.Index < 0 || a.Index > MaxArgIndex {
			v.Errorf(ap+".index", "must be between 0 and %d; got %d", MaxArgIndex, a.Index)
		} else if first, dup := indexes[a.Index]; dup {
			v.Errorf(ap+".index", "argument %d already captured by args[%d]", a.Index, first)
		} else {
			indexes[a.Index] = j
		}
		validateType(v, ap+".type", a.Type)
	}
	if p.Retval != nil {
		validateFieldName(v, path+".retval.name", p.Retval.Name, names)
		validateType(v, path+".retval.type", p.Retval.Type)
	}
}

func validateFieldName(v *Validator, path, name string, seen map[string]string) {
	switch {
	case name == "":
		v.Errorf(path, "required; a C identifier matching [a-z_][a-z0-9_]*")
	case len(name) > MaxFieldName:
		v.Errorf(path, "%d characters; at most %d", len(name), MaxFieldName)
	case !reCIdent.MatchString(name):
		v.Errorf(path, "%q must match [a-z_][a-z0-9_]* (a C identifier)", name)
	case cWords[name]:
		v.Errorf(path, "%q is a C keyword or kernel type name; choose another name", name)
	case badFieldName(v, path, name):
	case slices.Contains(ReservedFields, name):
		v.Errorf(path, "%q is reserved for kgen's own event fields (%s); choose another name", name, strings.Join(ReservedFields, ", "))
	default:
		if first, dup := seen[name]; dup {
			v.Errorf(path, "field %q already defined at %s", name, first)
			return
		}
		seen[name] = path
	}
}

func validateType(v *Validator, path, t string) {
	if _, ok := Types[t]; ok {
		return
	}
	if t == "" {
		v.Errorf(path, "required; one of: %s", strings.Join(TypeNames(), ", "))
		return
	}
	v.Errorf(path, "type %q unknown; one of: %s", t, strings.Join(TypeNames(), ", "))
}

func validateFilter(v *Validator, p *KretProbe, path string) {
	fp := path + ".filter"
	if p.Filter.Pid < 0 || p.Filter.Pid > MaxPid {
		v.Errorf(fp+".pid", "must be between 0 and %d (0 = any); got %d", MaxPid, p.Filter.Pid)
	}
	if c := p.Filter.Comm; len(c) > MaxComm {
		v.Errorf(fp+".comm", "%q is %d bytes; at most %d (a task comm)", c, len(c), MaxComm)
	} else if strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
		v.Errorf(fp+".comm", "%q must be printable ASCII without '\"' or '\\'", c)
	}
	wp := fp + ".when"
	p.When = v.ParseExpr(wp, p.Filter.When)
	if p.When == nil {
		return
	}
	fields := p.CapturedFields()
	WalkExpr(p.When, func(e Expr) {
		id, ok := e.(*Ident)
		if !ok || slices.Contains(fields, id.Name) {
			return
		}
		if id.Name == "latency" {
			v.ErrorAt(id.P, wp, "field \"latency\" requires latency: true on this probe")
			return
		}
		v.ErrorAt(id.P, wp, "unknown field %q (captured fields: %s)", id.Name, strings.Join(fields, ", "))
	})
}

// TypeNames returns the names of Types, sorted.
func TypeNames() []string {
	ns := make([]string, 0, len(Types))
	for n := range Types {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func (*Kretprobe) fieldDocs() map[string]fieldDoc {
	return map[string]fieldDoc{
		"":       {Description: "A module with one kretprobe per probe: captures arguments at entry, the return value and latency at return, and emits a trace event per hit."},
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
		"probes.stack":     {Description: "Record the kernel stack at entry in the event."},
		"probes.histogram": {Description: "Keep a log2 histogram of this captured field, or of latency; \"\" = none."},
	}
}
