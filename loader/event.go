package loader

import (
	"bytes"
	"encoding/json"
	"errors"
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
	Raw       string // the line, without the column padding and the newline

	tsText string // the timestamp as printed, for exact JSON
}

// headerTailRE matches what follows the task in a trace line's header:
// "-<pid> [(<tgid>)] [<cpu>] [<flags>] <ts>: <event>: ".
var headerTailRE = regexp.MustCompile(`^-(\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S+)\s+)?(\d+(?:\.\d+)?):\s+([A-Za-z_][A-Za-z0-9_]*):(?: |$)`)

// maxComm is the longest comm (TASK_COMM_LEN-1) the header can show.
const maxComm = 15

// Parser parses trace_pipe lines of a module's events by the events'
// format files (see EventFormat).
type Parser struct {
	events map[string]*EventFormat
}

// NewParser returns a parser for lines of the given events.
func NewParser(formats ...*EventFormat) *Parser {
	p := &Parser{events: map[string]*EventFormat{}}
	for _, f := range formats {
		p.events[f.Name] = f
	}
	return p
}

// Parse parses one trace_pipe line of one of the parser's events. The
// task name in the header is at most 15 bytes a traced task chose, so the
// header is cut after the longest such prefix that leaves a well-formed
// header and fields that match the event's format.
func (p *Parser) Parse(line string) (Event, error) {
	line = strings.TrimRight(line, "\n")
	trimmed := strings.TrimLeft(line, " ")
	var firstErr error
	for i := min(maxComm, len(trimmed)-1); i >= 0; i-- {
		if trimmed[i] != '-' {
			continue
		}
		m := headerTailRE.FindStringSubmatch(trimmed[i:])
		if m == nil {
			continue
		}
		ef := p.events[m[5]]
		if ef == nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("event %s: not one of the module's events", m[5])
			}
			continue
		}
		ev, err := parseEvent(ef, trimmed, trimmed[:i], m, trimmed[i+len(m[0]):])
		if err == nil {
			return ev, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no event header")
	}
	return Event{}, fmt.Errorf("parse trace line %q: %w: %v", trunc(trimmed), ErrMalformedEvent, firstErr)
}

func parseEvent(ef *EventFormat, line, task string, m []string, text string) (Event, error) {
	ev := Event{Task: task, Event: m[5], Raw: line, tsText: m[4], Fields: map[string]any{}}
	var err error
	if ev.PID, err = strconv.Atoi(m[1]); err != nil {
		return Event{}, fmt.Errorf("pid: %w", err)
	}
	if ev.CPU, err = strconv.Atoi(m[2]); err != nil {
		return Event{}, fmt.Errorf("cpu: %w", err)
	}
	if ev.TS, err = strconv.ParseFloat(m[4], 64); err != nil {
		return Event{}, fmt.Errorf("timestamp: %w", err)
	}
	vals, err := ef.parse(text)
	if err != nil {
		return Event{}, err
	}
	for _, sg := range ef.segs {
		if sg.kind == segLiteral || sg.cont {
			continue
		}
		v := vals[sg.key]
		switch {
		case sg.key == "stack" && sg.kind == segArray:
			if ev.Stack, err = parseStack(v); err != nil {
				return Event{}, err
			}
		case sg.key == "stack" && sg.kind == segHex && sg.hex0x:
			// "stack=0x%lx,0x%lx": a list printed by hand.
			if ev.Stack, err = parseStack("0x" + v); err != nil {
				return Event{}, err
			}
		case sg.kind == segInt || sg.kind == segUint:
			ev.Fields[sg.key] = parseValue(v)
		case sg.kind == segHex && sg.hex0x:
			ev.Fields[sg.key] = "0x" + v
		default:
			ev.Fields[sg.key] = v
		}
	}
	if c, ok := ev.Fields["comm"].(string); ok && ev.Task == "<...>" {
		ev.Task = c
	}
	return ev, nil
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
	return escapeJSONControls(bytes.TrimRight(b.Bytes(), "\n")), err
}
