package generator

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"text/template"

	"kgen/templates"
)

var (
	parseOnce sync.Once
	parsed    *template.Template
	parseErr  error
)

// tmpl parses every embedded template once.
func tmpl() (*template.Template, error) {
	parseOnce.Do(func() {
		t := template.New("").Option("missingkey=error")
		parseErr = fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
				return err
			}
			b, err := fs.ReadFile(templates.FS, p)
			if err != nil {
				return err
			}
			_, err = t.New(p).Parse(string(b))
			return err
		})
		parsed = t
	})
	return parsed, parseErr
}

func render(name string, data any) ([]byte, error) {
	t, err := tmpl()
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return tidy(buf.Bytes()), nil
}

// tidy drops trailing blanks and squeezes runs of blank lines so the
// templates can be written readably.
func tidy(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	var out []string
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	s := strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
	return []byte(s)
}

func writeFeatures(features []string, out Output) error {
	for _, f := range features {
		found := false
		for _, ext := range []string{".c", ".sym"} {
			b, err := fs.ReadFile(templates.FS, "features/"+f+ext)
			if err != nil {
				continue
			}
			found = true
			if err := out.WriteFile("features/"+f+ext, b); err != nil {
				return fmt.Errorf("write feature %s: %w", f, err)
			}
		}
		if !found {
			return fmt.Errorf("feature probe %s: no templates/features/%s.c or .sym", f, f)
		}
	}
	return nil
}

// CString returns s as a C string literal. Printable ASCII passes through
// (with \ and " escaped); everything else becomes an octal escape, so no
// spec byte can end the literal, start a comment or a trigraph.
func CString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '?':
			// Avoid trigraphs such as ??/.
			b.WriteString(`\?`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
