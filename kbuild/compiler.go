package kbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// CCVersion is a compiler as `$(CC) --version | head -1` (and so the
// kernel's CONFIG_CC_VERSION_TEXT) describes it.
type CCVersion struct {
	Text    string // the whole line
	Name    string // "gcc" or "clang"
	Program string // first word for gcc: "x86_64-linux-gnu-gcc-14"
	Prefix  string // target prefix in Program: "x86_64-linux-gnu-"
	Version string // "14.2.0"
	Major   int
}

var (
	gccProgRe = regexp.MustCompile(`^(.*-)?gcc(-[0-9][0-9.]*)?$`)
	versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
)

// ParseCCVersion parses a compiler's --version first line, e.g.
// "gcc-12 (Debian 12.2.0-14) 12.2.0" or "Debian clang version 16.0.6 (15)".
func ParseCCVersion(text string) (CCVersion, error) {
	v := CCVersion{Text: text}
	f := strings.Fields(text)
	if i := strings.Index(text, "clang version "); i >= 0 {
		v.Name = "clang"
		if rest := strings.Fields(text[i+len("clang version "):]); len(rest) > 0 {
			v.Version = strings.SplitN(rest[0], "-", 2)[0]
		}
	} else if len(f) > 0 && gccProgRe.MatchString(f[0]) {
		v.Name, v.Program = "gcc", f[0]
		v.Prefix = gccProgRe.FindStringSubmatch(f[0])[1]
		// The version is the first dotted number after the parenthesised
		// vendor string: "gcc-10 (Debian 10.2.1-6) 10.2.1 20210110".
		depth := 0
		for _, w := range f[1:] {
			depth += strings.Count(w, "(") - strings.Count(w, ")")
			if depth == 0 && versionRe.MatchString(w) {
				v.Version = w
				break
			}
		}
	}
	if v.Name == "" || v.Version == "" {
		return v, fmt.Errorf("parse compiler version %q: not a gcc or clang version line", text)
	}
	major, err := strconv.Atoi(strings.SplitN(v.Version, ".", 2)[0])
	if err != nil {
		return v, fmt.Errorf("parse compiler version %q: %w", text, err)
	}
	v.Major = major
	return v, nil
}

// compiler is the C compiler a build uses.
type compiler struct {
	CC       string // as passed to make: CC=<CC>
	Path     string // resolved executable
	Identity string // its --version first line
	Version  CCVersion
	Kernel   CCVersion // what the kernel was built with (may be zero)
	Exact    bool      // same name and major as the kernel's
}

// kernelCC returns what the kernel was built with, from its .config:
// CONFIG_CC_VERSION_TEXT, else (kernels before 5.8) CONFIG_GCC_VERSION.
func kernelCC(config map[string]string) CCVersion {
	var kv CCVersion
	if t := config["CONFIG_CC_VERSION_TEXT"]; t != "" {
		kv, _ = ParseCCVersion(t)
	}
	if kv.Major == 0 {
		if n, err := strconv.Atoi(config["CONFIG_GCC_VERSION"]); err == nil && n > 0 {
			kv = CCVersion{Name: "gcc", Major: n / 10000, Version: fmt.Sprintf("%d.%d.%d", n/10000, n/100%100, n%100)}
		}
	}
	return kv
}

// ccCandidates lists the compilers to try, best first: cc if set; else
// for a clang kernel clang-<major>, clang; for a gcc kernel
// <cross>gcc-<major>, then (native builds) the program the kernel's
// CONFIG_CC_VERSION_TEXT names (x86_64-linux-gnu-gcc-14), then
// <cross>gcc. The standalone Makefile (templates/common/Makefile.tmpl)
// follows the same rules; a test checks that they agree.
func ccCandidates(cc, cross string, kv CCVersion) []string {
	switch {
	case cc != "":
		return []string{cc}
	case kv.Name == "clang":
		return []string{fmt.Sprintf("clang-%d", kv.Major), "clang"}
	case kv.Major > 0:
		cands := []string{fmt.Sprintf("%sgcc-%d", cross, kv.Major)}
		if kv.Program != "" && cross == "" {
			cands = append(cands, kv.Program)
		}
		return append(cands, cross+"gcc")
	}
	return []string{cross + "gcc"}
}

// chooseCC picks the first installed of ccCandidates. ids memoises
// --version lines.
func chooseCC(ctx context.Context, cfg *Config, k *kernel, ids *index) (*compiler, error) {
	kv := kernelCC(k.Config)
	cands := ccCandidates(cfg.CC, cfg.CrossCompile, kv)
	var cc *compiler
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		cc = &compiler{CC: c, Path: p, Kernel: kv}
		break
	}
	if cc == nil {
		last := cands[len(cands)-1]
		return nil, &ToolError{Tool: last, Package: packageFor(last), Err: exec.ErrNotFound}
	}
	id, err := ids.compilerIdentity(ctx, cc.Path)
	if err != nil {
		return nil, err
	}
	cc.Identity = id
	cc.Version, _ = ParseCCVersion(id)
	cc.Exact = kv.Major == 0 || (cc.Version.Name == kv.Name && cc.Version.Major == kv.Major)
	return cc, nil
}

// mismatchWarning is the one line shown when the compiler differs from
// the kernel's.
func (c *compiler) mismatchWarning(release string) string {
	if c.Exact {
		return ""
	}
	want := fmt.Sprintf("%s-%d", c.Kernel.Name, c.Kernel.Major)
	return fmt.Sprintf("warning: kernel %s was built with %s %d, using %s %d (%s); install %s for an exact match",
		release, c.Kernel.Name, c.Kernel.Major, c.Version.Name, c.Version.Major, c.CC, want)
}

// versionLine runs `cc --version` and returns its first line.
func versionLine(ctx context.Context, path string) (string, error) {
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %w", path, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// ccAccepts reports whether cc compiles an empty C file with flag, warnings
// as errors (so "unrecognized option" in any form counts as no).
func ccAccepts(ctx context.Context, cc, flag string) bool {
	cmd := exec.CommandContext(ctx, cc, "-Werror", flag, "-x", "c", "-c", os.DevNull, "-o", os.DevNull)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd.Run() == nil
}

// ccFacts are .config symbols that record a compiler capability Kconfig
// found on the compiler that built the kernel, with the flag that tests
// it. When the kernel has one and our compiler lacks the flag, kbuild
// passes CONFIG_X= so Kbuild does not use the flag (facts, not versions).
var ccFacts = []struct{ config, flag string }{
	// gcc 14 / clang 19: -fmin-function-alignment; older gcc rejects it.
	{"CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT", "-fmin-function-alignment=16"},
}

// factVars returns the make variables this machine needs for k with cc.
func factVars(ctx context.Context, k *kernel, cc *compiler, ids *index) []string {
	var vars []string
	for _, f := range ccFacts {
		if k.Config[f.config] != "y" {
			continue
		}
		if !ids.flagSupported(ctx, cc, f.flag) {
			vars = append(vars, f.config+"=")
		}
	}
	// BTF for modules needs pahole and the kernel's vmlinux (for base BTF);
	// without them the modules' link step fails.
	if k.Config["CONFIG_DEBUG_INFO_BTF_MODULES"] == "y" {
		_, perr := exec.LookPath("pahole")
		_, verr := os.Stat(k.Dir + "/vmlinux")
		if perr != nil || verr != nil {
			vars = append(vars, "CONFIG_DEBUG_INFO_BTF_MODULES=")
		}
	}
	return vars
}

// ErrMissingTool is wrapped by errors about a missing build tool or header.
var ErrMissingTool = errors.New("missing build tool")

// ToolError names a missing tool and the Debian package that provides it.
type ToolError struct {
	Tool    string
	Package string
	Err     error
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("find %s: %v: install it (Debian: apt-get install %s)", e.Tool, e.Err, e.Package)
}

func (e *ToolError) Unwrap() []error { return []error{ErrMissingTool, e.Err} }

var crossGccRe = regexp.MustCompile(`^(.+)-gcc(-[0-9]+)?$`)

// packageFor names the Debian package that provides a build tool or header.
func packageFor(tool string) string {
	switch tool {
	case "gelf.h", "libelf.h":
		return "libelf-dev"
	case "pahole":
		return "dwarves"
	case "ld", "as", "objcopy", "nm", "ar":
		return "binutils"
	case "make", "bc", "flex", "bison", "perl", "kmod", "cpio", "sparse", "openssl":
		return tool
	case "gcc", "cc":
		return "gcc"
	}
	if strings.HasPrefix(tool, "openssl/") {
		return "libssl-dev"
	}
	if m := regexp.MustCompile(`^gcc-([0-9]+)$`).FindStringSubmatch(tool); m != nil {
		return tool
	}
	if m := crossGccRe.FindStringSubmatch(tool); m != nil {
		triple := m[1]
		if triple == "x86_64-linux-gnu" {
			if m[2] != "" {
				return "gcc" + m[2]
			}
			return "gcc"
		}
		return "gcc" + m[2] + "-" + triple
	}
	if strings.HasPrefix(tool, "clang") {
		return tool
	}
	return tool
}

// KernelInfo is what a build would use of a KDIR, for kgen doctor.
type KernelInfo struct {
	Release    string            // UTS_RELEASE
	Config     map[string]string // the .config values kbuild reads
	CC         CCVersion         // what the kernel was built with (may be zero)
	Candidates []string          // compilers a build tries, best first
}

// InspectKDIR reads kdir's identity the way Build does, and lists the
// compilers Build would try for it (cc and cross as in Config).
func InspectKDIR(kdir, cc, cross string) (*KernelInfo, error) {
	k, err := readKernel(kdir)
	if err != nil {
		return nil, err
	}
	kv := kernelCC(k.Config)
	return &KernelInfo{Release: k.Release, Config: k.Config, CC: kv, Candidates: ccCandidates(cc, cross, kv)}, nil
}

// PackageFor names the Debian package that provides a build tool, a
// compiler ("gcc-14", "clang-16") or a header ("libelf.h").
func PackageFor(tool string) string { return packageFor(tool) }
