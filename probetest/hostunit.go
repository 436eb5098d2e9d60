package probetest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UnitName is the systemd unit kgen probe-test --host writes at the start
// of a run and removes at its end: it runs the same command again when
// the machine boots, so that a sweep a crash rebooted resumes by itself,
// as the seed's rc.local lines did.
const UnitName = "kgen-probe-test.service"

// ErrNoSystemd: the machine has no /etc/systemd/system.
var ErrNoSystemd = errors.New("no /etc/systemd/system (not a systemd machine)")

// Unit is the resume unit of one run.
type Unit struct {
	// Root is the file system root the unit is written under ("" = "/");
	// tests write under a temporary directory.
	Root string
	// Args is the command the unit runs: the absolute path of kgen and
	// its arguments.
	Args []string
	// Dir is the run's output directory (absolute), for the description.
	Dir string
	// Log receives notes (systemctl's failure); nil = none.
	Log io.Writer
}

const unitDir = "/etc/systemd/system"

// path maps an absolute path on the machine to the file written.
func (u Unit) path(p string) string { return filepath.Join(u.rootDir(), p) }

func (u Unit) rootDir() string {
	if u.Root == "" {
		return "/"
	}
	return u.Root
}

// Text is the unit file. Type=oneshot has no start timeout: a sweep can
// take hours. Its output goes to the console too, for a machine watched
// on a serial line.
func (u Unit) Text() string {
	var b strings.Builder
	b.WriteString("# Written by kgen probe-test --host at the start of a run; removed at its end.\n")
	b.WriteString("# It runs the same command again at boot, to resume after a crash rebooted the machine.\n")
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=kgen probe-test: resume the sweep in %s\n", unitDescription(u.Dir))
	b.WriteString("After=local-fs.target\n\n")
	b.WriteString("[Service]\nType=oneshot\n")
	quoted := make([]string, len(u.Args))
	for i, a := range u.Args {
		quoted[i] = unitQuote(a)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(quoted, " "))
	b.WriteString("TimeoutStartSec=infinity\nStandardOutput=journal+console\nStandardError=journal+console\n\n")
	b.WriteString("[Install]\nWantedBy=multi-user.target\n")
	return b.String()
}

// unitDescription makes s safe in Description=: specifiers (%) doubled,
// control characters (a newline would start a new setting) shown as ?.
// systemd expands no variables there, so $ stays as it is.
func unitDescription(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '?'
		}
		return c
	}, s)
}

// unitEscape doubles what systemd would expand in any unit setting:
// specifiers (%) and, in command lines, variables ($).
func unitEscape(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	return strings.ReplaceAll(s, "$", "$$")
}

// unitQuote quotes one ExecStart= argument per systemd.syntax(7): a word
// of plain characters as it is, anything else in double quotes with C
// escapes; % and $ doubled everywhere.
func unitQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-./:=,+@%$", c)) {
			plain = false
			break
		}
	}
	if plain {
		return unitEscape(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteRune(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (u Unit) unitFile() string { return u.path(filepath.Join(unitDir, UnitName)) }
func (u Unit) wantsLink() string {
	return u.path(filepath.Join(unitDir, "multi-user.target.wants", UnitName))
}

// Install writes the unit (fsync'd) and enables it as systemctl enable
// does, with the symlink in multi-user.target.wants, so that no running
// systemd is needed; then asks systemd to reload when systemctl exists.
// ErrNoSystemd: the machine has no /etc/systemd/system.
func (u Unit) Install() error {
	if fi, err := os.Stat(u.path(unitDir)); err != nil || !fi.IsDir() {
		return ErrNoSystemd
	}
	if u.installed() {
		// A resumed run, maybe started by the unit itself: nothing to
		// write, no reload while systemd is starting us.
		return nil
	}
	if err := WriteFileSync(u.unitFile(), []byte(u.Text())); err != nil {
		return fmt.Errorf("write the resume unit: %w", err)
	}
	if err := os.Chmod(u.unitFile(), 0o644); err != nil {
		return fmt.Errorf("write the resume unit: %w", err)
	}
	link := u.wantsLink()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("enable the resume unit: %w", err)
	}
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Join(unitDir, UnitName), link); err != nil {
		return fmt.Errorf("enable the resume unit: %w", err)
	}
	syncDir(filepath.Dir(link))
	u.reload()
	return nil
}

// installed says the unit file holds Text and the symlink is in place.
func (u Unit) installed() bool {
	b, err := os.ReadFile(u.unitFile())
	if err != nil || string(b) != u.Text() {
		return false
	}
	tgt, err := os.Readlink(u.wantsLink())
	return err == nil && tgt == filepath.Join(unitDir, UnitName)
}

// Remove deletes the unit and its symlink; both missing is fine.
func (u Unit) Remove() error {
	var errs []error
	for _, p := range []string{u.wantsLink(), u.unitFile()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove the resume unit: %w", err))
		}
		syncDir(filepath.Dir(p))
	}
	if len(errs) == 0 {
		u.reload()
	}
	return errors.Join(errs...)
}

// reload runs systemctl daemon-reload on the real root when systemctl
// exists; a machine without it (or a systemd not running) is fine: the
// unit is read at the next boot anyway.
func (u Unit) reload() {
	if u.rootDir() != "/" {
		return
	}
	sc, err := exec.LookPath("systemctl")
	if err != nil {
		return
	}
	if out, err := exec.Command(sc, "daemon-reload").CombinedOutput(); err != nil && u.Log != nil {
		fmt.Fprintf(u.Log, "probe-test: systemctl daemon-reload: %v: %s (ignored)\n", err, strings.TrimSpace(string(out)))
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
