package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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

// schemaValue is Schema() decoded for checkSchema.
func schemaValue(t testing.TB) any {
	t.Helper()
	s, err := jsonValue(Schema())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaAcceptsGoodSpecs checks every good spec against the schema
// (checkSchema), and that broken specs of every kind are rejected.
func TestSchemaAcceptsGoodSpecs(t *testing.T) {
	schema := schemaValue(t)
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good specs")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := yamlAsJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSchema(schema, doc, "$"); err != nil {
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
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, maxactive: }]\n",
		"apiVersion: kgen/v1\nkind: otst\nname: x\nshots: 0\n",
		"apiVersion: kgen/v1\nkind: otst\nname: x\nprobes: [{function: f}]\n",
		"apiVersion: kgen/v1\nkind: otst\nname: x\nsymbols: [1]\n",
		// An explicit empty string is not a request for the default.
		"apiVersion: kgen/v1\nkind: otst\nname: x\nmode: \"\"\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, retval: {name: \"\"}}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, retval: {type: \"\"}}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, stacks: {count: true, depth: 0}}]\n",
		"apiVersion: kgen/v1\nkind: kretprobe\nname: x\nprobes: [{function: f, stacks: {count: true, max_entries: 0}}]\n",
		"apiVersion: kgen/v1\nkind: otst\nname: x\nproc: \"\"\n",
		"apiVersion: kgen/v1\nkind: payload\nname: x\ntarget: m\nattach: \"\"\npoints: [{name: kmalloc}]\n",
		"apiVersion: kgen/v1\nkind: payload\nname: x\ntarget: m\npoints: [{name: kmalloc, action: \"\"}]\n",
	} {
		doc, err := yamlAsJSON([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if checkSchema(schema, doc, "$") == nil {
			t.Errorf("schema accepts\n%s", bad)
		}
		if _, err := Parse("bad.yaml", []byte(bad)); err == nil {
			t.Errorf("Parse accepts what the schema rejects\n%s", bad)
		}
	}
}

// TestParseSchemaAgreeOnEdgeValues replaces every value in the good specs,
// one at a time, by an edge value (empty string, null, 0, -1, empty list,
// empty map) and checks what the fuzzer checks at random: what Parse
// accepts, the JSON Schema accepts.
func TestParseSchemaAgreeOnEdgeValues(t *testing.T) {
	schema := schemaValue(t)
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good specs")
	}
	edges := []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle},
		{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"},
		{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"},
		{Kind: yaml.ScalarNode, Tag: "!!int", Value: "-1"},
		{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"},
		{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle},
		{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle},
	}
	tried := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var slots []**yaml.Node
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			switch n.Kind {
			case yaml.DocumentNode, yaml.SequenceNode:
				for i := range n.Content {
					if n.Kind == yaml.SequenceNode {
						slots = append(slots, &n.Content[i])
					}
					walk(n.Content[i])
				}
			case yaml.MappingNode:
				for i := 1; i < len(n.Content); i += 2 {
					slots = append(slots, &n.Content[i])
					walk(n.Content[i])
				}
			}
		}
		walk(&doc)
		for _, slot := range slots {
			orig := *slot
			for _, e := range edges {
				*slot = e
				out, err := yaml.Marshal(&doc)
				if err != nil {
					t.Fatal(err)
				}
				tried++
				if _, err := Parse("f.yaml", out); err != nil {
					continue
				}
				j, err := yamlAsJSON(out)
				if err != nil {
					t.Errorf("%s: Parse accepts a document with no JSON form: %v\n%s", file, err, out)
					continue
				}
				if err := checkSchema(schema, j, "$"); err != nil {
					t.Errorf("%s: Parse accepts, the JSON Schema rejects: %v\n%s", file, err, out)
				}
			}
			*slot = orig
		}
	}
	t.Logf("%d variants", tried)
}
