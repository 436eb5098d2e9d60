package kedrconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// fakeActions records what each line did, and fails the actions named in fail.
type fakeActions struct {
	log    []string
	fail   map[string]bool // "sh CMD", "module ARG", "payload ARG", "rmmod NAME", "unload NAME"
	loaded []string        // modules loaded now, in order
	// deps: what "module NAME" loads before NAME (depth-first order)
	deps map[string][]string
}

func (f *fakeActions) do(what string) error {
	f.log = append(f.log, what)
	if f.fail[what] {
		return errors.New("failed")
	}
	return nil
}

func (f *fakeActions) Shell(cmd string) error { return f.do("sh " + cmd) }

func (f *fakeActions) LoadModule(l Line) ([]string, error) {
	if err := f.do("module " + l.Arg); err != nil {
		return nil, err
	}
	var did []string
	for _, m := range append(slices.Clone(f.deps[l.Arg]), l.Arg) {
		if !slices.Contains(f.loaded, m) {
			f.loaded = append(f.loaded, m)
			did = append(did, m)
		}
	}
	return did, nil
}

func (f *fakeActions) LoadPayload(l Line) (string, error) {
	if err := f.do("payload " + l.Arg); err != nil {
		return "", err
	}
	f.loaded = append(f.loaded, l.Arg)
	return l.Arg, nil
}

func (f *fakeActions) UnloadModules(names []string) error {
	for i := len(names) - 1; i >= 0; i-- {
		if err := f.do("rmmod " + names[i]); err != nil {
			return err
		}
		f.loaded = slices.DeleteFunc(f.loaded, func(s string) bool { return s == names[i] })
	}
	return nil
}

func (f *fakeActions) UnloadPayload(name string) error {
	if err := f.do("unload " + name); err != nil {
		return err
	}
	f.loaded = slices.DeleteFunc(f.loaded, func(s string) bool { return s == name })
	return nil
}

func (f *fakeActions) ModuleName(l Line) (string, error) { return l.Arg, nil }

// conf is the seed's shape, with one module of each sort.
const conf = `on_load mkdir d
on_load mount d
on_unload umount-if-mounted d
module null_blk
payload p
on_load enable p
on_unload after-payload
module x
on_load umount d
`

func parse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Parse("c.conf", strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunOrderAndRollback(t *testing.T) {
	for _, tt := range []struct {
		name     string
		fail     string // the action that fails
		want     []string
		wantErr  string // "" = success
		wantLeft []string
	}{
		{name: "success", want: []string{"sh mkdir d", "sh mount d", "module null_blk", "payload p", "sh enable p", "module x", "sh umount d"},
			wantLeft: []string{"configfs", "null_blk", "p", "x"}},
		{name: "first line fails", fail: "sh mkdir d", want: []string{"sh mkdir d"},
			wantErr: "c.conf:1: on_load mkdir d: failed"},
		{name: "on_load before any on_unload", fail: "sh mount d", want: []string{"sh mkdir d", "sh mount d"},
			wantErr: "c.conf:2: on_load mount d: failed"},
		{name: "module fails: on_unload met runs", fail: "module null_blk",
			want:    []string{"sh mkdir d", "sh mount d", "module null_blk", "sh umount-if-mounted d"},
			wantErr: "c.conf:4: module null_blk: failed"},
		{name: "payload fails: module removed with its dependency, then on_unload", fail: "payload p",
			want:    []string{"sh mkdir d", "sh mount d", "module null_blk", "payload p", "rmmod null_blk", "rmmod configfs", "sh umount-if-mounted d"},
			wantErr: "c.conf:5: payload p: failed"},
		{name: "middle on_load fails", fail: "sh enable p",
			want:    []string{"sh mkdir d", "sh mount d", "module null_blk", "payload p", "sh enable p", "unload p", "rmmod null_blk", "rmmod configfs", "sh umount-if-mounted d"},
			wantErr: "c.conf:6: on_load enable p: failed"},
		{name: "last line fails: later on_unload runs too, in reverse", fail: "sh umount d",
			want: []string{"sh mkdir d", "sh mount d", "module null_blk", "payload p", "sh enable p", "module x", "sh umount d",
				"rmmod x", "sh after-payload", "unload p", "rmmod null_blk", "rmmod configfs", "sh umount-if-mounted d"},
			wantErr: "c.conf:9: on_load umount d: failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeActions{fail: map[string]bool{tt.fail: true}, deps: map[string][]string{"null_blk": {"configfs"}}}
			rec, err := run(context.Background(), parse(t, conf), f, io.Discard)
			if !slices.Equal(f.log, tt.want) {
				t.Errorf("actions:\n got %q\nwant %q", f.log, tt.want)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.Lines) != 3 || !slices.Equal(rec.Lines[0].Modules, []string{"configfs", "null_blk"}) {
					t.Errorf("record: %+v", rec)
				}
			} else {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				var le *LineError
				if !errors.As(err, &le) || le.Line.Text == "" {
					t.Errorf("error %v is no LineError", err)
				}
			}
			if !slices.Equal(f.loaded, tt.wantLeft) {
				t.Errorf("loaded afterwards = %q, want %q", f.loaded, tt.wantLeft)
			}
		})
	}
}

func TestRollbackFailureReported(t *testing.T) {
	f := &fakeActions{fail: map[string]bool{"sh enable p": true, "unload p": true}, deps: map[string][]string{}}
	_, err := run(context.Background(), parse(t, conf), f, io.Discard)
	want := "c.conf:6: on_load enable p: failed\nroll back: c.conf:5: payload p: failed"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	// The rest of the rollback still ran.
	if !slices.Equal(f.log[len(f.log)-2:], []string{"rmmod null_blk", "sh umount-if-mounted d"}) {
		t.Errorf("actions: %q", f.log)
	}
}

func TestUnrun(t *testing.T) {
	c := parse(t, conf)
	for _, tt := range []struct {
		name     string
		preload  []string
		noRecord bool
		fail     string
		want     []string
		wantErr  string
		wantLeft []string
	}{
		{name: "with record: only what the lines loaded",
			preload:  []string{"configfs"}, // loaded before: not the line's
			want:     []string{"rmmod x", "sh after-payload", "unload p", "rmmod null_blk", "sh umount-if-mounted d"},
			wantLeft: []string{"configfs"}},
		{name: "without record: the modules the lines name", noRecord: true,
			want:     []string{"rmmod x", "sh after-payload", "unload p", "rmmod null_blk", "sh umount-if-mounted d"},
			wantLeft: []string{"configfs"}},
		{name: "a failure does not stop the rest", fail: "unload p",
			want:     []string{"rmmod x", "sh after-payload", "unload p", "rmmod null_blk", "rmmod configfs", "sh umount-if-mounted d"},
			wantErr:  "c.conf:5: payload p: failed",
			wantLeft: []string{"p"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeActions{fail: map[string]bool{}, deps: map[string][]string{"null_blk": {"configfs"}}, loaded: tt.preload}
			rec, err := run(context.Background(), c, f, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noRecord {
				rec = nil
			}
			f.log = nil
			f.fail[tt.fail] = true
			err = unrun(c, rec, f, io.Discard)
			if !slices.Equal(f.log, tt.want) {
				t.Errorf("actions:\n got %q\nwant %q", f.log, tt.want)
			}
			if fmt.Sprint(err) != tt.wantErr && !(err == nil && tt.wantErr == "") {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
			if !slices.Equal(f.loaded, tt.wantLeft) {
				t.Errorf("loaded afterwards = %q, want %q", f.loaded, tt.wantLeft)
			}
		})
	}
}

// A record of another version of the file (lines moved) is not used for
// the lines it does not match.
func TestUnrunStaleRecord(t *testing.T) {
	c := parse(t, "module a\nmodule b\n")
	rec := &Record{Lines: []RecordedLine{{N: 1, Text: "module a", Modules: []string{"dep", "a"}}, {N: 1, Text: "module b", Modules: []string{"zzz"}}}}
	f := &fakeActions{fail: map[string]bool{}}
	if err := unrun(c, rec, f, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rmmod b", "rmmod a", "rmmod dep"}; !slices.Equal(f.log, want) {
		t.Errorf("actions %q, want %q", f.log, want)
	}
}

// interruptingActions cancels the load while one line runs.
type interruptingActions struct {
	*fakeActions
	at     string
	cancel context.CancelFunc
}

func (a interruptingActions) Shell(cmd string) error {
	if "sh "+cmd == a.at {
		a.cancel()
	}
	return a.fakeActions.Shell(cmd)
}

// TestRunInterrupted: Ctrl-C during a line lets it finish, then rolls
// everything back and names the next line.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeActions{fail: map[string]bool{}, deps: map[string][]string{}}
	_, err := run(ctx, parse(t, conf), interruptingActions{f, "sh enable p", cancel}, io.Discard)
	want := []string{"sh mkdir d", "sh mount d", "module null_blk", "payload p", "sh enable p",
		"unload p", "rmmod null_blk", "sh umount-if-mounted d"}
	if !slices.Equal(f.log, want) {
		t.Errorf("actions:\n got %q\nwant %q", f.log, want)
	}
	if !errors.Is(err, ErrInterrupted) || !strings.HasPrefix(err.Error(), "c.conf:7: on_unload after-payload: interrupted before this line") {
		t.Errorf("error = %v", err)
	}
	if len(f.loaded) != 0 {
		t.Errorf("left loaded: %v", f.loaded)
	}
}
