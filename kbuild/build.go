package kbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"kgen/internal/lockfile"
	"kgen/internal/safedir"
)

// Config says how to build. The zero value plus KDIR builds natively with
// the kernel's own compiler when installed.
type Config struct {
	KDIR         string   // kernel build dir (see FindKDIR); required
	Arch         string   // ARCH=, "" = the KDIR's .config's (see inferArch)
	CrossCompile string   // CROSS_COMPILE= prefix, e.g. "aarch64-linux-gnu-"; "" = Debian's for a foreign Arch
	Jobs         int      // make -j; 0 = number of CPUs
	CC           string   // "" = decide from the kernel's CONFIG_CC_VERSION_TEXT
	CacheDir     string   // "" = $XDG_CACHE_HOME/kgen or ~/.cache/kgen
	ExtraMake    []string // VAR=value for make (a kernel's make.env, W=1, ...)
	// Version is kgen's version; part of the build cache key so a new kgen
	// never reuses an old kgen's module.
	Version string
	// SrcDir, when set, is where the tree is written and built, and it is
	// kept (--keep-source); the build is then never a cache hit. "" = a
	// directory in the cache, removed after.
	SrcDir  string
	Verbose io.Writer // raw make output as it comes (-v); nil = captured only
	Log     io.Writer // progress and warnings for the user; nil = silent
	// Progress, when set, is told each phase of a cold build as it starts
	// (PhaseProbing, PhaseCompiling, PhaseLinking), from Build's goroutine.
	Progress func(phase string)
}

// The phases of a cold build, as Config.Progress hears them.
const (
	PhaseProbing   = "probing features"
	PhaseCompiling = "compiling"
	PhaseLinking   = "linking"
)

// Result is a built module.
type Result struct {
	Ko       string          // path of the module in outDir
	Cached   bool            // true: copied from the build cache
	Features map[string]bool // feature probe results used by the build
	Warnings []Diagnostic    // compiler/modpost warnings of the (original) build
	Release  string          // kernel release built for
	CC       string          // compiler used
	Key      string          // build cache key
	Duration time.Duration
}

// Build builds tree (file name -> content; the module's Kbuild, sources,
// features/*) as name.ko against cfg.KDIR and writes outDir/name.ko. The
// result is cached by content: the tree, cfg.Version, the KDIR identity,
// the compiler and the make arguments.
func Build(ctx context.Context, cfg Config, tree map[string][]byte, name, outDir string) (*Result, error) {
	start := time.Now()
	if !isMakeVar(name) {
		return nil, fmt.Errorf("build module %q: name must be a C identifier", name)
	}
	if _, ok := tree["Kbuild"]; !ok {
		return nil, fmt.Errorf("build %s.ko: the tree has no Kbuild file", name)
	}
	for n := range tree {
		if !safeTreePath(n) {
			return nil, fmt.Errorf("build %s.ko: tree file %q escapes the module dir", name, n)
		}
	}
	b, err := newBuilder(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("build %s.ko: %w", name, err)
	}
	defer b.saveIndex()

	key := b.buildKey(tree, name)
	entry := filepath.Join(b.cacheDir, "build", key)
	// Sources kept (SrcDir) are a whole build directory, which a cache
	// hit would not write: a kept build is always a fresh one.
	keep := cfg.SrcDir != ""
	if r, ok := b.lookup(entry, name, outDir); ok && !keep {
		r.Duration = time.Since(start)
		return r, nil
	}
	if err := os.MkdirAll(filepath.Join(b.cacheDir, "build"), 0o700); err != nil {
		return nil, fmt.Errorf("build %s.ko: create cache dir: %w", name, err)
	}
	// One cold build per key at a time; a second kgen waits, then hits.
	unlock, err := b.lockFile(ctx, entry+".lock", "a build of the same module")
	if err != nil {
		return nil, fmt.Errorf("build %s.ko: %w", name, err)
	}
	defer unlock()
	if r, ok := b.lookup(entry, name, outDir); ok && !keep {
		r.Duration = time.Since(start)
		return r, nil
	}
	r, err := b.cold(ctx, tree, name, outDir, entry)
	if err != nil {
		return nil, err
	}
	r.Key = key
	r.Duration = time.Since(start)
	return r, nil
}

// Features runs the feature probes in probes (names "features/<F>.c" or
// "features/<F>.sym", as in a module tree) against cfg.KDIR, from the
// cache when it can. kgen generate uses it to write kgen_features.h.
func Features(ctx context.Context, cfg Config, probes map[string][]byte) (map[string]bool, error) {
	ps, err := probesIn(probes)
	if err != nil {
		return nil, err
	}
	b, err := newBuilder(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("run feature probes: %w", err)
	}
	defer b.saveIndex()
	return b.features(ctx, ps)
}

// builder is one build's resolved environment.
type builder struct {
	cfg        Config
	cacheDir   string
	ix         *index
	kern       *kernel
	cc         *compiler
	vars       []string // facts, then cfg.ExtraMake
	featureKey string
}

func newBuilder(ctx context.Context, cfg Config) (*builder, error) {
	if cfg.KDIR == "" {
		return nil, &KDIRError{Path: "", From: "Config.KDIR", Err: errors.New("not set")}
	}
	kdir, err := filepath.Abs(cfg.KDIR)
	if err != nil {
		return nil, &KDIRError{Path: cfg.KDIR, From: "Config.KDIR", Err: err}
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	// Root runs make in the cache and copies modules out of it: another
	// user who can write there could swap a module or a Kbuild file.
	if err := safedir.Ensure(cacheDir); err != nil {
		return nil, &CacheError{Dir: cacheDir, Err: err}
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = runtime.NumCPU()
	}
	for _, v := range cfg.ExtraMake {
		if k, _, ok := strings.Cut(v, "="); !ok || !isMakeVar(k) {
			return nil, fmt.Errorf("check make variable %q: want VAR=value", v)
		}
	}
	cfg.ExtraMake = liftToolVars(&cfg)
	b := &builder{cfg: cfg, cacheDir: cacheDir, ix: loadIndex(cacheDir)}
	if b.kern, err = b.ix.kernel(kdir); err != nil {
		return nil, err
	}
	if err := inferArch(&b.cfg, b.kern.Config, hostGOARCH); err != nil {
		return nil, err
	}
	if b.cc, err = chooseCC(ctx, &b.cfg, b.kern, b.ix); err != nil {
		return nil, err
	}
	// Derived facts first, then the extras; a fact the extras set too
	// (a kernel's make.env) is left to them.
	var extraNames []string
	for _, v := range cfg.ExtraMake {
		k, _, _ := strings.Cut(v, "=")
		extraNames = append(extraNames, k)
	}
	b.vars = append(dropVars(factVars(ctx, b.kern, b.cc, b.ix), extraNames...), cfg.ExtraMake...)
	// Probe results depend on everything that reaches the compiler except
	// the module's own files (and W/C/V, which the pass drops).
	probeArgs := b.makeArgs("DIR", nil)
	probeArgs.Vars = dropVars(probeArgs.Vars, "W", "C", "V")
	probeArgs.Jobs = 0
	b.featureKey = hashStrings("kgen-features-v1", b.kern.ID, b.cc.Identity, strings.Join(probeArgs.argv(), "\x00"), probeCflags, sanitySrc)
	return b, nil
}

// liftToolVars moves CC=, ARCH= and CROSS_COMPILE= out of cfg.ExtraMake
// into cfg's fields (an explicit field wins), so the compiler kbuild
// probes and hashes is the one make runs, and returns the rest.
func liftToolVars(cfg *Config) []string {
	var rest []string
	for _, v := range cfg.ExtraMake {
		k, val, _ := strings.Cut(v, "=")
		var field *string
		switch k {
		case "CC":
			field = &cfg.CC
		case "ARCH":
			field = &cfg.Arch
		case "CROSS_COMPILE":
			field = &cfg.CrossCompile
		default:
			rest = append(rest, v)
			continue
		}
		if *field == "" {
			*field = val
		}
	}
	return rest
}

// DefaultCacheDir is $XDG_CACHE_HOME/kgen, else ~/.cache/kgen.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "kgen"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w: set XDG_CACHE_HOME or HOME", err)
	}
	return filepath.Join(home, ".cache", "kgen"), nil
}

func (b *builder) makeArgs(dir string, targets []string) makeArgs {
	return makeArgs{
		KDIR:    b.kern.Dir,
		Dir:     dir,
		Jobs:    b.cfg.Jobs,
		Arch:    b.cfg.Arch,
		Cross:   b.cfg.CrossCompile,
		CC:      b.cc.CC,
		Vars:    b.vars,
		Targets: targets,
	}
}

func (b *builder) logf(format string, args ...any) {
	if b.cfg.Log != nil {
		fmt.Fprintf(b.cfg.Log, format+"\n", args...)
	}
}

func (b *builder) phase(p string) {
	if b.cfg.Progress != nil {
		b.cfg.Progress(p)
	}
}

// linkWatcher reads make's output as it comes and reports PhaseLinking at
// Kbuild's first modpost or link step.
type linkWatcher struct {
	progress func(string)
	line     []byte
	done     bool
}

func (w *linkWatcher) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	for _, c := range p {
		if c != '\n' {
			if len(w.line) < 256 {
				w.line = append(w.line, c)
			}
			continue
		}
		f := strings.Fields(string(w.line))
		w.line = w.line[:0]
		if len(f) > 0 && (f[0] == "MODPOST" || f[0] == "LD" && len(f) > 1 && f[1] == "[M]") {
			w.done = true
			w.progress(PhaseLinking)
			break
		}
	}
	return len(p), nil
}

func (b *builder) saveIndex() {
	if err := b.ix.save(); err != nil {
		b.logf("warning: %v", err)
	}
}

// buildKey hashes everything a module build depends on.
func (b *builder) buildKey(tree map[string][]byte, name string) string {
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s %d\n", len(n), n, len(tree[n]))
		h.Write(tree[n])
	}
	treeHash := hex.EncodeToString(h.Sum(nil))
	a := b.makeArgs("DIR", []string{"modules"})
	a.Jobs = 0 // parallelism does not change the module
	return hashStrings("kgen-build-v1", b.cfg.Version, name, treeHash, b.kern.ID, b.cc.Identity, b.cc.Path,
		strings.Join(a.argv(), "\x00"))[:32]
}

// cacheEntry is result.json beside a cached module.
type cacheEntry struct {
	Features map[string]bool `json:"features"`
	Warnings []Diagnostic    `json:"warnings"`
	Release  string          `json:"release"`
	CC       string          `json:"cc"`
	// SHA256 is the module's digest, checked before the cached module is
	// used: an entry without one, or whose module differs, is rebuilt.
	SHA256 string `json:"sha256"`
}

// lookup copies a cached module to outDir.
func (b *builder) lookup(entry, name, outDir string) (*Result, bool) {
	data, err := os.ReadFile(filepath.Join(entry, "result.json"))
	if err != nil {
		return nil, false
	}
	var ce cacheEntry
	if json.Unmarshal(data, &ce) != nil {
		return nil, false
	}
	mod, err := os.ReadFile(filepath.Join(entry, name+".ko"))
	if err != nil {
		return nil, false
	}
	if ce.SHA256 == "" {
		return nil, false // an older kgen's entry: rebuilt, with a digest
	}
	if sum := sha256.Sum256(mod); hex.EncodeToString(sum[:]) != ce.SHA256 {
		b.logf("warning: cached %s.ko in %s does not match its digest; rebuilding", name, entry)
		return nil, false
	}
	ko := filepath.Join(outDir, name+".ko")
	if err := writeFileAtomic(ko, mod, 0o644); err != nil {
		return nil, false
	}
	return &Result{Ko: ko, Cached: true, Features: ce.Features, Warnings: ce.Warnings,
		Release: ce.Release, CC: ce.CC, Key: filepath.Base(entry)}, true
}

// cold builds the tree and stores the module in the cache at entry.
func (b *builder) cold(ctx context.Context, tree map[string][]byte, name, outDir, entry string) (*Result, error) {
	ko := name + ".ko"
	if w := b.cc.mismatchWarning(b.kern.Release); w != "" {
		b.logf("%s", w)
	}
	b.logf("building %s for %s ...", ko, b.kern.Release)
	probes, err := probesIn(tree)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", ko, err)
	}
	b.phase(PhaseProbing)
	features, err := b.features(ctx, probes)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", ko, err)
	}

	dir := b.cfg.SrcDir
	if dir == "" {
		dir = entry + ".src"
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("build %s: clear build dir: %w", ko, err)
		}
		defer os.RemoveAll(dir)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("build %s: %w", ko, err)
	}
	if b.cfg.SrcDir != "" {
		// make runs as the caller in dir: whoever can write there can
		// change Kbuild mid-build and run commands.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("build %s: %w", ko, err)
		}
		if err := safedir.Check(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("build %s: keep sources in %s: %w: make runs there, so only you may write to it; pick another output dir", ko, dir, err)
		}
	}
	full := make(map[string][]byte, len(tree)+1)
	for n, data := range tree {
		full[n] = data
	}
	full["kgen_features.h"] = FeatureHeader(features)
	if err := writeTree(dir, full); err != nil {
		return nil, fmt.Errorf("build %s: %w", ko, err)
	}
	os.Remove(filepath.Join(dir, ko)) // a stale module must not pass for a new one

	a := b.makeArgs(dir, []string{"modules"})
	b.phase(PhaseCompiling)
	verbose := b.cfg.Verbose
	if b.cfg.Progress != nil {
		lw := &linkWatcher{progress: b.cfg.Progress}
		if verbose != nil {
			verbose = io.MultiWriter(verbose, lw)
		} else {
			verbose = lw
		}
	}
	out, err := runMake(ctx, a, verbose)
	diags := parseDiagnostics(out, dir, full)
	if err != nil {
		if _, ok := err.(*ToolError); ok || ctx.Err() != nil {
			return nil, fmt.Errorf("build %s: %w", ko, err)
		}
		return nil, &BuildError{Module: ko, Command: commandLine(a), Diagnostics: diags, Output: out, Err: err}
	}
	if _, err := os.Stat(filepath.Join(dir, ko)); err != nil {
		return nil, &BuildError{Module: ko, Command: commandLine(a), Diagnostics: diags, Output: out,
			Err: fmt.Errorf("make made no %s: does Kbuild say obj-m := %s.o?", ko, name)}
	}
	var warnings []Diagnostic
	for _, d := range diags {
		if d.Severity == "warning" {
			warnings = append(warnings, d)
		}
	}
	ce := cacheEntry{Features: features, Warnings: warnings, Release: b.kern.Release, CC: b.cc.CC}
	if err := storeEntry(entry, filepath.Join(dir, ko), ko, ce); err != nil {
		return nil, fmt.Errorf("build %s: cache the module: %w", ko, err)
	}
	dst := filepath.Join(outDir, ko)
	if err := copyFileAtomic(filepath.Join(dir, ko), dst); err != nil {
		return nil, fmt.Errorf("build %s: write %s: %w", ko, dst, err)
	}
	return &Result{Ko: dst, Features: features, Warnings: warnings, Release: b.kern.Release, CC: b.cc.CC}, nil
}

// storeEntry fills a temporary dir beside entry and renames it into place,
// so a cache entry is whole or absent.
func storeEntry(entry, koPath, ko string, ce cacheEntry) error {
	tmp, err := os.MkdirTemp(filepath.Dir(entry), filepath.Base(entry)+".tmp-")
	if err != nil {
		return err
	}
	mod, err := os.ReadFile(koPath)
	if err == nil {
		sum := sha256.Sum256(mod)
		ce.SHA256 = hex.EncodeToString(sum[:])
		err = writeFileAtomic(filepath.Join(tmp, ko), mod, 0o644)
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(ce)
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(tmp, "result.json"), data, 0o644)
	}
	if err == nil {
		os.RemoveAll(entry) // an entry without result.json is junk
		err = os.Rename(tmp, entry)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

// safeTreePath reports whether a tree file name stays inside the tree.
func safeTreePath(n string) bool {
	if n == "" || strings.HasPrefix(n, "/") || strings.Contains(n, "\\") {
		return false
	}
	c := path.Clean(n)
	return c == n && c != "." && c != ".." && !strings.HasPrefix(c, "../")
}

// writeTree writes the tree's files under dir, leaving other files alone.
// It follows no symlink out of dir (os.Root) and replaces a file by
// renaming a new one over it, so a symlink planted in the tree is
// replaced, not written through.
func writeTree(dir string, tree map[string][]byte) error {
	if err := writeTreeRoot(dir, tree, true); err != nil {
		return fmt.Errorf("write module tree: %w", err)
	}
	return nil
}

// lockFile takes the cache lock at path, waiting up to lockTimeout for the
// holder (what says what it is doing).
func (b *builder) lockFile(ctx context.Context, path, what string) (func(), error) {
	unlock, err := lockfile.Acquire(ctx, path, lockTimeout, func(pid int) {
		who := "another kgen"
		if pid > 0 {
			who = lockfile.Describe(pid)
		}
		b.logf("waiting for %s (%s) ...", who, what)
	})
	if err != nil {
		return nil, fmt.Errorf("lock build: %w", err)
	}
	return unlock, nil
}

// lockTimeout bounds the wait for another kgen's build of the same module
// (a cold build of a large module under TCG-speed machines takes minutes).
const lockTimeout = 15 * time.Minute
