package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeKO writes a minimal ELF64 relocatable file with a .modinfo section
// holding the given key=value strings.
func writeKO(t *testing.T, dir, file string, modinfo ...string) string {
	t.Helper()
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	infoOff := uint64(64)
	strOff := infoOff + uint64(len(info))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	h := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: 64, Shentsize: 64, Shnum: 3, Shstrndx: 2,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	must(t, binary.Write(&b, binary.LittleEndian, h))
	b.Write(info)
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	secs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: infoOff, Size: uint64(len(info)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1},
	}
	must(t, binary.Write(&b, binary.LittleEndian, secs))
	p := filepath.Join(dir, file)
	must(t, os.WriteFile(p, b.Bytes(), 0o644))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fakeSys is a pretend kernel: it keeps the modules and mounts it was
// asked for and lays out sysfs/debugfs/tracefs as plain directories. It
// tests kgen's own bookkeeping; kernel behaviour is tested in the VM.
type fakeSys struct {
	t         *testing.T
	root      string
	opts      *Options
	modules   []string
	mounts    []Mount // kernel-view targets, fstype
	calls     []string
	fail      map[string]error // call name -> error to return
	busy      map[string]int   // call name -> how many EBUSY before success
	release   string
	noFinit   bool
	klogReads int
	nextID    int
}

const fakeRelease = "6.1.0-56-amd64"

func newFakeSys(t *testing.T, premounted ...Mount) *fakeSys {
	f := &fakeSys{t: t, root: t.TempDir(), fail: map[string]error{}, busy: map[string]int{}, release: fakeRelease}
	for _, d := range []string{"sys/kernel/debug", "sys/kernel/tracing", "proc/self", "run"} {
		must(t, os.MkdirAll(filepath.Join(f.root, d), 0o755))
	}
	f.opts = &Options{
		SysDir: filepath.Join(f.root, "sys"), ProcDir: filepath.Join(f.root, "proc"),
		RunDir: filepath.Join(f.root, "run", "kgen"),
		Uname:  func() (string, string, error) { return f.release, "#1 SMP", nil },
		FinitModule: func(fd int, params string, flags int) error {
			if f.noFinit {
				return unix.ENOSYS
			}
			return f.insert("finit", params)
		},
		InitModule:   func(img []byte, params string) error { return f.insert("init", params) },
		DeleteModule: f.deleteModule,
		Mount:        f.mount,
		Unmount:      f.unmount,
		Mkdir:        f.mkdir,
		Rmdir:        f.rmdir,
		// The first read is the log before the load; later reads add the
		// load's line, as the kernel would.
		Klog: func() ([]byte, error) {
			f.klogReads++
			if f.klogReads == 1 {
				return []byte("[0.5] kgen_testmod: an earlier load\n"), nil
			}
			return []byte("[0.5] kgen_testmod: an earlier load\n[1.0] kgen_testmod: Unknown symbol foo (err -2)\n"), nil
		},
		Sleep: func(time.Duration) {},
		Now:   func() time.Time { return time.Unix(1700000000, 0) },
	}
	f.nextID = 40
	for _, m := range premounted {
		m.ID = f.nextID
		f.nextID++
		f.mounts = append(f.mounts, m)
		f.populate(m)
	}
	f.writeMountinfo()
	return f
}

func (f *fakeSys) call(name string) error {
	f.calls = append(f.calls, name)
	if f.busy[name] > 0 {
		f.busy[name]--
		return unix.EBUSY
	}
	return f.fail[name]
}

func (f *fakeSys) host(p string) string { return f.opts.withDefaults().host(p) }

func (f *fakeSys) writeMountinfo() {
	var b strings.Builder
	b.WriteString("21 26 0:20 / /proc rw,relatime - proc proc rw\n22 26 0:21 / /sys rw,relatime - sysfs sysfs rw\n")
	for _, m := range f.mounts {
		fmt.Fprintf(&b, "%d 22 0:%d / %s rw,nosuid,nodev,noexec,relatime shared:7 - %s %s rw\n", m.ID, m.ID, m.Target, m.FSType, m.FSType)
	}
	must(f.t, os.WriteFile(filepath.Join(f.root, "proc/self/mountinfo"), []byte(b.String()), 0o644))
}

func (f *fakeSys) populate(m Mount) {
	if m.FSType == "tracefs" {
		must(f.t, os.MkdirAll(filepath.Join(f.host(m.Target), "instances"), 0o755))
	}
}

func (f *fakeSys) mount(src, target, fstype string, flags uintptr, data string) error {
	if err := f.call("mount " + fstype); err != nil {
		return err
	}
	kv := "/" + strings.TrimPrefix(strings.TrimPrefix(target, f.opts.SysDir), "/")
	m := Mount{Target: "/sys" + kv, FSType: fstype, ID: f.nextID}
	f.nextID++
	f.mounts = append(f.mounts, m)
	f.populate(m)
	f.writeMountinfo()
	return nil
}

func (f *fakeSys) unmount(target string, flags int) error {
	if flags&unix.MNT_DETACH != 0 {
		f.t.Errorf("lazy unmount (MNT_DETACH) of %s", target)
	}
	if err := f.call("unmount"); err != nil {
		return err
	}
	for i := len(f.mounts) - 1; i >= 0; i-- { // the topmost one
		if f.host(f.mounts[i].Target) == target {
			f.mounts = slices.Delete(f.mounts, i, i+1)
			f.writeMountinfo()
			return nil
		}
	}
	return unix.EINVAL
}

func (f *fakeSys) insert(how, params string) error {
	if err := f.call(how); err != nil {
		return err
	}
	name := "kgen_testmod"
	if slices.Contains(f.modules, name) {
		return unix.EEXIST
	}
	f.modules = append(f.modules, name)
	f.syncProcModules()
	d := filepath.Join(f.root, "sys/kernel/debug/kgen", name)
	must(f.t, os.MkdirAll(d, 0o755))
	must(f.t, os.WriteFile(filepath.Join(d, "stats"), []byte("fire hits 3\nfire filtered 0\nfire nmissed 0\nfire emitted 3\n"), 0o644))
	must(f.t, os.WriteFile(filepath.Join(d, "hist_fire"), []byte("[0, 1) 3\n"), 0o644))
	return nil
}

// syncProcModules writes /proc/modules from f.modules.
func (f *fakeSys) syncProcModules() {
	var b strings.Builder
	for _, m := range f.modules {
		fmt.Fprintf(&b, "%s 16384 0 - Live 0x0000000000000000\n", m)
	}
	must(f.t, os.MkdirAll(filepath.Join(f.root, "proc"), 0o755))
	must(f.t, os.WriteFile(filepath.Join(f.root, "proc", "modules"), []byte(b.String()), 0o644))
}

func (f *fakeSys) deleteModule(name string, flags int) error {
	if err := f.call("delete_module"); err != nil {
		return err
	}
	i := slices.Index(f.modules, name)
	if i < 0 {
		return unix.ENOENT
	}
	f.modules = slices.Delete(f.modules, i, i+1)
	f.syncProcModules()
	must(f.t, os.RemoveAll(filepath.Join(f.root, "sys/kernel/debug/kgen", name)))
	return nil
}

func (f *fakeSys) mkdir(p string, perm os.FileMode) error {
	if err := f.call("mkdir"); err != nil {
		return err
	}
	if err := os.Mkdir(p, perm); err != nil {
		return err
	}
	for _, m := range f.modules {
		ev := filepath.Join(p, "events", m)
		must(f.t, os.MkdirAll(ev, 0o755))
		must(f.t, os.WriteFile(filepath.Join(ev, "enable"), []byte("0\n"), 0o644))
		must(f.t, os.MkdirAll(filepath.Join(ev, "tick"), 0o755))
		must(f.t, os.WriteFile(filepath.Join(ev, "tick", "format"), []byte(tickFormat), 0o644))
	}
	must(f.t, os.MkdirAll(filepath.Join(p, "per_cpu", "cpu0"), 0o755))
	must(f.t, os.WriteFile(filepath.Join(p, "per_cpu", "cpu0", "stats"), []byte("entries: 0\noverrun: 0\n"), 0o644))
	must(f.t, os.WriteFile(filepath.Join(p, "trace_pipe"), nil, 0o644))
	return nil
}

func (f *fakeSys) rmdir(p string) error {
	if err := f.call("rmdir"); err != nil {
		return err
	}
	if _, err := os.Stat(p); err != nil {
		return err
	}
	return os.RemoveAll(p)
}

// instances lists the tracefs instances in every mounted tracefs.
func (f *fakeSys) instances() []string {
	var out []string
	for _, m := range f.mounts {
		ents, _ := os.ReadDir(filepath.Join(f.host(m.Target), "instances"))
		for _, e := range ents {
			out = append(out, e.Name())
		}
	}
	return out
}

func (f *fakeSys) stateFiles() []string {
	ents, _ := os.ReadDir(f.opts.RunDir)
	var out []string
	for _, e := range ents {
		if e.Name() != ".lock" {
			out = append(out, e.Name())
		}
	}
	return out
}

func (f *fakeSys) ko() string {
	return writeKO(f.t, f.root, "kgen_testmod.ko", "license=GPL", "name=kgen_testmod",
		"vermagic="+fakeRelease+" SMP preempt mod_unload modversions ")
}

func isErrno(err error, e unix.Errno) bool { return errors.Is(err, e) }

// tickFormat is the format file of the fake module's event.
const tickFormat = `name: tick
ID: 1400
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int pid;	offset:8;	size:4;	signed:1;
	field:char comm[16];	offset:12;	size:16;	signed:1;
	field:unsigned int seq;	offset:28;	size:4;	signed:0;
	field:int val;	offset:32;	size:4;	signed:1;
	field:unsigned int nr_stack;	offset:36;	size:4;	signed:0;
	field:unsigned long stack[16];	offset:40;	size:128;	signed:0;

print fmt: "pid=%d comm=\"%s\" seq=%u val=%d stack=%s", REC->pid, REC->comm, REC->seq, REC->val, __print_array(REC->stack, REC->nr_stack, sizeof(unsigned long))
`
