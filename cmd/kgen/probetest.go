package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"kgen/kbuild"
	"kgen/probetest"
	"kgen/vm"
)

type probeTestFlags struct {
	kernel, kdir, probes, glob, workload, dir string
	all, fresh                                bool
	jobs, levels, group, smp, perBoot         int
	timeout                                   time.Duration
	adds, preload                             []string
	host                                      hostFlags // --host: see probetest_host.go
}

func newProbeTestCmd(stdout, stderr io.Writer) *cobra.Command {
	var f probeTestFlags
	cmd := &cobra.Command{
		Use:   "probe-test --kernel VMLINUX --kdir KDIR (--probes FILE | --all | --glob PATTERN)",
		Short: "Find which kernel functions are safe to kprobe, by bisection in VMs",
		Long: `probe-test is SystemTap's kprobes safety harness in qemu guests. It probes
the functions in groups (one kprobe per function, counting hits) while a
workload runs; a group whose guest panics, oopses, warns or hangs is split
and run again down to single functions. Every function ends in one of
DIR/probes.passed, probes.failed (crashed alone; console tail in
DIR/crash/), probes.untriggered or probes.unregistered (with its errno in
DIR/report.json). The state is saved (fsync'd) before every group: run the
same command again after any interruption to resume; --fresh starts over.`,
		Example: `  kgen probe-test --kernel ~/.cache/kgen/kernels/debian-6.1/vmlinux \
      --kdir ~/.cache/kgen/kernels/debian-6.1/kdir --glob 'vfs_*' --dir vfs-6.1
  kgen probe-test --kernel vmlinux --kdir kdir --probes probes.all -j 2 --workload my.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbeTest(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kernel, "kernel", "", "guest kernel: an uncompressed vmlinux (or a bzImage)")
	fl.StringVar(&f.kdir, "kdir", "", "the kernel's build directory, to build the group module (default $KDIR)")
	fl.StringVar(&f.probes, "probes", "", "functions to test, one a line (SystemTap's probes.all)")
	fl.BoolVar(&f.all, "all", false, "test every function kprobes could take (available_filter_functions minus the kprobe blacklist, read in a first boot)")
	fl.StringVar(&f.glob, "glob", "", "with --all or alone: only the functions matching this pattern (e.g. 'vfs_*')")
	fl.StringVar(&f.workload, "workload", "", "script the guest runs with sh while a group is armed (default: a busybox workload)")
	fl.StringArrayVar(&f.adds, "add", nil, "copy host SRC into the guest (SRC[:DST]), e.g. the workload's tools; repeatable")
	fl.StringArrayVar(&f.preload, "module", nil, "a module (.ko) the guest loads before arming each group, so that its functions can be tested; repeatable")
	fl.StringVar(&f.dir, "dir", "probe-test", "output directory: state, the four files, report.json")
	fl.BoolVar(&f.fresh, "fresh", false, "start over, ignoring a saved state in --dir")
	fl.IntVarP(&f.jobs, "jobs", "j", 0, "guests at once (default: CPUs / --smp)")
	fl.IntVar(&f.levels, "levels", 1, "passes; each further pass runs the untriggered again in groups a quarter the size (SystemTap's MAX_RUNNING_LEVEL)")
	fl.IntVar(&f.group, "group", 100, "functions per group (registering 1000 kprobes takes 75 s in a TCG guest, 100 take 3 s)")
	fl.IntVar(&f.perBoot, "per-boot", 16, "groups one guest runs one after another, as the seed did until a crash; 1 boots a guest per group")
	fl.IntVar(&f.smp, "smp", 1, "guest CPUs")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "per group (the first one's boot included): a group that makes no progress for this long is hung (a crash)")
	addHostFlags(cmd, &f)
	return cmd
}

func runProbeTest(ctx context.Context, f probeTestFlags, stdout, stderr io.Writer) error {
	// Ctrl-C or SIGTERM: the guests are stopped, an armed host group is
	// disarmed and unloaded, and the saved state resumes the run.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.host.on {
		return runProbeTestHost(ctx, f, stdout, stderr)
	}
	if f.kernel == "" {
		return errors.New("probe-test: --kernel is required: a vmlinux or bzImage")
	}
	if f.probes != "" && f.all {
		return errors.New("probe-test: --probes and --all exclude each other")
	}
	if f.probes == "" && !f.all && f.glob == "" {
		return errors.New("probe-test: say what to test: --probes FILE, --all or --glob PATTERN")
	}
	if f.group < 1 || f.levels < 1 || f.smp < 1 || f.perBoot < 1 {
		return errors.New("probe-test: --group, --levels, --smp and --per-boot must be at least 1")
	}
	if f.jobs < 1 {
		f.jobs = max(1, runtime.NumCPU()/f.smp)
	}
	unlock, err := lockDir(f.dir)
	if err != nil {
		return err
	}
	defer unlock()
	// The guests' scratch files live in DIR/tmp, emptied at every start:
	// a killed run leaves nothing behind elsewhere.
	scratch := filepath.Join(f.dir, "tmp")
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("probe-test: %w", err)
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return fmt.Errorf("probe-test: %w", err)
	}
	defer os.RemoveAll(scratch)
	kdir, err := kbuild.FindKDIR(f.kdir)
	if err != nil {
		return err
	}
	makeEnv, err := kbuild.ReadMakeEnv(filepath.Join(filepath.Dir(kdir), "make.env"))
	if err != nil {
		return err
	}
	r := &probetest.VMRunner{Kernel: f.kernel, Workload: f.workload, SMP: f.smp, Timeout: f.timeout, Preload: f.preload, Scratch: scratch}
	for _, a := range f.adds {
		add, err := vm.ParseAdd(a)
		if err != nil {
			return err
		}
		r.Adds = append(r.Adds, add)
	}
	s, resumed, err := probeTestState(ctx, f, r, stderr)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintf(stderr, "probe-test: resuming %s: %d groups pending, %d groups run in %d boots so far\n", f.dir, len(s.Jobs), s.Groups, s.Boots)
	}
	ko, err := probetest.BuildModule(ctx, kbuild.Config{KDIR: kdir, ExtraMake: makeEnv, Version: version, Log: stderr},
		max(s.Group, 1), filepath.Join(f.dir, "module"))
	if err != nil {
		return fmt.Errorf("probe-test: build the group module: %w", err)
	}
	r.Module = ko
	if err := probetest.Sweep(ctx, s, r, probetest.Options{Dir: f.dir, Jobs: f.jobs, PerBoot: f.perBoot, Progress: stderr}); err != nil {
		return fmt.Errorf("probe-test: %w (run the same command again to resume)", err)
	}
	fmt.Fprint(stdout, probetest.Summary(s))
	return nil
}

// probeTestState resumes the state saved in f.dir (resumed true) or,
// with --fresh or nothing saved, lists and queues the functions to test
// and saves the new state before any group runs.
func probeTestState(ctx context.Context, f probeTestFlags, r functionLister, stderr io.Writer) (s *probetest.State, resumed bool, err error) {
	if !f.fresh {
		if s, err = probetest.LoadState(f.dir); err != nil || s != nil {
			return s, s != nil, err
		}
	}
	if s, err = newProbeTestState(ctx, f, r, stderr); err != nil {
		return nil, false, err
	}
	return s, false, s.Save(f.dir)
}

// newProbeTestState reads the functions to test and queues them.
func newProbeTestState(ctx context.Context, f probeTestFlags, r functionLister, stderr io.Writer) (*probetest.State, error) {
	var funcs, bad []string
	var err error
	switch {
	case f.probes != "":
		funcs, bad, err = probetest.ReadList(f.probes)
	case f.all || f.glob != "":
		if f.host.on {
			fmt.Fprintln(stderr, "probe-test: listing the running kernel's functions")
		} else {
			fmt.Fprintln(stderr, "probe-test: listing the kernel's functions (one boot)")
		}
		funcs, err = r.ListFunctions(ctx)
		if err == nil {
			err = probetest.WriteFileSync(filepath.Join(f.dir, "probes.all"), []byte(joinLines(funcs)))
		}
	default:
		return nil, errors.New("probe-test: say what to test: --probes FILE, --all or --glob PATTERN")
	}
	if err != nil {
		return nil, err
	}
	if f.glob != "" {
		if funcs, err = probetest.Glob(funcs, f.glob); err != nil {
			return nil, err
		}
	}
	if len(funcs)+len(bad) == 0 {
		return nil, errors.New("probe-test: no functions to test")
	}
	s := probetest.NewState(funcs, f.group, f.levels)
	s.Reject(bad, -22) // EINVAL: not a symbol name
	return s, nil
}

// lockDir creates dir if need be and takes DIR/lock for this process
// (released when it exits, even by SIGKILL): two runs on one directory
// would overwrite each other's state.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("probe-test: %w", err)
	}
	name := filepath.Join(dir, "lock")
	fd, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("probe-test: %w", err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fd.Close()
		return nil, fmt.Errorf("probe-test: %s is in use by another kgen probe-test (%v): wait for it, or give another --dir", dir, err)
	}
	return func() { fd.Close() }, nil
}

func joinLines(l []string) string {
	var b []byte
	for _, s := range l {
		b = append(b, s...)
		b = append(b, '\n')
	}
	return string(b)
}
