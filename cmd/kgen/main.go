// Command kgen generates, builds, loads and traces Linux kernel modules
// from declarative YAML specs.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "__run-exec" {
		runExec(os.Args[2:]) // kgen run's child; never returns
	}
	if err := run(os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintf(os.Stderr, "kgen: %v\n", err)
		os.Exit(1)
	}
}

// exitError makes kgen exit with code without printing anything more
// (kgen vm uses it to pass on the guest command's status).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(stdout, stderr io.Writer, args []string) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return root.Execute()
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "kgen",
		Short:         "Generate, build, load and trace Linux kernel modules from YAML specs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// One line per command; each lives in its own file.
	root.AddCommand(
		newBuildCmd(stdout, stderr),
		newGenerateCmd(stdout, stderr),
		newLoadCmd(stdout, stderr),
		newUnloadCmd(stdout, stderr),
		newTraceCmd(stdout, stderr),
		newRunCmd(stdout, stderr),
		newVMCmd(stdout, stderr),
		newDKMSCmd(stdout, stderr), newPackageCmd(stdout, stderr),
		newStacksCmd(stdout, stderr), newFlamegraphCmd(stdout, stderr),
		newProbeTestCmd(stdout, stderr),
		newSchemaCmd(stdout, stderr),
		newVersionCmd(stdout, stderr),
		newKeygenCmd(stdout),
		newDoctorCmd(stdout, stderr), newListCmd(stdout, stderr),
	)
	return root
}
