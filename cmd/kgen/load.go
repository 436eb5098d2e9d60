package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"kgen/loader"
	"kgen/loader/kedrconf"
)

// loaderOptions lets tests point load/unload/trace at a fake system.
var loaderOptions *loader.Options

func newLoaderOptions(stderr io.Writer) *loader.Options {
	o := &loader.Options{}
	if loaderOptions != nil {
		*o = *loaderOptions
	}
	if o.Log == nil {
		o.Log = stderr
	}
	return o
}

func newLoadCmd(stdout, stderr io.Writer) *cobra.Command {
	var conf string
	var bufKB int
	cmd := &cobra.Command{
		Use:   "load MODULE.ko [param=value ...] | load -c FILE",
		Short: "Insert a kgen module and enable its trace events",
		Long: `Load checks the module's vermagic against the running kernel, mounts
debugfs and tracefs if they are not mounted, inserts the module with
finit_module and the given parameters, creates the tracefs instance
kgen_<name> and enables the module's events in it. If any step fails,
every step already done is undone. What was done is recorded in
/run/kgen/<name>.json for kgen unload. MODULE.ko may be compressed
(.ko.xz, .ko.zst, .ko.gz).

With -c FILE, load runs a KEDR load configuration: its lines in order,
  on_load CMD                 run CMD with /bin/sh -c
  on_unload CMD               run CMD if a later line fails (and at unload)
  module NAME|PATH [params]   load an installed module and its dependencies
                              (as modprobe does), or a module file
  payload PATH [params]       load a kgen module (as kgen load PATH params)
with # comments. A failing line undoes the lines before it, in reverse,
and the error names the line. kgen unload -c FILE undoes it all.`,
		Example: `  kgen load out/vfs_read_lat.ko
  kgen load out/vfs_read_lat.ko vfs_read_pid=1234 vfs_read_comm=dd
  kgen load out/otst.ko symbols=ksys_sync,vfs_fsync shots=3
  modinfo -p out/vfs_read_lat.ko     # the parameters a module takes
  kgen load -c payload.conf           # a KEDR configuration`,
		Args: func(cmd *cobra.Command, args []string) error {
			if conf != "" {
				if len(args) > 0 {
					return fmt.Errorf("give either -c FILE or MODULE.ko [param=value ...], not both")
				}
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		SilenceUsage: true,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"ko"}, cobra.ShellCompDirectiveFilterFileExt
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if conf != "" {
				// Ctrl-C lets the running line finish, then rolls back.
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				if err := kedrconf.Load(ctx, conf, confOptions(stdout, stderr)); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "loaded %s; undo it with `kgen unload -c %s`\n", conf, conf)
				return nil
			}
			opts := newLoaderOptions(stderr)
			opts.BufferKB = bufKB
			st, err := loader.Load(args[0], args[1:], opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "loaded %s\n", st.Name)
			if st.Events != "" {
				fmt.Fprintf(stdout, "events enabled in %s; stream them with `kgen trace %s`\n", st.Instance, st.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&conf, "config", "c", "", "run the KEDR load configuration `FILE`")
	cmd.Flags().IntVar(&bufKB, "buffer-kb", 0, bufferKBUsage)
	return cmd
}

const bufferKBUsage = "per-CPU ring buffer of the module's tracefs instance, in `KiB` (default: the kernel's, 1408); " +
	"a larger one holds longer bursts than the reader keeps up with"

// traceSummary is the last line of kgen trace and kgen run: what was
// seen, lost (with the fix) and left unread.
func traceSummary(cmd string, sum *loader.TraceSummary) string {
	s := fmt.Sprintf("kgen %s: %d events seen, %d events lost", cmd, sum.Events, sum.Lost)
	if sum.Unread > 0 {
		s += fmt.Sprintf(", %d left unread in the ring buffer", sum.Unread)
	}
	if sum.Lost > 0 {
		s += "; the reader fell behind: a larger ring buffer (kgen load or kgen run --buffer-kb) holds longer bursts"
	}
	return s
}

// confOptions are kedrconf's options on the loader kgen load uses.
func confOptions(stdout, stderr io.Writer) kedrconf.Options {
	return kedrconf.Options{Loader: newLoaderOptions(stderr), Stdout: stdout, Stderr: stderr}
}
