package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kgen/kbuild"
	"kgen/loader"
)

type buildFlags struct {
	kdir                           string   // one kernel (kgen run's build)
	kdirs                          []string // --kdir, repeatable
	kernels                        string
	arch, cross, out, cacheDir, cc string
	keepSource, verbose            bool
	jobs                           int
	makeVars                       []string
	sign                           signFlags
	vmlinux, sysmap                string // target's symbols, for probe warnings
}

func newBuildCmd(stdout, stderr io.Writer) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build SPEC.yaml",
		Short: "Generate and build a spec's kernel module (<name>.ko)",
		Long: `build generates the spec's module and builds it with the target kernel's
Kbuild, writing OUTDIR/<name>.ko. The kernel build dir is --kdir, else $KDIR,
else /lib/modules/$(uname -r)/build. Builds are cached by content: building
the same spec for the same kernel again copies the cached module.

--sign-key signs the module as the kernel's scripts/sign-file does (for
kernels with module.sig_enforce or Secure Boot); without it kgen signs with
$KGEN_SIGN_KEY, else DKMS's MOK pair (/var/lib/dkms/mok.key, mok.pub) when
present. kgen keygen makes a key to enroll. See docs/signing.md.

With several --kdir, or --kernels DIR (one subdirectory per kernel, as
$KGEN_KERNELS has: NAME/kdir and NAME/make.env), it builds for every kernel
in parallel, bounded by the CPUs, into OUTDIR/<release>/<name>.ko. One
kernel's failure does not stop the others; the exit status is the number
of kernels that failed.`,
		Example: `  kgen build examples/kretprobe.yaml
  kgen build probe.yaml --kdir ~/.cache/kgen/kernels/debian-6.1/kdir -o out
  kgen build probe.yaml --kdir /src/linux-arm64   # ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- from its .config
  kgen build probe.yaml --make-var W=1 --keep-source -v
  kgen build probe.yaml --sign-key kgen-signing.key --sign-cert kgen-signing.der
  kgen build probe.yaml --kernels ~/.cache/kgen/kernels -o out
  kgen build probe.yaml --kdir /lib/modules/6.1.0-57-amd64/build --kdir /lib/modules/6.12.48-amd64/build`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: specFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, args[0], f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.kdirs, "kdir", nil, "kernel build directory (default $KDIR, else /lib/modules/$(uname -r)/build); repeat to build for several")
	fl.StringVar(&f.kernels, "kernels", "", "build for every kernel in this directory (one subdirectory each: NAME/kdir, NAME/make.env)")
	fl.StringVar(&f.arch, "arch", "", "target architecture, as make's ARCH (e.g. arm64; default: the KDIR's .config's)")
	fl.StringVar(&f.cross, "cross-compile", "", "cross compiler prefix, as make's CROSS_COMPILE (default for a foreign KDIR: Debian's, e.g. aarch64-linux-gnu-)")
	fl.StringVarP(&f.out, "output", "o", "out", "directory to write <name>.ko to")
	fl.BoolVar(&f.keepSource, "keep-source", false, "keep the generated sources and their build directory in OUTDIR/<name>-src (a fresh build, never from the cache)")
	fl.IntVarP(&f.jobs, "jobs", "j", 0, "parallel make jobs (default: number of CPUs)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show make's full output")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "build cache directory (default $XDG_CACHE_HOME/kgen or ~/.cache/kgen)")
	fl.StringVar(&f.cc, "cc", "", "C compiler (default: the kernel's own gcc version when installed, else gcc)")
	fl.StringArrayVar(&f.makeVars, "make-var", nil, "extra make variable VAR=value (repeatable; e.g. W=1)")
	f.sign.register(fl)
	fl.StringVar(&f.vmlinux, "kernel", "", "the target's vmlinux (uncompressed ELF, stripped or not): warn about probed functions it lacks or blacklists")
	fl.StringVar(&f.sysmap, "system-map", "", "the target's System.map: warn about probed functions it lacks or blacklists")
	_ = cmd.MarkFlagDirname("kdir")
	_ = cmd.MarkFlagDirname("kernels")
	cmd.MarkFlagsMutuallyExclusive("kdir", "kernels")
	_ = cmd.MarkFlagDirname("output")
	_ = cmd.RegisterFlagCompletionFunc("arch", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"x86_64", "x86", "arm64", "arm", "riscv", "powerpc", "s390", "mips"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// config is the kbuild configuration the flags give, for any kernel.
func (f buildFlags) config() kbuild.Config {
	return kbuild.Config{
		Arch:         f.arch,
		CrossCompile: f.cross,
		Jobs:         f.jobs,
		CC:           f.cc,
		CacheDir:     f.cacheDir,
		ExtraMake:    f.makeVars,
		Version:      version,
	}
}

func runBuild(cmd *cobra.Command, specPath string, f buildFlags, stdout, stderr io.Writer) error {
	s, tree, err := loadSpec(specPath)
	if err != nil {
		return err
	}
	name := s.Header().Name
	// The key is checked before the build; the module is signed after it,
	// so the build cache holds unsigned modules only.
	signing, err := resolveSigning(f.sign, stderr)
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	for _, v := range f.makeVars {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("build %s: --make-var %q: want VAR=value", name, v)
		}
	}
	if len(f.kdirs) > 1 || f.kernels != "" {
		return runBuildMany(cmd, tree, name, f, signing, stdout, stderr)
	}
	if len(f.kdirs) == 1 {
		f.kdir = f.kdirs[0]
	}
	kdir, err := kbuild.FindKDIR(f.kdir)
	if err != nil {
		return err
	}
	for _, w := range probeWarnings(s, kdir, f.vmlinux, f.sysmap) {
		fmt.Fprintf(stderr, "kgen: warning: %s\n", w)
	}
	cfg := f.config()
	cfg.KDIR = kdir
	cfg.Log = stderr
	if f.keepSource {
		cfg.SrcDir = filepath.Join(f.out, name+"-src")
	}
	if f.verbose {
		cfg.Verbose = stderr
	}
	res, err := kbuild.Build(cmd.Context(), cfg, tree, name, f.out)
	if err != nil {
		var be *kbuild.BuildError
		if f.verbose && errors.As(err, &be) {
			fmt.Fprintf(stderr, "%s\n%s\n", be.Command, be.Output)
		}
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "kgen: %s\n", w)
	}
	how := "built"
	if res.Cached {
		how = "cached"
	}
	fmt.Fprintf(stdout, "%s %s for %s (%s, %s)\n", how, res.Ko, res.Release, res.CC, res.Duration.Round(time.Millisecond))
	if signing != nil {
		if err := signing.sign(res.Ko, res.Release, stdout, stderr); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
	}
	// What the build resolved for this kernel, when the module says (a
	// payload: the functions each point intercepts).
	if mi, err := loader.ReadModInfo(res.Ko); err == nil {
		if s := mi.Fields["kgen_resolved"]; s != "" {
			fmt.Fprintf(stdout, "  %s\n", loader.Escape(s))
		}
	}
	return nil
}
