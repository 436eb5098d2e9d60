package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSchemaValidJSONAndDeterministic(t *testing.T) {
	s := Schema()
	var v map[string]any
	if err := json.Unmarshal(s, &v); err != nil {
		t.Fatalf("Schema is not JSON: %v", err)
	}
	if v["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", v["$schema"])
	}
	if !bytes.Equal(s, Schema()) {
		t.Error("Schema is not deterministic")
	}
	if n := len(v["oneOf"].([]any)); n != len(Kinds()) {
		t.Errorf("oneOf has %d branches for %d kinds", n, len(Kinds()))
	}
}

// TestSchemaAcceptsGoodSpecs checks good specs against the schema with a
// small validator of the keywords Schema uses, and that a few broken specs
// are rejected.
func TestSchemaAcceptsGoodSpecs(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/good/*.yaml")
	for _, f := range files {
		doc := loadYAML(t, f)
		if err := validateJSON(schema, doc, ""); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, bad := range []string{
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, extra: 1}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, args: [{name: a, index: 9, type: int}]}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, args: [{name: a, index: 1, type: sizet}]}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: X\nprobes: [{function: f}]\n",
		"apiVersion: kgen/v2\nkind: kretprobe\nname: x\nprobes: [{function: f}]\n",
		"apiVersion: kgen/v1\nkind: nope\nname: x\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: []\n",
	} {
		var doc any
		if err := yaml.Unmarshal([]byte(bad), &doc); err != nil {
			t.Fatal(err)
		}
		if validateJSON(schema, doc, "") == nil {
			t.Errorf("schema accepts\n%s", bad)
		}
	}
}

func loadYAML(t *testing.T, f string) any {
	t.Helper()
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func validateJSON(s map[string]any, v any, path string) error {
	if c, ok := s["const"]; ok && c != v {
		return fmt.Errorf("%s: %v is not %v", path, v, c)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || x == v
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum", path, v)
		}
	}
	if branches, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, b := range branches {
			if validateJSON(b.(map[string]any), v, path) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %d oneOf branches match", path, n)
		}
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", path)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: %s required", path, r)
			}
		}
		for k, x := range m {
			ps, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: %s not allowed", path, k)
				}
				continue
			}
			if err := validateJSON(ps.(map[string]any), x, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", path)
		}
		if mn, ok := s["minItems"].(float64); ok && float64(len(a)) < mn {
			return fmt.Errorf("%s: too few items", path)
		}
		if mx, ok := s["maxItems"].(float64); ok && float64(len(a)) > mx {
			return fmt.Errorf("%s: too many items", path)
		}
		for i, x := range a {
			if err := validateJSON(s["items"].(map[string]any), x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", path)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
		if mx, ok := s["maxLength"].(float64); ok && float64(len(str)) > mx {
			return fmt.Errorf("%s: too long", path)
		}
	case "integer":
		i, ok := v.(int)
		if !ok {
			return fmt.Errorf("%s: not an integer", path)
		}
		if mn, ok := s["minimum"].(float64); ok && float64(i) < mn {
			return fmt.Errorf("%s: below minimum", path)
		}
		if mx, ok := s["maximum"].(float64); ok && float64(i) > mx {
			return fmt.Errorf("%s: above maximum", path)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: not a boolean", path)
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
