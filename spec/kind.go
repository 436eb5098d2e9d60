package spec

import (
	"fmt"
	"sort"
)

// Kind is a spec kind: a struct embedding Meta (yaml:",inline") whose
// fields carry yaml tags. Parse decodes onto the value newFn returns, then
// calls Default and Validate. Every kind lives in its own file and
// registers itself from init.
type Kind interface {
	Spec
	// Default fills in the defaults of absent optional fields and derived
	// fields (which validation may rely on). It reports through v what
	// only it can see, e.g. an explicit value that equals the zero value
	// it would replace (v.Has tells a field present in the file).
	Default(v *Validator)
	// Validate reports every problem through v. Meta (apiVersion, kind,
	// name) is validated by Parse already.
	Validate(v *Validator)
}

// registry is filled from the kinds' init functions, so it is complete
// before main runs and read-only after.
var registry = map[string]func() Kind{}

// Register makes a kind known to Parse and Schema. It is meant to be
// called from init; it panics on an empty or duplicate kind, which is a
// programming error.
func Register(kind string, newFn func() Kind) {
	if kind == "" || newFn == nil {
		panic("spec: Register with an empty kind or nil constructor")
	}
	if _, dup := registry[kind]; dup {
		panic(fmt.Sprintf("spec: kind %q registered twice", kind))
	}
	registry[kind] = newFn
}

// Kinds returns the registered kind names, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(registry))
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
