package generator

import (
	"fmt"
	"strings"

	"kgen/spec"
)

// CExpr prints a checked filter expression as fully parenthesised C over
// s64 values. ident maps a field name to the C expression holding it
// (already widened to s64). Division and remainder go through
// <prefix>_div and <prefix>_mod, which define x/0 and S64_MIN/-1 instead
// of trapping in the kernel.
func CExpr(e spec.Expr, prefix string, ident func(string) (string, error)) (string, error) {
	var b strings.Builder
	if err := cexpr(&b, e, prefix, ident); err != nil {
		return "", err
	}
	return b.String(), nil
}

func cexpr(b *strings.Builder, e spec.Expr, prefix string, ident func(string) (string, error)) error {
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
		if err := cexpr(b, e.X, prefix, ident); err != nil {
			return err
		}
		b.WriteString(")")
	case *spec.Binary:
		switch e.Op {
		case "/", "%":
			fn := prefix + "_div"
			if e.Op == "%" {
				fn = prefix + "_mod"
			}
			b.WriteString(fn + "(")
			if err := cexpr(b, e.X, prefix, ident); err != nil {
				return err
			}
			b.WriteString(", ")
			if err := cexpr(b, e.Y, prefix, ident); err != nil {
				return err
			}
			b.WriteString(")")
			return nil
		case "+", "-", "*":
		case "==", "!=", "<", "<=", ">", ">=", "&&", "||":
			// Comparisons and logic yield int 0/1; widen so every node
			// is s64 like the language says.
			b.WriteString("(s64)")
		default:
			return fmt.Errorf("unknown binary operator %q", e.Op)
		}
		b.WriteString("(")
		if err := cexpr(b, e.X, prefix, ident); err != nil {
			return err
		}
		b.WriteString(" " + e.Op + " ")
		if err := cexpr(b, e.Y, prefix, ident); err != nil {
			return err
		}
		b.WriteString(")")
	default:
		return fmt.Errorf("unknown expression node %T", e)
	}
	return nil
}
