package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"kgen/loader"
)

func newUnloadCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "unload NAME",
		Short: "Print a kgen module's counters and remove it",
		Long: `Unload prints the module's final counters (debugfs kgen/<name>/stats),
disables its events, removes its tracefs instance, deletes the module and
unmounts what kgen mounted once no kgen module is left loaded. A module
kgen did not load is still removed.`,
		Example:           `  kgen unload vfs_read_lat`,
		Args:              cobra.ExactArgs(1),
		SilenceUsage:      true,
		ValidArgsFunction: completeLoaded,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := loader.Unload(args[0], newLoaderOptions(stderr))
			if res != nil {
				if res.Stats != nil {
					if werr := res.Stats.WriteTable(stdout); werr != nil && err == nil {
						err = werr
					}
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
}

// completeLoaded completes the names of modules kgen loaded.
func completeLoaded(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := loader.Loaded(loaderOptions)
	return names, cobra.ShellCompDirectiveNoFileComp
}
