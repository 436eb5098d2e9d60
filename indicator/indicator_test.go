package indicator

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The variables of an allocation point and the values of 6.1's GFP flags.
var (
	tableVars   = []string{"size", "flags", "node", "ptr", "times", "rnd100", "rnd10000", "in_init", "caller"}
	tableConsts = []Sym{{"GFP_KERNEL", 0xcc0}, {"GFP_ATOMIC", 0xa20}, {"GFP_NOWAIT", 0x2800}, {"__GFP_ZERO", 0x100}}
)

type env map[string]int64

func (e env) values(names []string) []int64 {
	v := make([]int64, len(names))
	for i, n := range names {
		v[i] = e[n]
	}
	return v
}

type tcase struct {
	text string
	env  env
	want int64
	err  string // Go's error (the C says -EINVAL); "" = compiles
}

var (
	long31 = "a234567890123456789012345678901"
	long32 = long31 + "2"
)

var tableCases = []tcase{
	// KEDR's manual
	{text: "(times % 3) = 0", env: env{"times": 3}, want: 1},
	{text: "(times % 3) = 0", env: env{"times": 4}, want: 0},
	{text: "rnd100 < 20", env: env{"rnd100": 19}, want: 1},
	{text: "rnd100 < 20", env: env{"rnd100": 20}, want: 0},
	{text: "times = 1", env: env{"times": 1}, want: 1},
	{text: "times = 1", env: env{"times": 2}, want: 0},
	{text: "(flags = GFP_ATOMIC) && (size > 100)", env: env{"flags": 0xa20, "size": 101}, want: 1},
	{text: "(flags = GFP_ATOMIC) && (size > 100)", env: env{"flags": 0xa20, "size": 100}, want: 0},
	{text: "(flags = GFP_ATOMIC) && (size > 100)", env: env{"flags": 0xcc0, "size": 4096}, want: 0},
	{text: "flags == GFP_KERNEL || rnd10000 < 5", env: env{"flags": 0xcc0}, want: 1},
	{text: "(flags & __GFP_ZERO) != 0", env: env{"flags": 0xdc0}, want: 1},
	{text: "in_init && times <= 2", env: env{"in_init": 1, "times": 2}, want: 1},
	{text: "1", want: 1},
	{text: "0", want: 0},
	// whitespace
	{text: "", want: 0},
	{text: " \t\n\r\v\f", want: 0},
	{text: "1\n", want: 1},
	{text: "\t1 +\n2 \r\n", want: 3},
	// precedence and associativity
	{text: "1 + 2 * 3", want: 7},
	{text: "(1 + 2) * 3", want: 9},
	{text: "10 - 3 - 2", want: 5},
	{text: "100 / 10 / 5", want: 2},
	{text: "7 % 4 * 2", want: 6},
	{text: "1 << 2 + 1", want: 8},
	{text: "1 < 2 == 1", want: 1},
	{text: "3 > 2 > 1", want: 0},
	{text: "2 & 3 == 3", want: 0},
	{text: "2 & 3 = 3", want: 0},
	{text: "1 | 2 ^ 3 & 4", want: 3},
	{text: "6 ^ 3 | 8", want: 13},
	{text: "1 || 0 && 0", want: 1},
	{text: "0 && 1 || 1", want: 1},
	{text: "-2 * -3", want: 6},
	{text: "!0 + 1", want: 2},
	{text: "!5", want: 0},
	{text: "~0", want: -1},
	{text: "~5 & 0xff", want: 250},
	{text: "- - 5", want: 5},
	{text: "--5", want: 5},
	{text: "-+-5", want: 5},
	{text: "+5", want: 5},
	{text: "!!7", want: 1},
	{text: "-size", env: env{"size": 4}, want: -4},
	{text: "1 != 2", want: 1},
	{text: "2 <= 2 && 3 >= 4", want: 0},
	{text: "5 && 7", want: 1},
	{text: "0 || 7", want: 1},
	{text: "0 || 0", want: 0},
	{text: "5 && 0", want: 0},
	{text: "(((((1)))))", want: 1},
	// ?: nesting
	{text: "1 ? 2 : 3", want: 2},
	{text: "0 ? 2 : 3", want: 3},
	{text: "0 ? 1 : 0 ? 2 : 3", want: 3},
	{text: "0 ? 1 : 2 ? 3 : 4", want: 3},
	{text: "1 ? 0 ? 4 : 5 : 6", want: 5},
	{text: "0 ? 0 ? 4 : 5 : 6", want: 6},
	{text: "(0 ? 1 : 2) ? 3 : 4", want: 3},
	{text: "1 + (0 ? 10 : 20)", want: 21},
	{text: "0 || 0 ? 5 : 6", want: 6},
	{text: "1 ? 2 : 3 + 10", want: 2},
	{text: "0 ? 2 : 3 + 10", want: 13},
	{text: "times > 2 ? rnd100 < 50 : 1", env: env{"times": 3, "rnd100": 70}, want: 0},
	{text: "1 ? 2 : (3 ? 4 : 5) + 1", want: 2},
	{text: "0 ? 2 : (3 ? 4 : 5) + 1", want: 5},
	{text: "1?2:3", want: 2},
	{text: "(1 ? 2 : 3) && (0 ? 1 : 0)", want: 0},
	{text: "-(1 ? 2 : 3)", want: -2},
	// arithmetic at the edges
	{text: "9223372036854775807 + 1", want: math.MinInt64},
	{text: "-9223372036854775808", want: math.MinInt64},
	{text: "-9223372036854775808 / -1", want: math.MinInt64},
	{text: "-9223372036854775808 % -1", want: 0},
	{text: "-9223372036854775808 * -1", want: math.MinInt64},
	{text: "4611686018427387904 * 4", want: 0},
	{text: "5 / 0", want: 0},
	{text: "5 % 0", want: 0},
	{text: "-7 / 2", want: -3},
	{text: "-7 % 2", want: -1},
	{text: "7 % -2", want: 1},
	{text: "1 << 63", want: math.MinInt64},
	{text: "1 << 64", want: 1},
	{text: "1 << -1", want: math.MinInt64},
	{text: "-8 >> 1", want: -4},
	{text: "-1 >> 63", want: -1},
	{text: "256 >> 68", want: 16},
	{text: "-1 < 0", want: 1},
	{text: "0xffffffffffffffff < 0", want: 1},
	// literals
	{text: "18446744073709551615", want: -1},
	{text: "0xffffffffffffffff", want: -1},
	{text: "0XFFFFFFFFFFFFFFFF", want: -1},
	{text: "01777777777777777777777", want: -1},
	{text: "9223372036854775808", want: math.MinInt64},
	{text: "0x7fffffffffffffff", want: math.MaxInt64},
	{text: "010", want: 8},
	{text: "0", want: 0},
	{text: "00", want: 0},
	{text: "0x0", want: 0},
	{text: "0xAbC", want: 0xabc},
	{text: "18446744073709551616", err: "number larger than 2^64-1 at 0"},
	{text: "99999999999999999999", err: "number larger than 2^64-1 at 0"},
	{text: "0x10000000000000000", err: "number larger than 2^64-1 at 0"},
	{text: "02000000000000000000000", err: "number larger than 2^64-1 at 0"},
	{text: "08", err: `"8" in a base 8 number at 1`},
	{text: "0x", err: "0x without digits at 0"},
	{text: "0x+1", err: "0x without digits at 0"},
	{text: "0xg", err: `"g" in a base 16 number at 2`},
	{text: "12abc", err: `"a" in a base 10 number at 2`},
	{text: "1_000", err: `"_" in a base 10 number at 1`},
	{text: "1.5", err: `"." where an operator is expected at 1`},
	// names
	{text: "caller != 0", env: env{"caller": -4096}, want: 1},
	{text: "Times", err: `unknown name "Times"`},
	{text: "foo", err: `unknown name "foo" (variables: size, flags, node, ptr, times, rnd100, rnd10000, in_init, caller; constants: GFP_KERNEL and 3 more) at 0`},
	{text: "size + " + long32, err: "name longer than 31 bytes at 7"},
	{text: "size + " + long31, err: `unknown name "` + long31 + `"`},
	{text: "GFP_KERNEL(1)", err: `"(" where an operator is expected at 10`},
	// syntax errors
	{text: "size +", err: "unexpected end at 6"},
	{text: "size +  \n", err: "unexpected end at 6"},
	{text: "1 2", err: `"2" where an operator is expected at 2`},
	{text: "1 size", err: `"s" where an operator is expected at 2`},
	{text: "()", err: `")" where a value is expected at 1`},
	{text: "(1", err: `"(" not closed at 0`},
	{text: "((1) + 2", err: `"(" not closed at 0`},
	{text: "1)", err: `")" without "(" at 1`},
	{text: "1 ? 2", err: `"?" without ":" at 2`},
	{text: "1 : 2", err: `":" without "?" at 2`},
	{text: "1 ? 2 : 3 : 4", err: `":" without "?" at 10`},
	{text: "(1 ? 2) : 3", err: `"?" without ":" at 3`},
	{text: "1 ? (2 : 3)", err: `":" without "?" at 7`},
	{text: "1 ? : 3", err: `":" where a value is expected at 4`},
	{text: "? 1 : 2", err: `"?" where a value is expected at 0`},
	{text: "1 === 1", err: `"=" where a value is expected at 4`},
	{text: "1 ! 2", err: `"!" where an operator is expected at 2`},
	{text: "1 <> 2", err: `">" where a value is expected at 3`},
	{text: "1 && && 2", err: `"&" where a value is expected at 5`},
	{text: "* 2", err: `"*" where a value is expected at 0`},
	{text: "1 , 2", err: `"," where an operator is expected at 2`},
	{text: "1 +\x00", err: "byte 0x00 where a value is expected at 3"},
	{text: "\x001", err: "byte 0x00 where a value is expected at 0"},
	{text: "1\x00", err: "byte 0x00 where an operator is expected at 1"},
	{text: "1 + \x002", err: "byte 0x00 where a value is expected at 4"},
	{text: "size + é", err: "byte 0xc3 where a value is expected at 7"},
	{text: "$size", err: `"$" where a value is expected at 0`},
	{text: "size = 1;", err: `";" where an operator is expected at 8`},
}

// limitCases are at and just past each limit.
func limitCases() []tcase {
	r := strings.Repeat
	return []tcase{
		// 256 bytes of text, trailing whitespace not counted
		{text: "1" + r(" ", 253) + "+1", want: 2},
		{text: "1" + r(" ", 253) + "+1\n" + r(" ", 1000), want: 2},
		{text: "1" + r(" ", 254) + "+1", err: "longer than 256 bytes at 256"},
		{text: r(" ", 300), want: 0},
		// 128 instructions
		{text: "-1" + r("+1", 63), want: 62},
		{text: "1" + r("+1", 64), err: "more than 128 instructions at 129"},
		{text: r("1&&", 42) + "1", want: 1}, // 42*3+2 = 128 instructions
		{text: r("1&&", 43) + "1", err: "more than 128 instructions"},
		// 32 values pending
		{text: r("1+(", 31) + "1" + r(")", 31), want: 32},
		{text: r("1+(", 32) + "1" + r(")", 32), err: "more than 32 values pending at 96"},
		{text: r("1?", 31) + "1" + r(":0", 31), want: 1},
		// 64 operators pending
		{text: r("(", 64) + "1" + r(")", 64), want: 1},
		{text: r("(", 65) + "1" + r(")", 65), err: "nested deeper than 64 at 64"},
		{text: r("-", 64) + "7", want: 7},
		{text: r("-", 65) + "7", err: "nested deeper than 64 at 64"},
		{text: r("+", 200) + "7", want: 7},
		{text: r("!", 63) + "(7)", want: 0},
	}
}

func allCases() []tcase { return append(append([]tcase{}, tableCases...), limitCases()...) }

func TestCompileEval(t *testing.T) {
	for _, tc := range allCases() {
		p, err := Compile(tc.text, tableVars, tableConsts)
		if tc.err != "" {
			var ie *Error
			if err == nil {
				t.Errorf("Compile(%q) = ok, want error %q", tc.text, tc.err)
			} else if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Compile(%q) = %v, want error %q", tc.text, err, tc.err)
			} else if !errors.As(err, &ie) || ie.Text != tc.text {
				t.Errorf("Compile(%q): error %#v is not an *Error with the text", tc.text, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.text, err)
			continue
		}
		if got := p.Eval(tc.env.values(tableVars)); got != tc.want {
			t.Errorf("%q with %v = %d, want %d", tc.text, tc.env, got, tc.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Compile("x +", []string{"x"}, nil)
	if err == nil || err.Error() != `indicator "x +": unexpected end at 3` {
		t.Fatalf("got %v", err)
	}
}

func TestUses(t *testing.T) {
	vars := make([]string, MaxVars)
	for i := range vars {
		vars[i] = "v" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	for _, tc := range []struct {
		text string
		uses uint32
	}{
		{"1", 0},
		{"vaa", 1},
		{"vab + vaa * vab", 3},
		{"0 && vbf", 1 << 31},
		{"vac ? vad : vae", 0x1c},
	} {
		p, err := Compile(tc.text, vars, nil)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.text, err)
		}
		if p.Uses() != tc.uses {
			t.Errorf("Uses(%q) = %#x, want %#x", tc.text, p.Uses(), tc.uses)
		}
	}
	if _, err := Compile("1", append(vars, "one_too_many"), nil); err == nil {
		t.Errorf("Compile with %d variables: no error", MaxVars+1)
	}
}

// A variable hides a constant of the same name; a missing value reads 0.
func TestLookupOrder(t *testing.T) {
	p, err := Compile("x + y", []string{"x", "y"}, []Sym{{"x", 100}, {"z", 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Eval([]int64{1, 2}); got != 3 {
		t.Errorf("x + y = %d, want 3", got)
	}
	if got := p.Eval([]int64{1}); got != 1 {
		t.Errorf("x + y without y = %d, want 1", got)
	}
}

// Every jump goes forward and the stack stays within MaxDepth, on every
// path (the depth at a jump's target is the same by both ways).
func TestProgramShape(t *testing.T) {
	for _, tc := range allCases() {
		p, err := Compile(tc.text, tableVars, tableConsts)
		if err != nil {
			continue
		}
		checkShape(t, tc.text, p)
	}
}

func checkShape(t *testing.T, text string, p *Prog) {
	t.Helper()
	if len(p.insns) == 0 || len(p.insns) > MaxInsns {
		t.Fatalf("%q: %d instructions", text, len(p.insns))
	}
	depth := make([]int, len(p.insns)+1)
	for i := range depth {
		depth[i] = -1
	}
	depth[0] = 0
	set := func(at, d int) {
		if d < 0 || d > MaxDepth {
			t.Fatalf("%q: depth %d at %d", text, d, at)
		}
		if depth[at] >= 0 && depth[at] != d {
			t.Fatalf("%q: depth %d and %d at %d", text, depth[at], d, at)
		}
		depth[at] = d
	}
	for pc, in := range p.insns {
		d := depth[pc]
		if d < 0 {
			t.Fatalf("%q: instruction %d unreachable", text, pc)
		}
		switch in.op {
		case opConst, opVar:
			set(pc+1, d+1)
		case opNeg, opNot, opBNot, opBool:
			if d < 1 {
				t.Fatalf("%q: unary at depth 0", text)
			}
			set(pc+1, d)
		case opJZ, opJmp, opJAndF, opJOrT:
			if int(in.arg) <= pc || int(in.arg) > len(p.insns) {
				t.Fatalf("%q: jump %d to %d", text, pc, in.arg)
			}
			switch in.op {
			case opJZ:
				set(pc+1, d-1)
				set(int(in.arg), d-1)
			case opJmp:
				set(int(in.arg), d)
				if pc+1 < len(p.insns) && depth[pc+1] < 0 {
					set(pc+1, d-1) // the else part starts without the then value
				}
			default:
				set(pc+1, d-1)
				set(int(in.arg), d)
			}
		default:
			if d < 2 {
				t.Fatalf("%q: binary at depth %d", text, d)
			}
			set(pc+1, d-1)
		}
	}
	if depth[len(p.insns)] != 1 {
		t.Fatalf("%q: ends at depth %d", text, depth[len(p.insns)])
	}
}

// GFPNames are macros on every supported kernel.
func TestGFPNamesInHeaders(t *testing.T) {
	dir := os.Getenv("KGEN_KERNELS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "kgen", "kernels")
	}
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12"} {
		files, _ := filepath.Glob(filepath.Join(dir, k, "root", "usr", "src", "linux-headers-*", "include", "linux", "gfp*.h"))
		if len(files) == 0 {
			msg := k + ": no include/linux/gfp*.h under " + dir + " (run scripts/fetch-kernels.sh)"
			if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		var all strings.Builder
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
		for _, name := range GFPNames {
			if !regexp.MustCompile(`(?m)^#define\s+` + name + `\b`).MatchString(all.String()) {
				t.Errorf("%s: %s is not a macro in %s", k, name, strings.Join(files, ", "))
			}
		}
	}
}

// The header is plain C but for the generated-file banner's spec name: the
// generator renders it with text/template, the harness includes it with
// that one action replaced.
func TestCHeaderPlain(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "templates", "payload", "ind.h.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Replace(string(b), specAction, "", 1), "{{") {
		t.Errorf("ind.h.tmpl holds a template action besides the banner's %s", specAction)
	}
	if strings.Contains(string(b), "#include") {
		t.Error("ind.h.tmpl includes a header: its includer provides the types")
	}
	for _, c := range []struct {
		name string
		val  int
	}{{"KGEN_IND_MAX_LEN", MaxLen}, {"KGEN_IND_MAX_INSNS", MaxInsns}, {"KGEN_IND_MAX_DEPTH", MaxDepth},
		{"KGEN_IND_MAX_VARS", MaxVars}, {"KGEN_IND_MAX_OPS", MaxOps}, {"KGEN_IND_MAX_NAME", MaxName}} {
		re := regexp.MustCompile(`(?m)^#define\s+` + c.name + `\s+(\d+)`)
		m := re.FindStringSubmatch(string(b))
		if m == nil || m[1] != strconv.Itoa(c.val) {
			t.Errorf("ind.h.tmpl: %s is %v, Go says %d", c.name, m, c.val)
		}
	}
}
