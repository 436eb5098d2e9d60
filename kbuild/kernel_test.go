package kbuild

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"kgen/templates"
)

// Tests against real kernel build trees fetched by scripts/fetch-kernels.sh
// into $KGEN_KERNELS (default ~/.cache/kgen/kernels). They skip when a
// kernel is absent, unless KGEN_REQUIRE_KERNELS=1.

type testKernel struct {
	name string // debian-6.1
	kdir string
}

// wantFeatures is every probe's answer on each kernel, from the kernels'
// sources and changelogs: its keys must be exactly the probes in
// templates/features and the test-only ones in testdata/features
// (TestFeatureTableCoversProbes).
var wantFeatures = map[string]map[string]bool{
	"debian-5.10": {
		"HAVE_PROC_OPS": true, "HAVE_REGS_GET_KERNEL_ARGUMENT": true, "HAVE_STACK_TRACE_SAVE": true,
		"HAVE_KALLSYMS_LOOKUP_NAME": false, "HAVE_ASSIGN_STR_ONE_ARG": false, "HAVE_TRACE_EVENT_ENABLED": true,
		"HAVE_KTIME_GET_MONO_FAST_NS": true, "HAVE_GET_KRETPROBE": false,
		"HAVE_PRINTK_CPU_SYNC": false, // printk_cpu_sync_get_irqsave: 5.19
		// process kind: syscall work bits 5.11; sched_process_exit's group_dead 6.16;
		// strncpy_from_user_nofault exists but Debian exports it on none of the three.
		"HAVE_COPY_FROM_USER_NOFAULT": true, "HAVE_KERNEL_SIGINFO": true, "HAVE_TASK_SYSCALL_WORK": false,
		"HAVE_SCHED_PROCESS_EXIT_GROUP_DEAD": false, "HAVE_STRNCPY_FROM_USER_NOFAULT": false,
		// payload kind: ftrace_regs 5.11, its IP setters (WITH_ARGS) 5.18/6.7,
		// its argument getter 6.0 (6.1: through its pt_regs), ftrace_free_filter
		// exported 5.13?, struct module mem[] 6.4.
		"HAVE_FTRACE_FREE_FILTER": false, "HAVE_FTRACE_INSTRUCTION_POINTER_SET": false,
		"HAVE_FTRACE_OPS_FL_RECURSION_SAFE": true, "HAVE_FTRACE_REGS": false,
		"HAVE_FTRACE_REGS_GET_ARGUMENT": false, "HAVE_FTRACE_REGS_PT_REGS": false,
		"HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER": false, "HAVE_MODULE_MEMORY": false, "HAVE_PANIC_NOTIFIER_H": false,
	},
	"debian-6.1": {
		"HAVE_PROC_OPS": true, "HAVE_REGS_GET_KERNEL_ARGUMENT": true, "HAVE_STACK_TRACE_SAVE": true,
		"HAVE_KALLSYMS_LOOKUP_NAME": false, "HAVE_ASSIGN_STR_ONE_ARG": false, "HAVE_TRACE_EVENT_ENABLED": true,
		"HAVE_KTIME_GET_MONO_FAST_NS": true, "HAVE_GET_KRETPROBE": true,
		"HAVE_PRINTK_CPU_SYNC":        true,
		"HAVE_COPY_FROM_USER_NOFAULT": true, "HAVE_KERNEL_SIGINFO": true, "HAVE_TASK_SYSCALL_WORK": true,
		"HAVE_SCHED_PROCESS_EXIT_GROUP_DEAD": false, "HAVE_STRNCPY_FROM_USER_NOFAULT": false,
		"HAVE_FTRACE_FREE_FILTER": true, "HAVE_FTRACE_INSTRUCTION_POINTER_SET": true,
		"HAVE_FTRACE_OPS_FL_RECURSION_SAFE": false, "HAVE_FTRACE_REGS": true,
		"HAVE_FTRACE_REGS_GET_ARGUMENT": false, "HAVE_FTRACE_REGS_PT_REGS": true,
		"HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER": false, "HAVE_MODULE_MEMORY": false, "HAVE_PANIC_NOTIFIER_H": true,
	},
	"debian-6.12": {
		"HAVE_PROC_OPS": true, "HAVE_REGS_GET_KERNEL_ARGUMENT": true, "HAVE_STACK_TRACE_SAVE": true,
		"HAVE_KALLSYMS_LOOKUP_NAME": false, "HAVE_ASSIGN_STR_ONE_ARG": true, "HAVE_TRACE_EVENT_ENABLED": true,
		"HAVE_KTIME_GET_MONO_FAST_NS": true, "HAVE_GET_KRETPROBE": true,
		"HAVE_PRINTK_CPU_SYNC":        true,
		"HAVE_COPY_FROM_USER_NOFAULT": true, "HAVE_KERNEL_SIGINFO": true, "HAVE_TASK_SYSCALL_WORK": true,
		"HAVE_SCHED_PROCESS_EXIT_GROUP_DEAD": false, "HAVE_STRNCPY_FROM_USER_NOFAULT": false,
		"HAVE_FTRACE_FREE_FILTER": true, "HAVE_FTRACE_INSTRUCTION_POINTER_SET": false,
		"HAVE_FTRACE_OPS_FL_RECURSION_SAFE": false, "HAVE_FTRACE_REGS": true,
		"HAVE_FTRACE_REGS_GET_ARGUMENT": true, "HAVE_FTRACE_REGS_PT_REGS": false,
		"HAVE_FTRACE_REGS_SET_INSTRUCTION_POINTER": true, "HAVE_MODULE_MEMORY": true, "HAVE_PANIC_NOTIFIER_H": true,
	},
}

// payloadFunctions are the payload kind's candidate functions (HAVE_PL_<ID>
// signature probes and HAVE_PL_<NAME>_SYM export probes) that hold on each
// kernel: the families of docs/payload-design.md section 4. Every other
// HAVE_PL_ probe is false there.
var payloadFunctions = map[string]string{
	"debian-5.10": `FREE_PAGES FREE_PAGES_SYM GET_ZEROED_PAGE GET_ZEROED_PAGE_SYM KFREE KFREE_SENSITIVE
		KFREE_SENSITIVE_SYM KFREE_SYM KMALLOC_LARGE KMALLOC_ORDER_TRACE KMALLOC_ORDER_TRACE_SYM
		KMEMDUP KMEMDUP_SYM KMEM_CACHE_ALLOC KMEM_CACHE_ALLOC_NODE KMEM_CACHE_ALLOC_NODE_SYM
		KMEM_CACHE_ALLOC_NODE_TRACE KMEM_CACHE_ALLOC_NODE_TRACE_SYM KMEM_CACHE_ALLOC_SYM
		KMEM_CACHE_ALLOC_TRACE KMEM_CACHE_ALLOC_TRACE_SYM KMEM_CACHE_FREE KMEM_CACHE_FREE_SYM
		KREALLOC KREALLOC_SYM KSTRDUP KSTRDUP_SYM KSTRNDUP KSTRNDUP_SYM KVFREE KVFREE_SYM
		KVMALLOC_NODE KVMALLOC_NODE_SYM VFREE VFREE_SYM VMALLOC VMALLOC_NODE VMALLOC_NODE_SYM
		VMALLOC_SYM VZALLOC VZALLOC_NODE VZALLOC_NODE_SYM VZALLOC_SYM __GET_FREE_PAGES
		__GET_FREE_PAGES_SYM __KMALLOC __KMALLOC_NODE __KMALLOC_NODE_SYM __KMALLOC_SYM
		__VMALLOC __VMALLOC_SYM`,
	"debian-6.1": `FREE_PAGES FREE_PAGES_SYM GET_ZEROED_PAGE GET_ZEROED_PAGE_SYM KFREE KFREE_SENSITIVE
		KFREE_SENSITIVE_SYM KFREE_SYM KMALLOC_LARGE KMALLOC_LARGE_NODE KMALLOC_LARGE_NODE_SYM
		KMALLOC_LARGE_SYM KMALLOC_NODE_TRACE KMALLOC_NODE_TRACE_SYM KMALLOC_TRACE
		KMALLOC_TRACE_SYM KMEMDUP KMEMDUP_SYM KMEM_CACHE_ALLOC KMEM_CACHE_ALLOC_LRU
		KMEM_CACHE_ALLOC_LRU_SYM KMEM_CACHE_ALLOC_NODE KMEM_CACHE_ALLOC_NODE_SYM
		KMEM_CACHE_ALLOC_SYM KMEM_CACHE_FREE KMEM_CACHE_FREE_SYM KREALLOC KREALLOC_SYM KSTRDUP
		KSTRDUP_SYM KSTRNDUP KSTRNDUP_SYM KVFREE KVFREE_SYM KVMALLOC_NODE KVMALLOC_NODE_SYM
		VFREE VFREE_SYM VMALLOC VMALLOC_NODE VMALLOC_NODE_SYM VMALLOC_SYM VZALLOC VZALLOC_NODE
		VZALLOC_NODE_SYM VZALLOC_SYM __GET_FREE_PAGES __GET_FREE_PAGES_SYM __KMALLOC
		__KMALLOC_NODE __KMALLOC_NODE_SYM __KMALLOC_SYM __VMALLOC __VMALLOC_SYM`,
	"debian-6.12": `FREE_PAGES FREE_PAGES_SYM GET_FREE_PAGES_NOPROF GET_FREE_PAGES_NOPROF_SYM
		GET_ZEROED_PAGE_NOPROF GET_ZEROED_PAGE_NOPROF_SYM KFREE KFREE_SENSITIVE
		KFREE_SENSITIVE_SYM KFREE_SYM KMEMDUP_NOPROF KMEMDUP_NOPROF_SYM
		KMEM_CACHE_ALLOC_LRU_NOPROF KMEM_CACHE_ALLOC_LRU_NOPROF_SYM
		KMEM_CACHE_ALLOC_NODE_NOPROF KMEM_CACHE_ALLOC_NODE_NOPROF_SYM KMEM_CACHE_ALLOC_NOPROF
		KMEM_CACHE_ALLOC_NOPROF_SYM KMEM_CACHE_FREE KMEM_CACHE_FREE_SYM KREALLOC_NOPROF
		KREALLOC_NOPROF_SYM KSTRDUP KSTRDUP_SYM KSTRNDUP KSTRNDUP_SYM KVFREE KVFREE_SYM VFREE
		VFREE_SYM VMALLOC_NODE_NOPROF VMALLOC_NODE_NOPROF_SYM VMALLOC_NOPROF VMALLOC_NOPROF_SYM
		VZALLOC_NODE_NOPROF VZALLOC_NODE_NOPROF_SYM VZALLOC_NOPROF VZALLOC_NOPROF_SYM
		__KMALLOC_CACHE_NODE_NOPROF __KMALLOC_CACHE_NODE_NOPROF_SYM __KMALLOC_CACHE_NOPROF
		__KMALLOC_CACHE_NOPROF_SYM __KMALLOC_LARGE_NODE_NOPROF __KMALLOC_LARGE_NODE_NOPROF_SYM
		__KMALLOC_LARGE_NOPROF __KMALLOC_LARGE_NOPROF_SYM __KMALLOC_NODE_NOPROF_B
		__KMALLOC_NODE_NOPROF_SYM __KMALLOC_NOPROF __KMALLOC_NOPROF_SYM
		__KVMALLOC_NODE_NOPROF_B __KVMALLOC_NODE_NOPROF_SYM __VMALLOC_NOPROF
		__VMALLOC_NOPROF_SYM`,
}

func init() {
	ents, err := fs.ReadDir(templates.FS, "features")
	if err != nil {
		panic(err)
	}
	for k, list := range payloadFunctions {
		yes := strings.Fields(list)
		for _, e := range ents {
			f := strings.TrimSuffix(e.Name(), path.Ext(e.Name()))
			if id, ok := strings.CutPrefix(f, "HAVE_PL_"); ok {
				wantFeatures[k][f] = slices.Contains(yes, id)
			}
		}
	}
}

// probeNames lists the feature probes in templates/features: each file's
// name without its extension (.c or .sym).
func probeNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for n := range allProbes(t) {
		names = append(names, strings.TrimSuffix(path.Base(n), path.Ext(n)))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestFeatureTableCoversProbes: the expected answers cover every probe in
// templates/features and testdata/features, and nothing else, for every kernel; a probe added
// without its expected answers fails here, not silently.
func TestFeatureTableCoversProbes(t *testing.T) {
	probes := probeNames(t)
	if len(probes) == 0 {
		t.Fatal("no probes in templates/features")
	}
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12"} {
		var keys []string
		for f := range wantFeatures[k] {
			keys = append(keys, f)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, probes) {
			t.Errorf("%s: expected answers for %q; templates/features has %q", k, keys, probes)
		}
	}
}

func kernelsDir() string {
	if d := os.Getenv("KGEN_KERNELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kgen", "kernels")
}

// kernels returns the test kernels, skipping t when none is there.
func kernels(t testing.TB) []testKernel {
	t.Helper()
	var ks []testKernel
	var missing []string
	for _, name := range []string{"debian-5.10", "debian-6.1", "debian-6.12"} {
		kdir := filepath.Join(kernelsDir(), name, "kdir")
		if _, err := os.Stat(filepath.Join(kdir, ".config")); err != nil {
			missing = append(missing, name)
			continue
		}
		ks = append(ks, testKernel{name: name, kdir: kdir})
	}
	if len(missing) > 0 {
		msg := "kernels " + strings.Join(missing, ", ") + " not in " + kernelsDir() + " (run scripts/fetch-kernels.sh)"
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(msg)
		}
		if len(ks) == 0 {
			t.Skip(msg)
		}
		t.Log(msg)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	return ks
}

// sharedCache is one cache dir for the whole test binary, so feature
// probes run once per kernel.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kgen-kbuild-test-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// allProbes returns every probe in templates/features, plus the test-only
// probes in testdata/features (a .c probe, a .sym probe and one whose
// answer differs between the test kernels, which no template uses), as
// tree entries.
func allProbes(t testing.TB) map[string][]byte {
	t.Helper()
	probes := map[string][]byte{}
	for _, fsys := range []fs.FS{templates.FS, os.DirFS("testdata")} {
		err := fs.WalkDir(fsys, "features", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			probes[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return probes
}

const testModule = `// SPDX-License-Identifier: GPL-2.0
/* Code generated by kgen from kbuild_test.yaml; DO NOT EDIT. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include "kgen_features.h"

static DEFINE_PER_CPU(unsigned long, kgtest_hits);

/* kgen: probes[0] */
static int kgtest_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
#ifdef KGEN_HAVE_GET_KRETPROBE
	struct kretprobe *rp = get_kretprobe(ri);
#else
	struct kretprobe *rp = ri->rp;
#endif
	if (rp)
		this_cpu_inc(kgtest_hits);
	return 0;
}

/* kgen: probes[0].function */
static struct kretprobe kgtest_rp = {
	.kp.symbol_name = "vfs_read",
	.handler = kgtest_ret,
	.maxactive = 4,
};

static int __init kgtest_init(void)
{
	int ret = register_kretprobe(&kgtest_rp);

	if (ret < 0) {
		pr_err("register_kretprobe: %d\n", ret);
		return ret;
	}
	return 0;
}

static void __exit kgtest_exit(void)
{
	unregister_kretprobe(&kgtest_rp);
}

module_init(kgtest_init);
module_exit(kgtest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kgen kbuild test module");
`

func testTree(t testing.TB, src string) map[string][]byte {
	tree := map[string][]byte{
		"kgtest.c": []byte(src),
		"Kbuild":   []byte("obj-m := kgtest.o\n"),
	}
	for n, b := range allProbes(t) {
		tree[n] = b
	}
	return tree
}

func testConfig(k testKernel, extra ...string) Config {
	return Config{KDIR: k.kdir, CacheDir: sharedCache, ExtraMake: extra, Version: "test"}
}

func TestKernelFeatures(t *testing.T) {
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			start := time.Now()
			got, err := Features(context.Background(), testConfig(k), allProbes(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("features in %v: %v", time.Since(start).Round(time.Millisecond), got)
			for _, f := range probeNames(t) {
				want, ok := wantFeatures[k.name][f]
				if !ok {
					t.Errorf("%s: no expected answer for probe %s", k.name, f)
				}
				if got[f] != want {
					t.Errorf("%s: %s = %v, want %v", k.name, f, got[f], want)
				}
			}
			for f := range got {
				if _, ok := wantFeatures[k.name][f]; !ok {
					t.Errorf("%s: Features answered %s, which is not a probe", k.name, f)
				}
			}
		})
	}
}

func TestKernelBuild(t *testing.T) {
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			out := t.TempDir()
			tree := testTree(t, testModule)
			var log bytes.Buffer
			cfg := testConfig(k, "W=1")
			cfg.Log = &log
			r, err := Build(context.Background(), cfg, tree, "kgtest", out)
			if err != nil {
				var be *BuildError
				if errors.As(err, &be) {
					t.Log(be.Output)
				}
				t.Fatal(err)
			}
			t.Logf("cold build %v (cc %s, cached %v); log:\n%s", r.Duration.Round(time.Millisecond), r.CC, r.Cached, log.String())
			if !strings.Contains(log.String(), "building kgtest.ko for "+r.Release+" ...") {
				t.Errorf("no progress line in log %q", log.String())
			}
			if len(r.Warnings) > 0 {
				t.Errorf("W=1 build has warnings: %v", r.Warnings)
			}
			if fi, err := os.Stat(filepath.Join(out, "kgtest.ko")); err != nil || fi.Size() == 0 {
				t.Fatalf("no module: %v", err)
			}
			if !r.Features["HAVE_PROC_OPS"] {
				t.Errorf("features = %v", r.Features)
			}
			r2, err := Build(context.Background(), cfg, tree, "kgtest", out)
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Cached || r2.Key != r.Key {
				t.Errorf("second build: cached %v, key %s vs %s", r2.Cached, r2.Key, r.Key)
			}
			t.Logf("cache hit %v", r2.Duration)
			// Kept sources: a fresh build that writes them, even when the
			// cache holds the module.
			cfg.SrcDir = filepath.Join(out, "kgtest-src")
			r3, err := Build(context.Background(), cfg, tree, "kgtest", out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"kgtest.c", "Kbuild", "kgen_features.h", "kgtest.ko"} {
				if _, err := os.Stat(filepath.Join(cfg.SrcDir, f)); err != nil || r3.Cached {
					t.Errorf("kept sources: %s: %v (cached %v)", f, err, r3.Cached)
				}
			}
		})
	}
}

func TestKernelBrokenTree(t *testing.T) {
	src := strings.Replace(testModule, "/* kgen: probes[0].function */\n",
		"/* kgen: probes[1].args[0] */\nstatic int kgtest_bad = kgtest_no_such_symbol;\n/* kgen: probes[0].function */\n", 1)
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			// As the CLI does: the fetched kernel's make.env on top.
			env, err := ReadMakeEnv(filepath.Join(kernelsDir(), k.name, "make.env"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Build(context.Background(), testConfig(k, env...), testTree(t, src), "kgtest", t.TempDir())
			var be *BuildError
			if !errors.As(err, &be) || !errors.Is(err, ErrBuild) {
				t.Fatalf("err = %v, want *BuildError", err)
			}
			found := false
			for _, d := range be.Diagnostics {
				if d.File == "kgtest.c" && d.Severity == "error" && d.SpecPath == "probes[1].args[0]" && strings.Contains(d.Message, "kgtest_no_such_symbol") {
					found = true
				}
			}
			if !found {
				t.Errorf("no mapped diagnostic in %v\noutput:\n%s", be.Diagnostics, be.Output)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestKernelMakefile builds the test tree with the standalone Makefile
// (no kgen) and checks its feature header matches kbuild's.
func TestKernelMakefile(t *testing.T) {
	raw, err := fs.ReadFile(templates.FS, "common/Makefile.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("Makefile").Option("missingkey=error").Parse(string(raw)))
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			tree := testTree(t, testModule)
			var features []string
			for n := range allProbes(t) {
				base := filepath.Base(n)
				features = append(features, strings.TrimSuffix(base, filepath.Ext(base)))
			}
			var mk bytes.Buffer
			if err := tmpl.Execute(&mk, map[string]any{"SpecFile": "kbuild_test.yaml", "Name": "kgtest", "Features": features}); err != nil {
				t.Fatal(err)
			}
			tree["Makefile"] = mk.Bytes()
			dir := t.TempDir()
			if err := writeTree(dir, tree); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			cmd := exec.Command("make", "KDIR="+k.kdir, "W=1")
			cmd.Dir = dir
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make: %v\n%s", err, out)
			}
			t.Logf("standalone make (probes + module) in %v", time.Since(start).Round(time.Millisecond))
			if ds := parseDiagnostics(string(out), dir, tree); len(ds) > 0 {
				t.Errorf("warnings: %v", ds)
			}
			if _, err := os.Stat(filepath.Join(dir, "kgtest.ko")); err != nil {
				t.Fatalf("no module: %v\n%s", err, out)
			}
			hdr, err := os.ReadFile(filepath.Join(dir, "kgen_features.h"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Features(context.Background(), testConfig(k), allProbes(t))
			if err != nil {
				t.Fatal(err)
			}
			if want := FeatureHeader(got); !bytes.Equal(hdr, want) {
				t.Errorf("Makefile's kgen_features.h:\n%s\nkbuild's:\n%s", hdr, want)
			}
			cmd = exec.Command("make", "KDIR="+k.kdir, "clean")
			cmd.Dir = dir
			cmd.Env = cleanEnv()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make clean: %v\n%s", err, out)
			}
			for _, f := range []string{"kgtest.ko", "kgen_features.h", "features/Kbuild", "features/HAVE_PROC_OPS.o"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("make clean left %s", f)
				}
			}
		})
	}
}

// BenchmarkBuildCacheHit measures a repeated Build with nothing changed.
func BenchmarkBuildCacheHit(b *testing.B) {
	ks := kernels(b)
	k := ks[len(ks)-1]
	tree := testTree(b, testModule)
	out := b.TempDir()
	cfg := testConfig(k)
	if _, err := Build(context.Background(), cfg, tree, "kgtest", out); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := Build(context.Background(), cfg, tree, "kgtest", out)
		if err != nil || !r.Cached {
			b.Fatalf("cached %v, err %v", r != nil && r.Cached, err)
		}
	}
}

func TestKernelMissingCompiler(t *testing.T) {
	k := kernels(t)[0]
	cfg := testConfig(k)
	cfg.CC = "kgen-no-such-gcc-99"
	_, err := Build(context.Background(), cfg, testTree(t, testModule), "kgtest", t.TempDir())
	var te *ToolError
	if !errors.As(err, &te) || !errors.Is(err, ErrMissingTool) {
		t.Fatalf("err = %v, want *ToolError", err)
	}
	t.Log(err)
}
