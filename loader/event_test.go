package loader

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		want       Event
	}{
		{"issue example",
			`              dd-71      [000] .....    12.345678: vfs_read: pid=71 comm="dd" count=1 ret=1 latency=2310`,
			Event{Task: "dd", PID: 71, CPU: 0, TS: 12.345678, Event: "vfs_read",
				Fields: map[string]any{"pid": int64(71), "comm": "dd", "count": int64(1), "ret": int64(1), "latency": int64(2310)}}},
		{"old kernel 4-char flags, negative, pointer, stack",
			`kworker/0:1-12 [003] d...  9876.000001: r: pid=12 comm="kworker/0:1" ret=-14 ptr=0xffff8880 stack=0xffffffff81000000,0x10`,
			Event{Task: "kworker/0:1", PID: 12, CPU: 3, TS: 9876.000001, Event: "r",
				Fields: map[string]any{"pid": int64(12), "comm": "kworker/0:1", "ret": int64(-14), "ptr": "0xffff8880"},
				Stack:  []uint64{0xffffffff81000000, 0x10}}},
		{"task with dashes and spaces, quote in comm, no flags column, tgid",
			`my-odd task-5-42 (   40) [1]  1.5: ev: comm="a" b" big=18446744073709551615`,
			Event{Task: "my-odd task-5", PID: 42, CPU: 1, TS: 1.5, Event: "ev",
				Fields: map[string]any{"comm": `a" b`, "big": uint64(18446744073709551615)}}},
		{"unknown task, no fields",
			`<...>-7 [000] ..... 3.000000: tick:`,
			Event{Task: "<...>", PID: 7, TS: 3, Event: "tick", Fields: map[string]any{}}},
		{"comm cache miss: task from the comm field",
			`<...>-149     [000] .....     3.875012: tick: pid=149 comm="loader.test" seq=1`,
			Event{Task: "loader.test", PID: 149, TS: 3.875012, Event: "tick", Fields: map[string]any{"pid": int64(149), "comm": "loader.test", "seq": int64(1)}}},
		{"otst trigger: __print_array stack in braces, string symbol",
			`sync-105     [000] .N.1.     5.632680: otst_trigger: pid=105 tid=105 comm="sync" cpu=0 symbol=ksys_sync addr=0xffffffff813abfb0 shot=1 stack={0xffffffff813abfb5,0xffffffff813ac05a}`,
			Event{Task: "sync", PID: 105, TS: 5.632680, Event: "otst_trigger",
				Fields: map[string]any{"pid": int64(105), "tid": int64(105), "comm": "sync", "cpu": int64(0), "symbol": "ksys_sync", "addr": "0xffffffff813abfb0", "shot": int64(1)},
				Stack:  []uint64{0xffffffff813abfb5, 0xffffffff813ac05a}}},
		{"single-quoted comm (today's format) with quotes and spaces inside",
			`sync-105     [000] .N.1.     5.632680: otst_trigger: pid=105 comm='it's a "b"' shot=1 stack={0xffffffff813abfb5}`,
			Event{Task: "sync", PID: 105, TS: 5.632680, Event: "otst_trigger",
				Fields: map[string]any{"pid": int64(105), "comm": `it's a "b"`, "shot": int64(1)},
				Stack:  []uint64{0xffffffff813abfb5}}},
		{"empty braced stack",
			`a-1 [0] .... 1.0: e: stack={}`,
			Event{Task: "a", PID: 1, TS: 1, Event: "e", Fields: map[string]any{}, Stack: []uint64{}}},
		{"empty stack and empty comm",
			`a-1 [0] .... 1.0: e: comm="" stack=`,
			Event{Task: "a", PID: 1, TS: 1, Event: "e", Fields: map[string]any{"comm": ""}, Stack: []uint64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			got.Raw, got.tsText = "", ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"# tracer: nop",
		"CPU:1 [LOST 12 EVENTS]",
		`dd-71 [000] ..... 12.3: vfs_read: pid=71 garbage`,
		`dd-71 [000] ..... 12.3: vfs_read: comm="unterminated`,
		`dd-71 [000] ..... 12.3: vfs_read: comm='mixed"`,
		`dd-71 [000] ..... 12.3: vfs_read: a=1 a=2`,
		`dd-71 [000] ..... 12.3: vfs_read: stack={0x1,0x2`,
		`dd-71 [000] ..... 12.3: vfs_read: stack=0x1,zz`,
		`dd-x [000] ..... 12.3: vfs_read: a=1`,
	} {
		if ev, err := ParseLine(line); !errors.Is(err, ErrMalformedEvent) {
			t.Errorf("ParseLine(%q) = %+v, %v; want ErrMalformedEvent", line, ev, err)
		}
	}
}

func TestEventJSON(t *testing.T) {
	ev, err := ParseLine(`              dd-71      [000] .....    12.345678: vfs_read: pid=71 comm="dd" count=1 ret=1 latency=2310 stack=0xffffffff81234567`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ts":12.345678,"cpu":0,"task":"dd","pid":71,"event":"vfs_read","fields":{"comm":"dd","count":1,"latency":2310,"pid":71,"ret":1},"stack":["0xffffffff81234567"]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`              dd-71      [000] .....    12.345678: vfs_read: pid=71 comm="dd" count=1 ret=1 latency=2310`,
		`a-1 [0] .... 1.0: e: comm="x" stack=0x1,0x2`,
		`my-odd task-5-42 (   40) [1]  1.5: ev: comm="a" b" big=18446744073709551615`,
		`<...>-7 [000] ..... 3: tick:`,
		"CPU:1 [LOST 12 EVENTS]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v does not wrap ErrMalformedEvent", err)
			}
			return
		}
		if ev.PID < 0 || ev.CPU < 0 || ev.Event == "" || ev.Raw != strings.TrimSpace(line) {
			t.Fatalf("inconsistent event %+v", ev)
		}
		b, err := json.Marshal(ev)
		if err != nil || !json.Valid(b) {
			t.Fatalf("marshal %+v: %s, %v", ev, b, err)
		}
		again, err := ParseLine(ev.Raw)
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("reparse differs: %+v vs %+v (%v)", again, ev, err)
		}
	})
}
