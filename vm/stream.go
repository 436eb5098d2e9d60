package vm

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
)

// consoleTailSize bounds the console kept in memory (Result.Console).
const consoleTailSize = 64 << 10

// tailLines is how many console lines GuestError.Tail holds.
const tailLines = 80

// badPatterns classify kernel console lines. They are matched anywhere in
// the line, after the printk timestamp, and tried in this order, so that a
// checker's "BUG: KASAN: ..." or lockdep's "WARNING: possible circular
// locking dependency detected" is a report, not an oops or a warning.
// rank orders them by severity: a panic outranks an oops outranks a
// checker's report outranks a warning (an oops in a probe handler is
// followed by "sleeping function called from invalid context" as the task
// exits in atomic context; the oops is the news).
var badPatterns = []struct {
	reason  string
	rank    int
	needles []string
}{
	{"panic", 4, []string{"Kernel panic"}},
	// The debug kernels' checkers (debug-6.1: KASAN, lockdep,
	// DEBUG_ATOMIC_SLEEP, DEBUG_PREEMPT, DEBUG_LIST, DEBUG_OBJECTS), and
	// /init's line when lockdep has turned itself off (see initScript).
	{"report", 2, []string{
		"BUG: KASAN: ", "UBSAN: ",
		"possible circular locking dependency", "inconsistent lock state",
		"possible recursive locking", "possible irq lock inversion",
		"bad unlock balance", "held lock freed", "lock held when returning to user space",
		"suspicious RCU usage",
		"sleeping function called from invalid context", "scheduling while atomic",
		"BUG: using ", // smp_processor_id() / __this_cpu_*() in preemptible code
		"list_add corruption", "list_del corruption", "list_add double add",
		"ODEBUG: ",
		lockdepOffLine,
	}},
	{"oops", 3, []string{"BUG: ", "kernel BUG at", "Oops", "general protection fault", "Unable to handle kernel"}},
	{"warning", 1, []string{"WARNING: "}},
}

// lockdepOffLine is what /init writes to the kernel log when lockdep has
// turned itself off (debug_locks 0 in /proc/lockdep_stats) by the end of
// the command: lockdep stops checking at its first report or when one of
// its tables fills, and a silent lockdep is not a clean one.
const lockdepOffLine = "kgen vm: lockdep turned itself off"

// classify returns the reason a console line shows a sick guest, or "".
func classify(line string) string {
	for _, p := range badPatterns {
		for _, n := range p.needles {
			if strings.Contains(line, n) {
				return p.reason
			}
		}
	}
	return ""
}

// Classify returns why a kernel log line shows a sick kernel ("panic",
// "oops", "report" for a checker's, "warning"), or "" for a healthy line:
// the classification of the guest console, for logs read elsewhere (kgen
// probe-test --host reads /dev/kmsg).
func Classify(line string) string { return classify(line) }

// BadNeedles returns every fixed string whose presence in a kernel log
// line makes Classify call it sick, for a guest that greps its own log.
func BadNeedles() []string {
	var n []string
	for _, p := range badPatterns {
		n = append(n, p.needles...)
	}
	return n
}

// severity orders reasons: see badPatterns.
func severity(reason string) int {
	for _, p := range badPatterns {
		if p.reason == reason {
			return p.rank
		}
	}
	return 0
}

// console consumes the kernel console: it drops '\r', streams the rest
// to out, keeps the last consoleTailSize bytes, and records the most
// severe bad line seen.
type console struct {
	out io.Writer // may be nil

	mu      sync.Mutex
	tail    []byte
	partial []byte // the current, unterminated line
	reason  string // most severe classification so far
	line    string // the first line with that classification
	bad     chan string
}

func newConsole(out io.Writer) *console {
	return &console{out: out, bad: make(chan string, 8)}
}

func (c *console) Write(p []byte) (int, error) {
	n := len(p)
	p = bytes.ReplaceAll(p, []byte("\r"), nil)
	if c.out != nil {
		// The console stream is for people; a failing writer must not
		// stop the capture that detects panics.
		_, _ = c.out.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, p...)
	if over := len(c.tail) - consoleTailSize; over > 0 {
		c.tail = append(c.tail[:0], c.tail[over:]...)
	}
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.scan(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > 4096 { // a line that long is not a kernel message
		c.scan(string(c.partial))
		c.partial = c.partial[:0]
	}
	return n, nil
}

func (c *console) scan(line string) {
	r := classify(line)
	if r == "" || severity(r) <= severity(c.reason) {
		return
	}
	c.reason, c.line = r, strings.TrimSpace(line)
	select {
	case c.bad <- r:
	default:
	}
}

// finish scans an unterminated last line.
func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.scan(string(c.partial))
		c.partial = nil
	}
}

func (c *console) result() (tail []byte, reason, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.tail), c.reason, c.line
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			i = 0
			break
		}
	}
	return strings.TrimLeft(string(b[i:]), "\n")
}

// outputFilter passes the command's output through to out. It drops the
// init marker, closing started, and stops at the exit marker, recording
// the status. Bytes that may begin a marker are held back until the next
// write decides.
type outputFilter struct {
	out  io.Writer
	held []byte

	mu      sync.Mutex
	status  int // -1 until the exit marker has been read
	done    chan struct{}
	started chan struct{} // closed at the init marker
	err     error         // the first error of out
}

func newOutputFilter(out io.Writer) *outputFilter {
	return &outputFilter{out: out, status: -1, done: make(chan struct{}), started: make(chan struct{})}
}

func (f *outputFilter) Write(p []byte) (int, error) {
	n := len(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status >= 0 {
		return n, nil // after the marker: background jobs' leftovers
	}
	buf := append(f.held, p...)
	f.held = nil
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, exitMarker[0])
		if i < 0 {
			f.emit(buf)
			return n, nil
		}
		f.emit(buf[:i])
		buf = buf[i:]
		if bytes.HasPrefix(buf, []byte(initMarker)) {
			select {
			case <-f.started:
			default:
				close(f.started)
			}
			buf = buf[len(initMarker):]
			continue
		}
		if len(buf) < len(initMarker) && strings.HasPrefix(initMarker, string(buf)) {
			f.held = bytes.Clone(buf)
			return n, nil
		}
		rest := buf
		if len(rest) > len(exitMarker) {
			rest = rest[:len(exitMarker)]
		}
		if !strings.HasPrefix(exitMarker, string(rest)) {
			f.emit(buf[:1]) // a NUL that starts no marker
			buf = buf[1:]
			continue
		}
		if len(buf) < len(exitMarker) {
			f.held = bytes.Clone(buf)
			return n, nil
		}
		// The marker; then digits up to the closing NUL.
		digits := buf[len(exitMarker):]
		end := bytes.IndexByte(digits, 0)
		if end < 0 {
			if len(digits) > 3 {
				// Not a status after all; show it.
				f.emit(buf[:1])
				buf = buf[1:]
				continue
			}
			f.held = bytes.Clone(buf)
			return n, nil
		}
		code, err := strconv.Atoi(string(digits[:end]))
		if err != nil || code < 0 || code > 255 {
			f.emit(buf[:1])
			buf = buf[1:]
			continue
		}
		f.status = code
		close(f.done)
		return n, nil
	}
	return n, nil
}

func (f *outputFilter) emit(b []byte) {
	if len(b) == 0 || f.err != nil {
		return
	}
	if _, err := f.out.Write(b); err != nil {
		f.err = err
	}
}

// flush writes out held bytes when the stream ended without a marker.
func (f *outputFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status < 0 {
		f.emit(f.held)
		f.held = nil
	}
}

func (f *outputFilter) exitStatus() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.err
}
