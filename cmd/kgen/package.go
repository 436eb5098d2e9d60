package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"kgen/dkms"
	"kgen/dkmspkg"
	"kgen/kbuild"
)

func newPackageCmd(stdout, stderr io.Writer) *cobra.Command {
	var out, ver, format, maint string
	cmd := &cobra.Command{
		Use:   "package SPEC.yaml --format deb|rpm [--version V] [-o DIR]",
		Short: "Make an installable .deb or .rpm of a spec's DKMS tree",
		Long: `package makes a package (nfpm) holding the spec's DKMS tree (see kgen dkms)
in /usr/src/NAME-VERSION. Installing it adds the module to DKMS and builds
and installs it for the running kernel (DKMS then rebuilds it for each new
kernel); removing it takes the module out of DKMS. The package depends on
dkms and is named after the module: NAME-dkms ('_' as '-').`,
		Example: `  kgen package probe.yaml --format deb --version 1.2 -o dist
  sudo apt install ./dist/vfs-read-lat-dkms_1.2_all.deb
  kgen package probe.yaml --format rpm --version 1.2 -o dist`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(dkmspkg.Formats, format) {
				return fmt.Errorf("package %s: --format %q: want one of %s", args[0], format, strings.Join(dkmspkg.Formats, ", "))
			}
			name, tree, err := dkmsTree(args[0], ver)
			if err != nil {
				return err
			}
			p := dkmspkg.Package{Module: name, Version: ver, Tree: tree, Format: format, Maintainer: maint}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("package %s: %w", args[0], err)
			}
			var data bytes.Buffer
			if err := dkmspkg.Build(p, &data); err != nil {
				return err
			}
			file := filepath.Join(out, dkmspkg.FileName(p))
			if err := kbuild.WriteTree(out, map[string][]byte{filepath.Base(file): data.Bytes()}); err != nil {
				return fmt.Errorf("package %s: write %s: %w", args[0], file, err)
			}
			fmt.Fprintf(stdout, "wrote %s\n", file)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", ".", "directory to write the package to")
	fl.StringVar(&format, "format", "", "package format: deb or rpm")
	fl.StringVar(&ver, "version", dkms.DefaultVersion, "the package's and DKMS's version")
	fl.StringVar(&maint, "maintainer", "", `the package's maintainer (default "kgen <kgen@localhost>")`)
	_ = cmd.MarkFlagRequired("format")
	_ = cmd.MarkFlagDirname("output")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return dkmspkg.Formats, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
