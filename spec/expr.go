package spec

// Expr is a node of a parsed filter expression. Every value is evaluated
// as a 64-bit signed integer (s64) in the generated C; comparisons and
// logical operators yield 0 or 1.
type Expr interface {
	Position() Pos // position of the node in the spec file
	exprNode()
}

// Ident is a reference to a captured field: an arg name, the retval name,
// "latency" (when latency is on) or "pid".
type Ident struct {
	P    Pos
	Name string
}

// IntLit is a decimal or 0x-hex integer literal that fits in s64.
type IntLit struct {
	P     Pos
	Value int64
}

// Unary is "!" or "-" applied to X.
type Unary struct {
	P  Pos
	Op string
	X  Expr
}

// Binary is X Op Y with Op one of + - * / % == != < <= > >= && ||.
type Binary struct {
	P    Pos
	Op   string
	X, Y Expr
}

func (e *Ident) Position() Pos  { return e.P }
func (e *IntLit) Position() Pos { return e.P }
func (e *Unary) Position() Pos  { return e.P }
func (e *Binary) Position() Pos { return e.P }

func (*Ident) exprNode()  {}
func (*IntLit) exprNode() {}
func (*Unary) exprNode()  {}
func (*Binary) exprNode() {}
