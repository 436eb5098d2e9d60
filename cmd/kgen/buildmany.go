package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"kgen/generator"
	"kgen/kbuild"
	"kgen/multibuild"
)

// runBuildMany is kgen build for several kernels (--kdir A --kdir B, or
// --kernels DIR).
func runBuildMany(cmd *cobra.Command, tree generator.Tree, name string, f buildFlags, signing *signSetup, stdout, stderr io.Writer) error {
	var ks []multibuild.Kernel
	if f.kernels != "" {
		found, skipped, err := multibuild.Discover(f.kernels)
		for _, s := range skipped {
			fmt.Fprintf(stderr, "kgen: skipping %s: %s\n", s.Name, s.Reason)
		}
		if err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		ks = found
	} else {
		for _, d := range f.kdirs {
			k, err := multibuild.Load(d, d)
			if err != nil {
				return fmt.Errorf("build %s: --kdir %s: %w", name, d, err)
			}
			ks = append(ks, k)
		}
	}
	if err := multibuild.CheckReleases(ks); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	opts := multibuild.Options{
		Config:     f.config(),
		OutDir:     f.out,
		KeepSource: f.keepSource,
	}
	tty := false
	if fd, ok := stderr.(interface{ Fd() uintptr }); ok {
		tty = multibuild.IsTerminal(fd.Fd()) && os.Getenv("TERM") != "dumb"
	}
	disp := multibuild.NewDisplay(stderr, tty)
	opts.Update = disp.Update
	start := time.Now()
	states := multibuild.Run(cmd.Context(), opts, ks, tree, name)
	disp.Close()

	signFailed := 0
	for _, s := range states {
		if s.Err != nil {
			var be *kbuild.BuildError
			if f.verbose && errors.As(s.Err, &be) {
				fmt.Fprintf(stderr, "%s\n%s\n", be.Command, be.Output)
			}
			fmt.Fprintf(stderr, "kgen: %s (%s): %v\n", s.Kernel.Name, s.Kernel.KDIR, s.Err)
			continue
		}
		how := "built"
		if s.Result.Cached {
			how = "cached"
		}
		fmt.Fprintf(stdout, "%s %s for %s (%s, %s)\n", how, s.Result.Ko, s.Result.Release, s.Result.CC, s.Result.Duration.Round(time.Millisecond))
		for _, w := range s.Result.Warnings {
			fmt.Fprintf(stderr, "kgen: %s: %s\n", s.Kernel.Name, w)
		}
		if signing != nil {
			if err := signing.sign(s.Result.Ko, s.Result.Release, stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "kgen: %s (%s): %v\n", s.Kernel.Name, s.Kernel.KDIR, err)
				signFailed++
			}
		}
	}
	n := multibuild.Failed(states) + signFailed
	fmt.Fprintf(stderr, "kgen: %d of %d kernels built in %s", len(states)-n, len(states), time.Since(start).Round(100*time.Millisecond))
	if n > 0 {
		fmt.Fprintf(stderr, "; %d failed\n", n)
		return &exitError{code: min(n, 125)}
	}
	fmt.Fprintln(stderr)
	return nil
}
