package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"kgen/vm"
)

type vmFlags struct {
	kernel, appendArgs, kgenBinary, busybox, accel string
	adds, env                                      []string
	smp, mem                                       int
	timeout                                        time.Duration
	icount, console, mttcg                         bool
}

func newVMCmd(stdout, stderr io.Writer) *cobra.Command {
	var f vmFlags
	cmd := &cobra.Command{
		Use:   "vm --kernel VMLINUX [flags] -- CMD...",
		Short: "Run a command as root in a throwaway VM booting the given kernel",
		Long: `vm boots VMLINUX in qemu (see --accel) with an initramfs kgen assembles:
a static busybox, this kgen binary as /bin/kgen, and the --add files. It runs CMD with sh -c as root in /root,
streams its stdout and stderr, and exits with its status. A kernel panic,
oops or WARNING on the guest console, a report of a debug kernel's checkers
(KASAN, lockdep, atomic sleep, DEBUG_LIST, ODEBUG; lockdep found turned off
at the end), or the timeout, makes vm exit 1 and print the console's tail. debugfs and tracefs are not mounted (kgen load
mounts them); KGEN_IN_VM=1 is set.

VMLINUX is best the uncompressed ELF vmlinux (scripts/fetch-kernels.sh
extracts it): a bzImage works but decompressing it under TCG costs 10 s.
/bin/kgen must be static: build kgen with CGO_ENABLED=0.

--accel auto (the default, or $KGEN_VM_ACCEL) uses KVM when /dev/kvm opens
and --icount is off, else TCG. A KVM guest that has not started /init within
30 s (nested or paravirtual KVM can stall a boot for good) is booted again
under TCG, and auto runs keep off KVM until the host reboots.`,
		Example: `  kgen vm --kernel ~/.cache/kgen/kernels/debian-6.1/vmlinux -- uname -a
  kgen vm --kernel vmlinux --add out/vfs_read_lat.ko -- \
      'kgen load vfs_read_lat.ko && cat /etc/passwd >/dev/null && kgen unload vfs_read_lat'
  kgen vm --kernel vmlinux --add tests/:/tests/ --smp 2 --timeout 2m -- /tests/run.sh
  kgen vm --kernel vmlinux --icount --console -- 'dd if=/dev/zero of=/dev/null bs=1 count=200000'`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case dash < 0 && len(args) > 0:
				return fmt.Errorf("put the guest command after --: kgen vm --kernel VMLINUX -- %s", strings.Join(args, " "))
			case dash < 0 || dash == len(args):
				return errors.New("no guest command: give it after --, e.g. kgen vm --kernel VMLINUX -- uname -r")
			case dash > 0:
				return fmt.Errorf("unexpected arguments before --: %s", strings.Join(args[:dash], " "))
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVM(cmd, f, strings.Join(args, " "), stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kernel, "kernel", "", "guest kernel: an uncompressed vmlinux (or a bzImage), or an arm64 Image; the architecture is the file's")
	fl.StringArrayVar(&f.adds, "add", nil, "copy host SRC (file or directory) to the guest as DST (default /root/<base>; DST/ for DST/<base>); repeatable: SRC[:DST]")
	fl.IntVar(&f.smp, "smp", vm.DefaultSMP, "guest CPUs")
	fl.IntVar(&f.mem, "mem", vm.DefaultMemMB, "guest memory in MiB")
	fl.DurationVar(&f.timeout, "timeout", vm.DefaultTimeout, "limit for the whole run, boot included")
	fl.StringVar(&f.accel, "accel", "", "qemu accelerator: auto, kvm or tcg (default $KGEN_VM_ACCEL, else auto)")
	_ = cmd.RegisterFlagCompletionFunc("accel", cobra.FixedCompletions([]string{"auto", "kvm", "tcg"}, cobra.ShellCompDirectiveNoFileComp))
	fl.BoolVar(&f.mttcg, "mttcg", false, "run --smp guests under multi-threaded TCG (faster; qemu 7.2 then crashes guests that patch live code, e.g. arm kprobes)")
	fl.BoolVar(&f.icount, "icount", false, "deterministic guest time: qemu -icount shift=0 (1 instruction = 1 ns); needs --smp 1")
	fl.StringVar(&f.appendArgs, "append", "", "extra kernel command-line arguments (after kgen's, so they override them)")
	fl.StringArrayVar(&f.env, "env", nil, "export NAME=VALUE in the guest; repeatable")
	fl.BoolVar(&f.console, "console", false, "stream the kernel console to stderr")
	fl.StringVar(&f.kgenBinary, "kgen-binary", "", `static kgen to install as /bin/kgen (default: this executable; "-" for none)`)
	fl.StringVar(&f.busybox, "busybox", "", "static busybox for the guest (default "+vm.DefaultBusybox+", or busybox next to a kernel of another architecture)")
	_ = cmd.MarkFlagRequired("kernel")
	_ = cmd.MarkFlagFilename("kernel")
	_ = cmd.MarkFlagFilename("add")
	_ = cmd.MarkFlagFilename("kgen-binary")
	_ = cmd.MarkFlagFilename("busybox")
	return cmd
}

func runVM(cmd *cobra.Command, f vmFlags, guestCmd string, stdout, stderr io.Writer) error {
	c := vm.Config{
		Kernel:     f.kernel,
		SMP:        f.smp,
		MemMB:      f.mem,
		Timeout:    f.timeout,
		Icount:     f.icount,
		MTTCG:      f.mttcg,
		Accel:      f.accel,
		Notes:      stderr,
		Append:     f.appendArgs,
		Cmd:        guestCmd,
		KgenBinary: f.kgenBinary,
		Busybox:    f.busybox,
		Stdout:     stdout,
	}
	for _, s := range f.adds {
		a, err := vm.ParseAdd(s)
		if err != nil {
			return err
		}
		c.Adds = append(c.Adds, a)
	}
	if len(f.env) > 0 {
		c.Env = map[string]string{}
		for _, kv := range f.env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("parse --env %q: want NAME=VALUE", kv)
			}
			c.Env[k] = v
		}
	}
	if f.console {
		c.Console = stderr
	}
	// Ctrl-C kills qemu and removes the initramfs before kgen exits.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := vm.Run(ctx, c)
	var ge *vm.GuestError
	if errors.As(err, &ge) {
		if !f.console && ge.Tail != "" { // else it is on stderr already
			fmt.Fprintf(stderr, "--- guest console (last lines) ---\n%s\n---\n", ge.Tail)
		}
		return err
	}
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &exitError{code: res.ExitCode}
	}
	return nil
}
