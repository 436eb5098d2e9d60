package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dkmsKernels are the kernels Debian's dkms builds kgen's DKMS tree for.
var dkmsKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

// dkmsVMKernel is the one whose DKMS-built module is loaded in a VM.
const dkmsVMKernel = "debian-6.1"

// TestDKMS writes the kretprobe example's DKMS tree with kgen dkms and
// builds it with Debian's real dkms (dkms add, dkms build -k RELEASE
// --kernelsourcedir KDIR) for 5.10, 6.1 and 6.12: the tree's own Makefile
// runs the feature probes, kgen is not involved. dkms works in temporary
// trees (--dkmstree, --sourcetree, --installtree), so /var/lib/dkms and
// /usr/src are left alone, and needs no root (dkms add of a tree already
// in the source tree, and dkms build, only need the DKMS tree writable). Then the 6.1 module DKMS built is loaded,
// traced and unloaded in one VM boot.
func TestDKMS(t *testing.T) {
	dkmsBin, err := exec.LookPath("dkms")
	if err != nil {
		msg := "no dkms (scripts/install-deps.sh installs it): " + err.Error()
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	src, tree, inst := t.TempDir(), t.TempDir(), t.TempDir()
	trees := []string{"--dkmstree", tree, "--sourcetree", src, "--installtree", inst}
	dkms := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.Command(dkmsBin, append(args, trees...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dkms %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if o, err := kgen(t, "dkms", "../examples/kretprobe.yaml", "--version", "1.0", "-o", filepath.Join(src, "vfs_read_lat-1.0")); err != nil {
		t.Fatalf("kgen dkms: %v\n%s", err, o)
	}
	dkms(t, "add", "vfs_read_lat/1.0")
	built := map[string]string{}
	for _, name := range dkmsKernels {
		t.Run(name, func(t *testing.T) {
			k := needHeaders(t, name)
			o := dkms(t, "build", "vfs_read_lat/1.0", "-k", k.Release, "--kernelsourcedir", k.KDIR)
			ko := filepath.Join(tree, "vfs_read_lat", "1.0", k.Release, "x86_64", "module", "vfs_read_lat.ko")
			b, err := os.ReadFile(ko)
			if err != nil {
				t.Fatalf("dkms built no module: %v\n%s", err, o)
			}
			if m := vermagicRE.FindSubmatch(b); m == nil || string(m[1]) != k.Release {
				t.Fatalf("vermagic of %s = %q, want %s", ko, m, k.Release)
			}
			st := dkms(t, "status", "vfs_read_lat/1.0", "-k", k.Release)
			if !strings.Contains(st, k.Release) || !strings.Contains(st, "built") {
				t.Errorf("dkms status = %q, want it built for %s", st, k.Release)
			}
			built[name] = ko
		})
	}

	t.Run("vm-"+dkmsVMKernel, func(t *testing.T) {
		ko, ok := built[dkmsVMKernel]
		if !ok {
			t.Skip("no DKMS build for " + dkmsVMKernel)
		}
		k := needVM(t, dkmsVMKernel)
		o, err := kgen(t, "vm", "--kernel", k.Vmlinux, "--timeout", vmTimeout(k.Name, "90s"),
			"--add", "testdata/dkms.sh:/root/dkms.sh", "--add", ko+":/root/vfs_read_lat.ko", "--", "sh /root/dkms.sh")
		if err != nil {
			t.Fatalf("kgen vm: %v\n%s", err, o)
		}
		s := sections(o)
		if _, ok := s["end"]; !ok {
			t.Fatalf("guest script did not finish:\n%s", o)
		}
		if !strings.Contains(s["load"], "rc=0") || !strings.Contains(s["unload"], "rc=0") {
			t.Errorf("load/unload of the DKMS-built module failed:\n%s", o)
		}
		if !strings.HasPrefix(s["modules"], "vfs_read_lat ") {
			t.Errorf("/proc/modules has no vfs_read_lat while loaded:\n%s", o)
		}
		// dd's 8192-byte reads, which the README example's when filter
		// lets them through: the module DKMS built probes for real.
		dd := 0
		for _, e := range events(t, s["events"]) {
			if str(e, "comm") == "dd" && num(e, "count") == 8192 && num(e, "ret") == 8192 {
				dd++
			}
		}
		if dd < 3 {
			t.Errorf("%d events of dd's 8192-byte reads, want at least 3:\n%s", dd, o)
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("guest output:\n%s", o)
		}
	})
}
