package spec

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
