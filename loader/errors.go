package loader

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Sentinels for errors.Is; the structured errors below wrap them.
var (
	ErrVermagic       = errors.New("module built for another kernel")
	ErrAlreadyLoaded  = errors.New("module already loaded")
	ErrNotLoaded      = errors.New("module not loaded")
	ErrSignature      = errors.New("module signature rejected")
	ErrPermission     = errors.New("not permitted to load or unload modules")
	ErrBadModule      = errors.New("kernel rejected the module")
	ErrUnknownSymbol  = errors.New("module needs or probes a symbol the kernel lacks")
	ErrBusy           = errors.New("module in use")
	ErrNoTracefs      = errors.New("tracefs not available")
	ErrNoInstance     = errors.New("no kgen tracefs instance")
	ErrInvalidName    = errors.New("invalid name")
	ErrInvalidParam   = errors.New("invalid module parameter")
	ErrNotModule      = errors.New("not a kernel module")
	ErrStatsMissing   = errors.New("module has no kgen stats file")
	ErrMalformedEvent = errors.New("malformed trace line")
)

// VermagicError reports a module built for another kernel release.
type VermagicError struct {
	Module         string // path of the .ko
	ModuleVermagic string // the .ko's full vermagic string
	KernelRelease  string // uname -r
}

func (e *VermagicError) Error() string {
	return fmt.Sprintf("check vermagic of %s: module built for %q, running kernel is %q: "+
		"rebuild it with `kgen build --kdir DIR` where DIR is the build tree of %s",
		e.Module, strings.TrimSpace(e.ModuleVermagic), e.KernelRelease, e.KernelRelease)
}

func (e *VermagicError) Unwrap() error { return ErrVermagic }

// ModuleError reports a failed finit_module/init_module/delete_module with
// what the user should do about it.
type ModuleError struct {
	Op     string // "load" or "unload"
	Module string
	Errno  error  // the raw errno
	Kind   error  // one of the sentinels, or nil
	Hint   string // what to do; may include kernel log lines
}

func (e *ModuleError) Error() string {
	msg := fmt.Sprintf("%s module %s: %v", e.Op, e.Module, e.Errno)
	if e.Kind != nil {
		msg = fmt.Sprintf("%s module %s: %v (%v)", e.Op, e.Module, e.Kind, e.Errno)
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

func (e *ModuleError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Errno}
	}
	return []error{e.Kind, e.Errno}
}

// loadError maps an errno of finit_module/init_module to an actionable error.
func loadError(name string, err error, klog string) error {
	me := &ModuleError{Op: "load", Module: name, Errno: err}
	dmesg := "see `dmesg | tail`"
	if klog != "" {
		dmesg = "kernel log:\n" + klog
	}
	switch {
	case errors.Is(err, unix.EEXIST):
		me.Kind = ErrAlreadyLoaded
		me.Hint = fmt.Sprintf("module %s is already loaded; `kgen unload %s` first", name, name)
	case errors.Is(err, unix.EKEYREJECTED):
		me.Kind = ErrSignature
		me.Hint = "module signature enforcement is on: sign the module with a key the kernel trusts " +
			"(kgen build --sign-key) or boot with module.sig_enforce=0"
	case errors.Is(err, unix.EPERM):
		me.Kind = ErrPermission
		me.Hint = "run as root (CAP_SYS_MODULE); if you are root, the kernel is locked down " +
			"(lockdown=, secure boot) or modules are disabled (kernel.modules_disabled=1)"
	case errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EINVAL):
		me.Kind = ErrBadModule
		me.Hint = "the module does not match this kernel (vermagic, symbol versions or format, " +
			"or a bad parameter); rebuild with `kgen build --kdir` for the running kernel; " + dmesg
	case errors.Is(err, unix.ENOENT):
		me.Kind = ErrUnknownSymbol
		me.Hint = "the kernel lacks a symbol the module links against or probes (or a dependency is " +
			"not loaded); the module's own lines in the kernel log name it; " + dmesg
	default:
		me.Hint = dmesg
	}
	return me
}

// unloadError maps an errno of delete_module.
func unloadError(name string, err error) error {
	me := &ModuleError{Op: "unload", Module: name, Errno: err}
	switch {
	case errors.Is(err, unix.ENOENT):
		me.Kind = ErrNotLoaded
		me.Hint = "check `lsmod`"
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EWOULDBLOCK):
		me.Kind = ErrBusy
		me.Hint = "something still uses it (an open debugfs file, a dependent module); " +
			"close it and retry, see `lsmod`"
	case errors.Is(err, unix.EPERM):
		me.Kind = ErrPermission
		me.Hint = "run as root (CAP_SYS_MODULE)"
	}
	return me
}

// klogLines returns the last few kernel log lines that mention name.
func klogLines(o *Options, name, mark string) string {
	b, err := o.Klog()
	if err != nil || len(b) == 0 {
		return ""
	}
	log := string(b)
	// Only what the kernel logged since the load began, when the line
	// logged last before it is still in the buffer.
	if i := strings.LastIndex(log, mark); mark != "" && i >= 0 {
		log = log[i+len(mark):]
	}
	var hits []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, name) {
			hits = append(hits, "  "+strings.TrimSpace(l))
		}
	}
	if len(hits) > 5 {
		hits = hits[len(hits)-5:]
	}
	return strings.Join(hits, "\n")
}

// klogMark returns the kernel log's last line (with its timestamp), to
// tell later lines from earlier ones; "" when the log is unreadable.
func klogMark(o *Options) string {
	b, err := o.Klog()
	if err != nil {
		return ""
	}
	s := strings.TrimRight(string(b), "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
