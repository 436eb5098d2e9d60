package kbuild

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// makeArgs is one run of the kernel's make against an external module
// directory (cilium/ebpf bpf2go compile.go style: the fixed arguments are
// set here, each with the reason; callers choose only the fields).
type makeArgs struct {
	KDIR    string   // -C: Kbuild must run from the kernel tree
	Dir     string   // M=: the external module directory (absolute)
	Jobs    int      // -j
	Arch    string   // ARCH=, "" = the kernel Makefile's default (the host's)
	Cross   string   // CROSS_COMPILE=, "" = native
	CC      string   // CC=, always set (see below)
	Vars    []string // derived VAR=value (facts about this machine), then user/kernel extras
	Targets []string // "modules", or single objects "X.o"
	// KeepGoing (-k) lets the feature pass build every probe that can
	// build when some cannot.
	KeepGoing bool
}

func (a makeArgs) argv() []string {
	argv := []string{"-C", a.KDIR, "M=" + a.Dir}
	if a.Jobs > 0 {
		argv = append(argv, "-j"+strconv.Itoa(a.Jobs))
	}
	if a.KeepGoing {
		argv = append(argv, "-k")
	}
	if a.Arch != "" {
		argv = append(argv, "ARCH="+a.Arch)
	}
	if a.Cross != "" {
		argv = append(argv, "CROSS_COMPILE="+a.Cross)
	}
	// CC is always explicit: the kernel Makefile's default can name a
	// compiler this machine lacks (Debian's 5.10 headers ask for gcc-10,
	// which bookworm does not ship), and kbuild has already chosen one.
	// A command-line variable overrides the Makefile's assignment.
	argv = append(argv, "CC="+a.CC)
	// Extras come last so a kernel's make.env or the user can override
	// what kbuild derived (the last command-line assignment wins).
	argv = append(argv, a.Vars...)
	return append(argv, a.Targets...)
}

// cleanEnv is the whole environment make and the compiler see, so that a
// stray ARCH, CFLAGS, KBUILD_* or CC in the user's shell cannot change what
// a cached build stands for.
func cleanEnv() []string {
	env := []string{
		// PATH: to find make, the compiler, and the tools Kbuild runs.
		"PATH=" + envOr("PATH", "/usr/local/bin:/usr/bin:/bin"),
		// HOME: some tools (ccache, distcc wrappers) need it.
		"HOME=" + envOr("HOME", "/"),
		// LC_ALL=C: untranslated diagnostics with ASCII quotes, which the
		// diagnostic parser reads.
		"LC_ALL=C",
		"LANG=C",
	}
	// TMPDIR: where gcc writes its temporaries, if the user moved it.
	if t := os.Getenv("TMPDIR"); t != "" {
		env = append(env, "TMPDIR="+t)
	}
	return env
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runMake runs make and returns its combined output; verbose (if not nil)
// also gets the output as it comes. A failure to start make is a
// *ToolError; a make that ran and failed returns its *exec.ExitError.
func runMake(ctx context.Context, a makeArgs, verbose io.Writer) (string, error) {
	makePath, err := exec.LookPath("make")
	if err != nil {
		return "", &ToolError{Tool: "make", Package: "make", Err: err}
	}
	cmd := exec.CommandContext(ctx, makePath, a.argv()...)
	cmd.Env = cleanEnv()
	cmd.Dir = a.KDIR
	// make runs in its own process group, and cancelling kills the whole
	// group, so no compiler outlives a Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	var w io.Writer = &out
	if verbose != nil {
		w = io.MultiWriter(&out, verbose)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	if ctx.Err() != nil {
		return out.String(), ctx.Err()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return out.String(), err
	}
	return out.String(), err
}

// commandLine renders argv for messages.
func commandLine(a makeArgs) string {
	return "make " + strings.Join(a.argv(), " ")
}
