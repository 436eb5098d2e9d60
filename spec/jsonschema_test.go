package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A minimal JSON Schema (draft 2020-12) checker for the keywords Schema
// emits, with their standard meaning, so that tests can ask "does the
// schema accept this document?" without a validator dependency. A keyword
// it does not know fails the check: a schema that grows a keyword grows
// this checker first.

// schemaKeywords are the keywords checkSchema understands; annotations
// ($schema, $id, title, description) check nothing.
var schemaKeywords = []string{
	"$schema", "$id", "title", "description",
	"type", "const", "enum", "oneOf",
	"properties", "required", "additionalProperties",
	"items", "minItems", "maxItems",
	"pattern", "maxLength", "minimum", "maximum",
}

// jsonValue decodes JSON text with numbers kept exact.
func jsonValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// yamlAsJSON is the JSON instance a schema-aware editor checks for a YAML
// document: the YAML decoded with its core-schema types, then as JSON.
func yamlAsJSON(data []byte) (any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return jsonValue(j)
}

// number returns a JSON number exactly, or nil when v is not a number.
func number(v any) *big.Rat {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return nil
	}
	return r
}

// jsonEqual is JSON Schema equality: numbers by value, the rest deeply.
func jsonEqual(a, b any) bool {
	if x, y := number(a), number(b); x != nil || y != nil {
		return x != nil && y != nil && x.Cmp(y) == 0
	}
	switch a := a.(type) {
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, jsonEqual)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			if y, ok := b[k]; !ok || !jsonEqual(x, y) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func hasType(v any, typ string) bool {
	switch typ {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		return number(v) != nil
	case "integer":
		n := number(v)
		return n != nil && n.IsInt()
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// checkSchema reports why instance v does not satisfy schema s, or nil.
// Both come from jsonValue.
func checkSchema(s, v any, path string) error {
	if b, ok := s.(bool); ok {
		if !b {
			return fmt.Errorf("%s: the schema false accepts nothing", path)
		}
		return nil
	}
	m, ok := s.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: schema is %T, not an object or a boolean", path, s)
	}
	for k := range m {
		if !slices.Contains(schemaKeywords, k) {
			return fmt.Errorf("%s: schema keyword %q unknown to this checker", path, k)
		}
	}
	if t, ok := m["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(typ string) bool { return hasType(v, typ) }) {
			return fmt.Errorf("%s: %v is not of type %v", path, v, t)
		}
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		return fmt.Errorf("%s: %v is not %v", path, v, c)
	}
	if e, ok := m["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return jsonEqual(x, v) }) {
		return fmt.Errorf("%s: %v not in %v", path, v, e)
	}
	if branches, ok := m["oneOf"].([]any); ok {
		var n int
		var errs []string
		for _, b := range branches {
			if err := checkSchema(b, v, path); err != nil {
				errs = append(errs, err.Error())
			} else {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %d oneOf branches match, want 1 (%s)", path, n, strings.Join(errs, "; "))
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		for _, r := range asSlice(m["required"]) {
			if _, ok := v[r.(string)]; !ok {
				return fmt.Errorf("%s: %s required", path, r)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub, ok := props[k]
			if !ok {
				sub, ok = m["additionalProperties"]
			}
			if !ok {
				continue
			}
			if err := checkSchema(sub, v[k], path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if n := number(m["minItems"]); n != nil && big.NewRat(int64(len(v)), 1).Cmp(n) < 0 {
			return fmt.Errorf("%s: %d items, fewer than %v", path, len(v), n)
		}
		if n := number(m["maxItems"]); n != nil && big.NewRat(int64(len(v)), 1).Cmp(n) > 0 {
			return fmt.Errorf("%s: %d items, more than %v", path, len(v), n)
		}
		if items, ok := m["items"]; ok {
			for i, x := range v {
				if err := checkSchema(items, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case string:
		if p, ok := m["pattern"].(string); ok {
			// ECMA-262 and RE2 agree on the patterns Schema emits.
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("%s: pattern %q: %v", path, p, err)
			}
			if !re.MatchString(v) {
				return fmt.Errorf("%s: %q does not match %s", path, v, p)
			}
		}
		// Length in characters (code points), not bytes.
		if n := number(m["maxLength"]); n != nil && big.NewRat(int64(utf8.RuneCountInString(v)), 1).Cmp(n) > 0 {
			return fmt.Errorf("%s: %d characters, more than %v", path, utf8.RuneCountInString(v), n)
		}
	case json.Number:
		x := number(v)
		if n := number(m["minimum"]); n != nil && x.Cmp(n) < 0 {
			return fmt.Errorf("%s: %v below the minimum %v", path, v, n)
		}
		if n := number(m["maximum"]); n != nil && x.Cmp(n) > 0 {
			return fmt.Errorf("%s: %v above the maximum %v", path, v, n)
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestCheckSchema pins the checker's semantics on small cases, so the
// schema tests built on it can be trusted.
func TestCheckSchema(t *testing.T) {
	tests := []struct {
		schema, instance string
		ok               bool
	}{
		{`{"type": "integer"}`, `3`, true},
		{`{"type": "integer"}`, `3.0`, true}, // JSON Schema: a number with no fraction
		{`{"type": "integer"}`, `3.5`, false},
		{`{"type": "integer"}`, `"3"`, false},
		{`{"type": "integer"}`, `null`, false},
		{`{"type": ["integer", "null"]}`, `null`, true},
		{`{"type": "number"}`, `3.5`, true},
		{`{"type": "string"}`, `3`, false},
		{`{"type": "boolean"}`, `false`, true},
		{`{"type": "boolean"}`, `0`, false},
		{`{"type": "array"}`, `{}`, false},
		{`{"type": "object"}`, `[]`, false},
		{`{"const": "kgen/v1"}`, `"kgen/v1"`, true},
		{`{"const": "kgen/v1"}`, `"kgen/v2"`, false},
		{`{"const": 1}`, `1.0`, true},
		{`{"enum": ["a", "b"]}`, `"b"`, true},
		{`{"enum": ["a", "b"]}`, `"c"`, false},
		{`{"minimum": 1, "maximum": 3}`, `1`, true},
		{`{"minimum": 1, "maximum": 3}`, `0`, false},
		{`{"minimum": 1, "maximum": 3}`, `4`, false},
		{`{"maximum": 9223372036854775807}`, `9223372036854775808`, false}, // exact, no float rounding
		{`{"minimum": 1}`, `"0"`, true},                                    // applies to numbers only
		{`{"pattern": "^[a-z]+$"}`, `"abc"`, true},
		{`{"pattern": "^[a-z]+$"}`, `"abC"`, false},
		{`{"pattern": "b"}`, `"abc"`, true}, // unanchored unless the pattern anchors
		{`{"maxLength": 2}`, `"éé"`, true},  // characters, not bytes
		{`{"maxLength": 2}`, `"abc"`, false},
		{`{"minItems": 1, "maxItems": 2}`, `[]`, false},
		{`{"minItems": 1, "maxItems": 2}`, `[1, 2]`, true},
		{`{"minItems": 1, "maxItems": 2}`, `[1, 2, 3]`, false},
		{`{"items": {"type": "string"}}`, `["a", 1]`, false},
		{`{"required": ["a"]}`, `{"b": 1}`, false},
		{`{"required": ["a"]}`, `{"a": null}`, true},
		{`{"properties": {"a": {"type": "string"}}}`, `{"a": 1}`, false},
		{`{"properties": {"a": {"type": "string"}}}`, `{"b": 1}`, true},
		{`{"properties": {"a": {}}, "additionalProperties": false}`, `{"b": 1}`, false},
		{`{"properties": {"a": {}}, "additionalProperties": false}`, `{"a": 1}`, true},
		{`{"oneOf": [{"type": "string"}, {"type": "integer"}]}`, `1`, true},
		{`{"oneOf": [{"type": "number"}, {"type": "integer"}]}`, `1`, false}, // both match
		{`{"oneOf": [{"type": "string"}, {"type": "integer"}]}`, `true`, false},
		{`{"title": "t", "description": "d", "$id": "x", "$schema": "y"}`, `1`, true},
		{`{"anyOf": [{}]}`, `1`, false}, // unknown keyword: refuse, never ignore
	}
	for _, tt := range tests {
		s, err := jsonValue([]byte(tt.schema))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonValue([]byte(tt.instance))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSchema(s, v, "$"); (err == nil) != tt.ok {
			t.Errorf("schema %s, instance %s: err %v, want ok %v", tt.schema, tt.instance, err, tt.ok)
		}
	}
	// YAML as an editor sees it: core-schema types.
	for _, tt := range []struct {
		yaml, json string
	}{
		{"a: 0x10\nb: '1'\nc: ~\nd: [true]\ne:\n", `{"a": 16, "b": "1", "c": null, "d": [true], "e": null}`},
	} {
		got, err := yamlAsJSON([]byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := jsonValue([]byte(tt.json))
		if !jsonEqual(got, want) {
			t.Errorf("yamlAsJSON(%q) = %v, want %v", tt.yaml, got, want)
		}
	}
}
