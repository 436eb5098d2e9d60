package loader

import (
	"math/rand"
	"slices"
	"testing"
)

// ctypeSpace is lib/ctype.c's _S class: what the kernel's isspace() takes.
func ctypeSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0
}

// nextArgs splits a module parameter string as the kernel's parse_args()
// does with next_arg() (lib/cmdline.c, kernel/params.c), ported line by
// line over a NUL-terminated copy, so the expected split does not come
// from FormatParams's own idea of quoting.
func nextArgs(s string) (params, vals []string) {
	b := append([]byte(s), 0)
	cstr := func(i int) string {
		j := i
		for b[j] != 0 {
			j++
		}
		return string(b[i:j])
	}
	skip := func(i int) int {
		for ctypeSpace(b[i]) {
			i++
		}
		return i
	}
	args := skip(0)
	for b[args] != 0 {
		// next_arg(args, &param, &val)
		inQuote, quoted := false, false
		if b[args] == '"' {
			args++
			inQuote, quoted = true, true
		}
		i, equals := 0, 0
		for ; b[args+i] != 0; i++ {
			if ctypeSpace(b[args+i]) && !inQuote {
				break
			}
			if equals == 0 && b[args+i] == '=' {
				equals = i
			}
			if b[args+i] == '"' {
				inQuote = !inQuote
			}
		}
		param, val := args, -1
		if equals != 0 {
			b[args+equals] = 0
			val = args + equals + 1
			if b[val] == '"' {
				val++
				if b[args+i-1] == '"' {
					b[args+i-1] = 0
				}
			}
		}
		if quoted && i > 0 && b[args+i-1] == '"' {
			b[args+i-1] = 0
		}
		if b[args+i] != 0 {
			b[args+i] = 0
			args += i + 1
		} else {
			args += i
		}
		args = skip(args)
		params = append(params, cstr(param))
		if val >= 0 {
			vals = append(vals, cstr(val))
		} else {
			vals = append(vals, "\x00none")
		}
	}
	return params, vals
}

// The attack of issue 12, finding 3: a value with a byte next_arg splits
// on (\v, \f, \r, 0xa0, not only space and tab) smuggled in a parameter.
func TestFormatParamsNextArg(t *testing.T) {
	cases := [][]string{
		{"vfs_read_comm=a\vshots=100"},
		{"comm=a\fb", "pid=1"},
		{"comm=a\rshots=9", "x=\xa0y=1"},
		{"msg=hello world", "flag", "t=\tlead"},
		{"e=", "n=\nx=1"},
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("ab=_ \t\n\v\f\r\xa0\x1b\x7f\x85,.-")
	for range 2000 {
		var c []string
		for range 1 + rng.Intn(3) {
			v := make([]byte, rng.Intn(8))
			for i := range v {
				v[i] = alphabet[rng.Intn(len(alphabet))]
			}
			c = append(c, "p"+string(rune('a'+rng.Intn(3)))+"="+string(v))
		}
		cases = append(cases, c)
	}
	for _, args := range cases {
		s, err := FormatParams(args)
		if err != nil {
			t.Fatalf("FormatParams(%q): %v", args, err)
		}
		params, vals := nextArgs(s)
		var wantP, wantV []string
		for _, a := range args {
			k, v, ok := cut(a)
			wantP = append(wantP, k)
			if !ok {
				v = "\x00none"
			}
			wantV = append(wantV, v)
		}
		if !slices.Equal(params, wantP) || !slices.Equal(vals, wantV) {
			t.Fatalf("FormatParams(%q) = %q; the kernel reads params %q values %q", args, s, params, vals)
		}
	}
}

func cut(a string) (string, string, bool) {
	for i := 0; i < len(a); i++ {
		if a[i] == '=' {
			return a[:i], a[i+1:], true
		}
	}
	return a, "", false
}

// The port itself splits the way the kernel is documented to.
func TestNextArgsPort(t *testing.T) {
	p, v := nextArgs(` a=1 b="x y"  "c=z w" flag d=` + "\v" + `e=2`)
	if !slices.Equal(p, []string{"a", "b", "c", "flag", "d", "e"}) || !slices.Equal(v, []string{"1", "x y", "z w", "\x00none", "", "2"}) {
		t.Errorf("params %q values %q", p, v)
	}
}
