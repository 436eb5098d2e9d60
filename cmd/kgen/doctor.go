package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"

	"kgen/doctor"
)

func newDoctorCmd(stdout, stderr io.Writer) *cobra.Command {
	var kdir, cc string
	var asJSON, loadOnly bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can build and load kgen modules",
		Long: `doctor checks what a build and a load need on this machine: the kernel
headers and the kernel's compiler, build tools, the running kernel's
configuration, lockdown, module signature enforcement, Secure Boot,
kprobes/enabled, kernel.modules_disabled, debugfs and tracefs. It prints
one line per check (ok, warn, fail, skip) with the fix for each that is
not ok. It exits 0 only when a build and a load would work (with
--load-only: when a load would; for a target that runs modules built
elsewhere).`,
		Example: `  sudo kgen doctor
  kgen doctor --kdir ~/.cache/kgen/kernels/debian-6.1/kdir --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := doctor.Run(doctor.Options{KDIR: kdir, CC: cc})
			if asJSON {
				e := json.NewEncoder(stdout)
				e.SetIndent("", "  ")
				if err := e.Encode(r); err != nil {
					return err
				}
			} else {
				doctor.Format(stdout, r)
			}
			if !r.Load || !loadOnly && !r.Build {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kdir, "kdir", "", "kernel build directory (default $KDIR, else /lib/modules/$(uname -r)/build)")
	fl.StringVar(&cc, "cc", "", "C compiler kgen build would be given with --cc")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.BoolVar(&loadOnly, "load-only", false, "exit 0 when a load would work, whatever the build checks say")
	_ = cmd.MarkFlagDirname("kdir")
	return cmd
}
