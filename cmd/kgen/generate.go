package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"kgen/generator"
	"kgen/kbuild"
	"kgen/spec"
)

// loadSpec reads, validates and generates the module tree of a spec file.
func loadSpec(path string) (spec.Spec, generator.Tree, error) {
	s, err := spec.ParseFile(path)
	if err != nil {
		return nil, nil, err
	}
	tree := generator.Tree{}
	if err := generator.Generate(s, generator.Options{SpecFile: path}, tree); err != nil {
		return nil, nil, err
	}
	return s, tree, nil
}

// writeTree writes a generated tree under dir, creating it. Files are
// written whole to fresh temporary files then renamed, and no symlink is
// followed out of dir (kbuild.WriteTree): dir may belong to another user.
func writeTree(dir string, tree generator.Tree) error {
	return kbuild.WriteTree(dir, tree)
}

func specFileCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

func newGenerateCmd(stdout, stderr io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "generate SPEC.yaml -o DIR",
		Short: "Write a spec's module sources, Kbuild and Makefile to a directory",
		Long: `generate writes the C sources, trace header, feature probes, Kbuild and a
standalone Makefile of the spec's module to DIR. "make KDIR=/path/to/kernel/build"
in DIR then builds the module without kgen.`,
		Example: `  kgen generate examples/kretprobe.yaml -o vfs_read_lat
  make -C vfs_read_lat KDIR=/lib/modules/$(uname -r)/build`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("generate %s: no output directory: pass -o DIR", args[0])
			}
			_, tree, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			if err := writeTree(out, tree); err != nil {
				return fmt.Errorf("generate %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "wrote %d files to %s\n", len(tree), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the module tree to")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

func newSchemaCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of kgen specs (for editors)",
		Example: `  kgen schema > kgen.schema.json
  # VS Code, with the YAML extension: "yaml.schemas": {"kgen.schema.json": "*.kgen.yaml"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := stdout.Write(spec.Schema())
			return err
		},
	}
}

func newVersionCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kgen's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(stdout, "kgen %s (spec %s; kinds: %v)\n", version, spec.APIVersion, spec.Kinds())
			return nil
		},
	}
}
