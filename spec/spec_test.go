package spec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/bad")

// TestBad checks every testdata/bad/*.yaml against its golden .err file.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 bad specs, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := ParseFile(f)
			if err == nil {
				t.Fatalf("ParseFile(%s) = %+v, want an error", f, s)
			}
			var list *ErrorList
			if !errors.As(err, &list) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T is not an *ErrorList wrapping ErrInvalid: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ (run go test ./spec -update to accept)\n--- want\n%s--- got\n%s", want, got)
			}
		})
	}
}

// TestGood parses every testdata/good spec, of any kind: each parses to
// its file's kind and name (read from the YAML, not by Parse), every
// registered kind has good specs, and kinds with derived fields check them.
// TestSchemaAcceptsGoodSpecs checks the same files against the schema.
func TestGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good specs")
	}
	perKind := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := yamlAsJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := doc.(map[string]any)
			kind, _ := m["kind"].(string)
			name, _ := m["name"].(string)
			s, err := Parse(f, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if h := s.Header(); h.Kind != kind || h.Name != name || h.APIVersion != APIVersion {
				t.Errorf("header %+v, want kind %q name %q", *h, kind, name)
			}
			perKind[kind]++
			switch s := s.(type) {
			case *Kretprobe:
				for _, p := range s.Probes {
					if (p.Filter.When != "") != (p.When != nil) {
						t.Errorf("probe %s: when %q parsed to %v", p.ID, p.Filter.When, p.When)
					}
				}
			case *Otst:
				if s.ModeBits < 0 || fmt.Sprintf("%04o", s.ModeBits) != fmt.Sprintf("%04s", s.Mode) {
					t.Errorf("mode %q parsed to %o", s.Mode, s.ModeBits)
				}
			}
		})
	}
	for _, k := range Kinds() {
		if perKind[k] == 0 {
			t.Errorf("kind %s has no spec in testdata/good", k)
		}
	}
}

func TestCanonical(t *testing.T) {
	s, err := ParseFile("testdata/good/kretprobe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := s.(*Kretprobe)
	want := &Kretprobe{
		Meta: Meta{APIVersion: APIVersion, Kind: KindKretprobe, Name: "vfs_read_lat"},
		Probes: []KretprobeFunc{{
			Function:  "vfs_read",
			Maxactive: 32,
			Args:      []Arg{{Name: "count", Index: 2, Type: "size_t"}},
			Retval:    &Retval{Name: "ret", Type: "ssize_t"},
			Latency:   true,
			Filter:    Filter{When: "ret < 0 || count > 4096"},
			Histogram: "latency",
			ID:        "vfs_read",
		}},
	}
	when := k.Probes[0].When
	k.Probes[0].When = nil
	if !reflect.DeepEqual(k, want) {
		t.Errorf("got  %+v\nwant %+v", k, want)
	}
	if got := FormatExpr(when); got != "((ret < 0) || (count > 4096))" {
		t.Errorf("when = %s", got)
	}
	// Absolute positions: line 14 is `      when: "ret < 0 || count > 4096"`.
	b := when.(*Binary)
	if b.P != (Pos{14, 22}) || b.X.(*Binary).X.Position() != (Pos{14, 14}) || b.Y.(*Binary).X.Position() != (Pos{14, 25}) {
		t.Errorf("positions: || at %v, ret at %v, count at %v", b.P, b.X.(*Binary).X.Position(), b.Y.(*Binary).X.Position())
	}
	if s.Header().Name != "vfs_read_lat" {
		t.Errorf("Header().Name = %q", s.Header().Name)
	}
}

func TestDefaults(t *testing.T) {
	s, err := ParseFile("testdata/good/multi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := s.(*Kretprobe)
	if r := k.Probes[0].Retval; *r != (Retval{"ret", "long"}) {
		t.Errorf("retval = %+v, want ret/long", r)
	}
	if k.Probes[1].Retval != nil {
		t.Errorf("absent retval defaulted to %+v", k.Probes[1].Retval)
	}
	if id := k.Probes[1].ID; id != "ext4_file_write_iter_cold" {
		t.Errorf("ID = %q", id)
	}
	if got, want := k.Probes[1].CapturedFields(), []string{"latency", "pid"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CapturedFields = %v, want %v", got, want)
	}
}

// TestParse covers single errors and positions in small inline specs.
func TestParse(t *testing.T) {
	const head = "apiVersion: kgen/v1\nkind: kretprobe\nname: t\nprobes:\n  - function: f\n"
	tests := []struct {
		name, src, want string // want: the whole error text, "" = valid
	}{
		{"valid", head, ""},
		{"empty file", "", `t.yaml: file is empty; expected a spec starting with apiVersion: kgen/v1`},
		{"comment only", "# nothing\n", `t.yaml: file is empty; expected a spec starting with apiVersion: kgen/v1`},
		{"plain when column", head + "    args: [{name: n, index: 0, type: int}]\n    filter: {when: n > 1 && m}\n",
			`t.yaml:7:29: probes[0].filter.when: unknown field "m" (captured fields: n, pid)`},
		{"single-quoted when column", head + "    filter:\n      when: 'pid == 1 || ''x'' || q'\n",
			`t.yaml:7:26: probes[0].filter.when: unexpected character '\''; allowed: names, integers, + - * / % == != < <= > >= && || ! ( )`},
		{"double-quoted escapes column", head + "    filter:\n      when: \"pid\\t\\u00e9\"\n",
			`t.yaml:7:19: probes[0].filter.when: unexpected character 'é'; allowed: names, integers, + - * / % == != < <= > >= && || ! ( )`},
		{"block scalar points at start", head + "    filter:\n      when: |\n        pid > 1 &&\n        x\n",
			`t.yaml:7:13: probes[0].filter.when: unknown field "x" (captured fields: pid)`},
		{"end of expression column", head + "    filter: {when: \"pid >\"}\n",
			`t.yaml:6:26: probes[0].filter.when: expected a field name, an integer or '('; found end of expression`},
		{"missing function points at parent", "apiVersion: kgen/v1\nkind: kretprobe\nname: t\nprobes:\n  - maxactive: 1\n",
			`t.yaml:5:5: probes[0].function: required; the kernel function to probe, e.g. vfs_read`},
		// A key with no value is refused, as the JSON Schema refuses it
		// (it was once accepted as the key left out).
		{"null value", head + "    args:\n", `t.yaml:6:10: probes[0].args: no value; give one (e.g. [] for an empty list) or remove the key`},
		{"null scalar", head + "    maxactive: ~\n", `t.yaml:6:16: probes[0].maxactive: no value; give one (e.g. [] for an empty list) or remove the key`},
		{"null list item", "apiVersion: kgen/v1\nkind: otst\nname: t\nsymbols: [a, null]\n", `t.yaml:4:14: symbols[1]: no value; give one (e.g. [] for an empty list) or remove the key`},
		{"float", head + "    maxactive: 1.5\n", `t.yaml:6:16: probes[0].maxactive: must be an integer; got number 1.5`},
		{"int overflow", head + "    maxactive: 99999999999999999999999\n", `t.yaml:6:16: probes[0].maxactive: must be an integer; got number 99999999999999999999999`},
		{"explicit tag", head + "    stack: !!bool true\n", `t.yaml:6:12: probes[0].stack: explicit tags (!!bool) are not supported; quote strings instead`},
		{"name too long", strings.Replace(head, "name: t", "name: "+strings.Repeat("a", 56), 1), `t.yaml:3:7: name: 56 characters; at most 55 (the kernel's module name limit)`},
		{"too many probes", "apiVersion: kgen/v1\nkind: kretprobe\nname: t\nprobes:\n" + manyProbes(65), "t.yaml:5:3: probes: 65 probes; at most 64"},
		{"too many args", head + "    args:\n" + strings.Repeat("      - {name: a, index: 0, type: int}\n", 7), ""},
		{"when too long", head + "    filter: {when: \"" + strings.Repeat("pid+", 300) + "pid\"}\n",
			`t.yaml:6:1045: probes[0].filter.when: expression is 1203 bytes long; at most 1024`},
		{"comm control char", head + "    filter: {comm: \"a\\tb\"}\n", `t.yaml:6:20: probes[0].filter.comm: "a\tb" must be printable ASCII without '"' or '\'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.name == "too many args" {
				// 7 args: the count error plus duplicate names and indexes, capped at 20.
				if !strings.HasPrefix(got, "t.yaml:7:7: probes[0].args: 7 args; at most 6 (the register-passed arguments)\n") {
					t.Errorf("got %s", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Parse error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestTooManyErrors(t *testing.T) {
	src := "apiVersion: kgen/v1\nkind: kretprobe\nname: t\nprobes:\n" + strings.Repeat("  - function: 1\n", 30)
	_, err := Parse("t.yaml", []byte(src))
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v", err)
	}
	if len(*list) != maxErrors+1 || (*list)[maxErrors].Msg != "too many errors" {
		t.Errorf("got %d errors, last %v", len(*list), (*list)[len(*list)-1])
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read spec: ") {
		t.Errorf("got %v", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		e    FieldError
		want string
	}{
		{FieldError{"a.yaml", Pos{7, 18}, "probes[0].filter.when", "m"}, "a.yaml:7:18: probes[0].filter.when: m"},
		{FieldError{"a.yaml", Pos{7, 0}, "", "m"}, "a.yaml:7: m"},
		{FieldError{"a.yaml", Pos{}, "", "m"}, "a.yaml: m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// FuzzParse: Parse returns a spec or an error list, never both, and what
// it accepts the JSON Schema accepts too. Crashers are kept in
// testdata/fuzz/FuzzParse (maxactive_no_value: a key with no value).
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(dir + "/*.yaml")
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	schema := schemaValue(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if (s == nil) == (err == nil) {
			t.Fatalf("Parse returned spec %v and error %v", s, err)
		}
		// What Parse accepts, the JSON Schema (editors' check) accepts.
		if err == nil {
			doc, err := yamlAsJSON(data)
			if err != nil {
				t.Fatalf("Parse accepts a document that has no JSON form: %v\n%s", err, data)
			}
			if err := checkSchema(schema, doc, "$"); err != nil {
				t.Fatalf("Parse accepts, the JSON Schema rejects: %v\n%s", err, data)
			}
		}
		if err != nil {
			var list *ErrorList
			if !errors.As(err, &list) || len(*list) == 0 || len(*list) > maxErrors+1 {
				t.Fatalf("bad error %T %v", err, err)
			}
		}
	})
}

func manyProbes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - function: f%d\n", i)
	}
	return b.String()
}
