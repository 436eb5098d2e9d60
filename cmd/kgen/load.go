package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"kgen/loader"
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
	return &cobra.Command{
		Use:   "load MODULE.ko [param=value ...]",
		Short: "Insert a kgen module and enable its trace events",
		Long: `Load checks the module's vermagic against the running kernel, mounts
debugfs and tracefs if they are not mounted, inserts the module with
finit_module and the given parameters, creates the tracefs instance
kgen_<name> and enables the module's events in it. If any step fails,
every step already done is undone. What was done is recorded in
/run/kgen/<name>.json for kgen unload.`,
		Example: `  kgen load out/vfs_read_lat.ko
  kgen load out/vfs_read_lat.ko vfs_read_pid=1234 vfs_read_comm=dd
  kgen load out/otst.ko symbols=ksys_sync,vfs_fsync shots=3
  modinfo -p out/vfs_read_lat.ko     # the parameters a module takes`,
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"ko"}, cobra.ShellCompDirectiveFilterFileExt
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := loader.Load(args[0], args[1:], newLoaderOptions(stderr))
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
}
