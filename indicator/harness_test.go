package indicator

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The C side: templates/payload/ind.h.tmpl built into testdata/harness.c
// with the host's cc, AddressSanitizer and UndefinedBehaviorSanitizer,
// once per test process, and driven through its stdin (protocol in
// harness.c).

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
	buildSkip string

	hmu sync.Mutex
	hc  *cHarness // nil until started, and after it died
)

// specAction is the one template action of ind.h.tmpl, in its banner.
const specAction = "{{.SpecFile}}"

func TestMain(m *testing.M) {
	code := m.Run()
	hmu.Lock()
	if hc != nil {
		hc.close()
	}
	hmu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func buildHarness() {
	cc, err := exec.LookPath("cc")
	if err != nil {
		buildSkip = "no cc to build the C harness of templates/payload/ind.h.tmpl"
		return
	}
	buildDir, buildErr = os.MkdirTemp("", "kgen-indicator-")
	if buildErr != nil {
		return
	}
	// Copied by Go (the banner's template action replaced) so that the test cache knows the files the result depends on.
	for _, f := range []string{filepath.Join("..", "templates", "payload", "ind.h.tmpl"), filepath.Join("testdata", "harness.c")} {
		b, err := os.ReadFile(f)
		b = []byte(strings.Replace(string(b), specAction, "harness.c", 1))
		if err == nil {
			err = os.WriteFile(filepath.Join(buildDir, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			buildErr = fmt.Errorf("copy the C harness: %w", err)
			return
		}
	}
	buildBin = filepath.Join(buildDir, "harness")
	// -std=gnu89 as Kbuild on 5.10; the warnings of W=1 and then some.
	cmd := exec.Command(cc, "-std=gnu89", "-O1", "-g",
		"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
		"-Wall", "-Wextra", "-Wshadow", "-Wdeclaration-after-statement", "-Wmissing-prototypes",
		"-Wstrict-prototypes", "-Wvla", "-Wframe-larger-than=2048", "-Werror",
		"-o", buildBin, filepath.Join(buildDir, "harness.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("build the C harness: %v\n%s", err, out)
	}
}

// harness returns the running C harness, building and starting it if
// need be. Without cc it skips t, or fails it when KGEN_REQUIRE_KERNELS=1
// (as make test and CI set).
func harness(t testing.TB) *cHarness {
	t.Helper()
	buildOnce.Do(buildHarness)
	if buildSkip != "" {
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(buildSkip)
		}
		t.Skip(buildSkip)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if hc == nil {
		h, err := startHarness(buildBin)
		if err != nil {
			t.Fatal(err)
		}
		hc = h
	}
	return hc
}

type cHarness struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
	vars   string // the last V and K lines sent
	consts string
}

func startHarness(bin string) (*cHarness, error) {
	h := &cHarness{cmd: exec.Command(bin), stderr: &bytes.Buffer{}}
	h.cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS=print_stacktrace=1")
	h.cmd.Stderr = h.stderr
	var err error
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	h.out = bufio.NewReader(out)
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the C harness: %w", err)
	}
	return h, nil
}

func (h *cHarness) close() {
	h.in.Close()
	h.cmd.Wait()
}

// ask sends one line and reads the answer. On failure the harness is
// dead (its stderr says why, an ASan or UBSan report say) and the next
// harness() starts another.
func (h *cHarness) ask(line string, answer bool) (string, error) {
	if _, err := io.WriteString(h.in, line+"\n"); err != nil {
		return "", h.died(line, err)
	}
	if !answer {
		return "", nil
	}
	s, err := h.out.ReadString('\n')
	if err != nil {
		return "", h.died(line, err)
	}
	return strings.TrimSuffix(s, "\n"), nil
}

func (h *cHarness) died(line string, err error) error {
	h.in.Close()
	h.cmd.Wait()
	hc = nil
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return fmt.Errorf("C harness died on %q: %v\n%s", line, err, h.stderr.String())
}

type cResult struct {
	ok   bool
	uses uint32
	n    int
}

// compile compiles text in C against vars and consts.
func (h *cHarness) compile(text string, vars []string, consts []Sym) (cResult, error) {
	v := "V " + strings.Join(vars, " ")
	if v != h.vars {
		if _, err := h.ask(v, false); err != nil {
			return cResult{}, err
		}
		h.vars = v
	}
	var k strings.Builder
	k.WriteString("K")
	for _, c := range consts {
		fmt.Fprintf(&k, " %s %d", c.Name, c.Value)
	}
	if k.String() != h.consts {
		if _, err := h.ask(k.String(), false); err != nil {
			return cResult{}, err
		}
		h.consts = k.String()
	}
	a, err := h.ask("C "+hex.EncodeToString([]byte(text)), true)
	if err != nil {
		return cResult{}, err
	}
	if a == "err" {
		return cResult{}, nil
	}
	var r cResult
	if _, err := fmt.Sscanf(a, "ok %d %d", &r.uses, &r.n); err != nil {
		return cResult{}, fmt.Errorf("C harness answered %q to compile %q", a, text)
	}
	r.ok = true
	return r, nil
}

// eval evaluates the last compiled program in C.
func (h *cHarness) eval(vals []int64) (int64, error) {
	var b strings.Builder
	b.WriteString("E")
	for _, v := range vals {
		b.WriteString(" " + strconv.FormatInt(v, 10))
	}
	a, err := h.ask(b.String(), true)
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseInt(strings.TrimPrefix(a, "= "), 10, 64)
	if perr != nil || !strings.HasPrefix(a, "= ") {
		return 0, fmt.Errorf("C harness answered %q to eval", a)
	}
	return v, nil
}

// TestCCompileEval runs the table and limit cases through the C: the same
// accept/reject and values as the Go's expectations.
func TestCCompileEval(t *testing.T) {
	hmu.Lock()
	defer hmu.Unlock()
	for _, tc := range allCases() {
		h := harness(t)
		r, err := h.compile(tc.text, tableVars, tableConsts)
		if err != nil {
			t.Fatal(err)
		}
		if tc.err != "" {
			if r.ok {
				t.Errorf("C compiles %q, want error (%s)", tc.text, tc.err)
			}
			continue
		}
		if !r.ok {
			t.Errorf("C refuses %q", tc.text)
			continue
		}
		got, err := h.eval(tc.env.values(tableVars))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("C: %q with %v = %d, want %d", tc.text, tc.env, got, tc.want)
		}
	}
}

// TestCVariables: at most 32 variables, bit 31 of uses, and a variable
// hides a constant of the same name, in C.
func TestCVariables(t *testing.T) {
	hmu.Lock()
	defer hmu.Unlock()
	vars := make([]string, MaxVars+1)
	for i := range vars {
		vars[i] = fmt.Sprintf("v%d", i)
	}
	h := harness(t)
	if r, err := h.compile("1", vars, nil); err != nil || r.ok {
		t.Errorf("C with %d variables: %+v, %v; want refused", len(vars), r, err)
	}
	h = harness(t)
	r, err := h.compile("v31 + v0 + v1", vars[:MaxVars], []Sym{{"v1", 100}})
	if err != nil || !r.ok || r.uses != 1<<31|3 {
		t.Fatalf("C: %+v, %v; want uses %#x", r, err, uint32(1<<31|3))
	}
	vals := make([]int64, MaxVars)
	vals[0], vals[1], vals[31] = 1, 2, 4
	if v, err := h.eval(vals); err != nil || v != 7 {
		t.Errorf("C: v31 + v0 + v1 = %d, %v; want 7", v, err)
	}
}

// The differential test's names: a point's variables plus short ones the
// fuzzer finds easily, and constants at the edges.
var (
	fuzzVars   = []string{"size", "flags", "node", "ptr", "times", "rnd100", "rnd10000", "in_init", "caller", "a", "b", "c"}
	fuzzConsts = []Sym{{"GFP_KERNEL", 0xcc0}, {"GFP_ATOMIC", 0xa20}, {"K", 7}, {"M", math.MinInt64}, {"X", math.MaxInt64}, {"c", 99}}
)

func fuzzVectors(a, b int64) [][]int64 {
	n := len(fuzzVars)
	vs := make([][]int64, 5)
	for i := range vs {
		vs[i] = make([]int64, n)
	}
	edges := []int64{math.MinInt64, -1, math.MaxInt64, 1, 0, 63, 64, -64, 3, 100, 2080, 3264}
	for k := 0; k < n; k++ {
		// vs[0]: all 0
		vs[1][k] = a
		vs[2][k] = b
		if k%2 == 0 {
			vs[3][k] = a
		} else {
			vs[3][k] = b ^ int64(k)
		}
		vs[4][k] = edges[k%len(edges)]
	}
	return vs
}

func FuzzDifferential(f *testing.F) {
	for _, tc := range allCases() {
		f.Add(tc.text, int64(3), int64(-1))
	}
	f.Fuzz(func(t *testing.T, text string, a, b int64) {
		hmu.Lock()
		defer hmu.Unlock()
		differ(t, text, a, b)
	})
}

func differ(t *testing.T, text string, a, b int64) {
	h := harness(t)
	p, gerr := Compile(text, fuzzVars, fuzzConsts)
	r, err := h.compile(text, fuzzVars, fuzzConsts)
	if err != nil {
		t.Fatal(err)
	}
	if (gerr == nil) != r.ok {
		t.Fatalf("%q: Go says %v, C says ok=%v", text, gerr, r.ok)
	}
	if gerr != nil {
		return
	}
	checkShape(t, text, p)
	if r.uses != p.uses || r.n != len(p.insns) {
		t.Fatalf("%q: C has uses %#x and %d instructions, Go %#x and %d", text, r.uses, r.n, p.uses, len(p.insns))
	}
	for _, vals := range fuzzVectors(a, b) {
		want := p.Eval(vals)
		got, err := h.eval(vals)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q with %v: C %d, Go %d", text, vals, got, want)
		}
	}
}

// genExpr writes a random expression of at most depth levels: mostly
// valid, in every spacing, with the fuzz names and literals at the edges.
func genExpr(r *rand.Rand, b *strings.Builder, depth int) {
	sp := func() {
		if r.IntN(3) == 0 {
			b.WriteString([]string{" ", "\t", "\n", "  "}[r.IntN(4)])
		}
	}
	sp()
	if depth <= 0 || r.IntN(4) == 0 {
		switch r.IntN(3) {
		case 0:
			b.WriteString(fuzzVars[r.IntN(len(fuzzVars))])
		case 1:
			b.WriteString(fuzzConsts[r.IntN(len(fuzzConsts))].Name)
		default:
			b.WriteString([]string{"0", "1", "2", "3", "7", "63", "64", "100", "-1", "0x7fffffffffffffff",
				"0xffffffffffffffff", "9223372036854775808", "0777", "010", "4096"}[r.IntN(15)])
		}
		sp()
		return
	}
	switch r.IntN(6) {
	case 0:
		b.WriteString([]string{"-", "!", "~", "+"}[r.IntN(4)])
		genExpr(r, b, depth-1)
	case 1:
		b.WriteString("(")
		genExpr(r, b, depth-1)
		b.WriteString(")")
	case 2:
		genExpr(r, b, depth-1)
		b.WriteString("?")
		genExpr(r, b, depth-1)
		b.WriteString(":")
		genExpr(r, b, depth-1)
	default:
		genExpr(r, b, depth-1)
		b.WriteString([]string{"*", "/", "%", "+", "-", "<<", ">>", "<", "<=", ">", ">=", "==", "=", "!=",
			"&", "^", "|", "&&", "||"}[r.IntN(19)])
		genExpr(r, b, depth-1)
	}
	sp()
}

// TestCGenerated compares the C and the Go on generated expressions and on
// one-byte mutations of them (a plain test: it runs in go test ./...).
func TestCGenerated(t *testing.T) {
	hmu.Lock()
	defer hmu.Unlock()
	r := rand.New(rand.NewPCG(14, 5))
	ok := 0
	const n = 1000
	for i := 0; i < n; i++ {
		var b strings.Builder
		genExpr(r, &b, 1+r.IntN(7))
		text := b.String()
		if i%3 == 2 && len(text) > 0 { // mutate: drop, double or replace a byte
			k := r.IntN(len(text))
			switch r.IntN(3) {
			case 0:
				text = text[:k] + text[k+1:]
			case 1:
				text = text[:k] + text[k:k+1] + text[k:]
			default:
				const junk = "()?:!=<>&|+-*/x0 \x00"
				text = text[:k] + junk[r.IntN(len(junk)):][:1] + text[k+1:]
			}
		}
		if _, err := Compile(text, fuzzVars, fuzzConsts); err == nil {
			ok++
		}
		differ(t, text, r.Int64(), int64(r.IntN(130)-65))
		if t.Failed() {
			return
		}
	}
	// Most must compile, or the values are never compared.
	if ok < n/2 {
		t.Errorf("only %d of %d generated expressions compile", ok, n)
	}
	t.Logf("%d of %d generated expressions compile", ok, n)
}
