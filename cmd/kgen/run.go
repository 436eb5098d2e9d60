package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"kgen/loader"
	"kgen/spec"
)

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		pid    int
		asJSON bool
		kdir   string
		bufKB  int
	)
	cmd := &cobra.Command{
		Use:   "run SPEC|MODULE.ko (-- CMD [ARGS...] | -p PID)",
		Short: "Trace a command or a running process tree with a process-kind module, like strace -f",
		Long: `Run builds SPEC (a kind: process spec) for the running kernel, or takes a
built MODULE.ko, and traces a process tree with it:

  -- CMD ARGS  starts CMD stopped (it waits on a pipe before exec), loads the
               module with follow_pid set to it, then lets it exec, so CMD is
               followed from its first instruction; streams the events until
               CMD exits, unloads, prints a strace -c summary and exits with
               CMD's status.
  -p PID       follows PID and all its descendants (also those forked before)
               until Ctrl-C, then unloads.`,
		Example: `  kgen run examples/process.yaml -- sh -c 'cat /nonexistent; exit 3'
  kgen run out/process.ko -- make -j2
  kgen run examples/process.yaml -p 1234`,
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			target := args
			var command []string
			if dash >= 0 {
				target, command = args[:dash], args[dash:]
			}
			if len(target) != 1 {
				return fmt.Errorf("run: want one SPEC or MODULE.ko before --, got %q", target)
			}
			if (len(command) == 0) == (pid == 0) {
				return errors.New("run: give either -- CMD [ARGS...] or -p PID")
			}
			return runRun(cmd, target[0], command, pid, asJSON, kdir, bufKB, stdout, stderr)
		},
	}
	cmd.Flags().IntVarP(&pid, "pid", "p", 0, "follow this running process and its descendants")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event instead of strace-style lines")
	cmd.Flags().StringVar(&kdir, "kdir", "", "kernel build dir for building SPEC (default $KDIR, else the running kernel's)")
	cmd.Flags().IntVar(&bufKB, "buffer-kb", 0, bufferKBUsage)
	return cmd
}

func runRun(cmd *cobra.Command, target string, command []string, pid int, asJSON bool, kdir string, bufKB int, stdout, stderr io.Writer) error {
	// Ctrl-C (or SIGTERM) is ours from the start: one that comes while the
	// module builds or loads must still unload it, and a kgen run started
	// with SIGINT ignored (a background job of a script) must still get
	// it once Notify has installed the handler.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ko := target
	if !strings.HasSuffix(target, ".ko") {
		s, err := spec.ParseFile(target)
		if err != nil {
			return err
		}
		if k := s.Header().Kind; k != spec.KindProcess {
			return fmt.Errorf("run %s: a spec of kind %s; kgen run takes a kind: %s spec (see examples/process.yaml)", target, k, spec.KindProcess)
		}
		dir, err := os.MkdirTemp("", "kgen-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		f := buildFlags{kdir: kdir, out: dir}
		if err := runBuild(cmd, target, f, stderr, stderr); err != nil {
			return err
		}
		kos, _ := filepath.Glob(filepath.Join(dir, "*.ko"))
		if len(kos) != 1 {
			return fmt.Errorf("run: build of %s wrote %d modules", target, len(kos))
		}
		ko = kos[0]
	}
	mi, err := loader.ReadModInfo(ko)
	if err != nil {
		return err
	}

	// The child waits on a pipe until the module follows it.
	var child *exec.Cmd
	var release *os.File
	if len(command) > 0 {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		child = exec.Command(self, append([]string{"__run-exec"}, command...)...)
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, stderr, stderr
		child.ExtraFiles = []*os.File{r}
		if err := child.Start(); err != nil {
			return fmt.Errorf("run: start %s: %w", command[0], err)
		}
		r.Close()
		release = w
		pid = child.Process.Pid
	}
	opts := newLoaderOptions(stderr)
	opts.BufferKB = bufKB
	params := []string{"follow_pid=" + strconv.Itoa(pid)}
	if child != nil {
		// Followed from its exec of CMD on: kgen's own child before it is
		// not CMD (its system calls would count in the summary).
		params = append(params, "follow_exec=1")
	}
	if _, err := loader.Load(ko, params, opts); err != nil {
		if child != nil {
			release.Close()
			child.Process.Kill()
			child.Wait()
		}
		return err
	}
	if ctx.Err() != nil {
		// Interrupted while building or loading: CMD never runs (closing
		// the pipe unwritten makes the child exit), and nothing stays.
		if child != nil {
			release.Close()
			child.Wait()
		}
		_, uerr := loader.Unload(mi.Name, opts)
		return errors.Join(fmt.Errorf("run %s: interrupted", target), uerr)
	}
	ctx, cancel := context.WithCancel(ctx)
	exitCode := 0
	done := make(chan error, 1)
	if child != nil {
		release.Write([]byte{1})
		release.Close()
		go func() {
			err := child.Wait()
			time.Sleep(300 * time.Millisecond) // the last events reach the buffer
			cancel()
			done <- err
		}()
	}
	st := &loader.Strace{Module: mi.Name, W: stdout}
	if st.Names, err = loader.SyscallNames(mi.Name, opts); err != nil {
		fmt.Fprintf(stderr, "kgen run: %v; syscalls show by number\n", err)
	}
	// Once CMD has exited, what the ring buffer holds is read to the end
	// (a burst the reader is behind on), for up to two minutes.
	// CMD runs before the reader starts: its losses count from the load.
	topts := &loader.TraceOptions{Options: opts, Drain: 2 * time.Minute, LostSinceLoad: true}
	// kgen's own child before it execs CMD is not CMD: its events are
	// dropped until that exec, as strace -f CMD starts at CMD's execve.
	started := child == nil
	sum, terr := loader.Trace(ctx, mi.Name, topts, func(ev loader.Event) error {
		if !started {
			if p, _ := ev.Fields["pid"].(int64); int(p) == pid {
				if ev.Event != mi.Name+"_exec" {
					return nil
				}
				started = true
			}
		}
		st.Annotate(&ev)
		if asJSON {
			b, err := ev.MarshalJSON()
			if err == nil {
				_, err = fmt.Fprintf(stdout, "%s\n", b)
			}
			return err
		}
		if ok, err := st.Handle(ev); ok || err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, ev.Raw)
		return err
	})
	cancel()
	res, uerr := loader.Unload(mi.Name, opts)
	if sum != nil {
		fmt.Fprintln(stderr, traceSummary("run", sum))
	}
	if res != nil && res.Stats != nil {
		fmt.Fprint(stderr, loader.SyscallSummary(res.Stats))
	}
	if err := errors.Join(terr, uerr); err != nil {
		return err
	}
	if child != nil {
		// After a Ctrl-C, which CMD gets too (same process group), kgen
		// still waits for CMD and exits with its status.
		waitErr := <-done
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			exitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				exitCode = 128 + int(ws.Signal())
			}
		} else if waitErr != nil {
			return waitErr
		}
		if exitCode != 0 {
			return &exitError{code: exitCode}
		}
	}
	return nil
}

// runExec is kgen run's child: it waits until the tracer follows it (a
// byte on fd 3), then execs the command, so the command is traced from
// its first instruction.
func runExec(args []string) {
	p := os.NewFile(3, "release")
	var b [1]byte
	if n, _ := p.Read(b[:]); n != 1 {
		os.Exit(127) // the tracer gave up
	}
	p.Close()
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "kgen run: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintf(os.Stderr, "kgen run: exec %s: %v\n", args[0], err)
	os.Exit(126)
}
