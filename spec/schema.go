package spec

import (
	"encoding/json"
	"reflect"
	"strings"
)

// fieldDoc describes one field for the JSON Schema.
type fieldDoc struct {
	Description string
	Pattern     string   // an anchored regexp
	Enum        []string // allowed string values
	Min, Max    *int     // integer bounds
	MaxLength   int
	MinItems    int
	MaxItems    int
	Optional    bool // not required although the yaml tag has no omitempty (defaulted)
}

// documented is implemented by kinds to describe their fields for Schema,
// keyed by field path without indexes ("probes.args.type"); "" describes
// the kind itself.
type documented interface {
	fieldDocs() map[string]fieldDoc
}

func intp(i int) *int { return &i }

// Schema returns a JSON Schema (draft 2020-12) of every registered kind,
// one branch per kind in oneOf, selected by its kind const. The output is
// deterministic.
func Schema() []byte {
	var branches []any
	for _, kind := range Kinds() {
		k := registry[kind]()
		docs := map[string]fieldDoc{}
		if d, ok := k.(documented); ok {
			docs = d.fieldDocs()
		}
		docs["apiVersion"] = fieldDoc{Description: "The spec format version; must be " + APIVersion + "."}
		docs["kind"] = fieldDoc{Description: "The spec kind."}
		docs["name"] = fieldDoc{
			Description: "The module name: [a-z][a-z0-9_]*, at most 55 characters.",
			Pattern:     reModuleName.String(), MaxLength: maxModuleName,
		}
		s := typeSchema(reflect.TypeOf(k).Elem(), "", docs, true)
		props := s["properties"].(map[string]any)
		props["apiVersion"].(map[string]any)["const"] = APIVersion
		props["kind"].(map[string]any)["const"] = kind
		s["title"] = kind
		branches = append(branches, s)
	}
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://kgen.invalid/schema/kgen-v1.json",
		"title":       "kgen spec",
		"description": "A kgen spec: a declarative description of a Linux kernel module kgen generates, builds and loads.",
		"type":        "object",
		"required":    []string{"apiVersion", "kind", "name"},
		"properties": map[string]any{
			"apiVersion": map[string]any{"const": APIVersion},
			"kind":       map[string]any{"enum": Kinds()},
		},
		"oneOf": branches,
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil // cannot happen: only maps, slices, strings and ints
	}
	return append(out, '\n')
}

// typeSchema builds the schema of t at path; doc applies docs[path] (false
// for the items of a list, which share its path).
func typeSchema(t reflect.Type, path string, docs map[string]fieldDoc, doc bool) map[string]any {
	s := map[string]any{}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), path, docs, doc)
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		var walk func(t reflect.Type)
		walk = func(t reflect.Type) {
			for i := 0; i < t.NumField(); i++ {
				sf := t.Field(i)
				name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
				if name == "-" || (!sf.IsExported() && !sf.Anonymous) {
					continue
				}
				if strings.Contains(","+opts+",", ",inline,") && sf.Type.Kind() == reflect.Struct {
					walk(sf.Type)
					continue
				}
				if name == "" {
					name = strings.ToLower(sf.Name)
				}
				p := joinPath(path, name)
				props[name] = typeSchema(sf.Type, p, docs, true)
				omit := strings.Contains(","+opts+",", ",omitempty,")
				if !omit && !docs[p].Optional && sf.Type.Kind() != reflect.Pointer {
					required = append(required, name)
				}
			}
		}
		walk(t)
		s["type"] = "object"
		s["properties"] = props
		if len(required) > 0 {
			s["required"] = required
		}
		s["additionalProperties"] = false
	case reflect.Slice:
		s["type"] = "array"
		s["items"] = typeSchema(t.Elem(), path, docs, false)
	case reflect.String:
		s["type"] = "string"
	case reflect.Bool:
		s["type"] = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s["type"] = "integer"
	}
	if !doc {
		return s
	}
	d := docs[path]
	if d.Description != "" {
		s["description"] = d.Description
	}
	if d.Pattern != "" {
		s["pattern"] = d.Pattern
	}
	if d.Enum != nil {
		s["enum"] = d.Enum
	}
	if d.Min != nil {
		s["minimum"] = *d.Min
	}
	if d.Max != nil {
		s["maximum"] = *d.Max
	}
	if d.MaxLength > 0 {
		s["maxLength"] = d.MaxLength
	}
	if d.MinItems > 0 {
		s["minItems"] = d.MinItems
	}
	if d.MaxItems > 0 {
		s["maxItems"] = d.MaxItems
	}
	return s
}
