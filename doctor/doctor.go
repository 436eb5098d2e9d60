// Package doctor checks whether the machine it runs on can build and load
// kgen modules: kernel headers, the kernel's compiler and build tools, the
// running kernel's configuration, and what blocks loading or probing
// (lockdown, module signatures, Secure Boot, disabled kprobes,
// kernel.modules_disabled, debugfs and tracefs). Every check that is not
// ok says the exact fix. All files are read below a root directory, so
// tests run on fake trees.
package doctor

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"kgen/kbuild"
)

// RunningRelease returns uname -r ("unknown" if uname fails).
func RunningRelease() string { return unameRelease() }

func unameRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Status is a check's outcome.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // works, with a limit the detail names
	Fail Status = "fail" // a build or a load will not work
	Skip Status = "skip" // not checked (no KDIR for build checks)
)

// Group says what a check is needed for.
type Group string

const (
	Build Group = "build"
	Load  Group = "load"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Group  Group  `json:"group"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, and whether a build and a load would work.
type Report struct {
	Release string  `json:"release"`
	KDIR    string  `json:"kdir,omitempty"`
	Build   bool    `json:"build"` // no build check failed
	Load    bool    `json:"load"`  // no load check failed
	Checks  []Check `json:"checks"`
}

// OK reports whether a build and a load would work.
func (r *Report) OK() bool { return r.Build && r.Load }

// Options says what to check and where the system's files are.
type Options struct {
	// Root is prepended to every path read; "" means "/".
	Root string
	// KDIR is the kernel build directory (--kdir); "" means $KDIR, else
	// Root/lib/modules/<release>/build.
	KDIR string
	// Release is the running kernel's release; "" means uname -r.
	Release string
	// CC and Cross are kgen build's --cc and --cross-compile.
	CC, Cross string
	// Path is the $PATH searched (below Root) for tools; "" means $PATH.
	Path string
	// Euid is the effective user id; nil means os.Geteuid.
	Euid func() int
}

func (o *Options) path(p string) string {
	if o.Root == "" || o.Root == "/" {
		return p
	}
	return filepath.Join(o.Root, p)
}

func (o *Options) read(p string) (string, error) {
	b, err := os.ReadFile(o.path(p))
	return strings.TrimSpace(string(b)), err
}

// lookPath finds an executable in o.Path below o.Root.
func (o *Options) lookPath(name string) (string, bool) {
	for _, d := range filepath.SplitList(o.Path) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(o.path(p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Run runs every check.
func Run(o Options) *Report {
	if o.Release == "" {
		o.Release = unameRelease()
	}
	if o.Path == "" {
		o.Path = os.Getenv("PATH")
	}
	if o.Euid == nil {
		o.Euid = os.Geteuid
	}
	r := &Report{Release: o.Release}
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	info := buildChecks(&o, r, add)
	loadChecks(&o, info, r.KDIR, add)
	r.Build, r.Load = true, true
	for _, c := range r.Checks {
		if c.Status == Fail {
			if c.Group == Build {
				r.Build = false
			} else {
				r.Load = false
			}
		}
	}
	return r
}

// buildChecks: headers, compiler, tools. Returns the KDIR's info (nil if
// there is none).
func buildChecks(o *Options, r *Report, add func(Check)) *kbuild.KernelInfo {
	kdir, from := o.KDIR, "--kdir"
	if kdir == "" {
		kdir, from = os.Getenv("KDIR"), "$KDIR"
	}
	if kdir == "" {
		kdir, from = o.path("/lib/modules/"+o.Release+"/build"), ""
	}
	hdr := Check{Name: "kernel headers", Group: Build}
	info, err := kbuild.InspectKDIR(kdir, o.CC, o.Cross)
	if err != nil {
		hdr.Status = Fail
		if from == "" {
			hdr.Detail = fmt.Sprintf("no kernel build dir for the running kernel %s at %s", o.Release, kdir)
			hdr.Fix = "apt-get install linux-headers-" + o.Release + " (or pass --kdir DIR)"
		} else {
			hdr.Detail = fmt.Sprintf("%s %s is not a configured kernel build dir: %v", from, kdir, err)
			hdr.Fix = "point " + from + " at a kernel build tree holding Makefile, .config and include/generated (make modules_prepare in it)"
		}
		add(hdr)
		for _, n := range []string{"compiler", "make", "pahole"} {
			add(Check{Name: n, Group: Build, Status: Skip, Detail: "no kernel build dir"})
		}
		return nil
	}
	r.KDIR = kdir
	switch {
	case info.Release == o.Release:
		hdr.Status, hdr.Detail = OK, fmt.Sprintf("%s is %s, the running kernel", kdir, info.Release)
	case from != "":
		hdr.Status = Warn
		hdr.Detail = fmt.Sprintf("%s (%s) is %s, the running kernel is %s: its modules load only on %s", kdir, from, info.Release, o.Release, info.Release)
		hdr.Fix = "to load here, build with the running kernel's headers: apt-get install linux-headers-" + o.Release
	default:
		hdr.Status = Fail
		hdr.Detail = fmt.Sprintf("%s is %s, the running kernel is %s", kdir, info.Release, o.Release)
		hdr.Fix = "apt-get install linux-headers-" + o.Release
	}
	add(hdr)
	add(compilerCheck(o, info))
	add(toolCheck(o, "make", Fail, "Kbuild runs it"))
	btf := info.Config["CONFIG_DEBUG_INFO_BTF_MODULES"] == "y"
	if _, ok := o.lookPath("pahole"); ok || !btf {
		c := Check{Name: "pahole", Group: Build, Status: OK, Detail: "kernel has no BTF for modules"}
		if ok {
			c.Detail = "installed"
		}
		add(c)
	} else {
		add(Check{Name: "pahole", Group: Build, Status: Warn,
			Detail: "the kernel has CONFIG_DEBUG_INFO_BTF_MODULES and pahole is missing: modules get no BTF (kgen builds them without)",
			Fix:    "apt-get install dwarves"})
	}
	// Only a KDIR whose host tools must be rebuilt (make modules_prepare
	// on a source tree) needs these; Debian's headers ship them built.
	for _, t := range []string{"flex", "bison", "bc"} {
		add(toolCheck(o, t, Warn, "needed only to prepare a kernel source tree (make modules_prepare)"))
	}
	lib := Check{Name: "libelf", Group: Build, Status: OK, Detail: "libelf.h installed"}
	if _, err := os.Stat(o.path("/usr/include/libelf.h")); err != nil {
		lib.Status = Warn
		lib.Detail = "libelf.h missing: needed only to build objtool/resolve_btfids in a kernel source tree"
		lib.Fix = "apt-get install " + kbuild.PackageFor("libelf.h")
	}
	add(lib)
	return info
}

func toolCheck(o *Options, tool string, missing Status, why string) Check {
	c := Check{Name: tool, Group: Build}
	if p, ok := o.lookPath(tool); ok {
		c.Status, c.Detail = OK, p
		return c
	}
	c.Status, c.Detail = missing, tool+" not found in $PATH: "+why
	c.Fix = "apt-get install " + kbuild.PackageFor(tool)
	return c
}

// compilerCheck: the first installed of the compilers kbuild would try,
// and whether it is the kernel's own (same name and major version).
func compilerCheck(o *Options, info *kbuild.KernelInfo) Check {
	c := Check{Name: "compiler", Group: Build}
	want := info.CC.Text
	if want == "" && info.CC.Major > 0 {
		want = fmt.Sprintf("%s %s", info.CC.Name, info.CC.Version)
	}
	if want == "" {
		want = "unknown (no CONFIG_CC_VERSION_TEXT)"
	}
	best := info.Candidates[0]
	fix := "apt-get install " + kbuild.PackageFor(best)
	for i, cand := range info.Candidates {
		p, ok := o.lookPath(cand)
		if !ok {
			continue
		}
		exact := i < len(info.Candidates)-1 || info.CC.Major == 0 || o.CC != ""
		if !exact { // plain gcc: is it the kernel's major version anyway?
			if out, err := exec.Command(o.path(p), "--version").Output(); err == nil {
				line, _, _ := strings.Cut(string(out), "\n")
				v, err := kbuild.ParseCCVersion(strings.TrimSpace(line))
				exact = err == nil && v.Name == info.CC.Name && v.Major == info.CC.Major
			}
		}
		if exact {
			c.Status, c.Detail = OK, fmt.Sprintf("%s (kernel built with %s)", p, want)
		} else {
			c.Status = Warn
			c.Detail = fmt.Sprintf("only %s found, the kernel was built with %s: kgen builds with it, but a mismatched compiler may reject the kernel's flags or build modules that misbehave", p, want)
			c.Fix = fix + " (if this distribution release has it)"
		}
		return c
	}
	c.Status = Fail
	c.Detail = fmt.Sprintf("none of %s installed; the kernel was built with %s", strings.Join(info.Candidates, ", "), want)
	c.Fix = fix
	return c
}

// configOptions are the running kernel's options kgen needs, with the
// status when one is off and why.
var configOptions = []struct {
	name    string
	missing Status
	why     string
}{
	{"CONFIG_MODULES", Fail, "no loadable modules"},
	{"CONFIG_MODULE_UNLOAD", Warn, "modules cannot be unloaded (kgen unload fails; reboot to remove)"},
	{"CONFIG_KPROBES", Fail, "no kprobes: kretprobe, otst and payload modules cannot attach"},
	{"CONFIG_KRETPROBES", Fail, "no kretprobes: kretprobe modules cannot attach"},
	{"CONFIG_KPROBES_ON_FTRACE", Warn, "kprobes on function entries use int3 (slower per hit)"},
	{"CONFIG_TRACEPOINTS", Fail, "no tracepoints: modules cannot define trace events"},
	{"CONFIG_FTRACE", Warn, "no function tracer: payloads and available_filter_functions are missing"},
	{"CONFIG_DEBUG_FS", Fail, "no debugfs: kgen's control files and kprobes/enabled are missing"},
	{"CONFIG_TRACING", Fail, "no trace buffers: kgen trace cannot read events"},
}

// kernelConfig reads the running kernel's configuration: /proc/config.gz,
// /boot/config-<release>, else the KDIR's .config when it is the same
// release. It returns the options and where they came from.
func kernelConfig(o *Options, info *kbuild.KernelInfo, kdir string) (map[string]string, string) {
	if b, err := os.ReadFile(o.path("/proc/config.gz")); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if d, err := io.ReadAll(zr); err == nil {
				return ParseConfig(d), "/proc/config.gz"
			}
		}
	}
	p := "/boot/config-" + o.Release
	if b, err := os.ReadFile(o.path(p)); err == nil {
		return ParseConfig(b), p
	}
	if info != nil && info.Release == o.Release {
		if b, err := os.ReadFile(filepath.Join(kdir, ".config")); err == nil {
			return ParseConfig(b), filepath.Join(kdir, ".config")
		}
	}
	return nil, ""
}

// ParseConfig returns a kernel .config's set options (values unquoted);
// "# CONFIG_X is not set" lines are left out.
func ParseConfig(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || !strings.HasPrefix(k, "CONFIG_") {
			continue
		}
		m[k] = strings.Trim(v, `"`)
	}
	return m
}

// loadChecks: what loading and probing need on the running kernel; info
// and kdir are the build dir's (nil and "" when there is none).
func loadChecks(o *Options, info *kbuild.KernelInfo, kdir string, add func(Check)) {
	if o.Euid() != 0 {
		add(Check{Name: "root", Group: Load, Status: Warn,
			Detail: "not root: loading needs CAP_SYS_MODULE, and some checks below cannot read what they need",
			Fix:    "run as root (sudo kgen doctor)"})
	}
	cfg, from := kernelConfig(o, info, kdir)
	if cfg == nil {
		add(Check{Name: "kernel config", Group: Load, Status: Warn,
			Detail: "neither /proc/config.gz nor /boot/config-" + o.Release + " found: the CONFIG_ checks are skipped",
			Fix:    "install the kernel's config as /boot/config-" + o.Release + " (Debian's linux-image package does), or build with CONFIG_IKCONFIG_PROC=y"})
	} else {
		add(Check{Name: "kernel config", Group: Load, Status: OK, Detail: from})
		for _, co := range configOptions {
			c := Check{Name: co.name, Group: Load, Status: OK, Detail: "=" + cfg[co.name]}
			if v := cfg[co.name]; v != "y" {
				c.Status = co.missing
				c.Detail = "not set: " + co.why
				c.Fix = "use a kernel built with " + co.name + "=y"
			}
			add(c)
		}
	}
	cmdline, _ := o.read("/proc/cmdline")
	add(modulesDisabled(o))
	add(sigEnforce(o, cmdline))
	add(lockdown(o, cmdline))
	add(secureBoot(o))
	fs := filesystems(o)
	mounts := readMounts(o)
	for _, f := range []struct{ fs, cfg string }{{"debugfs", "CONFIG_DEBUG_FS"}, {"tracefs", "CONFIG_TRACING"}} {
		c := Check{Name: f.fs, Group: Load}
		switch {
		case mounts[f.fs] != "":
			c.Status, c.Detail = OK, "mounted at "+mounts[f.fs]
		case fs[f.fs]:
			c.Status, c.Detail = OK, "mountable (kgen load mounts it)"
		case f.fs == "debugfs" && strings.Contains(" "+cmdline+" ", " debugfs=off "):
			c.Status, c.Detail, c.Fix = Fail, "disabled by debugfs=off on the kernel command line", "boot without debugfs=off"
		default:
			c.Status, c.Detail, c.Fix = Fail, f.fs+" is not in /proc/filesystems", "use a kernel built with "+f.cfg+"=y"
		}
		add(c)
	}
	add(kprobesEnabled(o, mounts["debugfs"]))
}

func modulesDisabled(o *Options) Check {
	c := Check{Name: "kernel.modules_disabled", Group: Load, Status: OK, Detail: "0"}
	v, err := o.read("/proc/sys/kernel/modules_disabled")
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.Detail = "no such sysctl (a kernel without modules: see CONFIG_MODULES)"
	case err != nil:
		c.Status, c.Detail = Warn, "cannot read /proc/sys/kernel/modules_disabled: "+err.Error()
		c.Fix = "mount /proc"
	case v != "0":
		c.Status, c.Detail = Fail, "1: module loading is off until reboot"
		c.Fix = "reboot without setting it (look for kernel.modules_disabled=1 in /etc/sysctl.conf and /etc/sysctl.d/)"
	}
	return c
}

func sigEnforce(o *Options, cmdline string) Check {
	c := Check{Name: "module.sig_enforce", Group: Load, Status: OK}
	v, err := o.read("/sys/module/module/parameters/sig_enforce")
	switch {
	case err != nil:
		c.Detail = "kernel without module signatures"
	case v == "Y":
		c.Status, c.Detail = Fail, "Y: unsigned modules are rejected (finit_module: EKEYREJECTED)"
		if strings.Contains(" "+cmdline+" ", " module.sig_enforce=1 ") {
			c.Fix = "boot without module.sig_enforce=1, or sign the module with a key the kernel trusts (scripts/sign-file in the KDIR)"
		} else {
			c.Fix = "the kernel is built with CONFIG_MODULE_SIG_FORCE: sign the module with a key the kernel trusts (scripts/sign-file in the KDIR)"
		}
	default:
		c.Detail = "N: unsigned modules load (tainting the kernel)"
	}
	return c
}

func lockdown(o *Options, cmdline string) Check {
	c := Check{Name: "lockdown", Group: Load, Status: OK}
	v, err := o.read("/sys/kernel/security/lockdown")
	if err != nil {
		if _, serr := os.Stat(o.path("/sys/kernel/security/lsm")); serr != nil {
			c.Status, c.Detail = Warn, "securityfs not mounted: lockdown unknown"
			c.Fix = "mount -t securityfs securityfs /sys/kernel/security"
			return c
		}
		c.Detail = "no lockdown LSM"
		return c
	}
	mode := "none"
	for _, w := range strings.Fields(v) {
		if strings.HasPrefix(w, "[") {
			mode = strings.Trim(w, "[]")
		}
	}
	fix := "boot with lockdown=none"
	if strings.Contains(cmdline, "lockdown=") {
		fix = "boot without lockdown=" + mode
	}
	fix += " (Secure Boot turns it on in Debian: mokutil --disable-validation), or sign the module with an enrolled key"
	switch mode {
	case "none":
		c.Detail = "none"
	case "integrity":
		c.Status, c.Detail, c.Fix = Fail, "integrity: unsigned modules are rejected", fix
	default:
		c.Status, c.Detail, c.Fix = Fail, mode+": unsigned modules, kprobes and tracefs are refused", fix
	}
	return c
}

const efiGlobal = "8be4df61-93ca-11d2-aa0d-e98c0488e1c8"

func secureBoot(o *Options) Check {
	c := Check{Name: "secure boot", Group: Load, Status: OK}
	if _, err := os.Stat(o.path("/sys/firmware/efi")); err != nil {
		c.Detail = "not an EFI boot"
		return c
	}
	b, err := os.ReadFile(o.path("/sys/firmware/efi/efivars/SecureBoot-" + efiGlobal))
	if err == nil && len(b) == 5 { // 4 bytes of attributes, then the value
		b = b[4:]
	} else if b2, err2 := os.ReadFile(o.path("/sys/firmware/efi/vars/SecureBoot-" + efiGlobal + "/data")); err2 == nil {
		b, err = b2, nil
	}
	switch {
	case err != nil || len(b) != 1:
		c.Detail = "EFI boot, Secure Boot state unknown (no SecureBoot variable)"
	case b[0] == 1:
		c.Status, c.Detail = Warn, "on: Debian's kernel then locks down (see lockdown) and wants signed modules"
		c.Fix = "mokutil --disable-validation (and reboot), or sign modules with a key enrolled with mokutil --import"
	default:
		c.Detail = "off"
	}
	return c
}

// filesystems returns the file systems /proc/filesystems lists.
func filesystems(o *Options) map[string]bool {
	m := map[string]bool{}
	s, _ := o.read("/proc/filesystems")
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			m[f[len(f)-1]] = true
		}
	}
	return m
}

// readMounts returns where debugfs and tracefs are mounted (the first
// mount of each; the standard places preferred).
func readMounts(o *Options) map[string]string {
	m := map[string]string{}
	s, _ := o.read("/proc/self/mounts")
	lines := strings.Split(s, "\n")
	sort.SliceStable(lines, func(i, j int) bool {
		return std(lines[i]) && !std(lines[j])
	})
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		if (f[2] == "debugfs" || f[2] == "tracefs") && m[f[2]] == "" {
			m[f[2]] = f[1]
		}
	}
	return m
}

func std(mountLine string) bool {
	f := strings.Fields(mountLine)
	return len(f) > 1 && (f[1] == "/sys/kernel/debug" || f[1] == "/sys/kernel/tracing")
}

func kprobesEnabled(o *Options, debugfs string) Check {
	c := Check{Name: "kprobes enabled", Group: Load, Status: OK}
	if debugfs == "" {
		c.Status, c.Detail = Warn, "debugfs not mounted: cannot read kprobes/enabled"
		c.Fix = "mount -t debugfs none /sys/kernel/debug and run kgen doctor again"
		return c
	}
	p := filepath.Join(debugfs, "kprobes/enabled")
	v, err := o.read(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.Status, c.Detail, c.Fix = Fail, "no "+p+": the kernel has no kprobes", "use a kernel built with CONFIG_KPROBES=y"
	case errors.Is(err, os.ErrPermission) && o.Euid() == 0:
		c.Status, c.Detail = Warn, "cannot read "+p+" as root: lockdown restricts debugfs files that can be written"
		c.Fix = "see the lockdown check"
	case err != nil:
		c.Status, c.Detail, c.Fix = Warn, "cannot read "+p+": "+err.Error(), "run as root"
	case v == "1":
		c.Detail = p + " is 1"
	default:
		c.Status, c.Detail = Fail, p+" is "+v+": every kprobe is disarmed"
		c.Fix = "echo 1 > " + p
	}
	return c
}

// Format writes the report, one line per check, and a last line saying
// whether a build and a load would work.
func Format(w io.Writer, r *Report) {
	for _, c := range r.Checks {
		line := fmt.Sprintf("%-4s  %-5s  %s: %s", c.Status, c.Group, c.Name, c.Detail)
		if c.Fix != "" {
			line += "; fix: " + c.Fix
		}
		fmt.Fprintln(w, line)
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "kernel %s: build %s, load %s\n", r.Release, yes(r.Build), yes(r.Load))
}
