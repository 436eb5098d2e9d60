package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultSMP     = 1
	DefaultMemMB   = 512
	DefaultTimeout = 5 * time.Minute
	DefaultBusybox = "/bin/busybox"
)

// Config describes one boot.
type Config struct {
	// Kernel is the guest kernel: an uncompressed ELF vmlinux (fastest
	// under TCG, booted through its PVH entry) or a bzImage for x86_64, an
	// arm64 Image (or Debian's gzipped vmlinuz) for aarch64.
	Kernel string
	// Arch is the guest architecture, "x86_64" or "aarch64" ("amd64" and
	// "arm64" too). Empty means the kernel file's (see detectArch).
	Arch string
	// Modules are host .ko files /init loads, in order, before it opens
	// the output port. Empty means the architecture's own: none on
	// x86_64, virtio_mmio and virtio_console on aarch64 (from vm-modules/
	// next to the kernel file).
	Modules []string
	// Adds are host files and directories copied into the guest.
	Adds []Add
	// SMP is the number of guest CPUs (default 1).
	SMP int
	// MemMB is the guest memory in MiB (default 512).
	MemMB int
	// Timeout bounds the whole run, boot included (default 5m).
	Timeout time.Duration
	// Icount runs the guest with -icount shift=0 (one instruction per
	// virtual nanosecond) and a fixed -seed, so instruction-count
	// measurements repeat exactly; it rules out KVM and needs SMP 1.
	Icount bool
	// MTTCG runs an SMP guest under multi-threaded TCG, one host thread
	// per vCPU. Without it (and without KVM) SMP guests run with
	// -accel tcg,thread=single: qemu 7.2's multi-threaded TCG mishandles
	// cross-modifying code: arming a kprobe or patching a static key
	// while another vCPU runs the patched code oopsed 14 of 17 boots on
	// 5.10, 6.1 and 6.12 (every boot on 6.12), against 0 of 14
	// single-threaded.
	MTTCG bool
	// Accel picks qemu's accelerator: "kvm", "tcg" or "auto". Empty
	// means $KGEN_VM_ACCEL, else "auto": KVM when /dev/kvm opens, Icount
	// is off and KVM has not stalled on this host since it booted, else
	// TCG. An auto KVM guest that has not started /init within 30 s is
	// killed and booted again under TCG, in what is left of Timeout, and
	// the stall is remembered (see kvmStallFile): nested or paravirtual
	// KVM (such as kvm-pvm) can hang a guest's early boot for good.
	Accel string
	// Append is added to the kernel command line, after kgen's own
	// arguments, so it can override them.
	Append string
	// Cmd is run in the guest with sh -c, as root, in /root.
	Cmd string
	// KgenBinary is copied to /bin/kgen; it must be static. Empty means
	// the running executable, or for a guest of another architecture
	// "<executable>-<GOARCH>" (kgen-arm64) when it exists; "-" means none.
	KgenBinary string
	// Busybox is a static busybox for the guest (default /bin/busybox,
	// Debian's busybox-static, or for a guest of another architecture
	// than the host's the file busybox next to the kernel, where
	// scripts/fetch-kernels.sh puts Debian's busybox-static of it).
	Busybox string
	// Env is exported in the guest before Cmd runs, as is KGEN_IN_VM=1.
	Env map[string]string
	// Stdout receives Cmd's stdout and stderr as the guest writes them.
	Stdout io.Writer
	// Console, if set, receives the kernel console as it is written.
	Console io.Writer
	// QEMU overrides the qemu binary (default qemu-system-<arch> in PATH).
	QEMU string
	// Notes, if set, receives kgen's own remarks on the run, such as a
	// fallback from KVM to TCG, one line each.
	Notes io.Writer
}

// Result describes a finished boot.
type Result struct {
	// ExitCode is Cmd's exit status, -1 if the guest did not report one.
	ExitCode int
	// Console is the last 64 KiB of the kernel console, '\r' removed.
	Console []byte
	// Duration is the time from starting qemu to its exit.
	Duration time.Duration
	// Accel is the accelerator the guest ran under, "kvm" or "tcg".
	Accel string
}

// Sentinels for the reasons of a GuestError.
var (
	ErrPanic   = errors.New("guest kernel panic")
	ErrOops    = errors.New("guest kernel oops")
	ErrWarning = errors.New("guest kernel warning")
	// ErrReport is a report of one of the kernel's own checkers: KASAN,
	// lockdep, DEBUG_ATOMIC_SLEEP, DEBUG_LIST, DEBUG_OBJECTS (as the
	// debug-6.1 kernel has them), or lockdep found turned off at the end.
	ErrReport       = errors.New("guest kernel checker report")
	ErrTimeout      = errors.New("guest timed out")
	ErrNoExitStatus = errors.New("guest ended without the command's exit status")
	// ErrNoQEMU is returned when the qemu binary is not installed.
	ErrNoQEMU = errors.New("qemu not found")
)

// kvmStallLimit is how long an auto KVM guest may take to start /init
// before kgen gives up on KVM for the host; a variable for tests.
var kvmStallLimit = 30 * time.Second

// kvmFallback is boot's report of an auto KVM guest to boot again under
// TCG: it stalled before /init, or qemu could not start KVM.
type kvmFallback struct {
	why      string
	remember bool // a stall, not a failure qemu reported at once
}

func (e *kvmFallback) Error() string { return e.why }

// GuestError reports a guest that misbehaved: its kernel panicked,
// oopsed, warned or one of its checkers reported a bug, the run timed out,
// or it stopped without passing on the command's status.
type GuestError struct {
	// Reason is "panic", "oops", "report", "warning", "timeout" or "no
	// exit status".
	Reason string
	// Line is the first console line showing the problem, if any.
	Line string
	// Tail is the end of the kernel console.
	Tail string
}

func (e *GuestError) Error() string {
	msg := e.Unwrap().Error()
	if e.Line != "" {
		msg += ": " + e.Line
	}
	return msg
}

// Unwrap returns the sentinel matching Reason.
func (e *GuestError) Unwrap() error {
	switch e.Reason {
	case "panic":
		return ErrPanic
	case "oops":
		return ErrOops
	case "report":
		return ErrReport
	case "warning":
		return ErrWarning
	case "timeout":
		return ErrTimeout
	default:
		return ErrNoExitStatus
	}
}

// withDefaults returns c with its zero fields filled in and checks it.
func (c Config) withDefaults() (Config, arch, error) {
	var a arch
	if c.Kernel == "" {
		return c, a, errors.New("check kernel: no kernel given; pass an uncompressed vmlinux (scripts/fetch-kernels.sh makes them)")
	}
	if _, err := os.Stat(c.Kernel); err != nil {
		return c, a, fmt.Errorf("check kernel: %w", err)
	}
	if n, ok := archAliases[c.Arch]; ok {
		c.Arch = n
	}
	if c.Arch == "" {
		var err error
		if c.Arch, err = detectArch(c.Kernel); err != nil {
			return c, a, err
		}
	}
	a, ok := arches[c.Arch]
	if !ok {
		return c, a, fmt.Errorf("check arch %q: only %s guests are supported", c.Arch, archNames())
	}
	if c.Cmd == "" {
		return c, a, errors.New("check command: no command to run in the guest")
	}
	if c.SMP == 0 {
		c.SMP = DefaultSMP
	}
	if c.MemMB == 0 {
		c.MemMB = DefaultMemMB
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.SMP < 0 || c.MemMB < 0 || c.Timeout < 0 {
		return c, a, fmt.Errorf("check config: smp %d, mem %d MiB, timeout %v: must be positive", c.SMP, c.MemMB, c.Timeout)
	}
	if c.Icount && c.SMP > 1 {
		// Measured with qemu 7.2: the guest hangs at "Booting SMP
		// configuration" when -icount runs more than one vCPU.
		return c, a, fmt.Errorf("check config: icount with %d CPUs: qemu hangs bringing up the second CPU; use one CPU", c.SMP)
	}
	if _, err := envFile(c.Env); err != nil {
		return c, a, err
	}
	if c.Busybox == "" {
		c.Busybox = DefaultBusybox
		if a.goarch != runtime.GOARCH {
			c.Busybox = filepath.Join(filepath.Dir(c.Kernel), "busybox")
		}
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.QEMU == "" {
		c.QEMU = a.qemu
	}
	if c.Accel == "" {
		c.Accel = os.Getenv("KGEN_VM_ACCEL")
	}
	switch c.Accel {
	case "":
		c.Accel = "auto"
	case "auto", "tcg":
	case "kvm":
		if c.Icount {
			return c, a, errors.New("check config: icount needs TCG; it cannot run under KVM (accel kvm)")
		}
	default:
		return c, a, fmt.Errorf("check accel %q: want kvm, tcg or auto (from Config.Accel, --accel or KGEN_VM_ACCEL)", c.Accel)
	}
	return c, a, nil
}

// Run boots c.Kernel in qemu with a generated initramfs, runs c.Cmd and
// waits for the guest to power off. The Result is non-nil once qemu has
// started. A *GuestError reports a panic, oops, checker report, warning,
// timeout or a missing exit status; the Result then still holds whatever was seen.
// Cancelling ctx kills qemu and returns ctx's error. Temporary files are
// removed on every path.
func Run(ctx context.Context, c Config) (*Result, error) {
	c, a, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath(c.QEMU)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w: install it (Debian: apt-get install %s)", c.QEMU, ErrNoQEMU, a.pkg)
	}
	if err := checkStatic(c.Busybox, a.machine, "busybox", "install Debian's busybox-static or pass a static busybox"); err != nil {
		return nil, err
	}
	kgen := c.KgenBinary
	switch kgen {
	case "-":
		kgen = ""
	case "":
		if kgen, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find kgen binary: %w", err)
		}
		if a.goarch != runtime.GOARCH {
			// the executable cannot run there: a cross-built one beside it
			if _, err := os.Stat(kgen + "-" + a.goarch); err == nil {
				kgen += "-" + a.goarch
			}
		}
	}
	if kgen != "" {
		fix := fmt.Sprintf("rebuild it with CGO_ENABLED=0 GOARCH=%s go build ./cmd/kgen, or boot without it (KgenBinary \"-\", kgen vm --kgen-binary -)", a.goarch)
		if a.goarch != runtime.GOARCH {
			fix = fmt.Sprintf("build one for the guest, CGO_ENABLED=0 GOARCH=%[1]s go build -o kgen-%[1]s ./cmd/kgen, next to kgen (or pass it with --kgen-binary), or boot without it (--kgen-binary -)", a.goarch)
		}
		if err := checkStatic(kgen, a.machine, "kgen binary", fix); err != nil {
			return nil, err
		}
	}
	env, _ := envFile(c.Env) // checked by withDefaults
	mods, err := bootModules(a, c.Kernel, c.Modules)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		if err := checkModule(m, a.machine); err != nil {
			return nil, err
		}
	}

	initrd, err := os.CreateTemp("", "kgen-initramfs-*.cpio")
	if err != nil {
		return nil, fmt.Errorf("create initramfs: %w", err)
	}
	defer os.Remove(initrd.Name())
	err = buildInitramfs(initrd, initramfs{
		busybox: c.Busybox,
		kgen:    kgen,
		init:    fmt.Sprintf(initScript, a.output, lockdepOffLine, modulesLines(mods, a.output)),
		modules: mods,
		files: map[string]string{
			"/etc/kgen/cmd": c.Cmd,
			"/etc/kgen/env": env,
			"/etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
			"/etc/group":    "root:x:0:\n",
		},
		adds: c.Adds,
	})
	if cerr := initrd.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	kvm := false
	switch c.Accel {
	case "kvm":
		if err := kvmOpen(a); err != nil {
			return nil, fmt.Errorf("check accel kvm: %w; use --accel tcg (or auto)", err)
		}
		kvm = true
	case "auto":
		if !c.Icount && kvmOpen(a) == nil {
			kvm = true
			if why, file := kvmStalled(); why != "" {
				kvm = false
				// One line: why may hold qemu's whole register dump.
				note(c.Notes, "TCG, not KVM: KVM stalled on this host before (%s; details in %s); to try KVM again delete that file or pass --accel kvm", firstLine(why), file)
			}
		}
	}
	res, err := boot(ctx, c, a, qemu, initrd.Name(), kvm, c.Accel == "auto")
	var fb *kvmFallback
	if errors.As(err, &fb) {
		spent := res.Duration
		if fb.remember {
			rememberKVMStall(fb.why)
			note(c.Notes, "%s; booting again under TCG (slower); auto runs keep off KVM until the host reboots (--accel kvm forces it; details in %s)", firstLine(fb.why), kvmStallFile())
		} else {
			note(c.Notes, "%s; booting again under TCG", fb.why)
		}
		c.Timeout -= spent
		res, err = boot(ctx, c, a, qemu, initrd.Name(), false, false)
		if res != nil {
			res.Duration += spent
		}
	}
	return res, err
}

// note writes one of kgen's remarks on the run to w, if set.
func note(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "kgen vm: "+format+"\n", args...)
	}
}

// kvmDevice is the KVM device; a variable for tests.
var kvmDevice = "/dev/kvm"

// kvmOpen reports why qemu cannot use KVM for a guest of arch a, or nil.
func kvmOpen(a arch) error {
	if runtime.GOARCH != a.goarch {
		return fmt.Errorf("host is %s, guest %s", runtime.GOARCH, a.goarch)
	}
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	f.Close()
	return nil
}

// kvmStallFile is where a KVM stall is remembered, with the boot ID of
// the host it happened on: a reboot (a new host kernel or KVM module)
// tries KVM again. A variable for tests.
var kvmStallFile = func() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "kgen", "kvm-stalled")
}

func bootID() string {
	id, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(id))
}

// kvmStalled returns why KVM stalled on this host since it booted, and
// the file that says so, or "".
func kvmStalled() (why, file string) {
	file = kvmStallFile()
	if file == "" {
		return "", ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", ""
	}
	id, why, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if id != bootID() {
		return "", "" // an earlier boot of the host
	}
	if why == "" {
		why = "no reason recorded"
	}
	return why, file
}

// rememberKVMStall records why KVM stalled; best effort. The file is
// written to a fresh temporary file (not a fixed name another user could
// plant a symlink at) and renamed into place.
func rememberKVMStall(why string) {
	file := kvmStallFile()
	if file == "" || os.MkdirAll(filepath.Dir(file), 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(file), ".kvm-stalled-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString(bootID() + "\n" + why + "\n")
	if errors.Join(werr, f.Close()) == nil {
		_ = os.Rename(f.Name(), file)
	}
	os.Remove(f.Name())
}

// firstLine shortens a multi-line reason (a qemu error with its register
// dump) to its first line, at most 160 bytes.
func firstLine(s string) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 160 {
		line, more = line[:160], true
	}
	if more {
		return line + " ..."
	}
	return line
}

// qemuArgs returns qemu's arguments; the console is fd 3 and the output
// port fd 4 of qemu.
func qemuArgs(c Config, a arch, initrd string, kvm bool) []string {
	args := []string{
		// Nothing but what is listed here: no NIC, VGA, floppy, monitor.
		"-nodefaults", "-no-user-config", "-display", "none",
		// A reboot (panic=-1 after a panic, or reboot -f) ends qemu.
		"-no-reboot",
	}
	args = append(args, a.args...)
	if kvm {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else if c.SMP > 1 && !c.MTTCG {
		// All vCPUs on one host thread, interleaved: see Config.MTTCG.
		args = append(args, "-accel", "tcg,thread=single", "-cpu", a.cpu)
	} else {
		args = append(args, "-accel", "tcg", "-cpu", a.cpu)
	}
	if c.Icount {
		// shift=0: one instruction per virtual ns; -seed makes RDRAND
		// and the other guest randomness qemu supplies repeatable.
		args = append(args, "-icount", "shift=0", "-seed", "1")
	}
	cmdline := []string{
		"console=" + a.console,
		// Reboot (and so end qemu) at once on a panic.
		"panic=-1",
		// Show warnings (level 4) and worse on the console: oopses and
		// WARN()s print at the default level 4, which "quiet" would hide.
		"loglevel=5",
		// Let the command write to /dev/kmsg without being rate limited.
		"printk.devkmsg=on",
		"rdinit=/init",
	}
	if c.Append != "" {
		cmdline = append(cmdline, c.Append)
	}
	args = append(args,
		"-m", strconv.Itoa(c.MemMB),
		"-smp", strconv.Itoa(c.SMP),
		"-kernel", c.Kernel,
		"-initrd", initrd,
		"-append", strings.Join(cmdline, " "),
		// Two ports: the first the kernel console, the second the
		// command's output (a second UART, or virtio-console), so each
		// stream stays clean.
		"-chardev", "file,id=console,path=/dev/fd/3",
		"-serial", "chardev:console",
		"-chardev", "file,id=output,path=/dev/fd/4",
	)
	args = append(args, a.outputArgs...)
	return args
}

// grace is how long qemu may take to exit once the guest reported its
// status or panicked.
const grace = 15 * time.Second

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// kvmStartFailures are what qemu prints when it cannot start KVM at all.
var kvmStartFailures = []string{"failed to initialize kvm", "could not access kvm kernel module"}

func boot(ctx context.Context, c Config, a arch, qemu, initrd string, kvm, probe bool) (*Result, error) {
	conR, conW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create console pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		conR.Close()
		conW.Close()
		return nil, fmt.Errorf("create output pipe: %w", err)
	}
	qerr := &limitedBuffer{max: 8 << 10}
	cmd := exec.Command(qemu, qemuArgs(c, a, initrd, kvm)...)
	cmd.ExtraFiles = []*os.File{conW, outW} // fds 3 and 4
	cmd.Stdout, cmd.Stderr = qerr, qerr
	start := time.Now()
	err = cmd.Start()
	// qemu holds the write ends now; ours would keep the readers from
	// ever seeing EOF.
	conW.Close()
	outW.Close()
	if err != nil {
		conR.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", qemu, err)
	}

	con := newConsole(c.Console)
	out := newOutputFilter(c.Stdout)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer conR.Close()
		_, _ = io.Copy(con, conR)
		con.finish()
	}()
	go func() {
		defer readers.Done()
		defer outR.Close()
		_, _ = io.Copy(out, outR)
		out.flush()
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timeout := time.NewTimer(c.Timeout)
	defer timeout.Stop()
	var stall <-chan time.Time // an auto KVM guest's time to start /init
	if probe && kvm && kvmStallLimit < c.Timeout {
		stall = time.After(kvmStallLimit)
	}
	var (
		waitErr  error
		timedOut bool
		stalled  bool
		killed   bool // by us: qemu's exit status says nothing then
		ctxErr   error
		deadline <-chan time.Time // set once the guest should be ending
		bad      = con.bad
		done     = out.done
		started  = out.started
	)
	kill := func() {
		killed = true
		_ = cmd.Process.Kill()
	}
loop:
	for {
		select {
		case waitErr = <-exited:
			break loop
		case <-started:
			started, stall = nil, nil
		case <-stall:
			stall = nil
			select {
			case <-out.started: // raced with the timer: not a stall
			default:
				stalled = true
				kill()
			}
		case <-done:
			done = nil
			deadline = time.After(grace)
		case <-bad:
			// The run has failed: let the guest finish or panic within
			// the grace period, not the whole timeout (an oops that does
			// not panic often leaves the command hung).
			bad = nil
			if deadline == nil {
				deadline = time.After(grace)
			}
		case <-deadline:
			kill()
			deadline = nil
		case <-timeout.C:
			timedOut = true
			kill()
		case <-ctx.Done():
			ctxErr = ctx.Err()
			kill()
		}
	}
	readers.Wait()
	sawInit := false
	select {
	case <-out.started:
		sawInit = true
	default:
	}
	tail, reason, line := con.result()
	status, werr := out.exitStatus()
	res := &Result{ExitCode: status, Console: tail, Duration: time.Since(start), Accel: "tcg"}
	if kvm {
		res.Accel = "kvm"
	}
	if ctxErr != nil {
		return res, fmt.Errorf("run vm: %w", ctxErr)
	}
	qmsg := qerr.String()
	if probe && kvm && !sawInit && !killed && waitErr != nil {
		for _, f := range kvmStartFailures {
			if strings.Contains(strings.ToLower(qmsg), f) {
				return res, &kvmFallback{why: "qemu could not start KVM: " + qmsg}
			}
		}
	}
	if stalled {
		// Not remembered if /init's marker was in fact on its way.
		what := "the kernel printed nothing on its console"
		if l := lastLines(tail, 1); l != "" {
			what = fmt.Sprintf("the console's last line: %q", l)
		}
		if qmsg != "" {
			what += "; qemu: " + qmsg
		}
		return res, &kvmFallback{why: fmt.Sprintf("KVM guest did not start /init in %v (%s)", kvmStallLimit, what), remember: !sawInit}
	}
	if werr != nil {
		return res, fmt.Errorf("write guest output: %w", werr)
	}
	switch {
	case reason != "":
		// A panic, oops, report or warning outranks a timeout: it is
		// its cause.
	case timedOut:
		reason, line = "timeout", fmt.Sprintf("no exit after %v", c.Timeout)
		if kvm && !sawInit {
			line += " and /init never started under KVM: is KVM usable here? Try --accel tcg"
			if qmsg != "" {
				line += " (qemu: " + qmsg + ")"
			}
		}
	case status < 0:
		reason = "no exit status"
		var why []string
		if waitErr != nil {
			why = append(why, "qemu: "+waitErr.Error())
		}
		if qmsg != "" {
			why = append(why, qmsg)
		}
		if len(tail) == 0 {
			why = append(why, fmt.Sprintf("the kernel printed nothing: is %s a bootable %s kernel?", c.Kernel, c.Arch))
		}
		line = strings.Join(why, ": ")
	default:
		return res, nil
	}
	return res, &GuestError{Reason: reason, Line: line, Tail: lastLines(tail, tailLines)}
}
