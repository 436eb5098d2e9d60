package kbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kgen/generator"
	"kgen/spec"
)

// standaloneMakefile renders the Makefile kgen generate writes.
func standaloneMakefile(t *testing.T) []byte {
	t.Helper()
	s, err := spec.ParseFile("../examples/otst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tree := generator.Tree{}
	if err := generator.Generate(s, generator.Options{SpecFile: "otst.yaml"}, tree); err != nil {
		t.Fatal(err)
	}
	return tree["Makefile"]
}

// makefileCC runs "make kgen-cc" on the standalone Makefile against kdir
// with the given PATH and extra make variables.
func makefileCC(t *testing.T, mk []byte, kdir, path string, vars ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), mk, 0o644); err != nil {
		t.Fatal(err)
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	cmd := exec.Command(makeBin, append([]string{"-s", "-C", dir, "KDIR=" + kdir, "kgen-cc"}, vars...)...)
	cmd.Env = []string{"PATH=" + path}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make kgen-cc: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestMakefileCCAgrees: for kernels built by gcc (with and without
// CONFIG_CC_VERSION_TEXT, with a triplet-named program), by clang, native
// and cross, and for every set of those candidates installed, the
// standalone Makefile picks the compiler kbuild picks.
func TestMakefileCCAgrees(t *testing.T) {
	// What the Makefile runs besides compilers, from this machine.
	var tools []string
	for _, name := range []string{"sed", "echo", "grep"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed", name)
		}
		tools = append(tools, p)
	}
	mk := standaloneMakefile(t)
	configs := []struct{ name, config, cross string }{
		{"debian-5.10", "CONFIG_CC_VERSION_TEXT=\"gcc-10 (Debian 10.2.1-6) 10.2.1 20210110\"\nCONFIG_GCC_VERSION=100201\n", ""},
		{"debian-6.1", "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"\nCONFIG_GCC_VERSION=120200\n", ""},
		{"debian-6.12", "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0\"\nCONFIG_GCC_VERSION=140200\n", ""},
		{"cross", "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0\"\nCONFIG_GCC_VERSION=140200\n", "aarch64-linux-gnu-"},
		{"clang", "CONFIG_CC_VERSION_TEXT=\"Debian clang version 16.0.6 (15)\"\nCONFIG_GCC_VERSION=0\nCONFIG_CLANG_VERSION=160006\n", ""},
		{"before-5.8", "CONFIG_GCC_VERSION=80300\n", ""},
		{"no-compiler-facts", "CONFIG_MODULES=y\n", ""},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			kdir := t.TempDir()
			if err := os.WriteFile(filepath.Join(kdir, ".config"), []byte(c.config), 0o644); err != nil {
				t.Fatal(err)
			}
			cands := ccCandidates("", c.cross, kernelCC(parseConfig([]byte(c.config))))
			var vars []string
			if c.cross != "" {
				vars = append(vars, "CROSS_COMPILE="+c.cross)
			}
			// Every subset of the distinct candidates installed.
			uniq := dedupeStrings(cands)
			for mask := 0; mask < 1<<len(uniq); mask++ {
				bin := t.TempDir()
				for _, p := range tools {
					if err := os.Symlink(p, filepath.Join(bin, filepath.Base(p))); err != nil {
						t.Fatal(err)
					}
				}
				var installed []string
				for i, cc := range uniq {
					if mask&(1<<i) != 0 {
						installed = append(installed, cc)
						if err := os.WriteFile(filepath.Join(bin, cc), []byte("#!/bin/sh\n"), 0o755); err != nil {
							t.Fatal(err)
						}
					}
				}
				want := cands[len(cands)-1] // kbuild: "find <last>: not found"
				for _, cc := range cands {
					if _, err := os.Stat(filepath.Join(bin, cc)); err == nil {
						want = cc
						break
					}
				}
				if got := makefileCC(t, mk, kdir, bin, vars...); got != want {
					t.Errorf("installed %q: Makefile uses %q, kbuild %q (candidates %q)", installed, got, want, cands)
				}
			}
			// CC on the command line wins in both.
			if got := makefileCC(t, mk, kdir, "/usr/bin:/bin", append(vars, "CC=my-cc")...); got != "my-cc" {
				t.Errorf("CC=my-cc: Makefile uses %q", got)
			}
		})
	}
}

// TestMakefileCCDebian: on each fetched Debian kernel, with this machine's
// compilers, the standalone Makefile and kgen build use the same one.
func TestMakefileCCDebian(t *testing.T) {
	mk := standaloneMakefile(t)
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			kern, err := readKernel(k.kdir)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := chooseCC(context.Background(), &Config{}, kern, loadIndex(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			if got := makefileCC(t, mk, k.kdir, os.Getenv("PATH")); got != cc.CC {
				t.Errorf("Makefile uses %q, kgen build %q", got, cc.CC)
			}
		})
	}
}

func dedupeStrings(in []string) []string {
	var out []string
	for _, s := range in {
		if !strings.Contains(" "+strings.Join(out, " ")+" ", " "+s+" ") {
			out = append(out, s)
		}
	}
	return out
}
