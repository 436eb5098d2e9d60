package generator

import (
	"fmt"

	"kgen/spec"
)

// Field is a value a probe captures (an argument, a return value, a
// latency), as the templates store and print it: widened to s64 or u64.
type Field struct {
	Name    string // validated C identifier: the event field and struct member
	CType   string // the C type the raw value is cast to first
	Storage string // "s64" or "u64"
	Format  string // printk conversion of Storage
	Index   int    // argument position (arguments only)
	Path    string // spec path, for the kgen markers
}

// Signed reports whether the field is stored as s64.
func (f Field) Signed() bool { return f.Storage == "s64" }

// NewField returns the field of a validated spec type.
func NewField(name, typ, path string, index int) (Field, error) {
	t, ok := spec.Types[typ]
	if !ok {
		return Field{}, fmt.Errorf("%s: unknown type %q", path, typ)
	}
	f := Field{Name: name, CType: t.C, Storage: "u64", Format: "%llu", Index: index, Path: path}
	switch {
	case t.Signed:
		f.Storage, f.Format = "s64", "%lld"
	case t.Format == "0x%llx":
		f.Format = "0x%llx"
	}
	return f, nil
}

// LatencyField is the "latency" field: ns from entry to return.
func LatencyField(path string) Field {
	return Field{Name: "latency", CType: "u64", Storage: "u64", Format: "%llu", Path: path}
}

// WhenC prints a checked when expression as C over the fields, read from
// the struct expression base ("ev" gives ev.count); pid is the caller's
// tgid. Unsigned fields are cast to s64, as the language computes in s64.
func WhenC(e spec.Expr, base string, fields []Field) (string, error) {
	byName := map[string]Field{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	return CExpr(e, func(name string) (string, error) {
		if name == "pid" {
			return "(s64)current->tgid", nil
		}
		f, ok := byName[name]
		if !ok {
			return "", fmt.Errorf("unknown field %q", name)
		}
		if f.Signed() {
			return base + "." + name, nil
		}
		return "(s64)" + base + "." + name, nil
	})
}
