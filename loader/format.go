package loader

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// EventFormat is a trace event's tracefs format file as the trace parser
// uses it: the event name, its fields and its print fmt cut into literal
// text and conversions. Lines are parsed by it, not by splitting text, so
// that text a traced task controls (its comm) cannot add, drop or move a
// field: only the conversions of the format take values, each only the
// characters its conversion prints, and a string field at most the bytes
// its field holds.
type EventFormat struct {
	Name   string
	Fields map[string]FormatField
	segs   []segment
}

// FormatField is one "field:" line of a format file.
type FormatField struct {
	Type string // "char", "unsigned long", "__data_loc char[]", ...
	Len  int    // array length: 0 = not an array, -1 = dynamic (__data_loc)
	Size int    // bytes
}

type segKind int

const (
	segLiteral segKind = iota
	segInt             // %d %i %ld %lld ...
	segUint            // %u %lu %llu %zu ...
	segHex             // %x %lx ...; "0x"+digits when the literal before ends in 0x
	segChar            // %c
	segStr             // %s
	segArray           // %s of __print_array: {0x1,0x2}
	segToken           // %p and anything else: text up to the next space
)

type segment struct {
	kind   segKind
	lit    string // segLiteral: the text
	key    string // conversions: the field's key in Event.Fields
	max    int    // segStr: at most this many bytes; -1 = unbounded
	hex0x  bool   // segHex: value printed after a literal "0x"
	quoted bool   // value printed between quotes
	// cont: no key of its own; the value continues the previous
	// conversion's after contLit ("stack=0x%lx,0x%lx" is one list).
	cont    bool
	contLit string
}

// ParseFormat parses a tracefs event format file.
func ParseFormat(data []byte) (*EventFormat, error) {
	ef := &EventFormat{Fields: map[string]FormatField{}}
	var printFmt string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "name: "):
			ef.Name = strings.TrimSpace(line[len("name: "):])
		case strings.HasPrefix(strings.TrimSpace(line), "field:"):
			name, f, ok := parseFieldLine(strings.TrimSpace(line))
			if ok {
				ef.Fields[name] = f
			}
		case strings.HasPrefix(line, "print fmt: "):
			printFmt = line[len("print fmt: "):]
		}
	}
	if !eventNameRE.MatchString(ef.Name) {
		return nil, fmt.Errorf("parse event format: name %q: %w", trunc(ef.Name), ErrMalformedEvent)
	}
	if printFmt == "" {
		return nil, fmt.Errorf("parse event format %s: no print fmt: %w", ef.Name, ErrMalformedEvent)
	}
	f, args, err := splitPrintFmt(printFmt)
	if err != nil {
		return nil, fmt.Errorf("parse event format %s: %w: %v", ef.Name, ErrMalformedEvent, err)
	}
	if ef.segs, err = ef.segments(f, args); err != nil {
		return nil, fmt.Errorf("parse event format %s: %w: %v", ef.Name, ErrMalformedEvent, err)
	}
	return ef, nil
}

var eventNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fieldLineRE matches "field:unsigned long stack[16];	offset:64;	size:128;	signed:0;".
var fieldLineRE = regexp.MustCompile(`^field:(.*?)([A-Za-z_][A-Za-z0-9_]*)(\[(\d*)\])?;\s*offset:\d+;\s*size:(\d+);`)

func parseFieldLine(line string) (string, FormatField, bool) {
	m := fieldLineRE.FindStringSubmatch(line)
	if m == nil {
		return "", FormatField{}, false
	}
	f := FormatField{Type: strings.TrimSpace(m[1])}
	f.Size, _ = strconv.Atoi(m[5])
	switch {
	case strings.HasPrefix(f.Type, "__data_loc") || strings.HasPrefix(f.Type, "__rel_loc"):
		f.Len = -1
	case m[3] != "":
		f.Len, _ = strconv.Atoi(m[4])
		if f.Len == 0 {
			f.Len = -1
		}
	}
	return m[2], f, true
}

// splitPrintFmt cuts `"fmt", arg, arg` into the unescaped format and its
// arguments. Kernels print the format's quotes as they are (6.1:
// comm="%s") or escaped (comm=\"%s\"), so the closing quote is the one
// after which the arguments number the conversions.
func splitPrintFmt(s string) (string, []string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return "", nil, fmt.Errorf("print fmt %q: want a quoted format", trunc(s))
	}
	var fallback string
	var fallbackArgs []string
	found := false
	for j := 1; j < len(s); j++ {
		if s[j] == '\\' {
			j++
			continue
		}
		if s[j] != '"' {
			continue
		}
		rest := strings.TrimSpace(s[j+1:])
		if rest != "" && rest[0] != ',' {
			continue
		}
		f := unescapeC(s[1:j])
		args := splitArgs(strings.TrimPrefix(rest, ","))
		if countConversions(f) == len(args) {
			return f, args, nil
		}
		fallback, fallbackArgs, found = f, args, true
	}
	if !found {
		return "", nil, fmt.Errorf("print fmt %q: unterminated format", trunc(s))
	}
	return fallback, fallbackArgs, nil
}

func unescapeC(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// splitArgs splits a C argument list at top-level commas.
func splitArgs(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	depth, start := 0, 0
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// convRE matches one printf conversion after its '%'.
var convRE = regexp.MustCompile(`^[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(hh|h|ll|l|L|z|t|j)?([diouxXcsp%])([A-Za-z]*)`)

func countConversions(f string) int {
	n := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		m := convRE.FindStringSubmatch(f[i+1:])
		if m == nil {
			continue
		}
		if m[2] != "%" {
			n++
		}
		i += len(m[0])
	}
	return n
}

// keyRE finds the key a literal ends with: `pid=`, `comm="`, `addr=0x`.
var keyRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=(0x|"|')?$`)

// contRE is a literal that continues a list: "0x%lx,0x%lx".
var contRE = regexp.MustCompile(`^,(0x)?$`)

var recRE = regexp.MustCompile(`^REC->([A-Za-z_][A-Za-z0-9_]*)$`)

func (ef *EventFormat) segments(f string, args []string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	keys := map[string]bool{}
	n := 0
	prevKey := "" // the key of the last conversion, "" before the first
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit.WriteByte(f[i])
			continue
		}
		m := convRE.FindStringSubmatch(f[i+1:])
		if m == nil {
			return nil, fmt.Errorf("conversion at %q", trunc(f[i:]))
		}
		i += len(m[0])
		if m[2] == "%" {
			lit.WriteByte('%')
			continue
		}
		arg := ""
		if n < len(args) {
			arg = args[n]
		}
		n++
		sg := segment{max: -1}
		before := lit.String()
		if prevKey != "" && contRE.MatchString(before) {
			sg.key, sg.cont, sg.contLit = prevKey, true, before
		} else if km := keyRE.FindStringSubmatch(before); km != nil {
			sg.key = km[1]
			sg.hex0x = km[2] == "0x"
			sg.quoted = km[2] == `"` || km[2] == "'"
		} else if rm := recRE.FindStringSubmatch(arg); rm != nil {
			sg.key = rm[1]
		} else {
			sg.key = fmt.Sprintf("arg%d", n)
		}
		if keys[sg.key] && !sg.cont {
			return nil, fmt.Errorf("key %s printed twice", sg.key)
		}
		keys[sg.key] = true
		switch verb := m[2]; {
		case verb == "d" || verb == "i":
			sg.kind = segInt
		case verb == "u":
			sg.kind = segUint
		case verb == "x" || verb == "X" || verb == "o":
			sg.kind = segHex
		case verb == "c":
			sg.kind = segChar
		case verb == "s" && strings.HasPrefix(arg, "__print_array("):
			sg.kind = segArray
		case verb == "p" && m[3] != "" && strings.ContainsAny(m[3][:1], "SsBF"):
			// a symbol, "func+0x1c/0x40 [mod]": a string anchored by the
			// literal after it, like %s
			sg.kind = segStr
		case verb == "s":
			sg.kind = segStr
			if rm := recRE.FindStringSubmatch(arg); rm != nil {
				if fl, ok := ef.Fields[rm[1]]; ok && fl.Len > 0 && strings.HasSuffix(fl.Type, "char") {
					sg.max = fl.Len - 1 // a NUL-terminated char array
				}
			}
		default:
			sg.kind = segToken
		}
		if sg.hex0x && sg.kind != segHex {
			sg.hex0x = false
		}
		if before != "" {
			segs = append(segs, segment{kind: segLiteral, lit: before})
		}
		lit.Reset()
		segs = append(segs, sg)
		prevKey = sg.key
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{kind: segLiteral, lit: lit.String()})
	}
	return segs, nil
}

// matchBudget bounds the backtracking over string fields per line.
const matchBudget = 10000

// parse matches text (what the event printed) against the format and
// returns the values by key. A string takes the longest text that lets the
// rest of the line match: a traced task controls only its comm, and what
// the kernel prints after it (numbers, symbol names) cannot end a comm, so
// the longest match is the true one.
func (ef *EventFormat) parse(text string) (map[string]string, error) {
	vals := make([]string, len(ef.segs))
	budget := matchBudget
	if !ef.match(text, 0, vals, &budget) {
		if budget <= 0 {
			return nil, fmt.Errorf("%s: line too ambiguous", ef.Name)
		}
		return nil, fmt.Errorf("%s: does not match its format at %q", ef.Name, trunc(text))
	}
	out := make(map[string]string, len(vals))
	for i, sg := range ef.segs {
		switch {
		case sg.kind == segLiteral:
		case sg.cont:
			out[sg.key] += sg.contLit + vals[i]
		default:
			out[sg.key] = vals[i]
		}
	}
	return out, nil
}

func (ef *EventFormat) match(text string, si int, vals []string, budget *int) bool {
	*budget--
	if *budget <= 0 {
		return false
	}
	if si == len(ef.segs) {
		return text == ""
	}
	sg := ef.segs[si]
	switch sg.kind {
	case segLiteral:
		rest, ok := strings.CutPrefix(text, sg.lit)
		return ok && ef.match(rest, si+1, vals, budget)
	case segStr:
		hi := len(text)
		if sg.max >= 0 && hi > sg.max {
			hi = sg.max
		}
		var next string
		if si+1 < len(ef.segs) && ef.segs[si+1].kind == segLiteral {
			next = ef.segs[si+1].lit
		}
		for n := hi; n >= 0; n-- {
			if next != "" && !strings.HasPrefix(text[n:], next) {
				continue
			}
			if si+1 == len(ef.segs) && n != len(text) {
				return false
			}
			vals[si] = text[:n]
			if ef.match(text[n:], si+1, vals, budget) {
				return true
			}
			if *budget <= 0 {
				return false
			}
		}
		return false
	default:
		n := tokenLen(sg.kind, text)
		if n < 0 {
			return false
		}
		vals[si] = text[:n]
		return ef.match(text[n:], si+1, vals, budget)
	}
}

// tokenLen is the length of the value a numeric (or token) conversion
// printed at the start of text, or -1 if there is none.
func tokenLen(k segKind, text string) int {
	n := 0
	switch k {
	case segChar:
		if text == "" {
			return -1
		}
		return 1
	case segInt:
		if strings.HasPrefix(text, "-") {
			n = 1
		}
		d := digits(text[n:], isDec)
		if d == 0 {
			return -1
		}
		return n + d
	case segUint:
		if d := digits(text, isDec); d > 0 {
			return d
		}
		return -1
	case segHex:
		if d := digits(text, isHex); d > 0 {
			return d
		}
		return -1
	case segArray:
		return digits(text, func(c byte) bool { return isHex(c) || c == 'x' || c == ',' || c == '{' || c == '}' })
	default: // segToken
		return digits(text, func(c byte) bool { return c != ' ' })
	}
}

func digits(s string, ok func(byte) bool) int {
	i := 0
	for i < len(s) && ok(s[i]) {
		i++
	}
	return i
}

func isDec(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool { return isDec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }
