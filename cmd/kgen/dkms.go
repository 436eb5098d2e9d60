package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"kgen/dkms"
)

func newDKMSCmd(stdout, stderr io.Writer) *cobra.Command {
	var out, ver string
	cmd := &cobra.Command{
		Use:   "dkms SPEC.yaml [--version V] [-o DIR]",
		Short: "Write a DKMS source tree of a spec's module",
		Long: `dkms writes the spec's module as a DKMS source tree: the generated sources,
feature probes and standalone Makefile (which runs the probes against each
kernel at build time, so DKMS builds it for kernels kgen never saw) and a
dkms.conf. The default DIR is NAME-VERSION, the name DKMS wants under /usr/src.`,
		Example: `  kgen dkms probe.yaml --version 1.2 -o /usr/src/vfs_read_lat-1.2
  dkms add vfs_read_lat/1.2 && dkms install vfs_read_lat/1.2`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, tree, err := dkmsTree(args[0], ver)
			if err != nil {
				return err
			}
			if out == "" {
				out = name + "-" + ver
			}
			if err := writeTree(out, tree); err != nil {
				return fmt.Errorf("dkms %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "wrote DKMS tree %s/%s (%d files) to %s\n", name, ver, len(tree), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the DKMS tree to (default NAME-VERSION)")
	cmd.Flags().StringVar(&ver, "version", dkms.DefaultVersion, "the module's DKMS version (PACKAGE_VERSION)")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

// dkmsTree generates the spec's DKMS source tree.
func dkmsTree(specPath, ver string) (string, map[string][]byte, error) {
	if err := dkms.CheckVersion(ver); err != nil {
		return "", nil, err
	}
	s, tree, err := loadSpec(specPath)
	if err != nil {
		return "", nil, err
	}
	name := s.Header().Name
	t, err := dkms.Tree(tree, name, ver)
	if err != nil {
		return "", nil, err
	}
	return name, t, nil
}
