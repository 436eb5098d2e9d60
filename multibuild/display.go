package multibuild

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Display shows builds' states: on a terminal, one line per kernel,
// redrawn in place as they change (and each second, for the clocks);
// elsewhere, one plain line each time a kernel's phase changes.
type Display struct {
	w     io.Writer
	tty   bool
	width int

	mu     sync.Mutex
	last   []State
	drawn  int               // lines drawn on the terminal
	phases map[string]string // plain mode: last phase printed per kernel
	stop   chan struct{}
	done   chan struct{}
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// NewDisplay writes to w; tty says whether w is a terminal.
func NewDisplay(w io.Writer, tty bool) *Display {
	d := &Display{w: w, tty: tty, phases: map[string]string{}}
	if tty {
		d.width = 100
		if f, ok := w.(interface{ Fd() uintptr }); ok {
			if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 20 {
				d.width = int(ws.Col)
			}
		}
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.tick()
	}
	return d
}

func (d *Display) tick() {
	defer close(d.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.mu.Lock()
			if d.last != nil {
				d.draw(d.last)
			}
			d.mu.Unlock()
		}
	}
}

// Update shows states (Options.Update).
func (d *Display) Update(states []State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = states
	if d.tty {
		d.draw(states)
		return
	}
	for _, s := range states {
		if s.Phase == PhaseWaiting || d.phases[s.Kernel.Name] == s.Phase {
			continue
		}
		d.phases[s.Kernel.Name] = s.Phase
		fmt.Fprintln(d.w, Line(s, time.Time{}))
	}
}

// Close stops the clock and leaves the final lines on the terminal.
func (d *Display) Close() {
	if d.tty {
		close(d.stop)
		<-d.done
		d.mu.Lock()
		if d.last != nil {
			d.draw(d.last)
		}
		d.mu.Unlock()
	}
}

func (d *Display) draw(states []State) {
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // back to the first line
	}
	now := time.Now()
	for _, s := range states {
		line := Line(s, now)
		if r := []rune(line); len(r) > d.width-1 {
			line = string(r[:d.width-2]) + "…"
		}
		b.WriteString("\r\x1b[2K")
		b.WriteString(line)
		b.WriteString("\n")
	}
	d.drawn = len(states)
	io.WriteString(d.w, b.String())
}

// Line is one kernel's state as the display shows it:
// "debian-6.1 (6.1.0-57-amd64): compiling 12s"; a zero now leaves out the
// clock of a build in progress.
func Line(s State, now time.Time) string {
	head := fmt.Sprintf("%s (%s): ", s.Kernel.Name, s.Kernel.Release)
	switch s.Phase {
	case PhaseWaiting:
		return head + "waiting"
	case PhaseFailed:
		return head + fmt.Sprintf("failed after %s: %s", s.Elapsed.Round(time.Second), FirstError(s.Err))
	case PhaseDone, PhaseCached:
		how := "done"
		if s.Phase == PhaseCached {
			how = "cached"
		}
		return head + fmt.Sprintf("%s in %s (%s)", how, s.Elapsed.Round(100*time.Millisecond), s.Result.CC)
	}
	if now.IsZero() {
		return head + s.Phase
	}
	return head + fmt.Sprintf("%s %s", s.Phase, now.Sub(s.Started).Round(time.Second))
}
