package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// arch is what differs between guest architectures.
type arch struct {
	qemu    string
	pkg     string // the Debian package with qemu
	machine elf.Machine
	goarch  string
	args    []string // the machine
	cpu     string   // -cpu under TCG
	console string   // kernel console device
	output  string   // the guest's device for the command's output
	// outputArgs are qemu's arguments for the output port; the chardev
	// "output" is defined before them.
	outputArgs []string
	// modules are the Debian modules /init loads before it opens the
	// output port (virtio-console on arm64), looked up in modulesDir
	// next to the kernel file unless Config.Modules names them.
	modules []string
}

// modulesDir is where Run looks for an arch's modules: next to the kernel
// file, as scripts/fetch-kernels.sh puts them.
const modulesDir = "vm-modules"

var arches = map[string]arch{
	"x86_64": {
		qemu: "qemu-system-x86_64", pkg: "qemu-system-x86", machine: elf.EM_X86_64, goarch: "amd64",
		args: []string{"-machine", "pc"}, cpu: "max",
		console: "ttyS0", output: "/dev/ttyS1",
		outputArgs: []string{"-serial", "chardev:output"},
	},
	// qemu's virt machine has one PL011 UART (the console), so the
	// command's output goes through virtio-console on virtio-mmio, both
	// modules in Debian's arm64 kernel. cortex-a57 (ARMv8.0), not max:
	// max's pointer authentication is emulated in software and slows
	// every function entry under TCG.
	"aarch64": {
		qemu: "qemu-system-aarch64", pkg: "qemu-system-arm", machine: elf.EM_AARCH64, goarch: "arm64",
		args: []string{"-machine", "virt"}, cpu: "cortex-a57",
		console: "ttyAMA0", output: "/dev/hvc0",
		outputArgs: []string{"-device", "virtio-serial-device", "-device", "virtconsole,chardev=output"},
		modules:    []string{"virtio_mmio", "virtio_console"},
	},
}

// archAliases are other names Config.Arch accepts.
var archAliases = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

func archNames() string {
	var n []string
	for k := range arches {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// detectArch returns the architecture of the kernel file at path: an ELF
// vmlinux by its machine, an arm64 Image by its header's magic ("ARM\x64"
// at offset 56), also inside gzip (Debian's arm64 vmlinuz) or an EFI zboot
// image ("zimg" at offset 4); anything else, a bzImage included, is
// x86_64.
func detectArch(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("check kernel: %w", err)
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		ef, err := elf.NewFile(f)
		if err != nil {
			return "", fmt.Errorf("check kernel %s: %w", path, err)
		}
		for name, a := range arches {
			if a.machine == ef.Machine {
				return name, nil
			}
		}
		return "", fmt.Errorf("check kernel %s: a %v ELF kernel; kgen vm boots %s", path, ef.Machine, archNames())
	case isARM64Image(head):
		return "aarch64", nil
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		if zr, err := gzip.NewReader(f); err == nil {
			inner := make([]byte, 64)
			n, _ := io.ReadFull(zr, inner)
			if isARM64Image(inner[:n]) {
				return "aarch64", nil
			}
		}
	case len(head) >= 8 && string(head[:2]) == "MZ" && string(head[4:8]) == "zimg":
		// EFI zboot: only arm64 (and riscv, loongarch) build these.
		return "aarch64", nil
	}
	return "x86_64", nil
}

func isARM64Image(b []byte) bool {
	return len(b) >= 60 && binary.LittleEndian.Uint32(b[56:60]) == 0x644d5241
}

// bootModules returns the host paths of a's modules for kernel: from
// given (NAME -> path) or modulesDir next to kernel.
func bootModules(a arch, kernel string, given []string) ([]string, error) {
	if len(given) > 0 || len(a.modules) == 0 {
		return given, nil
	}
	dir := filepath.Join(filepath.Dir(kernel), modulesDir)
	var paths []string
	for _, m := range a.modules {
		p := filepath.Join(dir, m+".ko")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("find module %s for the guest's output port: %w: scripts/fetch-kernels.sh puts the kernel's %s next to it in %s/, or pass them in Config.Modules",
				m, err, strings.Join(a.modules, ", "), modulesDir)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
