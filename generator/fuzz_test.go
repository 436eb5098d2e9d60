package generator_test

import (
	"bytes"
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

// checkC strips strings and comments the way the C lexer does and checks
// that braces and parentheses balance and nothing is left open.
func checkC(t *testing.T, name, src string) {
	t.Helper()
	depth := map[byte]int{}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				t.Fatalf("%s: unterminated comment", name)
			}
			i += end + 3
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				return
			}
			i += end
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' {
					j++
				} else if src[j] == '\n' {
					t.Fatalf("%s: newline in literal at byte %d", name, i)
				}
			}
			i = j
		case c == '{' || c == '(':
			depth[c]++
		case c == '}':
			depth['{']--
		case c == ')':
			depth['(']--
		}
	}
	if depth['{'] != 0 || depth['('] != 0 {
		t.Fatalf("%s: unbalanced braces %d / parentheses %d", name, depth['{'], depth['('])
	}
}
