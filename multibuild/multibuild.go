// Package multibuild builds one module tree for many kernels at once:
// it finds the kernels (--kdir list or a $KGEN_KERNELS-style directory),
// runs kbuild for each in parallel, bounded by the CPUs, into
// OUTDIR/<release>/<name>.ko, and shows each kernel's progress. One
// kernel's failure does not stop the others. It knows nothing about kinds.
package multibuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"kgen/kbuild"
)

// Kernel is one kernel to build for.
type Kernel struct {
	Name    string   // what the display calls it (a subdir name, or the KDIR as given)
	KDIR    string   // kernel build dir
	Release string   // UTS_RELEASE, read from KDIR
	Make    []string // the kernel's own make variables (its make.env)
}

// Skipped is a directory Discover did not take, and why.
type Skipped struct {
	Name, Reason string
}

// Discover lists the kernels under dir, one per subdirectory, as
// scripts/fetch-kernels.sh lays them out ($KGEN_KERNELS): NAME/kdir (or NAME
// itself) is the kernel build dir, NAME/make.env its make variables. A
// subdirectory that holds no kernel build dir is skipped, with the reason.
// Kernels come in name order.
func Discover(dir string) ([]Kernel, []Skipped, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list kernels in %s: %w: want one subdirectory per kernel (as $KGEN_KERNELS has)", dir, err)
	}
	var ks []Kernel
	var skipped []Skipped
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		sub := filepath.Join(dir, name)
		if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
			continue // a file (READY, notes): not a kernel, not worth a line
		}
		kdir := filepath.Join(sub, "kdir")
		if _, err := os.Stat(filepath.Join(kdir, "Makefile")); err != nil {
			kdir = sub
			if _, err := os.Stat(filepath.Join(sub, "Makefile")); err != nil {
				skipped = append(skipped, Skipped{Name: name, Reason: "not a kernel: no kdir/Makefile nor Makefile in it"})
				continue
			}
		}
		k, err := Load(name, kdir)
		if err != nil {
			skipped = append(skipped, Skipped{Name: name, Reason: err.Error()})
			continue
		}
		if k.Make, err = kbuild.ReadMakeEnv(filepath.Join(sub, "make.env")); err != nil {
			skipped = append(skipped, Skipped{Name: name, Reason: err.Error()})
			continue
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, skipped, fmt.Errorf("list kernels in %s: no subdirectory holds a kernel build dir (NAME/kdir or NAME with a Makefile, .config and include/generated/utsrelease.h)", dir)
	}
	return ks, skipped, nil
}

// Load checks that kdir is a kernel build dir and reads its release.
func Load(name, kdir string) (Kernel, error) {
	abs, err := kbuild.FindKDIR(kdir)
	if err != nil {
		return Kernel{}, err
	}
	rel, err := kbuild.KernelRelease(abs)
	if err != nil {
		return Kernel{}, err
	}
	// The release names a directory under OUTDIR: it must stay there.
	if !releaseRE.MatchString(rel) || rel == "." || rel == ".." {
		return Kernel{}, fmt.Errorf("read kernel release of %s: %q is not a release name (letters, digits, . _ + ~ -)", abs, rel)
	}
	return Kernel{Name: name, KDIR: abs, Release: rel}, nil
}

var releaseRE = regexp.MustCompile(`^[A-Za-z0-9._+~-]{1,64}$`)

// CheckReleases rejects two kernels of one release: both would write
// OUTDIR/<release>/<name>.ko.
func CheckReleases(ks []Kernel) error {
	seen := map[string]string{}
	for _, k := range ks {
		if other, ok := seen[k.Release]; ok {
			return fmt.Errorf("build for %s and %s: both are release %s, and each writes OUTDIR/%s/: build them one at a time with -o", other, k.Name, k.Release, k.Release)
		}
		seen[k.Release] = k.Name
	}
	return nil
}

// State is where one kernel's build is.
type State struct {
	Kernel  Kernel
	Phase   string // "waiting", kbuild's phases, "cached", "done", "failed"
	Started time.Time
	Elapsed time.Duration // when finished
	Result  *kbuild.Result
	Err     error
}

// Phases of State beside kbuild's (PhaseProbing, PhaseCompiling, PhaseLinking).
const (
	PhaseWaiting = "waiting"
	PhaseStart   = "starting"
	PhaseCached  = "cached"
	PhaseDone    = "done"
	PhaseFailed  = "failed"
)

// Options is how Run builds.
type Options struct {
	Config   kbuild.Config // shared settings; KDIR, Jobs and ExtraMake are set per kernel
	Parallel int           // builds at once; 0 = number of CPUs
	OutDir   string        // modules go to OutDir/<release>/<name>.ko
	// KeepSource keeps each build's sources in OutDir/<release>/<name>-src.
	KeepSource bool
	// Update is called with every kernel's state each time one changes
	// (serialised; never concurrently).
	Update func([]State)
}

// Run builds tree as name.ko for every kernel and returns each one's final
// state, in the order of ks. Builds run in parallel, at most
// opts.Parallel at once; each make gets an equal share of the CPUs unless
// opts.Config.Jobs says otherwise.
func Run(ctx context.Context, opts Options, ks []Kernel, tree map[string][]byte, name string) []State {
	par := opts.Parallel
	if par <= 0 {
		par = runtime.NumCPU()
	}
	if par > len(ks) {
		par = len(ks)
	}
	jobs := opts.Config.Jobs
	if jobs <= 0 {
		jobs = max(1, runtime.NumCPU()/max(par, 1))
	}
	states := make([]State, len(ks))
	for i, k := range ks {
		states[i] = State{Kernel: k, Phase: PhaseWaiting}
	}
	var mu sync.Mutex
	set := func(i int, f func(*State)) {
		mu.Lock()
		defer mu.Unlock()
		f(&states[i])
		if opts.Update != nil {
			opts.Update(append([]State(nil), states...))
		}
	}
	build := func(i int) {
		k := ks[i]
		start := time.Now()
		set(i, func(s *State) { s.Phase, s.Started = PhaseStart, start })
		cfg := opts.Config
		cfg.KDIR = k.KDIR
		cfg.Jobs = jobs
		cfg.ExtraMake = append(append([]string(nil), k.Make...), opts.Config.ExtraMake...)
		cfg.Log = nil // warnings come back in the result
		out := filepath.Join(opts.OutDir, k.Release)
		cfg.SrcDir = ""
		if opts.KeepSource {
			cfg.SrcDir = filepath.Join(out, name+"-src")
		}
		cfg.Progress = func(p string) { set(i, func(s *State) { s.Phase = p }) }
		var res *kbuild.Result
		err := ctx.Err()
		if err == nil {
			err = os.MkdirAll(out, 0o755)
		}
		if err == nil {
			res, err = kbuild.Build(ctx, cfg, tree, name, out)
		}
		set(i, func(s *State) {
			s.Elapsed = time.Since(start)
			s.Result, s.Err = res, err
			switch {
			case err != nil:
				s.Phase = PhaseFailed
			case res.Cached:
				s.Phase = PhaseCached
			default:
				s.Phase = PhaseDone
			}
		})
	}
	// Workers take the kernels in order, so the first listed start first.
	queue := make(chan int, len(ks))
	for i := range ks {
		queue <- i
	}
	close(queue)
	var wg sync.WaitGroup
	for range max(par, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				build(i)
			}
		}()
	}
	wg.Wait()
	return states
}

// Failed counts the failed builds.
func Failed(states []State) int {
	n := 0
	for _, s := range states {
		if s.Phase == PhaseFailed {
			n++
		}
	}
	return n
}

// FirstError is one line of a build error that says what went wrong: a
// BuildError's first compiler error, else make's first line that says
// error or ***, else the error's first line.
func FirstError(err error) string {
	var be *kbuild.BuildError
	if errors.As(err, &be) {
		for _, d := range be.Diagnostics {
			if d.Severity != "warning" {
				return d.String()
			}
		}
		for _, l := range strings.Split(be.Output, "\n") {
			if strings.Contains(l, "***") || strings.Contains(strings.ToLower(l), "error") {
				return strings.TrimSpace(l)
			}
		}
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
