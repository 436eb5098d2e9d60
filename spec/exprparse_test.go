package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	tests := []struct {
		src, want string // want: FormatExpr output, or "error: line:col: msg"
	}{
		{"ret < 0 || count > 4096", "((ret < 0) || (count > 4096))"},
		{"a + b * c - d / e % f", "((a + (b * c)) - ((d / e) % f))"},
		{"a == b != c", "((a == b) != c)"},
		{"a < b == c >= d", "((a < b) == (c >= d))"},
		{"a && b || c && d", "((a && b) || (c && d))"},
		{"!a && -b", "((!a) && (-b))"},
		{"- - 1", "(-(-1))"},
		{"!!x", "(!(!x))"},
		{"(a || b) && c", "((a || b) && c)"},
		{"((((x))))", "x"},
		{"0x10 + 0XfF", "(16 + 255)"},
		{"9223372036854775807", "9223372036854775807"},
		{"0x7fffffffffffffff", "9223372036854775807"},
		{"0", "0"},
		{"a\n  >\n 1", "(a > 1)"},
		{"x / (0 + 0)", "(x / (0 + 0))"},
		{"", "error: 1:1: empty expression; write a condition such as \"ret < 0\""},
		{"   ", "error: 1:1: empty expression; write a condition such as \"ret < 0\""},
		{"9223372036854775808", "error: 1:1: integer 9223372036854775808 does not fit in a signed 64-bit integer (at most 9223372036854775807)"},
		{"1 + 0x8000000000000000", "error: 1:5: integer 0x8000000000000000 does not fit in a signed 64-bit integer (at most 9223372036854775807)"},
		{"0x1ffffffffffffffff", "error: 1:1: integer 0x1ffffffffffffffff does not fit in a signed 64-bit integer (at most 9223372036854775807)"},
		{"010", "error: 1:1: integer \"010\" has a leading zero; octal is not supported"},
		{"12ab", "error: 1:1: malformed integer \"12ab\"; use decimal or 0x-hex digits"},
		{"0xg", "error: 1:1: malformed hex literal \"0xg\""},
		{"a +", "error: 1:4: expected a field name, an integer or '('; found end of expression"},
		{"(a", "error: 1:3: expected ')' to close the '(' at 1:1; found end of expression"},
		{"a)", "error: 1:2: unmatched ')'"},
		{"a b", "error: 1:3: unexpected identifier \"b\" after a complete expression; expected an operator"},
		{"a = 1", "error: 1:3: unexpected '='; use '==' to compare"},
		{"a & 1", "error: 1:3: unexpected '&'; use '&&' (bitwise operators are not supported)"},
		{"a\n $", "error: 2:2: unexpected character '$'; allowed: names, integers, + - * / % == != < <= > >= && || ! ( )"},
		{"a / 0", "error: 1:3: division by zero"},
		{"a % (0)", "error: 1:3: division by zero"},
		{"()", "error: 1:2: expected a field name, an integer or '('; found \")\""},
		{strings.Repeat("(", 300) + "a" + strings.Repeat(")", 300), "error: 1:257: expression nests deeper than 64 levels; simplify it"},
		{strings.Repeat("-", 64) + "a", "error: 1:65: expression nests deeper than 64 levels; simplify it"},
		{strings.Repeat("-", 63) + "a", strings.Repeat("(-", 63) + "a" + strings.Repeat(")", 63)},
		{strings.Repeat("a+", 600), "error: 1:1025: expression is 1200 bytes long; at most 1024"},
	}
	for _, tt := range tests {
		e, err := ParseExpr(tt.src)
		got := ""
		if err != nil {
			var ee *ExprError
			if !errors.As(err, &ee) || !errors.Is(err, ErrInvalidExpr) {
				t.Errorf("ParseExpr(%q): error %T does not wrap ErrInvalidExpr", tt.src, err)
			}
			got = "error: " + err.Error()
		} else {
			got = FormatExpr(e)
		}
		if got != tt.want {
			t.Errorf("ParseExpr(%q)\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

func TestExprPositions(t *testing.T) {
	e, err := ParseExpr("a +\n  !b")
	if err != nil {
		t.Fatal(err)
	}
	b := e.(*Binary)
	u := b.Y.(*Unary)
	if b.P != (Pos{1, 3}) || b.X.Position() != (Pos{1, 1}) || u.P != (Pos{2, 3}) || u.X.Position() != (Pos{2, 4}) {
		t.Errorf("positions: + %v, a %v, ! %v, b %v", b.P, b.X.Position(), u.P, u.X.Position())
	}
}

func TestWalkExpr(t *testing.T) {
	e, _ := ParseExpr("a + -b * 3")
	var names []string
	WalkExpr(e, func(e Expr) {
		if id, ok := e.(*Ident); ok {
			names = append(names, id.Name)
		}
	})
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("walked %v", names)
	}
	WalkExpr(nil, func(Expr) { t.Error("called for nil") })
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"ret < 0 || count > 4096", "!(a && b) == -c % 0x10", "((x))", "a / 0", "0x7fffffffffffffff",
		"a <= b >= c != d", "- - - 1", "(a", "a)", "", "é", "010", "a\n&&\tb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpr(src)
		if err != nil {
			if e != nil {
				t.Fatalf("ParseExpr(%q) returned both %v and %v", src, e, err)
			}
			return
		}
		s1 := FormatExpr(e)
		// The printed form may outgrow MaxExprLen (parentheses, decimal
		// literals), so re-parse it without the length limit.
		e2, perr := parseExpr(s1, relativeMapper(s1), 0)
		if perr != nil {
			t.Fatalf("ParseExpr(%q) ok, but its format %q does not parse: %v", src, s1, perr)
		}
		if s2 := FormatExpr(e2); s2 != s1 {
			t.Fatalf("round trip of %q: %q != %q", src, s2, s1)
		}
	})
}
