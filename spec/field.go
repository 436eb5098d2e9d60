package spec

import (
	"regexp"
	"slices"
	"sort"
	"strings"
)

// What any kind that captures values shares: the field types, field
// names, kernel symbol names and the filter (pid, comm, when).

// Limits shared by the kinds.
const (
	MaxFieldName    = 32
	MaxFunctionName = 127
	MaxPid          = 4194304 // PID_MAX_LIMIT
	MaxComm         = 15      // TASK_COMM_LEN - 1
)

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

// TypeNames returns the names of Types, sorted.
func TypeNames() []string {
	ns := make([]string, 0, len(Types))
	for n := range Types {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

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

// FieldName checks a captured field's name at path: a C identifier, not a
// C keyword, not reserved, not already in seen (name -> path of its first
// use), which it records.
func (v *Validator) FieldName(path, name string, seen map[string]string) {
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

// FieldType checks a field's type at path: one of Types.
func (v *Validator) FieldType(path, t string) {
	if _, ok := Types[t]; ok {
		return
	}
	if t == "" {
		v.Errorf(path, "required; one of: %s", strings.Join(TypeNames(), ", "))
		return
	}
	v.Errorf(path, "type %q unknown; one of: %s", t, strings.Join(TypeNames(), ", "))
}

// Filter checks the filter at path and returns its when expression parsed
// over fields (the names it may use), nil when it has none or on an
// error. unknown, when not nil, may explain better why a name that is not
// in fields cannot be used ("" = the generic message).
func (v *Validator) Filter(path string, f *Filter, fields []string, unknown func(name string) string) Expr {
	if f.Pid < 0 || f.Pid > MaxPid {
		v.Errorf(path+".pid", "must be between 0 and %d (0 = any); got %d", MaxPid, f.Pid)
	}
	if c := f.Comm; len(c) > MaxComm {
		v.Errorf(path+".comm", "%q is %d bytes; at most %d (a task comm)", c, len(c), MaxComm)
	} else if strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
		v.Errorf(path+".comm", "%q must be printable ASCII without '\"' or '\\'", c)
	}
	wp := path + ".when"
	when := v.ParseExpr(wp, f.When)
	if when == nil {
		return nil
	}
	bad := false
	WalkExpr(when, func(e Expr) {
		id, ok := e.(*Ident)
		if !ok || slices.Contains(fields, id.Name) {
			return
		}
		bad = true
		if unknown != nil {
			if msg := unknown(id.Name); msg != "" {
				v.ErrorAt(id.P, wp, "%s", msg)
				return
			}
		}
		v.ErrorAt(id.P, wp, "unknown field %q (captured fields: %s)", id.Name, strings.Join(fields, ", "))
	})
	if bad {
		return nil
	}
	return when
}
