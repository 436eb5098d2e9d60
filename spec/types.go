// Package spec decodes, defaults and validates kgen spec files and parses
// the filter-expression language. It imports no other kgen package.
package spec

// APIVersion is the only spec version this kgen understands.
const APIVersion = "kgen/v1"

// Meta is the header every spec kind embeds (yaml:",inline").
type Meta struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	// Name is the module name: [a-z][a-z0-9_]*, at most 55 characters.
	Name string `yaml:"name" json:"name"`
}

// Spec is a decoded, defaulted and validated spec of one kind.
type Spec interface {
	// Header returns the spec's common header.
	Header() *Meta
}

// Header implements Spec for every kind that embeds Meta.
func (m *Meta) Header() *Meta { return m }

// Pos is a 1-based position in a spec file.
type Pos struct {
	Line int
	Col  int
}
