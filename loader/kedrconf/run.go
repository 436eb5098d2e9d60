package kedrconf

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Actions are what the lines of a configuration do to the system. The
// real ones (System) go through package loader and /bin/sh; tests use a
// fake to check the order of things.
type Actions interface {
	// Shell runs an on_load or on_unload command.
	Shell(cmd string) error
	// LoadModule loads a module line's module, and what it needs, and
	// returns the modules it loaded in load order (none when they all
	// were loaded already).
	LoadModule(l Line) ([]string, error)
	// LoadPayload loads a payload line's module and returns its name.
	LoadPayload(l Line) (string, error)
	// UnloadModules removes modules, in the reverse of the order given.
	UnloadModules(names []string) error
	// UnloadPayload removes a payload kgen loaded.
	UnloadPayload(name string) error
	// ModuleName is the name of a module or payload line's module, for
	// unloading one that no record says anything about.
	ModuleName(l Line) (string, error)
}

// Record is what a load did: the modules each module or payload line
// loaded. Unload uses it to remove those and only those.
type Record struct {
	File  string         `json:"file"`
	Lines []RecordedLine `json:"lines"`
}

// RecordedLine is one module or payload line of a Record.
type RecordedLine struct {
	N       int      `json:"n"`
	Text    string   `json:"text"`
	Modules []string `json:"modules"` // in load order
}

func (r *Record) modules(l Line) ([]string, bool) {
	if r == nil {
		return nil, false
	}
	for _, rl := range r.Lines {
		if rl.N == l.N && rl.Text == l.Text {
			return rl.Modules, true
		}
	}
	return nil, false
}

// undoStep is one entry of the load's undo stack.
type undoStep struct {
	line Line
	do   func() error
}

// ErrInterrupted: the load was cancelled (Ctrl-C) between two lines.
var ErrInterrupted = errors.New("interrupted")

// run loads c: its lines in order. When one fails, or ctx is done before
// the next line, the steps done so far are undone in reverse (modules and
// payloads removed, the on_unload lines met so far run) and the error
// names the failing (or next) line.
func run(ctx context.Context, c *Config, a Actions, log io.Writer) (*Record, error) {
	rec := &Record{File: c.File}
	var undo []undoStep
	for _, l := range c.Lines {
		var err error
		if ctx.Err() != nil {
			err = fmt.Errorf("%w before this line (%v): rolled back", ErrInterrupted, context.Cause(ctx))
		} else {
			fmt.Fprintf(log, "load %s:%d: %s\n", c.File, l.N, l.Text)
		}
		switch {
		case err != nil:
		case l.Kind == OnLoad:
			err = a.Shell(l.Arg)
		case l.Kind == OnUnload:
			undo = append(undo, undoStep{l, func() error { return a.Shell(l.Arg) }})
		case l.Kind == Module:
			var mods []string
			mods, err = a.LoadModule(l)
			if err == nil {
				rec.Lines = append(rec.Lines, RecordedLine{N: l.N, Text: l.Text, Modules: mods})
				undo = append(undo, undoStep{l, func() error { return a.UnloadModules(mods) }})
			}
		case l.Kind == Payload:
			var name string
			name, err = a.LoadPayload(l)
			if err == nil {
				rec.Lines = append(rec.Lines, RecordedLine{N: l.N, Text: l.Text, Modules: []string{name}})
				undo = append(undo, undoStep{l, func() error { return a.UnloadPayload(name) }})
			}
		default:
			err = fmt.Errorf("%w: unknown directive %q", ErrSyntax, l.Kind)
		}
		if err != nil {
			lerr := &LineError{File: c.File, Line: l, Err: err}
			var errs []error
			for i := len(undo) - 1; i >= 0; i-- {
				u := undo[i]
				fmt.Fprintf(log, "roll back %s:%d: %s\n", c.File, u.line.N, u.line.Text)
				if e := u.do(); e != nil {
					errs = append(errs, &LineError{File: c.File, Line: u.line, Err: e})
				}
			}
			if len(errs) > 0 {
				return nil, fmt.Errorf("%w\nroll back: %w", lerr, errors.Join(errs...))
			}
			return nil, lerr
		}
	}
	return rec, nil
}

// unrun unloads c: its lines in reverse. A module or payload line removes
// what rec says it loaded (without a record: the module it names); an
// on_unload line runs; an on_load line does nothing. A failing line does
// not stop the others; the errors name their lines.
func unrun(c *Config, rec *Record, a Actions, log io.Writer) error {
	var errs []error
	for i := len(c.Lines) - 1; i >= 0; i-- {
		l := c.Lines[i]
		if l.Kind == OnLoad {
			continue
		}
		fmt.Fprintf(log, "unload %s:%d: %s\n", c.File, l.N, l.Text)
		var err error
		switch l.Kind {
		case OnUnload:
			err = a.Shell(l.Arg)
		case Module, Payload:
			mods, ok := rec.modules(l)
			if !ok {
				var name string
				if name, err = a.ModuleName(l); err == nil {
					mods = []string{name}
				}
			}
			if err == nil && len(mods) > 0 {
				if l.Kind == Payload {
					err = a.UnloadPayload(mods[0])
				} else {
					err = a.UnloadModules(mods)
				}
			}
		}
		if err != nil {
			errs = append(errs, &LineError{File: c.File, Line: l, Err: err})
		}
	}
	return errors.Join(errs...)
}
