package main

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"kgen/probepoint"
)

func newListCmd(stdout, stderr io.Writer) *cobra.Command {
	var verbose, all bool
	var vmlinux, sysmap string
	cmd := &cobra.Command{
		Use:   "list [GLOB]",
		Short: "List the functions and tracepoints a probe can attach to",
		Long: `list prints what can be probed, one per line, like bpftrace -l:
kprobe:NAME [module] for the running kernel's functions (/proc/kallsyms and
available_filter_functions, minus the kprobe blacklist; --all adds the
blacklisted ones, marked with why) and tracepoint:SYSTEM:EVENT for its
tracefs events (-v adds their fields). GLOB filters the lines (shell
pattern on "kprobe:NAME" or "tracepoint:SYSTEM:EVENT", or on the bare name
when it has no colon). --kernel VMLINUX (an uncompressed ELF image) or
--system-map FILE lists another kernel's functions offline.`,
		Example: `  sudo kgen list 'kprobe:vfs_*'
  sudo kgen list -v 'tracepoint:sched:sched_switch'
  kgen list --kernel ~/.cache/kgen/kernels/debian-6.1/vmlinux 'tcp_v4_*'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			glob := "*"
			if len(args) == 1 {
				glob = args[0]
			}
			if _, err := path.Match(glob, ""); err != nil {
				return fmt.Errorf("list %q: %w", glob, err)
			}
			match := func(kind, name string) bool {
				if strings.Contains(glob, ":") {
					ok, _ := path.Match(glob, kind+":"+name)
					return ok
				}
				ok, _ := path.Match(glob, name)
				return ok
			}
			var t *probepoint.Table
			var err error
			offline := vmlinux != "" || sysmap != ""
			// A glob of one kind reads only what that kind needs.
			switch {
			case vmlinux != "" && sysmap != "":
				return fmt.Errorf("list: give --kernel or --system-map, not both")
			case strings.HasPrefix(glob, "tracepoint:") && !offline:
				t = &probepoint.Table{}
			case offline:
				t, err = probepoint.LoadFile(vmlinux + sysmap)
			default:
				t, err = probepoint.Running("/")
			}
			if err != nil {
				return err
			}
			for _, f := range t.Funcs {
				// --all adds the blacklisted functions, traceable or not
				// (the blacklist holds notrace code too).
				show := f.Traceable && f.Blacklist == "" || all && f.Blacklist != ""
				if !show || !match("kprobe", f.Name) {
					continue
				}
				line := "kprobe:" + f.Name
				if f.Module != "" {
					line += " [" + f.Module + "]"
				}
				if f.Blacklist != "" {
					line += " (blacklisted: " + f.Blacklist + ")"
				}
				fmt.Fprintln(stdout, line)
			}
			if offline || strings.HasPrefix(glob, "kprobe:") {
				return nil
			}
			_, tracing := probepoint.Mounts("/")
			if tracing == "" {
				fmt.Fprintln(stderr, "kgen: tracefs is not mounted: no tracepoints listed (mount -t tracefs nodev /sys/kernel/tracing)")
				return nil
			}
			tps, err := probepoint.Tracepoints("/", tracing, verbose)
			if err != nil {
				return err
			}
			for _, tp := range tps {
				if !match("tracepoint", tp.System+":"+tp.Event) && !match("tracepoint", tp.Event) {
					continue
				}
				fmt.Fprintf(stdout, "tracepoint:%s:%s\n", tp.System, tp.Event)
				for _, fl := range tp.Fields {
					fmt.Fprintf(stdout, "    %s;\n", fl)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&verbose, "verbose", "v", false, "print each tracepoint's fields")
	fl.BoolVar(&all, "all", false, "also list blacklisted functions, marked with why")
	fl.StringVar(&vmlinux, "kernel", "", "list the functions of this vmlinux (ELF; a stripped one is read through its embedded kallsyms) instead of the running kernel's")
	fl.StringVar(&sysmap, "system-map", "", "list the functions of this System.map instead of the running kernel's")
	return cmd
}
