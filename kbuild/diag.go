package kbuild

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ErrBuild is wrapped by every failed build.
var ErrBuild = errors.New("module build failed")

// Diagnostic is one compiler, modpost or tool message from a build.
type Diagnostic struct {
	File     string // relative to the module dir when it is inside it ("" for modpost)
	Line     int
	Col      int
	Severity string // "error", "warning" or "fatal error"
	Message  string
	SpecPath string // spec item from the nearest preceding /* kgen: PATH */ marker
	Hint     string // what to do, e.g. the Debian package to install
}

func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d", d.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(d.Severity)
	b.WriteString(": ")
	b.WriteString(d.Message)
	if d.SpecPath != "" {
		fmt.Fprintf(&b, " (from spec item %s)", d.SpecPath)
	}
	if d.Hint != "" {
		fmt.Fprintf(&b, ": %s", d.Hint)
	}
	return b.String()
}

// BuildError is a failed make: the diagnostics found in its output and the
// raw output itself (shown with -v).
type BuildError struct {
	Module      string // "vfs_read_lat.ko", or "feature probes"
	Command     string // the make command line
	Diagnostics []Diagnostic
	Output      string
	Err         error // make's exit error
}

func (e *BuildError) Error() string {
	var errs []Diagnostic
	for _, d := range e.Diagnostics {
		if d.Severity != "warning" {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		tail := lastLines(e.Output, 5)
		return fmt.Sprintf("build %s: %v (no compiler error found; make said:\n%s)", e.Module, e.Err, tail)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "build %s: %d error(s):", e.Module, len(errs))
	const max = 10
	for i, d := range errs {
		if i == max {
			fmt.Fprintf(&b, "\n  ... and %d more (run with -v for the full make output)", len(errs)-max)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

func (e *BuildError) Unwrap() []error {
	errs := []error{ErrBuild}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	for _, d := range e.Diagnostics {
		if d.Hint != "" {
			errs = append(errs, ErrMissingTool)
			break
		}
	}
	return errs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

var (
	// gcc and clang: "file:line:col: error: message" (col optional).
	ccDiagRe = regexp.MustCompile(`^(.+?):(\d+):(?:(\d+):)? (fatal error|error|warning): (.*)$`)
	// modpost: `ERROR: modpost: "foo" [/m/x.ko] undefined!`; 5.x old form
	// `WARNING: "foo" [/m/x.ko] undefined!`.
	modpostRe = regexp.MustCompile(`^(ERROR|WARNING): (?:modpost: )?(.*)$`)
	// A command that is not there: "/bin/sh: 1: bc: not found",
	// "make[2]: gcc-14: No such file or directory", "bash: flex: command not found".
	notFoundRe = regexp.MustCompile(`^(?:/bin/(?:ba|da)?sh: (?:line )?\d+: |make(?:\[\d+\])?: |bash: )?([^\s:]+): (?:not found|command not found|No such file or directory)$`)
	// A header that is not there: "fatal error: gelf.h: No such file or directory".
	missingHeaderRe = regexp.MustCompile(`^([^\s:]+\.h): No such file or directory$`)
)

// headerPackages maps system headers Kbuild's host tools need to the
// Debian package that ships them.
var headerPackages = map[string]string{
	"gelf.h":   "libelf-dev",
	"libelf.h": "libelf-dev",
}

// ParseDiagnostics returns the compiler, modpost and missing-tool
// diagnostics in make output, warnings included. dir, when not "", is the
// module dir: paths inside it are made relative.
func ParseDiagnostics(output, dir string) []Diagnostic {
	return parseDiagnostics(output, dir, nil)
}

// parseDiagnostics extracts diagnostics from make output. dir is the
// module dir (paths inside it are made relative); tree, when not nil,
// supplies the sources for the kgen marker lookup.
func parseDiagnostics(output, dir string, tree map[string][]byte) []Diagnostic {
	var ds []Diagnostic
	seen := map[string]bool{}
	add := func(d Diagnostic) {
		k := d.String()
		if !seen[k] {
			seen[k] = true
			ds = append(ds, d)
		}
	}
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := ccDiagRe.FindStringSubmatch(line); m != nil {
			d := Diagnostic{File: relPath(m[1], dir), Severity: m[4], Message: m[5]}
			d.Line, _ = strconv.Atoi(m[2])
			d.Col, _ = strconv.Atoi(m[3])
			if hdr := missingHeaderRe.FindStringSubmatch(d.Message); hdr != nil {
				if pkg := headerPackageFor(hdr[1]); pkg != "" {
					d.Hint = "install " + pkg + " (Debian: apt-get install " + pkg + ")"
				}
			}
			if tree != nil {
				d.SpecPath = markerBefore(tree[d.File], d.Line)
			}
			add(d)
			continue
		}
		if m := modpostRe.FindStringSubmatch(line); m != nil {
			sev := "error"
			if m[1] == "WARNING" {
				sev = "warning"
			}
			add(Diagnostic{Severity: sev, Message: "modpost: " + strings.ReplaceAll(m[2], dir+"/", "")})
			continue
		}
		if m := notFoundRe.FindStringSubmatch(line); m != nil {
			tool := filepath.Base(m[1])
			if strings.Contains(m[1], "/") && !strings.HasPrefix(m[1], "/usr/bin/") && !strings.HasPrefix(m[1], "/bin/") {
				// A kernel-tree program such as scripts/basic/fixdep.
				add(Diagnostic{Severity: "error", Message: line,
					Hint: "the kernel build tree is incomplete: install its headers and kbuild packages (Debian: linux-headers-<release>) or run make modules_prepare in it"})
				continue
			}
			pkg := packageFor(tool)
			add(Diagnostic{Severity: "error", Message: tool + ": not found",
				Hint: "install " + pkg + " (Debian: apt-get install " + pkg + ")"})
		}
	}
	return ds
}

func headerPackageFor(h string) string {
	if p, ok := headerPackages[h]; ok {
		return p
	}
	if strings.HasPrefix(h, "openssl/") {
		return "libssl-dev"
	}
	return ""
}

// relPath makes p relative to dir when it is inside it.
func relPath(p, dir string) string {
	p = strings.TrimPrefix(p, "./")
	if dir != "" && filepath.IsAbs(p) {
		if r, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
	}
	return p
}

// markerBefore returns PATH from the last `/* kgen: PATH */` marker at or
// before line (1-based) of src, or "".
func markerBefore(src []byte, line int) string {
	if src == nil || line <= 0 {
		return ""
	}
	lines := strings.Split(string(src), "\n")
	if line > len(lines) {
		line = len(lines)
	}
	for i := line - 1; i >= 0; i-- {
		if p := markerIn(lines[i]); p != "" {
			return p
		}
	}
	return ""
}

const markerOpen, markerClose = "/* kgen: ", " */"

func markerIn(line string) string {
	i := strings.Index(line, markerOpen)
	if i < 0 {
		return ""
	}
	rest := line[i+len(markerOpen):]
	j := strings.Index(rest, markerClose)
	if j <= 0 {
		return ""
	}
	return strings.TrimSpace(rest[:j])
}
