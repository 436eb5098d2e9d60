package generator_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kgen/generator"
	"kgen/spec"
)

// FuzzGenerate: any spec the spec package accepts generates without error,
// deterministically, into C whose braces and comments balance (a cheap
// guard that no spec text escaped a literal or a comment).
func FuzzGenerate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/specs/*.yaml")
	ex, _ := filepath.Glob("../examples/*.yaml")
	for _, p := range append(seeds, ex...) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		a, b := generator.Tree{}, generator.Tree{}
		if err := generator.Generate(s, generator.Options{SpecFile: "fuzz.yaml"}, a); err != nil {
			t.Fatalf("valid spec does not generate: %v\n%s", err, data)
		}
		if err := generator.Generate(s, generator.Options{SpecFile: "fuzz.yaml"}, b); err != nil {
			t.Fatal(err)
		}
		for _, n := range a.Names() {
			if !bytes.Equal(a[n], b[n]) {
				t.Fatalf("%s not deterministic", n)
			}
			if strings.HasPrefix(n, "features/") || !(strings.HasSuffix(n, ".c") || strings.HasSuffix(n, ".h")) {
				continue
			}
			checkC(t, n, string(a[n]))
		}
	})
}

// checkC fails t when src is not well-formed C as far as cShape sees.
func checkC(t *testing.T, name, src string) {
	t.Helper()
	if err := cShape(src); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// cShape skips string and character literals and comments the way the C
// lexer does and checks that (), [] and {} nest: every closer closes the
// innermost opener of its kind, nothing is left open, and no literal or
// block comment runs to the end of the file.
func cShape(src string) error {
	var open []int // offsets of the unclosed openers
	pair := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return fmt.Errorf("comment at byte %d runs to the end of the file", i)
			}
			i += end + 3
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				i = len(src)
				break
			}
			i += end
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' {
					j++
				} else if src[j] == '\n' {
					return fmt.Errorf("newline in the literal at byte %d", i)
				}
			}
			if j >= len(src) {
				return fmt.Errorf("literal at byte %d runs to the end of the file", i)
			}
			i = j
		case c == '(' || c == '[' || c == '{':
			open = append(open, i)
		case c == ')' || c == ']' || c == '}':
			if len(open) == 0 {
				return fmt.Errorf("%q at byte %d closes nothing", c, i)
			}
			if o := open[len(open)-1]; src[o] != pair[c] {
				return fmt.Errorf("%q at byte %d closes %q at byte %d", c, i, src[o], o)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		o := open[len(open)-1]
		return fmt.Errorf("%q at byte %d is never closed (%d open)", src[o], o, len(open))
	}
	return nil
}

// TestCShape: the fuzzer's check fails on each way spec text could break
// out of a literal or comment, and passes real generated code.
func TestCShape(t *testing.T) {
	for _, tt := range []struct {
		src string
		ok  bool
	}{
		{"int f(void)\n{\n\treturn a[0];\n}\n", true},
		{"const char *s = \"}{ ( /* \\\" \";\nchar c = '}';\n", true},
		{"/* } */ // {\nint x;", true},
		{"int x; // no newline at the end", true},
		{"char c = '\\'';", true},
		{"}{", false},
		{")(", false},
		{"{ ( } )", false},
		{"( ]", false},
		{"{", false},
		{"'a", false},
		{"\"abc", false},
		{"\"abc\\", false},
		{"/* open", false},
		{"\"a\nb\"", false},
		{"{ // }\n", false},
	} {
		if err := cShape(tt.src); (err == nil) != tt.ok {
			t.Errorf("cShape(%q) = %v, want ok %v", tt.src, err, tt.ok)
		}
	}
	// Every golden C file of the generator is well-formed.
	files, _ := filepath.Glob("testdata/golden/*/*.[ch]")
	if len(files) == 0 {
		t.Fatal("no golden C files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := cShape(string(b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
