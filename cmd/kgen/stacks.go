package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"kgen/flame"
	"kgen/loader"
	"kgen/stacks"
)

type stacksFlags struct {
	format, pprof, fromTrace, out, title string
	top                                  int
	raw                                  bool
}

func newStacksCmd(stdout, stderr io.Writer) *cobra.Command {
	var f stacksFlags
	cmd := &cobra.Command{
		Use:   "stacks NAME | stacks --from-trace FILE",
		Short: "Print a loaded module's kernel stack counts, most frequent first",
		Long: `stacks reads the stack counts a loaded module keeps (probes with
stacks: {count: true}; debugfs kgen/<name>/stacks), symbolises them with
/proc/kallsyms, hides the probe machinery's frames and prints them most
frequent first, with the hits the full table dropped.

--from-trace FILE aggregates instead the stacks of kgen trace --json
events (a kretprobe probe's stack: true, a payload's stack events).

--format folded writes collapsed stacks (one "root;...;leaf count" line
per stack, for flamegraph.pl or speedscope); --pprof FILE writes a gzipped
profile.proto for go tool pprof.`,
		Example: `  kgen stacks read_stacks
  kgen stacks read_stacks --format folded > out.folded
  kgen stacks read_stacks --pprof read.pb.gz && go tool pprof -http : read.pb.gz
  kgen trace krstack --json --duration 5s > ev.json; kgen stacks --from-trace ev.json`,
		Args:              stacksArgs(&f),
		SilenceUsage:      true,
		ValidArgsFunction: completeLoaded,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := readStacks(args, f, stderr)
			if err != nil {
				return err
			}
			if f.pprof != "" {
				if err := writeFile(f.pprof, t.WritePprof); err != nil {
					return err
				}
			}
			switch f.format {
			case "text":
				return t.WriteText(stdout, f.top)
			case "folded":
				return t.WriteFolded(stdout)
			case "none":
				return nil
			}
			return fmt.Errorf("stacks: --format %q: want text, folded or none", f.format)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "text", "output: text, folded (collapsed stacks) or none")
	fl.IntVar(&f.top, "top", 0, "text: show only the N most frequent stacks of each probe (0 = all)")
	fl.StringVar(&f.pprof, "pprof", "", "also write a gzipped pprof profile to `FILE`")
	addStacksSourceFlags(cmd, &f)
	return cmd
}

func newFlamegraphCmd(stdout, stderr io.Writer) *cobra.Command {
	var f stacksFlags
	cmd := &cobra.Command{
		Use:   "flamegraph NAME -o OUT.svg | flamegraph --from-trace FILE -o OUT.svg",
		Short: "Draw a loaded module's stack counts as an SVG flame graph",
		Long: `flamegraph reads the same stacks as kgen stacks (a loaded module's table,
or --from-trace events) and writes an SVG flame graph: the root at the
bottom, each function a box as wide as its share of the hits; hover a
box for its hits.`,
		Example:           `  kgen flamegraph read_stacks -o reads.svg`,
		Args:              stacksArgs(&f),
		SilenceUsage:      true,
		ValidArgsFunction: completeLoaded,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return errors.New("flamegraph: -o OUT.svg is required")
			}
			t, err := readStacks(args, f, stderr)
			if err != nil {
				return err
			}
			title := f.title
			if title == "" {
				src := f.fromTrace
				if len(args) > 0 {
					src = args[0]
				}
				title = fmt.Sprintf("kernel stacks of %s (%d hits)", src, t.Total(""))
			}
			if err := writeFile(f.out, func(w io.Writer) error {
				return flame.Render(w, t.Folded(), flame.Options{Title: title})
			}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s (%d stacks, %d hits)\n", f.out, len(t.Stacks), t.Total(""))
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "the SVG file to write")
	cmd.Flags().StringVar(&f.title, "title", "", "the graph's title (default: what it shows)")
	addStacksSourceFlags(cmd, &f)
	return cmd
}

func addStacksSourceFlags(cmd *cobra.Command, f *stacksFlags) {
	cmd.Flags().StringVar(&f.fromTrace, "from-trace", "", "aggregate the stacks of kgen trace --json events in `FILE` (- = stdin) instead of a module's table")
	cmd.Flags().BoolVar(&f.raw, "raw", false, "keep the probe machinery's frames (the handler, kprobe, ftrace)")
}

func stacksArgs(f *stacksFlags) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if f.fromTrace != "" {
			if len(args) > 0 {
				return errors.New("give either NAME or --from-trace FILE, not both")
			}
			return nil
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
}

// readStacks reads, symbolises, trims and sorts the stacks of a loaded
// module or of a trace file.
func readStacks(args []string, f stacksFlags, stderr io.Writer) (*stacks.Table, error) {
	var t *stacks.Table
	if f.fromTrace != "" {
		r := io.Reader(os.Stdin)
		if f.fromTrace != "-" {
			fh, err := os.Open(f.fromTrace)
			if err != nil {
				return nil, fmt.Errorf("read trace events: %w", err)
			}
			defer fh.Close()
			r = fh
		}
		var err error
		if t, err = stacks.FromEvents(r); err != nil {
			return nil, err
		}
	} else {
		name := args[0]
		st, err := loader.ReadStats(name, newLoaderOptions(stderr))
		if err != nil {
			return nil, err
		}
		if st.Stacks == "" {
			return nil, fmt.Errorf("read stacks of %s: the module keeps no stack counts; add stacks: {count: true} to a probe of its spec", name)
		}
		if t, err = stacks.Parse(strings.NewReader(st.Stacks)); err != nil {
			return nil, fmt.Errorf("read stacks of %s: %w", name, err)
		}
		symbolize(t, stderr)
	}
	if !f.raw {
		t.TrimMachinery()
	}
	return t, nil
}

// symbolize resolves t's addresses with kallsyms, warning (and keeping
// hex) when they are hidden.
func symbolize(t *stacks.Table, stderr io.Writer) {
	sym, err := loader.Kallsyms(newLoaderOptions(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "kgen: %v; stacks stay hex\n", err)
		t.Symbolize(nil)
		return
	}
	t.Symbolize(sym)
	t.Merge()
}

func writeFile(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
