package e2e

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildMany builds one spec for the three amd64 Debian kernels and the
// arm64 one in ONE kgen build --kernels command (each kernel's make.env
// carries its quirks: 5.10's and 6.12's CC, arm64's ARCH and
// CROSS_COMPILE), from a cold cache: every OUTDIR/<release>/<name>.ko must
// be there, for its release and architecture, and a directory that holds
// no kernel is skipped with a reason.
func TestBuildMany(t *testing.T) {
	names := []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-6.1-arm64"}
	machine := map[string]elf.Machine{"debian-6.1-arm64": elf.EM_AARCH64}
	ks := t.TempDir()
	want := map[string]kernel{}
	for _, n := range names {
		k := needHeaders(t, n)
		want[n] = k
		if err := os.Symlink(k.Dir, filepath.Join(ks, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		msg := "no aarch64-linux-gnu-gcc (scripts/install-deps.sh --arm64): " + err.Error()
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.Mkdir(filepath.Join(ks, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o, err := kgen(t, "build", "../examples/kretprobe.yaml", "--kernels", ks, "-o", out, "--cache-dir", t.TempDir())
	if err != nil {
		t.Fatalf("kgen build --kernels: %v\n%s", err, o)
	}
	t.Logf("%s", o)
	if !strings.Contains(o, "skipping notes: not a kernel") {
		t.Errorf("no skip line for notes/:\n%s", o)
	}
	if !strings.Contains(o, "4 of 4 kernels built") {
		t.Errorf("no summary line:\n%s", o)
	}
	for n, k := range want {
		ko := filepath.Join(out, k.Release, "vfs_read_lat.ko")
		b, err := os.ReadFile(ko)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if m := vermagicRE.FindSubmatch(b); m == nil || string(m[1]) != k.Release {
			t.Errorf("vermagic of %s = %q, want %s", ko, m, k.Release)
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", ko, err)
			continue
		}
		wantM := elf.EM_X86_64
		if m, ok := machine[n]; ok {
			wantM = m
		}
		if f.Machine != wantM {
			t.Errorf("%s is an %v object, want %v", ko, f.Machine, wantM)
		}
		if !strings.Contains(o, "built "+ko+" for "+k.Release) {
			t.Errorf("no 'built %s' line", ko)
		}
	}
}
