package vm

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// arm64Image is the start of an arm64 Image: the 64-byte header with
// "ARM\x64" at offset 56.
func arm64Image() []byte {
	b := make([]byte, 128)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[56:], 0x644d5241)
	return b
}

func TestDetectArch(t *testing.T) {
	exe, err := os.Executable() // this test binary: an x86_64 ELF on amd64
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(arm64Image())
	zw.Close()
	zboot := make([]byte, 64)
	copy(zboot, "MZ\x00\x00zimg")
	bz := make([]byte, 0x300) // a bzImage: "HdrS" at 0x202
	copy(bz[0x202:], "HdrS")
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"Image", arm64Image(), "aarch64"},
		{"vmlinuz.gz", gz.Bytes(), "aarch64"},
		{"zboot", zboot, "aarch64"},
		{"bzImage", bz, "x86_64"},
		{"short", []byte("x"), "x86_64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			os.WriteFile(p, tt.data, 0o644)
			got, err := detectArch(p)
			if err != nil || got != tt.want {
				t.Errorf("detectArch = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if got, err := detectArch(exe); err != nil || got != map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[hostGOARCH()] {
		t.Errorf("detectArch(test binary) = %q, %v", got, err)
	}
	if _, err := detectArch(filepath.Join(dir, "nonesuch")); err == nil {
		t.Error("a missing file passed")
	}
}

// TestQemuArgsArm64 checks the arm64 guest's machine: virt, cortex-a57
// under TCG, the PL011 console and the output on virtio-console.
func TestQemuArgsArm64(t *testing.T) {
	got := strings.Join(qemuArgs(Config{SMP: 1, MemMB: 512, Kernel: "Image"}, arches["aarch64"], "initrd", false), " ")
	for _, want := range []string{
		"-machine virt -accel tcg -cpu cortex-a57",
		"console=ttyAMA0 ",
		"-serial chardev:console -chardev file,id=output,path=/dev/fd/4 -device virtio-serial-device -device virtconsole,chardev=output",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("qemu args %q lack %q", got, want)
		}
	}
	x86 := strings.Join(qemuArgs(Config{SMP: 1, MemMB: 512, Kernel: "vmlinux"}, arches["x86_64"], "initrd", false), " ")
	if !strings.HasSuffix(x86, "-chardev file,id=output,path=/dev/fd/4 -serial chardev:output") || strings.Contains(x86, "virtio") {
		t.Errorf("x86_64 qemu args changed: %q", x86)
	}
}

// TestInitModules: /init loads an arch's modules before opening the
// output port, and an x86_64 /init has no module lines at all.
func TestInitModules(t *testing.T) {
	x86 := fmt.Sprintf(initScript, "/dev/ttyS1", lockdepOffLine, modulesLines(nil, "/dev/ttyS1"))
	if strings.Contains(x86, "insmod") || strings.Contains(x86, "%!") {
		t.Errorf("x86_64 /init:\n%s", x86)
	}
	arm := fmt.Sprintf(initScript, "/dev/hvc0", lockdepOffLine, modulesLines([]string{"/h/virtio_mmio.ko", "/h/virtio_console.ko"}, "/dev/hvc0"))
	i, j, k := strings.Index(arm, "insmod /lib/kgen/virtio_mmio.ko\n"), strings.Index(arm, "insmod /lib/kgen/virtio_console.ko\n"), strings.Index(arm, "stty -F /dev/hvc0")
	if i < 0 || j < i || k < j || !strings.Contains(arm[j:k], "[ ! -e /dev/hvc0 ]") {
		t.Errorf("arm64 /init does not load the modules, in order, and wait for /dev/hvc0 before using it:\n%s", arm)
	}
}

func TestBootModules(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "Image")
	if got, err := bootModules(arches["x86_64"], kernel, nil); err != nil || got != nil {
		t.Errorf("x86_64: %v, %v; want none", got, err)
	}
	if _, err := bootModules(arches["aarch64"], kernel, nil); err == nil || !strings.Contains(err.Error(), "scripts/fetch-kernels.sh") {
		t.Errorf("aarch64 without vm-modules: %v, want the fix", err)
	}
	os.MkdirAll(filepath.Join(dir, modulesDir), 0o755)
	for _, m := range []string{"virtio_mmio", "virtio_console"} {
		os.WriteFile(filepath.Join(dir, modulesDir, m+".ko"), nil, 0o644)
	}
	got, err := bootModules(arches["aarch64"], kernel, nil)
	if err != nil || len(got) != 2 || filepath.Base(got[1]) != "virtio_console.ko" {
		t.Errorf("aarch64: %v, %v", got, err)
	}
	if got, _ := bootModules(arches["aarch64"], kernel, []string{"/x.ko"}); len(got) != 1 || got[0] != "/x.ko" {
		t.Errorf("given modules not kept: %v", got)
	}
}

func hostGOARCH() string { return runtime.GOARCH }
