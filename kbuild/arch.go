package kbuild

import (
	"fmt"
	"runtime"
)

// kernelArch is one architecture a KDIR's .config can be for.
type kernelArch struct {
	config string // the .config symbol only this architecture sets
	arch   string // make's ARCH=
	goarch string // runtime.GOARCH of a host of this architecture
	cross  string // Debian's cross compiler prefix (gcc-N-<triple>)
}

// kernelArches are the architectures kgen build recognises in a .config,
// to cross-build without --arch/--cross-compile.
var kernelArches = []kernelArch{
	{"CONFIG_X86_64", "x86", "amd64", "x86_64-linux-gnu-"},
	{"CONFIG_ARM64", "arm64", "arm64", "aarch64-linux-gnu-"},
	{"CONFIG_RISCV", "riscv", "riscv64", "riscv64-linux-gnu-"},
	{"CONFIG_PPC64", "powerpc", "ppc64le", "powerpc64le-linux-gnu-"},
	{"CONFIG_S390", "s390", "s390x", "s390x-linux-gnu-"},
}

// archOf returns the architecture config is for, or nil.
func archOf(config map[string]string) *kernelArch {
	for i, a := range kernelArches {
		if config[a.config] == "y" {
			return &kernelArches[i]
		}
	}
	return nil
}

// sameArch reports whether make's ARCH value names a.
func (a *kernelArch) sameArch(arch string) bool {
	switch arch {
	case a.arch:
		return true
	case "x86_64", "i386":
		return a.arch == "x86"
	case "aarch64":
		return a.arch == "arm64"
	case "riscv64":
		return a.arch == "riscv"
	}
	return false
}

// inferArch fills cfg's Arch and CrossCompile for a KDIR of another
// architecture than the host's, from its .config: an arm64 KDIR on an
// amd64 host builds with ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-.
// What cfg sets (--arch, --cross-compile, a make.env) wins; an --arch that
// contradicts the .config is an error. hostGOARCH is runtime.GOARCH.
func inferArch(cfg *Config, config map[string]string, hostGOARCH string) error {
	a := archOf(config)
	if a == nil {
		return nil // an architecture kgen does not know: as given
	}
	if cfg.Arch != "" && !a.sameArch(cfg.Arch) {
		return fmt.Errorf("check arch: the KDIR's .config is an %s kernel's (%s=y), not ARCH=%s: drop --arch or pass the %s kernel's KDIR", a.arch, a.config, cfg.Arch, cfg.Arch)
	}
	if a.goarch == hostGOARCH {
		return nil
	}
	if cfg.Arch == "" {
		cfg.Arch = a.arch
	}
	if cfg.CrossCompile == "" {
		cfg.CrossCompile = a.cross
	}
	return nil
}

var hostGOARCH = runtime.GOARCH
