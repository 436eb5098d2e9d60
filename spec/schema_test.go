package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
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
	} {
		doc, err := yamlAsJSON([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if checkSchema(schema, doc, "$") == nil {
			t.Errorf("schema accepts\n%s", bad)
		}
	}
}
