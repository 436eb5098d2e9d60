package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"kgen/loader"
	"kgen/loader/kedrconf"
	"kgen/stacks"
)

func newUnloadCmd(stdout, stderr io.Writer) *cobra.Command {
	var conf string
	cmd := &cobra.Command{
		Use:   "unload NAME | unload -c FILE",
		Short: "Print a kgen module's counters and remove it",
		Long: `Unload prints the module's final counters (debugfs kgen/<name>/stats),
disables its events, removes its tracefs instance, deletes the module and
unmounts what kgen mounted once no kgen module is left loaded. A module
kgen did not load is still removed.

With -c FILE, unload undoes a KEDR load configuration that kgen load -c
ran: its lines in reverse, removing each module or payload line's modules
(a module line's dependencies too, unless they were loaded before it) and
running its on_unload commands. A failing line does not stop the others.`,
		Example: `  kgen unload vfs_read_lat
  kgen unload -c payload.conf`,
		Args: func(cmd *cobra.Command, args []string) error {
			if conf != "" {
				if len(args) > 0 {
					return fmt.Errorf("give either -c FILE or NAME, not both")
				}
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		SilenceUsage:      true,
		ValidArgsFunction: completeLoaded,
		RunE: func(cmd *cobra.Command, args []string) error {
			if conf != "" {
				if err := kedrconf.Unload(conf, confOptions(stdout, stderr)); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "unloaded %s\n", conf)
				return nil
			}
			res, err := loader.Unload(args[0], newLoaderOptions(stderr))
			if res != nil {
				if res.Stats != nil {
					if werr := res.Stats.WriteTable(stdout); werr != nil && err == nil {
						err = werr
					}
				}
				if res.Stats != nil && res.Stats.Stacks != "" {
					printTopStacks(res.Stats.Stacks, stdout, stderr)
				}
				for _, n := range res.Notes {
					fmt.Fprintln(stderr, n)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "unloaded %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVarP(&conf, "config", "c", "", "undo the KEDR load configuration `FILE`")
	return cmd
}

// completeLoaded completes the names of modules kgen loaded.
func completeLoaded(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := loader.Loaded(loaderOptions)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// unloadTopStacks is how many stacks per probe kgen unload prints.
const unloadTopStacks = 5

// printTopStacks prints the most frequent stacks of a module's final
// stack counts; a table it cannot parse is reported, not fatal.
func printTopStacks(raw string, stdout, stderr io.Writer) {
	t, err := stacks.Parse(strings.NewReader(raw))
	if err != nil {
		fmt.Fprintf(stderr, "kgen: %v\n", err)
		return
	}
	symbolize(t, stderr)
	t.TrimMachinery()
	fmt.Fprintln(stdout, "stacks (most frequent first):")
	_ = t.WriteText(stdout, unloadTopStacks)
}
