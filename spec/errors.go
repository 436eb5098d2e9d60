package spec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every FieldError: the spec file is not a valid
// kgen spec. Use errors.As with *ErrorList to get the individual errors.
var ErrInvalid = errors.New("invalid spec")

// ErrInvalidExpr is wrapped by every ExprError.
var ErrInvalidExpr = errors.New("invalid expression")

// maxErrors bounds the errors one Parse returns.
const maxErrors = 20

// FieldError is one problem in a spec file, at a position and field path.
type FieldError struct {
	File string
	Pos  Pos    // zero when the problem has no position (e.g. some YAML syntax errors)
	Path string // e.g. "probes[1].args[0].type"; "" for the document itself
	Msg  string // lower case; says what is allowed
}

// Error formats the error as "file:line:col: path: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Pos.Line > 0 && e.Pos.Col > 0:
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	case e.Pos.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Pos.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ErrorList is every problem Parse found (at most 20, then a final
// "too many errors"). Parse returns it as *ErrorList.
type ErrorList []*FieldError

// Error joins the errors with newlines.
func (l *ErrorList) Error() string {
	s := make([]string, len(*l))
	for i, e := range *l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the individual errors, so errors.Is(err, ErrInvalid) holds.
func (l *ErrorList) Unwrap() []error {
	errs := make([]error, len(*l))
	for i, e := range *l {
		errs[i] = e
	}
	return errs
}

// ExprError is a problem in a filter expression given to ParseExpr; Pos is
// relative to the expression (line 1, column 1 = its first character).
type ExprError struct {
	Pos Pos
	Msg string
}

// Error formats the error as "line:col: message".
func (e *ExprError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg) }

// Unwrap returns ErrInvalidExpr.
func (e *ExprError) Unwrap() error { return ErrInvalidExpr }
