package e2e

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// kedrconfKernels are the kernels with Debian's own modules (the debug
// kernel has none): .ko on 5.10 and 6.1, .ko.xz on 6.12, whose kernel
// decompresses xz itself (CONFIG_MODULE_DECOMPRESS) but not zstd or gzip.
var kedrconfKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

// TestVMKedrConf boots each Debian kernel once with its modules tree at
// /lib/modules/<release> and runs testdata/kedrconf.sh: kgen load -c and
// unload -c on module NAME (dependencies first), the seed's configuration
// (custom debugfs mount, enabling the payload's events, umount), one with
// a failing middle line, and compressed modules.
func TestVMKedrConf(t *testing.T) {
	for _, name := range kedrconfKernels {
		t.Run(name, func(t *testing.T) {
			k := needVM(t, name)
			tree := filepath.Join(k.Dir, "modules", "lib", "modules", k.Release)
			if _, err := os.Stat(filepath.Join(tree, "modules.dep")); err != nil {
				msg := "Debian modules not extracted (make kernels, or scripts/extract-modules.sh " + name + "): " + err.Error()
				if os.Getenv("KGEN_REQUIRE_VM") == "1" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			out := t.TempDir()
			for _, sp := range []string{"../examples/kretprobe.yaml", "../examples/payload.yaml"} {
				if o, err := kgen(t, "build", sp, "--kdir", k.KDIR, "-o", out); err != nil {
					t.Fatalf("kgen build %s: %v\n%s", sp, err, o)
				}
			}
			ko := filepath.Join(out, "vfs_read_lat.ko")
			files := []string{tree + ":/lib/modules/" + k.Release, ko + ":/root/vfs_read_lat.ko",
				filepath.Join(out, "payload_dump_stack.ko") + ":/root/payload_dump_stack.ko"}
			for _, c := range []string{"xz", "zst", "gz"} {
				files = append(files, compressFile(t, ko, c)+":/root/vfs_read_lat.ko."+c)
			}
			g := guest{Script: "testdata/kedrconf.sh", Files: files, Timeout: "5m"}
			o, s := g.run(t, k)
			checkKedrConf(t, name, s)
			if t.Failed() || testing.Verbose() {
				t.Logf("guest output:\n%s", o)
			}
		})
	}
}

// compressFile writes src compressed as c (xz, zst, gz) and returns its path.
func compressFile(t *testing.T, src, c string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	switch c {
	case "xz":
		// As the kernel's make modules_install does (xz --check=crc32
		// --lzma2=dict=1MiB): the kernel's xz decoder has no CRC64.
		w, err := xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(&buf)
		if err == nil {
			_, err = w.Write(b)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	case "zst":
		w, err := zstd.NewWriter(&buf)
		if err == nil {
			_, err = w.Write(b)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	case "gz":
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p := src + "." + c
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkKedrConf(t *testing.T, kernel string, s map[string]string) {
	line := func(sec string, i int) string {
		ls := strings.Split(strings.TrimRight(s[sec], "\n"), "\n")
		if i < 0 {
			i += len(ls)
		}
		if i < 0 || i >= len(ls) {
			return ""
		}
		return ls[i]
	}
	start := strings.TrimSpace(s["start"])
	if start != "" {
		t.Fatalf("guest starts with modules or mounts: %q", start)
	}

	// 1. module NAME.
	if !strings.Contains(s["nb-load"], "rc=0") {
		t.Fatalf("kgen load -c nb.conf failed:\n%s", s["nb-load"])
	}
	ci, ni := strings.Index(s["nb-load"], "inserted module configfs"), strings.Index(s["nb-load"], "inserted module null_blk")
	if ci < 0 || ni < ci {
		t.Errorf("module null_blk: want configfs inserted, then null_blk:\n%s", s["nb-load"])
	}
	// Debian 6.12's own .ko.xz: the kernel decompresses them itself.
	if strings.Contains(s["nb-load"], "in user space") {
		t.Errorf("Debian's modules decompressed in user space on %s:\n%s", kernel, s["nb-load"])
	}
	if got := strings.TrimSpace(s["nb-mods"]); got != "configfs null_blk" {
		t.Errorf("after load -c nb.conf: modules %q, want configfs null_blk", got)
	}
	if got := strings.TrimSpace(s["nb-params"]); got != "1" {
		t.Errorf("null_blk nr_devices = %q, want the line's 1", got)
	}
	if !strings.Contains(s["nb-unload"], "rc=0") || strings.TrimSpace(s["nb-after"]) != "" {
		t.Errorf("unload -c nb.conf left %q:\n%s", s["nb-after"], s["nb-unload"])
	}

	// 2. A dependency loaded before stays.
	if line("pre-load", -1) != "configfs null_blk " || strings.Contains(s["pre-load"], "inserted module configfs") {
		t.Errorf("with configfs loaded before:\n%s", s["pre-load"])
	}
	if line("pre-unload", -1) != "configfs " || !strings.Contains(s["pre-unload"], "rc=0") {
		t.Errorf("unload -c nb.conf must leave configfs, loaded before it:\n%s", s["pre-unload"])
	}
	if strings.TrimSpace(s["pre-after"]) != "" {
		t.Errorf("after unloading configfs: %q", s["pre-after"])
	}

	// 3. The seed's configuration.
	if !strings.Contains(s["seed-load"], "rc=0") {
		t.Fatalf("kgen load -c seed.conf failed:\n%s", s["seed-load"])
	}
	if got := strings.TrimSpace(s["seed-mods"]); got != "configfs dummy null_blk payload_dump_stack" {
		t.Errorf("after load -c seed.conf: modules %q", got)
	}
	// The configuration's debugfs is gone; kgen's own mounts stay.
	if got := s["seed-mounts"]; got != "/sys/kernel/debug debugfs\n/sys/kernel/tracing tracefs\n" {
		t.Errorf("mounts after load -c seed.conf (its on_load umount ran):\n%s", got)
	}
	if got := strings.TrimSpace(s["seed-enable"]); got != "1" {
		t.Errorf("events/payload_dump_stack/enable after the on_load echo = %q, want 1", got)
	}
	// The payload, loaded before its target, saw the target's init.
	if m := regexp.MustCompile(`(?m)^kmalloc fired ([1-9][0-9]*)$`).FindStringSubmatch(s["seed-stats"]); m == nil {
		t.Errorf("the payload fired no kmalloc point for null_blk:\n%s", s["seed-stats"])
	}
	if n := strings.TrimSpace(s["seed-stacks"]); n == "0" || n == "" {
		t.Errorf("no dump_stack in the kernel log (%q)", n)
	}
	if n := strings.TrimSpace(line("seed-trace", -1)); n == "0" || !strings.Contains(s["seed-trace"], "events seen") {
		t.Errorf("kgen trace of the configuration's payload:\n%s", s["seed-trace"])
	}
	if !strings.Contains(s["seed-unload"], "rc=0") {
		t.Errorf("kgen unload -c seed.conf failed:\n%s", s["seed-unload"])
	}
	if got := strings.TrimSpace(s["seed-after"]); got != "/run/kgen:\nkedrconf\n\n/run/kgen/kedrconf:" {
		t.Errorf("after unload -c seed.conf (want no module, no mount, no state): %q", got)
	}
	if got := s["seed-instances"]; got != "" {
		t.Errorf("tracefs instances left after unload -c seed.conf: %q", got)
	}

	// 4. A failing middle line.
	if !regexp.MustCompile(`(?m)^kgen: fail\.conf:14: on_load echo 1 > /tmp/kedr/debugfs/tracing/events/no_such_event/enable: run /bin/sh -c: exit status 1$`).MatchString(s["fail-load"]) ||
		!strings.Contains(s["fail-load"], "rc=1") {
		t.Errorf("the failing line 14 is not named, or rc is not 1:\n%s", s["fail-load"])
	}
	for _, want := range []string{"roll back fail.conf:13: payload", "roll back fail.conf:10: module dummy", "roll back fail.conf:7: on_unload"} {
		if !strings.Contains(s["fail-load"], want) {
			t.Errorf("rollback lacks %q:\n%s", want, s["fail-load"])
		}
	}
	if got := strings.TrimSpace(s["fail-after"]); got != "/run/kgen:\nkedrconf\n\n/run/kgen/kedrconf:" {
		t.Errorf("after the failed load (want no module, no mount, no state): %q", got)
	}

	if got := s["fail-instances"]; got != "" {
		t.Errorf("tracefs instances left after the failed load: %q", got)
	}

	// 5. Compressed modules.
	for _, c := range []string{"xz", "zst", "gz"} {
		sec := s["compressed-"+c]
		if !strings.Contains(sec, "rc=0\nvfs_read_lat \nunload rc=0\n\n") {
			t.Errorf("kgen load vfs_read_lat.ko.%s, unload:\n%s", c, sec)
		}
		// 6.12 decompresses xz itself; the rest is decompressed by kgen.
		userspace := strings.Contains(sec, "in user space")
		if want := !(kernel == "debian-6.12" && c == "xz"); userspace != want {
			t.Errorf("%s on %s: decompressed in user space = %v, want %v:\n%s", c, kernel, userspace, want, sec)
		}
	}
	if !strings.Contains(s["path-load"], "rc=0\ndummy \n2\n") {
		t.Errorf("module PATH numdummies=2:\n%s", s["path-load"])
	}
	if !strings.HasSuffix(s["path-unload"], "rc=0\n\n") {
		t.Errorf("unload -c path.conf:\n%s", s["path-unload"])
	}

	// 6. Errors.
	if !strings.Contains(s["err-unknown"], "bad.conf:1: module no_such_module_kgen: load module no_such_module_kgen: module not found in /lib/modules/") ||
		!strings.Contains(s["err-unknown"], "rc=1") {
		t.Errorf("unknown module:\n%s", s["err-unknown"])
	}
	if !strings.Contains(s["err-nodep"], "modules.dep missing in /lib/modules/") || !strings.Contains(s["err-nodep"], ": run depmod ") {
		t.Errorf("no modules.dep:\n%s", s["err-nodep"])
	}
}
