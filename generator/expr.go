package generator

import (
	"fmt"
	"strings"

	"kgen/spec"
)

// CExpr prints a checked filter expression as fully parenthesised C.
// ident maps a field name to a C expression of type s64 (a cast binds
// tighter than every binary operator, so "(s64)ev.x" needs no
// parentheses). Comparisons and logic yield C's int 0/1, which C widens
// to s64 wherever it meets one, so only leaves carry casts. Division and
// remainder go through the runtime's kgen_div and kgen_mod, which define
// x/0 and S64_MIN/-1 instead of trapping in the kernel.
func CExpr(e spec.Expr, ident func(string) (string, error)) (string, error) {
	var b strings.Builder
	if err := cexpr(&b, e, ident); err != nil {
		return "", err
	}
	return b.String(), nil
}

func cexpr(b *strings.Builder, e spec.Expr, ident func(string) (string, error)) error {
	switch e := e.(type) {
	case *spec.Ident:
		c, err := ident(e.Name)
		if err != nil {
			return err
		}
		b.WriteString(c)
	case *spec.IntLit:
		fmt.Fprintf(b, "%dLL", e.Value)
	case *spec.Unary:
		switch e.Op {
		case "!", "-":
		default:
			return fmt.Errorf("unknown unary operator %q", e.Op)
		}
		b.WriteString("(" + e.Op)
		if err := cexpr(b, e.X, ident); err != nil {
			return err
		}
		b.WriteString(")")
	case *spec.Binary:
		switch e.Op {
		case "/", "%":
			fn := "kgen_div"
			if e.Op == "%" {
				fn = "kgen_mod"
			}
			b.WriteString(fn + "(")
			if err := cexpr(b, e.X, ident); err != nil {
				return err
			}
			b.WriteString(", ")
			if err := cexpr(b, e.Y, ident); err != nil {
				return err
			}
			b.WriteString(")")
			return nil
		case "+", "-", "*", "==", "!=", "<", "<=", ">", ">=", "&&", "||":
		default:
			return fmt.Errorf("unknown binary operator %q", e.Op)
		}
		b.WriteString("(")
		if err := cexpr(b, e.X, ident); err != nil {
			return err
		}
		b.WriteString(" " + e.Op + " ")
		if err := cexpr(b, e.Y, ident); err != nil {
			return err
		}
		b.WriteString(")")
	default:
		return fmt.Errorf("unknown expression node %T", e)
	}
	return nil
}
