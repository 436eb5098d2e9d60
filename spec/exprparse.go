package spec

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the filter-expression language.
const (
	MaxExprLen   = 1024 // bytes of source
	MaxExprDepth = 64   // nesting of AST nodes
	maxNesting   = 256  // parentheses and unary operators, guards the parser's stack
)

// ParseExpr parses a filter expression. Positions are relative to src
// (line 1, column 1 = its first character). Grammar, with C precedence
// from lowest to highest: || ; && ; == != ; < <= > >= ; + - ; * / % ;
// unary ! - ; operands are identifiers, decimal or 0x-hex integer literals
// that fit in s64, and parenthesised expressions. Binary and Unary nodes
// are positioned at their operator. Errors are *ExprError.
func ParseExpr(src string) (Expr, error) {
	e, err := parseExpr(src, relativeMapper(src), MaxExprLen)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// relativeMapper maps byte offsets of src to 1-based line:col (in runes).
func relativeMapper(src string) func(int) Pos {
	return func(off int) Pos {
		if off > len(src) {
			off = len(src)
		}
		p := Pos{1, 1}
		for _, r := range src[:off] {
			if r == '\n' {
				p.Line++
				p.Col = 1
			} else {
				p.Col++
			}
		}
		return p
	}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tOp
)

type token struct {
	kind tokKind
	text string
	off  int
	val  int64
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tInt:
		return "integer " + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

type exprParser struct {
	src  string
	toks []token
	i    int
	at   func(int) Pos
	nest int
	err  *ExprError // the first error; parsing stops there
}

func parseExpr(src string, at func(int) Pos, maxLen int) (Expr, *ExprError) {
	if maxLen > 0 && len(src) > maxLen {
		return nil, &ExprError{at(maxLen), fmt.Sprintf("expression is %d bytes long; at most %d", len(src), maxLen)}
	}
	p := &exprParser{src: src, at: at}
	if p.lex(); p.err != nil {
		return nil, p.err
	}
	if p.toks[0].kind == tEOF {
		p.fail(0, "empty expression; write a condition such as \"ret < 0\"")
		return nil, p.err
	}
	e := p.binary(1)
	if p.err != nil {
		return nil, p.err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.text == ")" {
			p.fail(t.off, "unmatched ')'")
		}
		p.fail(t.off, "unexpected %s after a complete expression; expected an operator", t)
		return nil, p.err
	}
	if n := deepNode(e, 1); n != nil {
		return nil, &ExprError{n.Position(), fmt.Sprintf("expression nests deeper than %d levels; simplify it", MaxExprDepth)}
	}
	return e, nil
}

// deepNode returns a node deeper than MaxExprDepth, or nil.
func deepNode(e Expr, d int) Expr {
	if d > MaxExprDepth {
		return e
	}
	switch x := e.(type) {
	case *Unary:
		return deepNode(x.X, d+1)
	case *Binary:
		if n := deepNode(x.X, d+1); n != nil {
			return n
		}
		return deepNode(x.Y, d+1)
	}
	return nil
}

func (p *exprParser) fail(off int, format string, args ...any) {
	if p.err == nil {
		p.err = &ExprError{p.at(off), fmt.Sprintf(format, args...)}
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (p *exprParser) lex() {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			p.toks = append(p.toks, token{kind: tIdent, text: s[i:j], off: i})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			p.toks = append(p.toks, p.number(s[i:j], i))
			if p.err != nil {
				return
			}
			i = j
		default:
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "==", "!=", "<=", ">=", "&&", "||":
					p.toks = append(p.toks, token{kind: tOp, text: two, off: i})
					i += 2
					continue
				}
			}
			switch c {
			case '+', '-', '*', '/', '%', '<', '>', '!', '(', ')':
				p.toks = append(p.toks, token{kind: tOp, text: s[i : i+1], off: i})
				i++
			case '=':
				p.fail(i, "unexpected '='; use '==' to compare")
				return
			case '&', '|':
				p.fail(i, "unexpected '%c'; use '%c%c' (bitwise operators are not supported)", c, c, c)
				return
			default:
				r, _ := utf8.DecodeRuneInString(s[i:])
				p.fail(i, "unexpected character %q; allowed: names, integers, + - * / %% == != < <= > >= && || ! ( )", r)
				return
			}
		}
	}
	p.toks = append(p.toks, token{kind: tEOF, off: len(s)})
}

func (p *exprParser) number(text string, off int) token {
	t := token{kind: tInt, text: text, off: off}
	var u uint64
	var err error
	switch {
	case len(text) > 2 && (text[:2] == "0x" || text[:2] == "0X"):
		u, err = strconv.ParseUint(text[2:], 16, 64)
		if err != nil && !isRangeErr(err) {
			p.fail(off, "malformed hex literal %q", text)
			return t
		}
	case text == "0x" || text == "0X":
		p.fail(off, "malformed hex literal %q; write digits after 0x", text)
		return t
	default:
		u, err = strconv.ParseUint(text, 10, 64)
		if err != nil && !isRangeErr(err) {
			p.fail(off, "malformed integer %q; use decimal or 0x-hex digits", text)
			return t
		}
		if len(text) > 1 && text[0] == '0' {
			p.fail(off, "integer %q has a leading zero; octal is not supported", text)
			return t
		}
	}
	if err != nil || u > 1<<63-1 {
		p.fail(off, "integer %s does not fit in a signed 64-bit integer (at most 9223372036854775807)", text)
	}
	t.val = int64(u)
	return t
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (p *exprParser) peek() token { return p.toks[p.i] }

func (p *exprParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

var binaryPrec = map[string]int{
	"||": 1, "&&": 2,
	"==": 3, "!=": 3,
	"<": 4, "<=": 4, ">": 4, ">=": 4,
	"+": 5, "-": 5,
	"*": 6, "/": 6, "%": 6,
}

func (p *exprParser) binary(minPrec int) Expr {
	x := p.unary()
	for p.err == nil {
		t := p.peek()
		prec, ok := binaryPrec[t.text]
		if t.kind != tOp || !ok || prec < minPrec {
			return x
		}
		p.next()
		y := p.binary(prec + 1)
		if p.err != nil {
			return nil
		}
		if lit, ok := y.(*IntLit); ok && lit.Value == 0 && (t.text == "/" || t.text == "%") {
			p.fail(t.off, "division by zero")
			return nil
		}
		x = &Binary{P: p.at(t.off), Op: t.text, X: x, Y: y}
	}
	return nil
}

func (p *exprParser) enter(off int) bool {
	p.nest++
	if p.nest > maxNesting {
		p.fail(off, "expression nests deeper than %d levels; simplify it", MaxExprDepth)
		return false
	}
	return true
}

func (p *exprParser) unary() Expr {
	t := p.next()
	switch {
	case t.kind == tOp && (t.text == "!" || t.text == "-"):
		if !p.enter(t.off) {
			return nil
		}
		x := p.unary()
		p.nest--
		if p.err != nil {
			return nil
		}
		return &Unary{P: p.at(t.off), Op: t.text, X: x}
	case t.kind == tOp && t.text == "(":
		if !p.enter(t.off) {
			return nil
		}
		x := p.binary(1)
		p.nest--
		if p.err != nil {
			return nil
		}
		if c := p.next(); c.text != ")" || c.kind != tOp {
			p.fail(c.off, "expected ')' to close the '(' at %s; found %s", posString(p.at(t.off)), c)
			return nil
		}
		return x
	case t.kind == tIdent:
		return &Ident{P: p.at(t.off), Name: t.text}
	case t.kind == tInt:
		return &IntLit{P: p.at(t.off), Value: t.val}
	}
	p.fail(t.off, "expected a field name, an integer or '('; found %s", t)
	return nil
}

func posString(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// FormatExpr prints e fully parenthesised: every Binary and Unary node in
// parentheses, literals in decimal, e.g. "((ret < 0) || (count > 4096))".
func FormatExpr(e Expr) string {
	var b strings.Builder
	formatExpr(&b, e)
	return b.String()
}

func formatExpr(b *strings.Builder, e Expr) {
	switch x := e.(type) {
	case *Ident:
		b.WriteString(x.Name)
	case *IntLit:
		b.WriteString(strconv.FormatInt(x.Value, 10))
	case *Unary:
		b.WriteString("(")
		b.WriteString(x.Op)
		formatExpr(b, x.X)
		b.WriteString(")")
	case *Binary:
		b.WriteString("(")
		formatExpr(b, x.X)
		b.WriteString(" " + x.Op + " ")
		formatExpr(b, x.Y)
		b.WriteString(")")
	}
}

// WalkExpr calls fn for e and every node below it, parents first.
func WalkExpr(e Expr, fn func(Expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *Unary:
		WalkExpr(x.X, fn)
	case *Binary:
		WalkExpr(x.X, fn)
		WalkExpr(x.Y, fn)
	}
}
