package vm

import (
	"debug/elf"
	"errors"
	"fmt"
)

// ErrNotStatic is returned when a binary meant for the guest needs a
// dynamic loader: the initramfs holds no libc.
var ErrNotStatic = errors.New("binary is not statically linked")

// ErrWrongArch is returned when a binary meant for the guest was built
// for another machine than the guest's.
var ErrWrongArch = errors.New("binary is for another architecture")

// checkStatic checks that the ELF file at path has no PT_INTERP (so it
// runs without a dynamic loader) and targets machine. what names the
// binary in errors; fix is the advice for a dynamic binary.
func checkStatic(path string, machine elf.Machine, what, fix string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check %s %s: %w", what, path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("check %s %s: %w: it is %v, the guest is %v", what, path, ErrWrongArch, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("check %s %s: %w: %s", what, path, ErrNotStatic, fix)
		}
	}
	return nil
}

// checkModule checks that the file at path is a kernel module (an ELF
// relocatable object) for machine.
func checkModule(path string, machine elf.Machine) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check module %s: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_REL {
		return fmt.Errorf("check module %s: a %v ELF file, not a module (.ko)", path, f.Type)
	}
	if f.Machine != machine {
		return fmt.Errorf("check module %s: %w: it is %v, the guest is %v", path, ErrWrongArch, f.Machine, machine)
	}
	return nil
}
