// Package kedrconf reads KEDR's load configurations and runs them: kgen
// load -c FILE and kgen unload -c FILE.
//
// The format is KEDR's, unchanged: one directive a line, a keyword and
// its argument,
//
//	on_load CMD                  run CMD with /bin/sh -c when loading
//	on_unload CMD                run CMD with /bin/sh -c when unloading
//	module NAME|PATH [params]    an installed module (as modprobe) or a file
//	payload PATH [params]        a kgen module (as kgen load PATH params)
//
// and comments (# to the end of a line that starts with it), blank lines
// and leading whitespace. Loading runs the lines in order and, when one
// fails, undoes the ones before it in reverse (the on_unload lines met so
// far run then). Unloading runs the lines in reverse.
package kedrconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"kgen/loader"
)

// Kind is a line's directive.
type Kind string

const (
	OnLoad   Kind = "on_load"
	OnUnload Kind = "on_unload"
	Module   Kind = "module"
	Payload  Kind = "payload"
)

// Line is one directive of a configuration.
type Line struct {
	N      int      // line number, from 1
	Text   string   // the line as written, without surrounding whitespace
	Kind   Kind     // its directive
	Arg    string   // the command (on_load, on_unload) or the module's name or path
	Params []string // a module's or payload's parameters, name=value, quotes removed
}

// Config is a parsed configuration file.
type Config struct {
	File  string
	Lines []Line // directives only, in file order
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("syntax error")

// LineError is an error about one line of a configuration: a syntax
// error, or the failure of running it.
type LineError struct {
	File string
	Line Line
	Err  error
}

func (e *LineError) Error() string {
	if e.Line.Text == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line.N, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line.N, e.Line.Text, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// maxLine bounds a line (KEDR's own limit is far lower).
const maxLine = 64 << 10

// ParseFile reads and parses the configuration at path.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse parses a configuration; file names it in errors.
func Parse(file string, r io.Reader) (*Config, error) {
	c := &Config{File: file}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		l, ok, err := parseLine(n, sc.Text())
		if err != nil {
			return nil, &LineError{File: file, Line: l, Err: err}
		}
		if ok {
			c.Lines = append(c.Lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{File: file, Line: Line{N: n + 1}, Err: fmt.Errorf("%w: line longer than %d bytes", ErrSyntax, maxLine)}
		}
		return nil, fmt.Errorf("read configuration %s: %w", file, err)
	}
	return c, nil
}

// parseLine parses line n; ok is false for a blank line or a comment.
func parseLine(n int, raw string) (Line, bool, error) {
	text := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
	l := Line{N: n, Text: text}
	if text == "" || text[0] == '#' {
		return l, false, nil
	}
	if strings.IndexByte(text, 0) >= 0 {
		return l, false, fmt.Errorf("%w: NUL byte in the line", ErrSyntax)
	}
	kw, rest, _ := strings.Cut(text, " ")
	if i := strings.IndexAny(kw, "\t\v\f\r"); i >= 0 { // "module\tNAME"
		kw, rest = text[:i], text[i+1:]
	}
	rest = strings.TrimSpace(rest)
	l.Kind = Kind(kw)
	switch l.Kind {
	case OnLoad, OnUnload:
		if rest == "" {
			return l, false, fmt.Errorf("%w: %s needs a shell command", ErrSyntax, kw)
		}
		l.Arg = rest
	case Module, Payload:
		words, err := splitWords(rest)
		if err != nil {
			return l, false, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		if len(words) == 0 || words[0] == "" {
			what := "a module name or path"
			if l.Kind == Payload {
				what = "a module path"
			}
			return l, false, fmt.Errorf("%w: %s needs %s", ErrSyntax, kw, what)
		}
		l.Arg, l.Params = words[0], words[1:]
		if _, err := loader.FormatParams(l.Params); err != nil {
			return l, false, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
	default:
		return l, false, fmt.Errorf("%w: unknown directive %q: want on_load, on_unload, module or payload", ErrSyntax, kw)
	}
	return l, true, nil
}

// splitWords splits a module line's argument as insmod's command line
// would be split by a shell: at whitespace, with "double" or 'single'
// quotes grouping (and removed), so that name="a b" is one parameter.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
