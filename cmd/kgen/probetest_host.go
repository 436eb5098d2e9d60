package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"kgen/kbuild"
	"kgen/probetest"
)

// hostFlags are kgen probe-test --host's own flags.
type hostFlags struct {
	on, noUnit bool
	ko         string
	// set records which flags were given (VM-only ones are refused).
	set func(name string) bool
	// euid is the effective user id (a test hook; nil = os.Geteuid).
	euid func() int
}

// functionLister lists the functions --all tests: a first boot of the
// kernel (VMRunner) or the running kernel's own files (HostRunner).
type functionLister interface {
	ListFunctions(ctx context.Context) ([]string, error)
}

func addHostFlags(cmd *cobra.Command, f *probeTestFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&f.host.on, "host", false, "run the groups on this machine's own kernel, as SystemTap's harness did (root; see docs/probe-test-host.md)")
	fl.StringVar(&f.host.ko, "ko", "", "with --host: a prebuilt group module (kgen_ptest.ko) for the running kernel, instead of building one with --kdir")
	fl.BoolVar(&f.host.noUnit, "no-unit", false, "with --host: write no systemd unit to resume the run after a reboot")
	f.host.set = func(name string) bool { return fl.Changed(name) }
}

// hostRefused are the flags that only mean something for VM guests.
var hostRefused = []struct{ flag, why string }{
	{"kernel", "the groups run on the running kernel"},
	{"smp", "the machine has the CPUs it has"},
	{"module", "load the modules to test yourself before the run"},
	{"add", "the workload runs on this machine and sees its files"},
	{"per-boot", "a machine runs the groups one after another until one crashes it"},
}

// checkHostFlags validates --host's flags.
func checkHostFlags(f *probeTestFlags) error {
	changed := func(n string) bool { return f.host.set != nil && f.host.set(n) }
	for _, r := range hostRefused {
		if changed(r.flag) {
			return fmt.Errorf("probe-test: --host takes no --%s: %s", r.flag, r.why)
		}
	}
	if f.jobs > 1 {
		return errors.New("probe-test: --host runs one group at a time: drop -j")
	}
	f.jobs = 1
	if f.host.ko != "" && f.kdir != "" {
		return errors.New("probe-test: --ko and --kdir exclude each other: --ko is a module already built")
	}
	if f.probes != "" && f.all {
		return errors.New("probe-test: --probes and --all exclude each other")
	}
	if f.probes == "" && !f.all && f.glob == "" {
		return errors.New("probe-test: say what to test: --probes FILE, --all or --glob PATTERN")
	}
	if f.group < 1 || f.levels < 1 {
		return errors.New("probe-test: --group and --levels must be at least 1")
	}
	euid := os.Geteuid
	if f.host.euid != nil {
		euid = f.host.euid
	}
	if euid() != 0 {
		return errors.New("probe-test: --host loads a module and arms kprobes on this machine: run it as root (sudo)")
	}
	return nil
}

// hostUnitArgs is the command the resume unit runs: this kgen, absolute
// paths, the same flags but --fresh.
func hostUnitArgs(exe string, f probeTestFlags) ([]string, error) {
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("probe-test: %w", err)
		}
		return a, nil
	}
	args := []string{exe, "probe-test", "--host"}
	for _, p := range []struct{ flag, val string }{
		{"--dir", f.dir}, {"--ko", f.host.ko}, {"--kdir", f.kdir}, {"--probes", f.probes}, {"--workload", f.workload},
	} {
		a, err := abs(p.val)
		if err != nil {
			return nil, err
		}
		if a != "" {
			args = append(args, p.flag, a)
		}
	}
	if f.all {
		args = append(args, "--all")
	}
	if f.glob != "" {
		args = append(args, "--glob", f.glob)
	}
	return append(args, "--group", strconv.Itoa(f.group), "--levels", strconv.Itoa(f.levels),
		"--timeout", f.timeout.String()), nil
}

func runProbeTestHost(ctx context.Context, f probeTestFlags, stdout, stderr io.Writer) error {
	if err := checkHostFlags(&f); err != nil {
		return err
	}
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return fmt.Errorf("probe-test: %w", err)
	}
	f.dir = dir
	unlock, err := lockDir(f.dir)
	if err != nil {
		return err
	}
	defer unlock()
	r := &probetest.HostRunner{Module: f.host.ko, Workload: f.workload, Dir: f.dir, Timeout: f.timeout, Log: stderr,
		LastBootLog: probetest.JournalLastBoot}
	if r.Workload != "" {
		if r.Workload, err = filepath.Abs(r.Workload); err != nil {
			return fmt.Errorf("probe-test: %w", err)
		}
	}
	if !f.host.noUnit {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("probe-test: find kgen's own path for the resume unit: %w (or pass --no-unit)", err)
		}
		uf := f
		if uf.host.ko == "" {
			// The unit runs at boot without this shell's $KDIR.
			if kdir, err := kbuild.FindKDIR(uf.kdir); err == nil {
				uf.kdir = kdir
			}
		}
		args, err := hostUnitArgs(exe, uf)
		if err != nil {
			return err
		}
		u := probetest.Unit{Args: args, Dir: f.dir, Log: stderr}
		switch err := u.Install(); {
		case errors.Is(err, probetest.ErrNoSystemd):
			fmt.Fprintf(stderr, "probe-test: %v: no resume unit; after a reboot, run the same command again\n", err)
		case err != nil:
			return fmt.Errorf("probe-test: %w (or pass --no-unit)", err)
		default:
			fmt.Fprintf(stderr, "probe-test: wrote /etc/systemd/system/%s: the run resumes by itself after a reboot\n", probetest.UnitName)
			defer func() {
				if ctx.Err() != nil {
					// Stopped by a signal (a shutdown's SIGTERM, too): the
					// group was disarmed and unloaded; the unit resumes
					// the run at the next boot.
					fmt.Fprintf(stderr, "probe-test: stopped; %s stays and resumes the run at the next boot (or run the same command again)\n", probetest.UnitName)
					return
				}
				if err := u.Remove(); err != nil {
					fmt.Fprintf(stderr, "probe-test: %v\n", err)
				}
			}()
		}
	}
	if f.fresh {
		// A record of the last run's armed group is not this run's.
		if err := os.Remove(filepath.Join(f.dir, probetest.HostFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("probe-test: %w", err)
		}
	}
	s, resumed, err := probeTestState(ctx, f, r, stderr)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintf(stderr, "probe-test: resuming %s: %d groups pending, %d groups run so far\n", f.dir, len(s.Jobs), s.Groups)
	}
	if r.Module == "" {
		// --kdir, else $KDIR, else /lib/modules/$(uname -r)/build.
		kdir, err := kbuild.FindKDIR(f.kdir)
		if err != nil {
			return fmt.Errorf("probe-test: %w (pass --kdir, or a prebuilt group module with --ko)", err)
		}
		var u unix.Utsname
		if rel, err := kbuild.KernelRelease(kdir); err == nil && unix.Uname(&u) == nil && rel != unix.ByteSliceToString(u.Release[:]) {
			return fmt.Errorf("probe-test: --kdir %s is for kernel %s, but this machine runs %s: --host needs the running kernel's build directory", kdir, rel, unix.ByteSliceToString(u.Release[:]))
		}
		makeEnv, err := kbuild.ReadMakeEnv(filepath.Join(filepath.Dir(kdir), "make.env"))
		if err != nil {
			return err
		}
		ko, err := probetest.BuildModule(ctx, kbuild.Config{KDIR: kdir, ExtraMake: makeEnv, Version: version, Log: stderr},
			max(s.Group, 1), filepath.Join(f.dir, "module"))
		if err != nil {
			return fmt.Errorf("probe-test: build the group module: %w", err)
		}
		r.Module = ko
	}
	if err := probetest.Sweep(ctx, s, r, probetest.Options{Dir: f.dir, Jobs: 1, Progress: stderr}); err != nil {
		return fmt.Errorf("probe-test: %w (run the same command again to resume)", err)
	}
	fmt.Fprint(stdout, probetest.Summary(s))
	return nil
}
