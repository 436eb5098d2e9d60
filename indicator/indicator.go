// Package indicator compiles and evaluates KEDR indicator expressions, the
// language a payload point's expression is written in (issue 14, item 5).
//
// It is the Go twin of templates/payload/ind.h.tmpl, which the payload
// module runs in the kernel: one algorithm (shunting-yard to a bounded
// postfix program), implemented twice, instruction for instruction. Both
// accept the same texts and give the same values; FuzzDifferential checks
// it. A change to one is made to the other in the same way.
//
// The language: values are int64; literals are decimal, 0x hex or C octal
// (leading 0), up to 2^64-1 (wrapping to int64); names are
// [A-Za-z_][A-Za-z0-9_]* of at most 31 bytes, a variable (looked up first)
// or a constant; operators as in C, tightest first: unary ! ~ - +; * / %;
// + -; << >>; < <= > >=; == = != (= is equality); &; ^; |; &&; ||; ?:
// (right to left); parentheses. Arithmetic wraps, x/0 and x%0 are 0,
// MinInt64/-1 is MinInt64 and MinInt64%-1 is 0, shift counts are masked to
// 63, >> is arithmetic, && || ?: short-circuit. At most 256 bytes not
// counting trailing whitespace; whitespace only is the constant 0.
package indicator

import (
	"fmt"
	"strings"
)

// Limits, the same as the C's KGEN_IND_MAX_*.
const (
	MaxLen   = 256 // bytes of text, trailing whitespace not counted
	MaxInsns = 128
	MaxDepth = 32 // evaluation stack
	MaxVars  = 32
	MaxOps   = 64 // the compiler's operator stack
	MaxName  = 31
)

// Sym is a named constant (the C's struct kgen_ind_sym).
type Sym struct {
	Name  string
	Value int64
}

// Operations; the numbering is the C enum's.
const (
	opConst = iota
	opVar
	opNeg
	opNot
	opBNot
	opBool
	opMul
	opDiv
	opMod
	opAdd
	opSub
	opShl
	opShr
	opLt
	opLe
	opGt
	opGe
	opEq
	opNe
	opAnd
	opXor
	opOr
	opJZ
	opJmp
	opJAndF
	opJOrT
	// operator stack only
	opLParen
	opQuest
	opColon
	opLAnd
	opLOr
)

type insn struct {
	imm int64
	op  uint32
	arg uint32
}

// Prog is a compiled expression.
type Prog struct {
	uses  uint32
	insns []insn
}

// Uses has bit i set when the expression reads variable i.
func (p *Prog) Uses() uint32 { return p.uses }

// Error is a compile error: what is wrong at which byte offset of Text.
type Error struct {
	Text   string
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("indicator %q: %s at %d", e.Text, e.Msg, e.Offset)
}

type opEntry struct {
	op  uint32
	j   uint32
	off int // where the operator is, for errors
}

type compiler struct {
	text  string
	prog  *Prog
	depth int
	ops   []opEntry
}

func prec(op uint32) int {
	switch op {
	case opNeg, opNot, opBNot:
		return 14
	case opMul, opDiv, opMod:
		return 13
	case opAdd, opSub:
		return 12
	case opShl, opShr:
		return 11
	case opLt, opLe, opGt, opGe:
		return 10
	case opEq, opNe:
		return 9
	case opAnd:
		return 8
	case opXor:
		return 7
	case opOr:
		return 6
	case opLAnd:
		return 5
	case opLOr:
		return 4
	case opQuest, opColon:
		return 3
	}
	return 0
}

func (c *compiler) fail(off int, format string, args ...any) error {
	return &Error{Text: c.text, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) emit(off int, op, arg uint32, imm int64, delta int) error {
	if len(c.prog.insns) >= MaxInsns {
		return c.fail(off, "more than %d instructions", MaxInsns)
	}
	c.depth += delta
	if c.depth > MaxDepth {
		return c.fail(off, "more than %d values pending", MaxDepth)
	}
	c.prog.insns = append(c.prog.insns, insn{imm: imm, op: op, arg: arg})
	return nil
}

func (c *compiler) push(off int, op, j uint32) error {
	if len(c.ops) >= MaxOps {
		return c.fail(off, "nested deeper than %d", MaxOps)
	}
	c.ops = append(c.ops, opEntry{op: op, j: j, off: off})
	return nil
}

func (c *compiler) top() uint32 { return c.ops[len(c.ops)-1].op }

// reduce pops the top operator (never ( or ?) and emits what it stands for.
func (c *compiler) reduce(off int) error {
	e := c.ops[len(c.ops)-1]
	c.ops = c.ops[:len(c.ops)-1]
	switch e.op {
	case opNeg, opNot, opBNot:
		return c.emit(off, e.op, 0, 0, 0)
	case opLAnd, opLOr:
		if err := c.emit(off, opBool, 0, 0, 0); err != nil {
			return err
		}
		c.prog.insns[e.j].arg = uint32(len(c.prog.insns))
		return nil
	case opColon:
		c.prog.insns[e.j].arg = uint32(len(c.prog.insns))
		return nil
	}
	return c.emit(off, e.op, 0, 0, -1)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

func digit(c byte) uint32 {
	switch {
	case c >= '0' && c <= '9':
		return uint32(c - '0')
	case c >= 'a' && c <= 'f':
		return uint32(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return uint32(c-'A') + 10
	}
	return 99
}

// binopAt is the binary operator at text[i:] and its length, or -1.
func binopAt(text string, i int) (int, int) {
	var d byte
	if i+1 < len(text) {
		d = text[i+1]
	}
	switch text[i] {
	case '*':
		return opMul, 1
	case '/':
		return opDiv, 1
	case '%':
		return opMod, 1
	case '+':
		return opAdd, 1
	case '-':
		return opSub, 1
	case '^':
		return opXor, 1
	case '<':
		switch d {
		case '<':
			return opShl, 2
		case '=':
			return opLe, 2
		}
		return opLt, 1
	case '>':
		switch d {
		case '>':
			return opShr, 2
		case '=':
			return opGe, 2
		}
		return opGt, 1
	case '=':
		if d == '=' {
			return opEq, 2
		}
		return opEq, 1
	case '!':
		if d == '=' {
			return opNe, 2
		}
	case '&':
		if d == '&' {
			return opLAnd, 2
		}
		return opAnd, 1
	case '|':
		if d == '|' {
			return opLOr, 2
		}
		return opOr, 1
	}
	return -1, 0
}

// describe names the byte at text[i] for an error.
func describe(text string, i int) string {
	c := text[i]
	if c > ' ' && c < 0x7f {
		return fmt.Sprintf("%q", string(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// Compile compiles text against the variable names vars (at most MaxVars;
// Eval takes their values in this order) and the constants consts.
// Errors are *Error.
func Compile(text string, vars []string, consts []Sym) (*Prog, error) {
	c := &compiler{text: text, prog: &Prog{}}
	if len(vars) > MaxVars {
		return nil, c.fail(0, "%d variables, more than %d", len(vars), MaxVars)
	}
	n := len(text)
	for n > 0 && isSpace(text[n-1]) {
		n--
	}
	if n > MaxLen {
		return nil, c.fail(MaxLen, "longer than %d bytes", MaxLen)
	}
	s := text[:n]
	if n == 0 {
		if err := c.emit(0, opConst, 0, 0, 1); err != nil {
			return nil, err
		}
		return c.prog, nil
	}
	want := true // an operand comes next
	i := 0
	for {
		for i < n && isSpace(s[i]) {
			i++
		}
		if i >= n {
			break
		}
		ch := s[i]
		start := i
		switch {
		case want && ch >= '0' && ch <= '9':
			var v uint64
			base := uint32(10)
			if ch == '0' {
				base = 8
				if i+1 < n && (s[i+1] == 'x' || s[i+1] == 'X') {
					base = 16
					i += 2
				}
			}
			lim, rem := ^uint64(0)/uint64(base), ^uint64(0)%uint64(base)
			nd := 0
			for ; i < n && isAlnum(s[i]); i++ {
				d := digit(s[i])
				if d >= base {
					return nil, c.fail(i, "%s in a base %d number", describe(s, i), base)
				}
				if v > lim || v == lim && uint64(d) > rem {
					return nil, c.fail(start, "number larger than 2^64-1")
				}
				v = v*uint64(base) + uint64(d)
				nd++
			}
			if nd == 0 {
				return nil, c.fail(start, "0x without digits")
			}
			if err := c.emit(start, opConst, 0, int64(v), 1); err != nil {
				return nil, err
			}
			want = false
		case want && isAlpha(ch):
			for i < n && isAlnum(s[i]) {
				i++
			}
			name := s[start:i]
			if len(name) > MaxName {
				return nil, c.fail(start, "name longer than %d bytes", MaxName)
			}
			found := false
			for k, v := range vars {
				if v == name {
					if err := c.emit(start, opVar, uint32(k), 0, 1); err != nil {
						return nil, err
					}
					c.prog.uses |= 1 << k
					found = true
					break
				}
			}
			for k := 0; k < len(consts) && !found; k++ {
				if consts[k].Name == name {
					if err := c.emit(start, opConst, 0, consts[k].Value, 1); err != nil {
						return nil, err
					}
					found = true
				}
			}
			if !found {
				return nil, c.fail(start, "unknown name %q (%s)", name, known(vars, consts))
			}
			want = false
		case want:
			i++
			var op uint32
			switch ch {
			case '(':
				op = opLParen
			case '-':
				op = opNeg
			case '!':
				op = opNot
			case '~':
				op = opBNot
			case '+':
				continue // unary plus: nothing to do
			default:
				return nil, c.fail(start, "%s where a value is expected", describe(s, start))
			}
			if err := c.push(start, op, 0); err != nil {
				return nil, err
			}
		case ch == ')':
			i++
			for len(c.ops) > 0 && c.top() != opLParen && c.top() != opQuest {
				if err := c.reduce(start); err != nil {
					return nil, err
				}
			}
			if len(c.ops) == 0 {
				return nil, c.fail(start, "\")\" without \"(\"")
			}
			if c.top() == opQuest {
				return nil, c.fail(c.ops[len(c.ops)-1].off, "\"?\" without \":\"")
			}
			c.ops = c.ops[:len(c.ops)-1]
		case ch == '?':
			i++
			for len(c.ops) > 0 && prec(c.top()) > 3 {
				if err := c.reduce(start); err != nil {
					return nil, err
				}
			}
			if err := c.emit(start, opJZ, 0, 0, -1); err != nil {
				return nil, err
			}
			if err := c.push(start, opQuest, uint32(len(c.prog.insns)-1)); err != nil {
				return nil, err
			}
			want = true
		case ch == ':':
			i++
			for len(c.ops) > 0 && c.top() != opLParen && c.top() != opQuest {
				if err := c.reduce(start); err != nil {
					return nil, err
				}
			}
			if len(c.ops) == 0 || c.top() != opQuest {
				return nil, c.fail(start, "\":\" without \"?\"")
			}
			if err := c.emit(start, opJmp, 0, 0, -1); err != nil {
				return nil, err
			}
			t := &c.ops[len(c.ops)-1]
			c.prog.insns[t.j].arg = uint32(len(c.prog.insns))
			t.op, t.j = opColon, uint32(len(c.prog.insns)-1)
			want = true
		default:
			op, l := binopAt(s, i)
			if op < 0 {
				return nil, c.fail(start, "%s where an operator is expected", describe(s, start))
			}
			i += l
			for len(c.ops) > 0 && prec(c.top()) >= prec(uint32(op)) {
				if err := c.reduce(start); err != nil {
					return nil, err
				}
			}
			var j uint32
			if op == opLAnd || op == opLOr {
				jop := uint32(opJAndF)
				if op == opLOr {
					jop = opJOrT
				}
				if err := c.emit(start, jop, 0, 0, -1); err != nil {
					return nil, err
				}
				j = uint32(len(c.prog.insns) - 1)
			}
			if err := c.push(start, uint32(op), j); err != nil {
				return nil, err
			}
			want = true
		}
	}
	if want {
		return nil, c.fail(n, "unexpected end")
	}
	for len(c.ops) > 0 {
		switch t := c.ops[len(c.ops)-1]; t.op {
		case opLParen:
			return nil, c.fail(t.off, "\"(\" not closed")
		case opQuest:
			return nil, c.fail(t.off, "\"?\" without \":\"")
		}
		if err := c.reduce(n); err != nil {
			return nil, err
		}
	}
	return c.prog, nil
}

// known lists the names for an error: the variables, and the constants in
// short.
func known(vars []string, consts []Sym) string {
	s := "no variables"
	if len(vars) > 0 {
		s = "variables: " + strings.Join(vars, ", ")
	}
	switch len(consts) {
	case 0:
	case 1:
		s += "; constant: " + consts[0].Name
	default:
		s += fmt.Sprintf("; constants: %s and %d more", consts[0].Name, len(consts)-1)
	}
	return s
}

func binop(op uint32, x, y int64) int64 {
	switch op {
	case opMul:
		return x * y
	case opDiv:
		switch y {
		case 0:
			return 0
		case -1:
			return -x
		}
		return x / y
	case opMod:
		if y == 0 || y == -1 {
			return 0
		}
		return x % y
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opShl:
		return x << (y & 63)
	case opShr:
		return x >> (y & 63)
	case opLt:
		return b2i(x < y)
	case opLe:
		return b2i(x <= y)
	case opGt:
		return b2i(x > y)
	case opGe:
		return b2i(x >= y)
	case opEq:
		return b2i(x == y)
	case opNe:
		return b2i(x != y)
	case opAnd:
		return x & y
	case opXor:
		return x ^ y
	case opOr:
		return x | y
	}
	return 0
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Eval evaluates p with the values of the variables, in the order given to
// Compile; a missing value reads as 0.
func (p *Prog) Eval(vars []int64) int64 {
	var st [MaxDepth]int64
	sp := 0 // st[sp-1] is the top
	for pc := 0; pc < len(p.insns); {
		in := &p.insns[pc]
		pc++
		switch in.op {
		case opConst:
			st[sp] = in.imm
			sp++
			continue
		case opVar:
			var v int64
			if int(in.arg) < len(vars) {
				v = vars[in.arg]
			}
			st[sp] = v
			sp++
			continue
		case opNeg:
			st[sp-1] = -st[sp-1]
			continue
		case opNot:
			st[sp-1] = b2i(st[sp-1] == 0)
			continue
		case opBNot:
			st[sp-1] = ^st[sp-1]
			continue
		case opBool:
			st[sp-1] = b2i(st[sp-1] != 0)
			continue
		case opJZ:
			sp--
			if st[sp] != 0 {
				continue
			}
		case opJmp:
		case opJAndF:
			if st[sp-1] != 0 {
				sp--
				continue
			}
		case opJOrT:
			if st[sp-1] == 0 {
				sp--
				continue
			}
			st[sp-1] = 1
		default:
			sp--
			st[sp-1] = binop(in.op, st[sp-1], st[sp])
			continue
		}
		if int(in.arg) < pc { // not forward: never from Compile
			return 0
		}
		pc = int(in.arg)
	}
	if sp > 0 {
		return st[sp-1]
	}
	return 0
}
