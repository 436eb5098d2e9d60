package spec

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Validator collects positioned errors while a spec is decoded and
// validated. Kinds report problems through it by field path; it finds the
// position of the path's value in the file, or of the nearest parent when
// the value is absent.
type Validator struct {
	file  string
	data  []byte
	lines [][]byte
	nodes map[string]*yaml.Node // value node by field path; "" = the root mapping
	errs  ErrorList
	full  bool
}

func newValidator(file string, data []byte) *Validator {
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return &Validator{file: file, data: data, lines: lines, nodes: map[string]*yaml.Node{}}
}

func (v *Validator) add(p Pos, path, msg string) {
	if v.full {
		return
	}
	if len(v.errs) == maxErrors {
		v.errs = append(v.errs, &FieldError{File: v.file, Pos: p, Msg: "too many errors"})
		v.full = true
		return
	}
	v.errs = append(v.errs, &FieldError{File: v.file, Pos: p, Path: path, Msg: msg})
}

func (v *Validator) errorAt(n *yaml.Node, path, format string, args ...any) {
	v.add(nodePos(n), path, fmt.Sprintf(format, args...))
}

// Errorf reports a problem with the field at path (e.g. "probes[0].args[1].name").
func (v *Validator) Errorf(path, format string, args ...any) {
	v.add(v.Pos(path), path, fmt.Sprintf(format, args...))
}

// ErrorAt reports a problem with the field at path, positioned at p.
func (v *Validator) ErrorAt(p Pos, path, format string, args ...any) {
	v.add(p, path, fmt.Sprintf(format, args...))
}

// Pos returns the position of the value at path, or of the nearest parent
// that is present in the file.
func (v *Validator) Pos(path string) Pos {
	for {
		if n, ok := v.nodes[path]; ok {
			return nodePos(n)
		}
		if path == "" {
			return Pos{}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// Has reports whether the spec file has a non-null value at path.
func (v *Validator) Has(path string) bool {
	n, ok := v.nodes[path]
	return ok && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// NotEmpty is for a Default method that found the zero value ("" or 0)
// at path: given explicitly in the file, it is an error (the JSON Schema
// rejects it too), not a request for def; omitted, it is nothing.
func (v *Validator) NotEmpty(path string, def any) {
	if v.Has(path) {
		v.Errorf(path, "is empty or 0; omit it for the default, %v", def)
	}
}

// Failed reports whether any error has been recorded.
func (v *Validator) Failed() bool { return len(v.errs) > 0 }

// ParseExpr parses src, the string value at path, as a filter expression
// with positions in the spec file. It reports a syntax error through v and
// returns nil then; it also returns nil for an empty or blank src.
func (v *Validator) ParseExpr(path, src string) Expr {
	if strings.TrimSpace(src) == "" {
		return nil
	}
	at := v.scalarMapper(v.nodes[path], src)
	e, perr := parseExpr(src, at, MaxExprLen)
	if perr != nil {
		v.add(perr.Pos, path, perr.Msg)
		return nil
	}
	return e
}

// scalarMapper maps a byte offset in the value of scalar node n to its
// position in the file: exactly for single-line plain and quoted scalars,
// the scalar's start otherwise.
func (v *Validator) scalarMapper(n *yaml.Node, value string) func(off int) Pos {
	if n == nil {
		return func(int) Pos { return Pos{} }
	}
	start := nodePos(n)
	fallback := func(int) Pos { return start }
	if n.Line < 1 || n.Line > len(v.lines) || n.Column < 1 {
		return fallback
	}
	raw := []rune(string(v.lines[n.Line-1]))
	i := n.Column - 1
	if i >= len(raw) {
		return fallback
	}
	var cols []int // file column of each byte of the decoded value
	var dec strings.Builder
	emit := func(s string, col int) {
		dec.WriteString(s)
		for range len(s) {
			cols = append(cols, col)
		}
	}
	end := 0 // column just after the value
	switch n.Style {
	case 0: // plain
		if strings.Contains(value, "\n") {
			return fallback
		}
		for _, r := range value {
			if i >= len(raw) || raw[i] != r {
				return fallback
			}
			emit(string(r), i+1)
			i++
		}
		end = i + 1
	case yaml.SingleQuotedStyle:
		if raw[i] != '\'' {
			return fallback
		}
		for i++; ; i++ {
			if i >= len(raw) {
				return fallback // continues on the next line
			}
			if raw[i] == '\'' {
				if i+1 < len(raw) && raw[i+1] == '\'' {
					emit("'", i+1)
					i++
					continue
				}
				break
			}
			emit(string(raw[i]), i+1)
		}
		end = i + 1
	case yaml.DoubleQuotedStyle:
		if raw[i] != '"' {
			return fallback
		}
		for i++; ; i++ {
			if i >= len(raw) {
				return fallback
			}
			if raw[i] == '"' {
				break
			}
			if raw[i] != '\\' {
				emit(string(raw[i]), i+1)
				continue
			}
			s, n := unescapeYAML(raw[i+1:])
			if n == 0 {
				return fallback
			}
			emit(s, i+1)
			i += n
		}
		end = i + 1
	default:
		return fallback
	}
	if dec.String() != value {
		return fallback
	}
	line := n.Line
	return func(off int) Pos {
		if off >= 0 && off < len(cols) {
			return Pos{line, cols[off]}
		}
		return Pos{line, end}
	}
}

// unescapeYAML decodes the YAML double-quoted escape after a backslash; it
// returns the decoded text and the number of runes consumed (0 = unknown).
func unescapeYAML(r []rune) (string, int) {
	if len(r) == 0 {
		return "", 0
	}
	simple := map[rune]string{
		'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v",
		'f': "\f", 'r': "\r", 'e': "\x1b", ' ': " ", '"': "\"", '/': "/", '\\': "\\",
		'N': "\u0085", '_': "\u00a0", 'L': "\u2028", 'P': "\u2029",
	}
	if s, ok := simple[r[0]]; ok {
		return s, 1
	}
	width := map[rune]int{'x': 2, 'u': 4, 'U': 8}[r[0]]
	if width == 0 || len(r) < 1+width {
		return "", 0
	}
	var c rune
	for _, h := range r[1 : 1+width] {
		var d rune
		switch {
		case h >= '0' && h <= '9':
			d = h - '0'
		case h >= 'a' && h <= 'f':
			d = h - 'a' + 10
		case h >= 'A' && h <= 'F':
			d = h - 'A' + 10
		default:
			return "", 0
		}
		c = c*16 + d
	}
	if !utf8.ValidRune(c) {
		return "", 0
	}
	return string(c), 1 + width
}
