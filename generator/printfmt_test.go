package generator_test

// Every generated TRACE_EVENT must be readable by the standard tracing
// tools: trace-cmd and perf decode events with libtraceevent, which parses
// the "print fmt:" line of each event's tracefs format file. An event whose
// format it cannot parse prints as "[FAILED TO PARSE]" with raw fields.
//
// The kernel writes that line from TP_printk(fmt, args) as
//
//	print fmt: "<fmt as the C compiler sees it>", <args, stringified, __entry -> REC>
//
// (include/trace/stages/stage7_class_define.h), so whatever C escapes the
// template uses, the format file holds the bare characters: a double quote
// inside fmt ends libtraceevent's string there.
//
// checkPrintFmt below is a port of the parts of libtraceevent's
// src/event-parse.c that read that line (__read_token, event_read_print,
// event_read_print_args, process_arg_token, process_op, process_entry,
// process_paren, process_function and the helpers it names),
// stricter where the library is lenient: it also demands that every
// conversion has an argument of a kind libtraceevent prints with it (%s gets
// a string, an array or __get_str; numbers get fields or expressions), that
// every field of the event is printed, and that fmt is printable ASCII
// without double quotes or backslashes.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"kgen/generator"
	"kgen/spec"
)

// ---- libtraceevent's tokenizer ------------------------------------------

// tokType numbers match libtraceevent's enum tep_event_type, so messages
// read like its own ("expected type 5 (DELIM) but read 4 (OP)").
type tokType int

const (
	tError tokType = iota
	tNone
	tSpace
	tNewline
	tOp
	tDelim
	tItem
	tDQuote
	tSQuote
)

var tokNames = [...]string{"ERROR", "NONE", "SPACE", "NEWLINE", "OP", "DELIM", "ITEM", "DQUOTE", "SQUOTE"}

func (t tokType) String() string { return fmt.Sprintf("%d (%s)", int(t), tokNames[t]) }

func isSpace(c int) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
func isAlnum(c int) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
func isPrint(c int) bool { return c >= 0x20 && c < 0x7f }

func charType(c int) tokType {
	switch {
	case c == '\n':
		return tNewline
	case isSpace(c):
		return tSpace
	case isAlnum(c) || c == '_':
		return tItem
	case c == '\'':
		return tSQuote
	case c == '"':
		return tDQuote
	case !isPrint(c):
		return tNone
	case c == '(' || c == ')' || c == ',':
		return tDelim
	}
	return tOp
}

type tepParser struct {
	in  string
	pos int
}

func (p *tepParser) read() int {
	if p.pos >= len(p.in) {
		return -1
	}
	c := p.in[p.pos]
	p.pos++
	return int(c)
}

func (p *tepParser) peek() int {
	if p.pos >= len(p.in) {
		return -1
	}
	return int(p.in[p.pos])
}

// rawToken is __read_token.
func (p *tepParser) rawToken() (tokType, string) {
	ch := p.read()
	if ch < 0 {
		return tNone, ""
	}
	typ := charType(ch)
	if typ == tNone {
		return tNone, ""
	}
	buf := []byte{byte(ch)}
	switch typ {
	case tNewline, tDelim:
		return typ, string(buf)
	case tOp:
		testEqual := false
		switch ch {
		case '-', '+', '|', '&', '>', '<':
			if ch == '-' && p.peek() == '>' {
				return typ, string(append(buf, byte(p.read())))
			}
			if p.peek() != ch {
				testEqual = true
				break
			}
			buf = append(buf, byte(p.read()))
			testEqual = ch == '>' || ch == '<'
		case '!', '=':
			testEqual = true
		}
		if testEqual && p.peek() == '=' {
			buf = append(buf, byte(p.read()))
		}
		return typ, string(buf)
	case tDQuote, tSQuote:
		quote := ch
		buf = buf[:0]
		for {
			for {
				last := ch
				ch = p.read()
				if ch < 0 {
					return tNone, ""
				}
				buf = append(buf, byte(ch))
				// "the '\' '\' will cancel itself" (for this
				// character only, as in the library)
				if ch == '\\' && last == '\\' {
					last = 0
				}
				if ch == quote && last != '\\' {
					break
				}
			}
			buf = buf[:len(buf)-1] // the closing quote
			if typ != tDQuote {
				break
			}
			// Adjacent double-quoted strings are concatenated.
			save := p.pos
			for isSpace(p.peek()) {
				p.read()
			}
			if p.peek() != '"' {
				p.pos = save
				break
			}
			ch = p.read()
		}
		return typ, string(buf)
	}
	for charType(p.peek()) == typ {
		buf = append(buf, byte(p.read()))
	}
	return typ, string(buf)
}

// token is tep_read_token: spaces skipped, newlines kept.
func (p *tepParser) token() (tokType, string) {
	for {
		t, s := p.rawToken()
		if t != tSpace {
			return t, s
		}
	}
}

// item is read_token_item: spaces and newlines skipped.
func (p *tepParser) item() (tokType, string) {
	for {
		t, s := p.rawToken()
		if t != tSpace && t != tNewline {
			return t, s
		}
	}
}

func expect(t tokType, tok string, want tokType, wantTok string) error {
	if t != want {
		return fmt.Errorf("expected type %v but read %v at %q", want, t, tok)
	}
	if wantTok != "" && tok != wantTok {
		return fmt.Errorf("expected '%s' but read '%s'", wantTok, tok)
	}
	return nil
}

// ---- what the print arguments are ---------------------------------------

type argKind int

const (
	argAtom     argKind = iota // a number or name
	argField                   // REC->x
	argOp                      // an expression
	argType                    // (type)x
	argString                  // __get_str(x)
	argDynArray                // __get_dynamic_array(x)
	argDynLen                  // __get_dynamic_array_len(x)
	argIntArray                // __print_array(a, n, size)
	argHex                     // __print_hex(a, n) and __print_hex_str
	argBitmask                 // __get_bitmask(x), __get_cpumask(x)
)

type printArg struct {
	kind  argKind
	name  string // field name (argField, argString, argDynArray, argBitmask)
	inner *printArg
}

type fieldKind int

const (
	fieldScalar fieldKind = iota
	fieldCharArray
	fieldArray
	fieldString   // __string
	fieldDynArray // __dynamic_array
)

type eventFormat struct {
	name   string
	fields map[string]fieldKind
	order  []string
	fmt    string // the format string as the format file holds it
	args   string // the stringified args
}

// line is the event's "print fmt:" line as the kernel writes it.
func (e eventFormat) line() string {
	l := `print fmt: "` + e.fmt + `"`
	if e.args != "" {
		l += ", " + e.args
	}
	return l
}

type argParser struct {
	tepParser
	ev   eventFormat
	used map[string]bool
}

func (p *argParser) field(name string) error {
	if _, ok := p.ev.fields[name]; !ok {
		return fmt.Errorf("field %s not found", name)
	}
	p.used[name] = true
	return nil
}

// processArg is process_arg: read a token, then process_arg_token.
func (p *argParser) processArg() (*printArg, tokType, string, error) {
	t, tok := p.token()
	return p.processArgToken(t, tok)
}

func (p *argParser) processArgToken(t tokType, tok string) (*printArg, tokType, string, error) {
	switch t {
	case tItem:
		if tok == "REC" {
			return p.processEntry()
		}
		atom := tok
		t, tok = p.item()
		if t == tDelim && tok == "(" {
			return p.processFunction(atom)
		}
		for t == tItem {
			atom += " " + tok
			t, tok = p.item()
		}
		return &printArg{kind: argAtom, name: atom}, t, tok, nil
	case tSQuote, tDQuote:
		t, tok = p.item()
		return &printArg{kind: argAtom}, t, tok, nil
	case tDelim:
		if tok == "(" {
			return p.processParen()
		}
		fallthrough
	case tOp:
		// a unary operator
		if tok != "~" && tok != "!" && tok != "+" && tok != "-" {
			return nil, tError, "", fmt.Errorf("bad op token %s", tok)
		}
		inner, t, tok, err := p.processArg()
		if err != nil {
			return nil, tError, "", err
		}
		a := &printArg{kind: argOp, inner: inner}
		return p.moreOps(a, t, tok)
	}
	return nil, tError, "", fmt.Errorf("unexpected type %v", t)
}

var binaryOps = map[string]bool{">>": true, "<<": true, "&": true, "|": true, "&&": true, "||": true,
	"-": true, "+": true, "*": true, "^": true, "/": true, "%": true, "<": true, ">": true,
	"<=": true, ">=": true, "==": true, "!=": true}

// moreOps continues an expression while the next token is an operator
// (process_op's tail), returning the next token after it.
func (p *argParser) moreOps(a *printArg, t tokType, tok string) (*printArg, tokType, string, error) {
	for t == tOp && tok != ":" {
		var err error
		a, t, tok, err = p.processOp(a, tok)
		if err != nil {
			return nil, tError, "", err
		}
	}
	return a, t, tok, nil
}

// processOp is process_op for a binary operator, ?: and [].
func (p *argParser) processOp(left *printArg, op string) (*printArg, tokType, string, error) {
	a := &printArg{kind: argOp, inner: left}
	switch {
	case op == "?":
		_, t, tok, err := p.processArg()
		if err != nil {
			return nil, tError, "", err
		}
		for t == tOp && tok != ":" {
			if _, t, tok, err = p.processOp(a, tok); err != nil {
				return nil, tError, "", err
			}
		}
		if err := expect(t, tok, tOp, ":"); err != nil {
			return nil, tError, "", err
		}
		_, t, tok, err = p.processArg()
		return a, t, tok, err
	case binaryOps[op]:
		t, tok := p.item()
		if op == "*" && t == tDelim && tok == ")" {
			if left.kind != argAtom {
				return nil, tError, "", errors.New("bad pointer type")
			}
			return left, t, tok, nil
		}
		if _, t, tok, err := p.processArgToken(t, tok); err != nil {
			return nil, tError, "", err
		} else {
			return a, t, tok, nil
		}
	case op == "[":
		_, t, tok, err := p.processArg()
		if err != nil {
			return nil, tError, "", err
		}
		if err := expect(t, tok, tOp, "]"); err != nil {
			return nil, tError, "", err
		}
		t, tok = p.item()
		return a, t, tok, nil
	}
	return nil, tError, "", fmt.Errorf("unknown op '%s'", op)
}

// processEntry is process_entry: REC->field.
func (p *argParser) processEntry() (*printArg, tokType, string, error) {
	t, tok := p.item()
	if t == tDelim && tok == ")" {
		return nil, tItem, tok, nil // "(REC)->": the caller continues
	}
	if err := expect(t, tok, tOp, "->"); err != nil {
		return nil, tError, "", err
	}
	t, tok = p.token()
	if err := expect(t, tok, tItem, ""); err != nil {
		return nil, tError, "", err
	}
	if err := p.field(tok); err != nil {
		return nil, tError, "", err
	}
	a := &printArg{kind: argField, name: tok}
	t, tok = p.token()
	return a, t, tok, nil
}

// processParen is process_paren: (expr) or a typecast.
func (p *argParser) processParen() (*printArg, tokType, string, error) {
	a, t, tok, err := p.processArg()
	if err != nil {
		return nil, tError, "", err
	}
	if t == tOp {
		if a, t, tok, err = p.moreOps(a, t, tok); err != nil {
			return nil, tError, "", err
		}
	}
	if t == tItem && tok == ")" {
		return p.processEntry()
	}
	if err := expect(t, tok, tDelim, ")"); err != nil {
		return nil, tError, "", err
	}
	t, tok = p.item()
	if t == tItem || t == tDQuote || t == tSQuote || (t == tDelim && tok == "(") {
		if a.kind != argAtom {
			return nil, tError, "", errors.New("previous needed to be TEP_PRINT_ATOM")
		}
		inner, t, tok, err := p.processArgToken(t, tok)
		if err != nil {
			return nil, tError, "", err
		}
		return &printArg{kind: argType, name: a.name, inner: inner}, t, tok, nil
	}
	return a, t, tok, nil
}

// delimArg is alloc_and_process_delim: one argument of a helper, ended by
// next.
func (p *argParser) delimArg(next string) (*printArg, error) {
	a, t, tok, err := p.processArg()
	if err != nil {
		return nil, err
	}
	if t == tOp {
		if a, t, tok, err = p.moreOps(a, t, tok); err != nil {
			return nil, err
		}
	}
	return a, expect(t, tok, tDelim, next)
}

// fieldCall reads "name)" of __get_str(name) and its kin.
func (p *argParser) fieldCall(kind argKind, dyn bool) (*printArg, tokType, string, error) {
	t, tok := p.token()
	if err := expect(t, tok, tItem, ""); err != nil {
		return nil, tError, "", err
	}
	if err := p.field(tok); err != nil {
		return nil, tError, "", err
	}
	a := &printArg{kind: kind, name: tok}
	t, tok = p.token()
	if err := expect(t, tok, tDelim, ")"); err != nil {
		return nil, tError, "", err
	}
	if !dyn {
		t, tok = p.token()
		return a, t, tok, nil
	}
	t, tok = p.item()
	if t == tOp && tok == "[" {
		if _, t, tok, err := p.processArg(); err != nil {
			return nil, tError, "", err
		} else if err := expect(t, tok, tOp, "]"); err != nil {
			return nil, tError, "", err
		}
		t, tok = p.item()
		a = &printArg{kind: argOp, inner: a}
	}
	return a, t, tok, nil
}

// processFunction is process_function: the helpers libtraceevent knows.
// __print_flags and __print_symbolic are not ported: a template that wants
// them extends this checker first.
func (p *argParser) processFunction(name string) (*printArg, tokType, string, error) {
	var a *printArg
	switch name {
	case "__print_array":
		a = &printArg{kind: argIntArray}
		for _, next := range []string{",", ",", ")"} {
			x, err := p.delimArg(next)
			if err != nil {
				return nil, tError, "", fmt.Errorf("%s: %w", name, err)
			}
			if a.inner == nil {
				a.inner = x
			}
		}
	case "__print_hex", "__print_hex_str":
		a = &printArg{kind: argHex}
		for _, next := range []string{",", ")"} {
			if _, err := p.delimArg(next); err != nil {
				return nil, tError, "", fmt.Errorf("%s: %w", name, err)
			}
		}
	case "__get_str", "__get_rel_str":
		return p.fieldCall(argString, false)
	case "__get_bitmask", "__get_rel_bitmask", "__get_cpumask", "__get_rel_cpumask":
		return p.fieldCall(argBitmask, false)
	case "__get_dynamic_array", "__get_rel_dynamic_array":
		return p.fieldCall(argDynArray, true)
	case "__get_dynamic_array_len", "__get_rel_dynamic_array_len":
		return p.fieldCall(argDynLen, false)
	case "sizeof":
		// libtraceevent learnt sizeof in 1.6; perf 6.1 (Debian
		// bookworm's) parses with the kernel tree's older copy, which
		// fails the whole event on it.
		return nil, tError, "", errors.New("function sizeof not defined (in perf 6.1's libtraceevent): write __SIZEOF_LONG__, which the format file shows as a number")
	default:
		return nil, tError, "", fmt.Errorf("function %s not defined", name)
	}
	t, tok := p.item()
	return a, t, tok, nil
}

// parsePrint is event_read_print and event_read_print_args.
func (p *argParser) parsePrint() (string, []*printArg, error) {
	for _, w := range []struct {
		t   tokType
		tok string
	}{{tItem, "print"}, {tItem, "fmt"}, {tOp, ":"}} {
		t, tok := p.token()
		if err := expect(t, tok, w.t, w.tok); err != nil {
			return "", nil, err
		}
	}
	t, format := p.token()
	if err := expect(t, format, tDQuote, ""); err != nil {
		return "", nil, err
	}
	t, tok := p.item()
	if t == tNone {
		return format, nil, nil
	}
	if err := expect(t, tok, tDelim, ","); err != nil {
		return "", nil, err
	}
	var args []*printArg
	for {
		a, t, tok, err := p.processArg()
		if err != nil {
			return "", nil, err
		}
		if t == tOp {
			if a, t, tok, err = p.moreOps(a, t, tok); err != nil {
				return "", nil, err
			}
		}
		args = append(args, a)
		if t == tDelim && tok == "," {
			continue
		}
		// libtraceevent stops quietly at anything else; the end is the
		// only thing a kgen format may have there.
		if t != tNone {
			return "", nil, fmt.Errorf("junk after argument %d: %v %q", len(args), t, tok)
		}
		return format, args, nil
	}
}

// ---- conversions --------------------------------------------------------

// convRE is one printf conversion as libtraceevent's pretty_print reads
// it: flags, width, precision, length, and the conversion (%p with its
// extension letters).
var convRE = regexp.MustCompile(`^%([-+ #0]*)([0-9]*|\*)(\.[0-9]+)?(hh|h|ll|l|L|z|Z)?([diuxXoscp])`)

// checkPrintFmt parses e's print fmt line as libtraceevent would and checks
// each conversion against its argument.
func checkPrintFmt(e eventFormat) error {
	p := &argParser{tepParser: tepParser{in: e.line()}, ev: e, used: map[string]bool{}}
	format, args, err := p.parsePrint()
	if err != nil {
		return fmt.Errorf("libtraceevent cannot parse %q: %w", e.line(), err)
	}
	for i := 0; i < len(e.fmt); i++ {
		if c := e.fmt[i]; !isPrint(int(c)) || c == '"' || c == '\\' {
			return fmt.Errorf("format has %q at %d: only printable ASCII without \" or \\ survives the format file", c, i)
		}
	}
	if format != e.fmt {
		return fmt.Errorf("libtraceevent reads the format as %q, not %q", format, e.fmt)
	}
	n := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if strings.HasPrefix(format[i:], "%%") {
			i++
			continue
		}
		m := convRE.FindStringSubmatch(format[i:])
		if m == nil {
			return fmt.Errorf("format %q: conversion at %d not understood", format, i)
		}
		i += len(m[0]) - 1
		if m[2] == "*" {
			return fmt.Errorf("format %q: * width not used by kgen", format)
		}
		if n >= len(args) {
			return fmt.Errorf("format %q: conversion %s has no argument", format, m[0])
		}
		a := args[n]
		n++
		for a.kind == argType {
			a = a.inner
		}
		if m[5] == "s" {
			ok := a.kind == argString || a.kind == argIntArray || a.kind == argHex || a.kind == argBitmask ||
				(a.kind == argField && e.fields[a.name] == fieldCharArray)
			if !ok {
				return fmt.Errorf("format %q: %s gets argument %d, which is not a string", format, m[0], n)
			}
			continue
		}
		if a.kind == argString || a.kind == argIntArray || a.kind == argHex || a.kind == argBitmask || a.kind == argDynArray ||
			(a.kind == argField && e.fields[a.name] != fieldScalar) {
			return fmt.Errorf("format %q: %s gets argument %d, which is not a number", format, m[0], n)
		}
	}
	if n != len(args) {
		return fmt.Errorf("format %q: %d conversions, %d arguments", format, n, len(args))
	}
	for _, f := range e.order {
		if !p.used[f] {
			return fmt.Errorf("field %s is never printed: trace-cmd report would not show it", f)
		}
	}
	return nil
}

// ---- reading generated headers ------------------------------------------

// balanced returns the text inside the parenthesis opening at s[open],
// skipping string and character literals.
func balanced(s string, open int) (string, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '"', '\'':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[open+1 : i], nil
			}
		}
	}
	return "", errors.New("unbalanced parentheses")
}

// splitTop splits s at the commas outside parentheses and literals.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\'':
			q := s[i]
			for i++; i < len(s) && s[i] != q; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// cString evaluates a sequence of C string literals as the compiler does.
func cString(s string) (string, error) {
	var b strings.Builder
	s = strings.TrimSpace(s)
	for s != "" {
		if s[0] != '"' {
			return "", fmt.Errorf("not a string literal: %q", s)
		}
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' {
				b.WriteByte(s[i])
				continue
			}
			i++
			if i == len(s) {
				return "", errors.New("unterminated escape")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '\'':
				b.WriteByte(s[i])
			default:
				return "", fmt.Errorf("escape \\%c not handled", s[i])
			}
		}
		if i == len(s) {
			return "", errors.New("unterminated string literal")
		}
		s = strings.TrimSpace(s[i+1:])
	}
	return b.String(), nil
}

var (
	traceEventRE = regexp.MustCompile(`(?m)^TRACE_EVENT\(`)
	entryRE      = regexp.MustCompile(`__(field|array|string|dynamic_array)\(`)
	entryWordRE  = regexp.MustCompile(`\b__entry\b`)
	spacesRE     = regexp.MustCompile(`\s+`)
)

// traceEvents reads the TRACE_EVENTs of a generated trace header into what
// their format files will say.
func traceEvents(src string) ([]eventFormat, error) {
	var evs []eventFormat
	for _, loc := range traceEventRE.FindAllStringIndex(src, -1) {
		body, err := balanced(src, loc[1]-1)
		if err != nil {
			return nil, err
		}
		parts := splitTop(body)
		e := eventFormat{name: parts[0], fields: map[string]fieldKind{}}
		for _, part := range parts[1:] {
			macro, rest, ok := strings.Cut(part, "(")
			if !ok {
				continue
			}
			inner, err := balanced(part, len(macro))
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", e.name, macro, err)
			}
			_ = rest
			switch strings.TrimSpace(macro) {
			case "TP_STRUCT__entry":
				for _, m := range entryRE.FindAllStringIndex(inner, -1) {
					a, err := balanced(inner, m[1]-1)
					if err != nil {
						return nil, err
					}
					f := splitTop(a)
					kind, name := fieldScalar, ""
					switch inner[m[0]+2 : m[1]-1] {
					case "field":
						name = f[1]
					case "array":
						name, kind = f[1], fieldArray
						if f[0] == "char" {
							kind = fieldCharArray
						}
					case "string":
						name, kind = f[0], fieldString
					case "dynamic_array":
						name, kind = f[1], fieldDynArray
					}
					e.fields[name] = kind
					e.order = append(e.order, name)
				}
			case "TP_printk":
				args := splitTop(inner)
				if e.fmt, err = cString(args[0]); err != nil {
					return nil, fmt.Errorf("%s: TP_printk format: %w", e.name, err)
				}
				rest := strings.Join(args[1:], ", ")
				// __stringify expands macros: what x86-64 shows.
				rest = entryWordRE.ReplaceAllString(rest, "REC")
				rest = strings.ReplaceAll(rest, "__SIZEOF_LONG__", "8")
				e.args = strings.TrimSpace(spacesRE.ReplaceAllString(rest, " "))
			}
		}
		if len(e.order) == 0 || e.fmt == "" {
			return nil, fmt.Errorf("%s: no TP_STRUCT__entry or TP_printk found", e.name)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// allTypesSpec has a field of every type a spec may name, a stack and the
// latency, so every conversion the kretprobe template can emit is checked.
func allTypesSpec(t *testing.T) spec.Spec {
	t.Helper()
	names := make([]string, 0, len(spec.Types))
	for n := range spec.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("apiVersion: kgen/v1\nkind: kretprobe\nname: alltypes\nprobes:\n")
	for i := 0; i < len(names); i += spec.MaxArgs - 1 {
		fmt.Fprintf(&b, "  - function: f%d\n    latency: true\n    stack: true\n    args:\n", i)
		end := min(i+spec.MaxArgs-1, len(names))
		for j, n := range names[i:end] {
			fmt.Fprintf(&b, "      - {name: a%d, index: %d, type: %s}\n", j, j, n)
		}
		fmt.Fprintf(&b, "    retval: {name: r, type: %s}\n", names[end-1])
	}
	s, err := spec.Parse("alltypes.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("all-types spec: %v\n%s", err, b.String())
	}
	return s
}

// TestPrintFormats checks every TRACE_EVENT that kgen generates, from every
// example, test spec and golden tree, with libtraceevent's rules.
func TestPrintFormats(t *testing.T) {
	headers := map[string]string{}
	add := func(name string, tree generator.Tree) {
		for _, n := range tree.Names() {
			if strings.HasSuffix(n, "_trace.h") {
				headers[name+"/"+n] = string(tree[n])
			}
		}
	}
	e2e, _ := filepath.Glob("../e2e/testdata/*.yaml")
	for _, path := range append(specs(t), e2e...) {
		add(path, generate(t, path))
	}
	tree := generator.Tree{}
	if err := generator.Generate(allTypesSpec(t), generator.Options{SpecFile: "alltypes.yaml"}, tree); err != nil {
		t.Fatal(err)
	}
	add("alltypes", tree)
	golden, _ := filepath.Glob("testdata/golden/*/*_trace.h")
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		headers[g] = string(b)
	}
	kinds := map[string]bool{}
	for name, src := range headers {
		evs, err := traceEvents(src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(evs) == 0 && !strings.Contains(name, "leakcheck") {
			// a payload with a leak check only has no events
			t.Errorf("%s: no TRACE_EVENT found", name)
		}
		for _, e := range evs {
			if err := checkPrintFmt(e); err != nil {
				t.Errorf("%s: event %s: %v", name, e.name, err)
			}
			kinds[e.name[strings.LastIndex(e.name, "_")+1:]] = true
		}
	}
	if len(headers) < 8 || !kinds["trigger"] {
		t.Errorf("checked %d headers (events ending in %v): the spec globs found too little", len(headers), kinds)
	}
}

// TestPrintFormatRejects shows the checker fails what libtraceevent fails,
// starting with the comm=\"%s\" kgen generated before.
func TestPrintFormatRejects(t *testing.T) {
	krp := `TRACE_EVENT(m_vfs_read,
	TP_PROTO(const struct m_vfs_read_event *ev),
	TP_ARGS(ev),
	TP_STRUCT__entry(
		__field(int, pid)
		__array(char, comm, TASK_COMM_LEN)
		__field(u64, count)
		__field(unsigned int, nr_stack)
		__array(unsigned long, stack, M_STACK_DEPTH)
	),
	TP_fast_assign(
		__entry->pid = current->tgid;
	),
	TP_printk(@FMT@,
		  @ARGS@)
);
`
	good := `"pid=%d comm='%s' count=%llu stack=%s"`
	goodArgs := `__entry->pid, __entry->comm, __entry->count,
		  __print_array(__entry->stack, __entry->nr_stack, __SIZEOF_LONG__)`
	tests := []struct {
		name, fmt, args, want string
	}{
		{"today's format", good, goodArgs, ""},
		{"the old comm=\\\"%s\\\"", `"pid=%d comm=\"%s\" count=%llu stack=%s"`, goodArgs,
			"expected type 5 (DELIM) but read 4 (OP)"},
		{"a backslash", `"pid=%d comm=%s\\ count=%llu stack=%s"`, goodArgs, `only printable ASCII`},
		{"a newline", `"pid=%d comm=%s count=%llu stack=%s\n"`, goodArgs, `only printable ASCII`},
		{"unknown helper", good, `__entry->pid, __entry->comm, __entry->count, __print_stack(__entry->stack)`,
			"function __print_stack not defined"},
		{"field missing", good, `__entry->pid, __entry->comm, __entry->cnt, __print_array(__entry->stack, __entry->nr_stack, 8)`,
			"field cnt not found"},
		{"one argument short", good, `__entry->pid, __entry->comm, __entry->count`, "has no argument"},
		{"one argument too many", good, goodArgs + `, __entry->pid`, "4 conversions, 5 arguments"},
		{"number as a string", `"pid=%s comm='%s' count=%llu stack=%s"`, goodArgs, "not a string"},
		{"string as a number", `"pid=%d comm=%d count=%llu stack=%s"`, goodArgs, "not a number"},
		{"a field never printed", `"pid=%d comm='%s' stack=%s"`,
			`__entry->pid, __entry->comm, __print_array(__entry->stack, __entry->nr_stack, 8)`,
			"field count is never printed"},
		{"sizeof, which perf 6.1 cannot parse", good,
			`__entry->pid, __entry->comm, __entry->count, __print_array(__entry->stack, __entry->nr_stack, sizeof(unsigned long))`,
			"function sizeof not defined"},
		{"expressions and casts", `"pid=%d comm='%s' count=%llu stack=%s"`,
			`(int)__entry->pid, __entry->comm, __entry->count > 4096 ? 1 : -__entry->count,
			 __print_array(__entry->stack, __entry->nr_stack * 1, 8)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(strings.Replace(krp, "@FMT@", tt.fmt, 1), "@ARGS@", tt.args, 1)
			evs, err := traceEvents(src)
			if err != nil || len(evs) != 1 {
				t.Fatalf("traceEvents: %v, %d events", err, len(evs))
			}
			err = checkPrintFmt(evs[0])
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("accepted %q", evs[0].line())
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestPrintFmtKernelFormats runs the parser over print fmt lines copied from
// a 6.1 kernel's format files, which libtraceevent reads: a port stricter
// than the library in the wrong place would reject them.
func TestPrintFmtKernelFormats(t *testing.T) {
	for _, e := range []eventFormat{
		{name: "sched_process_exec", fields: map[string]fieldKind{"filename": fieldString, "pid": fieldScalar, "old_pid": fieldScalar},
			order: []string{"filename", "pid", "old_pid"},
			fmt:   "filename=%s pid=%d old_pid=%d", args: "__get_str(filename), REC->pid, REC->old_pid"},
		{name: "sched_wakeup", fields: map[string]fieldKind{"comm": fieldCharArray, "pid": fieldScalar, "prio": fieldScalar, "target_cpu": fieldScalar},
			order: []string{"comm", "pid", "prio", "target_cpu"},
			fmt:   "comm=%s pid=%d prio=%d target_cpu=%03d", args: "REC->comm, REC->pid, REC->prio, REC->target_cpu"},
		{name: "mm_page_alloc_zone_locked", fields: map[string]fieldKind{"pfn": fieldScalar, "order": fieldScalar, "migratetype": fieldScalar},
			order: []string{"pfn", "order", "migratetype"},
			fmt:   "page=%p pfn=0x%lx order=%u migratetype=%d percpu_refill=%d",
			args:  "REC->pfn != -1UL ? (((struct page *)vmemmap_base) + (REC->pfn)) : ((void *)0), REC->pfn != -1UL ? REC->pfn : 0, REC->order, REC->migratetype, REC->order == 0"},
	} {
		if err := checkPrintFmt(e); err != nil {
			t.Errorf("%s: %v", e.name, err)
		}
	}
}
