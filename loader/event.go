package loader

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Event is one parsed trace_pipe line of a kgen module.
type Event struct {
	// Task is the comm of the task that hit the event. The kernel prints
	// "<...>" until its comm cache knows the task (seen on 6.12 for a
	// task's first events); the event's own comm field is used then.
	Task   string
	PID    int            // its pid
	CPU    int            // CPU the event was recorded on
	TS     float64        // timestamp in seconds (trace clock)
	Event  string         // event name
	Fields map[string]any // int64, uint64 or string values; "0x.." values stay strings
	Stack  []uint64       // the stack= field, if any
	// StackSyms is Stack symbolised ("vfs_read+0x0/0x1a0"); filled by Trace
	// when kallsyms is readable.
	StackSyms []string
	Raw       string // the line, trimmed

	tsText string // the timestamp as printed, for exact JSON
}

// header: "<task>-<pid> [(<tgid>)] [<cpu>] [<flags>] <ts>: <event>: <fields>".
var headerRE = regexp.MustCompile(`^(.+?)-(\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S+)\s+)?(\d+(?:\.\d+)?):\s+([A-Za-z_][A-Za-z0-9_]*):(?:\s(.*))?$`)

var fieldKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// ParseLine parses one trace_pipe line in kgen's event format: space
// separated key=value fields, decimal integers, 0x pointers, comm='...'
// quoted (comm="..." from modules built before the quotes changed: a
// double quote inside a print format breaks libtraceevent), and a
// stack=0x..,0x.. or stack={0x..,0x..} field.
func ParseLine(line string) (Event, error) {
	line = strings.TrimSpace(line)
	m := headerRE.FindStringSubmatch(line)
	if m == nil {
		return Event{}, fmt.Errorf("parse trace line %q: %w", trunc(line), ErrMalformedEvent)
	}
	ev := Event{Task: m[1], Event: m[6], Raw: line, tsText: m[5], Fields: map[string]any{}}
	var err error
	if ev.PID, err = strconv.Atoi(m[2]); err != nil {
		return Event{}, fmt.Errorf("parse trace line %q: pid: %w", trunc(line), ErrMalformedEvent)
	}
	if ev.CPU, err = strconv.Atoi(m[3]); err != nil {
		return Event{}, fmt.Errorf("parse trace line %q: cpu: %w", trunc(line), ErrMalformedEvent)
	}
	if ev.TS, err = strconv.ParseFloat(m[5], 64); err != nil {
		return Event{}, fmt.Errorf("parse trace line %q: timestamp: %w", trunc(line), ErrMalformedEvent)
	}
	if err := parseFields(m[7], &ev); err != nil {
		return Event{}, fmt.Errorf("parse trace line %q: %w: %v", trunc(line), ErrMalformedEvent, err)
	}
	if c, ok := ev.Fields["comm"].(string); ok && ev.Task == "<...>" {
		ev.Task = c
	}
	return ev, nil
}

func parseFields(s string, ev *Event) error {
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return nil
		}
		loc := fieldKeyRE.FindStringIndex(s)
		if loc == nil {
			return fmt.Errorf("want key=value at %q", trunc(s))
		}
		key := s[:loc[1]-1]
		s = s[loc[1]:]
		var val string
		quoted := strings.HasPrefix(s, `'`) || strings.HasPrefix(s, `"`)
		if quoted {
			end := closingQuote(s)
			if end < 0 {
				return fmt.Errorf("field %s: unterminated quote", key)
			}
			val, s = s[1:end], s[end+1:]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if _, dup := ev.Fields[key]; dup || (key == "stack" && ev.Stack != nil) {
			return fmt.Errorf("field %s repeated", key)
		}
		switch {
		case key == "stack" && !quoted:
			st, err := parseStack(val)
			if err != nil {
				return err
			}
			ev.Stack = st
		case quoted:
			ev.Fields[key] = val
		default:
			ev.Fields[key] = parseValue(val)
		}
	}
}

// closingQuote finds the quote ending a value that starts with one (' or
// "): the first same quote followed by the end or by " key=" (comm may
// hold quotes).
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			continue
		}
		rest := s[i+1:]
		if rest == "" || (rest[0] == ' ' && fieldKeyRE.MatchString(strings.TrimLeft(rest, " "))) {
			return i
		}
	}
	return -1
}

func parseValue(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return n
	}
	return v
}

// parseStack reads "0x1,0x2" or __print_array's "{0x1,0x2}".
func parseStack(v string) ([]uint64, error) {
	st := []uint64{}
	if inner, ok := strings.CutPrefix(v, "{"); ok {
		if inner, ok = strings.CutSuffix(inner, "}"); !ok {
			return nil, fmt.Errorf("stack %q: unterminated {", trunc(v))
		}
		v = inner
	}
	if v == "" {
		return st, nil
	}
	for _, a := range strings.Split(v, ",") {
		h, ok := strings.CutPrefix(a, "0x")
		if !ok {
			return nil, fmt.Errorf("stack entry %q: want 0x<hex>", trunc(a))
		}
		n, err := strconv.ParseUint(h, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("stack entry %q: want 0x<hex>", trunc(a))
		}
		st = append(st, n)
	}
	return st, nil
}

// jsonNumber drops the leading zeros JSON forbids ("0012.5" -> "12.5").
func jsonNumber(s string) string {
	intPart, frac, dot := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if dot {
		return intPart + "." + frac
	}
	return intPart
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// MarshalJSON writes {"ts","cpu","task","pid","event","fields","stack"};
// the stack is symbolised when StackSyms is set, else hex strings.
func (e Event) MarshalJSON() ([]byte, error) {
	ts := json.Number(jsonNumber(e.tsText))
	if e.tsText == "" {
		ts = json.Number(strconv.FormatFloat(e.TS, 'f', -1, 64))
	}
	fields := e.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	var stack []string
	switch {
	case len(e.StackSyms) == len(e.Stack) && e.Stack != nil:
		stack = e.StackSyms
	case e.Stack != nil:
		stack = make([]string, len(e.Stack))
		for i, a := range e.Stack {
			stack[i] = fmt.Sprintf("0x%x", a)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		TS     json.Number    `json:"ts"`
		CPU    int            `json:"cpu"`
		Task   string         `json:"task"`
		PID    int            `json:"pid"`
		Event  string         `json:"event"`
		Fields map[string]any `json:"fields"`
		Stack  []string       `json:"stack,omitempty"`
	}{ts, e.CPU, e.Task, e.PID, e.Event, fields, stack})
	return bytes.TrimRight(b.Bytes(), "\n"), err
}
