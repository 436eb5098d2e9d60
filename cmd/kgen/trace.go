package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"kgen/loader"
)

func newTraceCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		asJSON   bool
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "trace NAME",
		Short: "Stream a kgen module's trace events",
		Long: `Trace reads the module's events from its tracefs instance
(instances/kgen_<name>/trace_pipe) until Ctrl-C or --duration, then prints
on stderr how many events it saw and how many the ring buffer lost, and
the module's reports (a payload's leak check) as they stand.
The module stays loaded and its events stay enabled.`,
		Example: `  kgen trace vfs_read_lat
  kgen trace vfs_read_lat --json --duration 10s | jq .fields.latency`,
		Args:              cobra.ExactArgs(1),
		SilenceUsage:      true,
		ValidArgsFunction: completeLoaded,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			opts := &loader.TraceOptions{Options: newLoaderOptions(stderr), Symbolize: asJSON}
			opts.OnUnparsed = func(line string) error {
				if asJSON {
					fmt.Fprintf(stderr, "kgen trace: skipped: %s\n", loader.Escape(line))
					return nil
				}
				_, err := fmt.Fprintln(stdout, loader.Escape(line))
				return err
			}
			// A process-kind module's events print strace style.
			st := &loader.Strace{Module: args[0], W: stdout}
			st.Names, _ = loader.SyscallNames(args[0], opts.Options) // only process modules have it
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			sum, err := loader.Trace(ctx, args[0], opts, func(ev loader.Event) error {
				st.Annotate(&ev)
				if asJSON {
					return enc.Encode(ev)
				}
				if ok, err := st.Handle(ev); ok || err != nil {
					return err
				}
				// A traced task chose its comm: no raw control bytes
				// (terminal escapes) reach the terminal.
				_, err := fmt.Fprintln(stdout, loader.Escape(ev.Raw))
				return err
			})
			if sum != nil {
				fmt.Fprintln(stderr, traceSummary("trace", sum))
			}
			// A payload's leak report, as it stands now.
			if st, serr := loader.ReadStats(args[0], opts.Options); serr == nil && len(st.Reports) > 0 {
				if werr := st.WriteReports(stderr); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event (stacks symbolised via /proc/kallsyms)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	return cmd
}
