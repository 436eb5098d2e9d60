package loader

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// modKernel is a pretend kernel for Modprobe: it records which module
// each finit_module/init_module call inserted (from the file's or the
// image's .modinfo) with its flags and params, and keeps /proc/modules.
type modKernel struct {
	t          *testing.T
	root       string
	opts       *Options
	loaded     []string
	calls      []string
	decompress bool             // finit_module takes MODULE_INIT_COMPRESSED_FILE
	fail       map[string]error // module name -> load error
}

func newModKernel(t *testing.T) *modKernel {
	k := &modKernel{t: t, root: t.TempDir(), decompress: true, fail: map[string]error{}}
	must(t, os.MkdirAll(filepath.Join(k.root, "proc"), 0o755))
	k.opts = &Options{
		ProcDir: filepath.Join(k.root, "proc"), RunDir: filepath.Join(k.root, "run"),
		ModulesDir: filepath.Join(k.root, "lib/modules"),
		Uname:      func() (string, string, error) { return fakeRelease, "#1", nil },
		FinitModule: func(fd int, params string, flags int) error {
			p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			must(t, err)
			b, err := os.ReadFile(p)
			must(t, err)
			if c := sniffCompression(b); c != NotCompressed {
				if flags&moduleInitCompressedFile == 0 {
					t.Errorf("finit_module of compressed %s without MODULE_INIT_COMPRESSED_FILE", p)
				}
				b, err = decompress(c, bytes.NewReader(b))
				must(t, err)
				if !k.decompress { // a kernel before 6.4
					k.record("finit", b, params)
					return unix.EINVAL
				}
			} else if flags != 0 {
				t.Errorf("finit_module of plain %s with flags %#x", p, flags)
			}
			return k.insert("finit", b, params)
		},
		InitModule:   func(img []byte, params string) error { return k.insert("init", img, params) },
		DeleteModule: k.delete,
		Klog:         func() ([]byte, error) { return nil, nil },
		Sleep:        func(time.Duration) {},
	}
	k.writeProc()
	return k
}

func (k *modKernel) record(how string, img []byte, params string) *ModInfo {
	mi, err := readModInfo(bytes.NewReader(img), "image")
	must(k.t, err)
	call := how + " " + mi.Name
	if params != "" {
		call += " " + params
	}
	k.calls = append(k.calls, call)
	return mi
}

func (k *modKernel) insert(how string, img []byte, params string) error {
	mi := k.record(how, img, params)
	if err := k.fail[mi.Name]; err != nil {
		return err
	}
	if slices.Contains(k.loaded, mi.Name) {
		return unix.EEXIST
	}
	k.loaded = append(k.loaded, mi.Name)
	k.writeProc()
	return nil
}

func (k *modKernel) delete(name string, flags int) error {
	k.calls = append(k.calls, "delete "+name)
	i := slices.Index(k.loaded, name)
	if i < 0 {
		return unix.ENOENT
	}
	k.loaded = slices.Delete(k.loaded, i, i+1)
	k.writeProc()
	return nil
}

func (k *modKernel) writeProc() {
	var b strings.Builder
	for _, m := range k.loaded {
		fmt.Fprintf(&b, "%s 16384 0 - Live 0x0000000000000000\n", m)
	}
	must(k.t, os.WriteFile(filepath.Join(k.root, "proc/modules"), []byte(b.String()), 0o644))
}

// compressTo compresses b as c.
func compressTo(t *testing.T, c Compression, b []byte) []byte {
	var out bytes.Buffer
	switch c {
	case Gzip:
		w := gzip.NewWriter(&out)
		_, err := w.Write(b)
		must(t, err)
		must(t, w.Close())
	case XZ:
		w, err := xz.NewWriter(&out)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		must(t, w.Close())
	case Zstd:
		w, err := zstd.NewWriter(&out)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		must(t, w.Close())
	default:
		return b
	}
	return out.Bytes()
}

var suffixOf = map[Compression]string{NotCompressed: ".ko", Gzip: ".ko.gz", XZ: ".ko.xz", Zstd: ".ko.zst"}

// tree writes a modules tree: mods maps "dir/name" to its dependencies'
// names; every file is compressed as c. builtin lists built-in modules.
func (k *modKernel) tree(c Compression, mods map[string][]string, order []string, builtin ...string) string {
	dir := filepath.Join(k.opts.ModulesDir, fakeRelease)
	file := map[string]string{}
	for _, rel := range order {
		name := filepath.Base(rel)
		file[name] = "kernel/" + rel + suffixOf[c]
	}
	var dep strings.Builder
	for _, rel := range order {
		name := filepath.Base(rel)
		p := filepath.Join(dir, file[name])
		must(k.t, os.MkdirAll(filepath.Dir(p), 0o755))
		tmp := writeKO(k.t, k.root, name+".tmp", "name="+name, "vermagic="+fakeRelease+" SMP mod_unload ")
		b, err := os.ReadFile(tmp)
		must(k.t, err)
		must(k.t, os.WriteFile(p, compressTo(k.t, c, b), 0o644))
		fmt.Fprintf(&dep, "%s:", file[name])
		for _, d := range mods[rel] {
			f, ok := file[d]
			if !ok {
				f = "kernel/missing/" + d + ".ko"
			}
			fmt.Fprintf(&dep, " %s", f)
		}
		dep.WriteString("\n")
	}
	must(k.t, os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep.String()), 0o644))
	var bi strings.Builder
	for _, b := range builtin {
		fmt.Fprintf(&bi, "kernel/%s.ko\n", b)
	}
	must(k.t, os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(bi.String()), 0o644))
	return dir
}

// nullBlk is Debian's null_blk: it needs configfs.
var nullBlk = map[string][]string{"drivers/block/null_blk": {"configfs"}}

func TestModprobe(t *testing.T) {
	diamond := map[string][]string{"a/top": {"left", "right", "bottom"}, "a/left": {"bottom"}, "a/right": {"bottom"}}
	for _, tt := range []struct {
		name       string
		comp       Compression
		mods       map[string][]string
		order      []string
		builtin    []string
		preloaded  []string
		noDecomp   bool
		fail       map[string]error
		probe      string
		params     []string
		wantLoaded []string // Modprobe's return
		wantCalls  []string
		wantErr    string
	}{
		{name: "plain ko", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "null_blk", params: []string{"nr_devices=2"}, wantLoaded: []string{"configfs", "null_blk"},
			wantCalls: []string{"finit configfs", "finit null_blk nr_devices=2"}},
		{name: "xz in the kernel", comp: XZ, mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "null_blk", wantLoaded: []string{"configfs", "null_blk"},
			wantCalls: []string{"finit configfs", "finit null_blk"}},
		{name: "xz in user space", comp: XZ, noDecomp: true, mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "null-blk", params: []string{"gb=1"}, wantLoaded: []string{"configfs", "null_blk"},
			wantCalls: []string{"finit configfs", "init configfs", "finit null_blk gb=1", "init null_blk gb=1"}},
		{name: "zstd in user space", comp: Zstd, noDecomp: true, mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "null_blk", wantLoaded: []string{"configfs", "null_blk"},
			wantCalls: []string{"finit configfs", "init configfs", "finit null_blk", "init null_blk"}},
		{name: "gzip in user space", comp: Gzip, noDecomp: true, mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "null_blk", wantLoaded: []string{"configfs", "null_blk"},
			wantCalls: []string{"finit configfs", "init configfs", "finit null_blk", "init null_blk"}},
		{name: "dependency already loaded", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			preloaded: []string{"configfs"}, probe: "null_blk", wantLoaded: []string{"null_blk"},
			wantCalls: []string{"finit null_blk"}},
		{name: "already loaded", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			preloaded: []string{"configfs", "null_blk"}, probe: "null_blk"},
		{name: "built-in dependency", mods: nullBlk, order: []string{"drivers/block/null_blk"}, builtin: []string{"fs/configfs"},
			probe: "null_blk", wantErr: "configfs is not in modules.dep"},
		{name: "built in", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"}, builtin: []string{"fs/fat/vfat"},
			probe: "vfat"},
		{name: "diamond", mods: diamond, order: []string{"a/top", "a/left", "a/right", "a/bottom"},
			probe: "top", wantLoaded: []string{"bottom", "left", "right", "top"},
			wantCalls: []string{"finit bottom", "finit left", "finit right", "finit top"}},
		{name: "cycle", mods: map[string][]string{"a/x": {"y"}, "a/y": {"z"}, "a/z": {"y"}}, order: []string{"a/x", "a/y", "a/z"},
			probe: "x", wantErr: "cycle y -> z -> y"},
		{name: "unknown", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "nosuch", wantErr: "module nosuch: module not found in "},
		{name: "bad name", mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			probe: "a b", wantErr: "invalid name"},
		{name: "target fails: dependency removed", comp: XZ, mods: nullBlk, order: []string{"drivers/block/null_blk", "fs/configfs"},
			fail: map[string]error{"null_blk": unix.ENOMEM}, probe: "null_blk", wantErr: "load module null_blk: cannot allocate memory",
			wantCalls: []string{"finit configfs", "finit null_blk", "delete configfs"}},
		{name: "dependency fails", mods: diamond, order: []string{"a/top", "a/left", "a/right", "a/bottom"},
			fail: map[string]error{"right": unix.ENOENT}, probe: "top", wantErr: "load right, a dependency of top: load module right: module needs",
			wantCalls: []string{"finit bottom", "finit left", "finit right", "delete left", "delete bottom"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newModKernel(t)
			k.tree(tt.comp, tt.mods, tt.order, tt.builtin...)
			k.loaded = append(k.loaded, tt.preloaded...)
			k.writeProc()
			k.decompress = !tt.noDecomp
			if tt.fail != nil {
				k.fail = tt.fail
			}
			got, err := Modprobe(tt.probe, tt.params, k.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Modprobe error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !slices.Equal(k.loaded, tt.preloaded) {
					t.Errorf("loaded after failure = %v, want %v", k.loaded, tt.preloaded)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.wantLoaded) {
				t.Errorf("Modprobe returned %v, want %v", got, tt.wantLoaded)
			}
			if !slices.Equal(k.calls, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", k.calls, tt.wantCalls)
			}
		})
	}
}

func TestModprobeMissingTree(t *testing.T) {
	k := newModKernel(t)
	_, err := Modprobe("null_blk", nil, k.opts)
	if err == nil || !strings.Contains(err.Error(), "apt-get install linux-image-"+fakeRelease) {
		t.Errorf("no modules dir: %v", err)
	}
	must(t, os.MkdirAll(filepath.Join(k.opts.ModulesDir, fakeRelease), 0o755))
	_, err = Modprobe("null_blk", nil, k.opts)
	if err == nil || !strings.Contains(err.Error(), "modules.dep missing in ") || !strings.Contains(err.Error(), "run depmod "+fakeRelease) {
		t.Errorf("no modules.dep: %v", err)
	}
}

// TestLoadCompressed: kgen load PATH.ko.xz reads the compressed file's
// .modinfo and inserts it, in the kernel or decompressed here.
func TestInsertFileCompressed(t *testing.T) {
	for _, c := range []Compression{NotCompressed, Gzip, XZ, Zstd} {
		for _, kernelDecomp := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/kernel=%v", c, kernelDecomp), func(t *testing.T) {
				k := newModKernel(t)
				k.decompress = kernelDecomp
				plain := writeKO(t, k.root, "m.tmp", "name=my_mod", "vermagic="+fakeRelease+" SMP ")
				b, err := os.ReadFile(plain)
				must(t, err)
				p := filepath.Join(k.root, "my-mod"+suffixOf[c])
				must(t, os.WriteFile(p, compressTo(t, c, b), 0o644))
				name, did, err := InsertFile(p, []string{"x=1"}, k.opts)
				if err != nil || name != "my_mod" || !did {
					t.Fatalf("InsertFile = %q, %v, %v", name, did, err)
				}
				want := []string{"finit my_mod x=1"}
				if c != NotCompressed && !kernelDecomp {
					want = append(want, "init my_mod x=1")
				}
				if !slices.Equal(k.calls, want) {
					t.Errorf("calls = %q, want %q", k.calls, want)
				}
				// Loaded already: left alone.
				if _, did, err := InsertFile(p, nil, k.opts); err != nil || did {
					t.Errorf("second InsertFile = %v, %v", did, err)
				}
				must(t, RemoveModules([]string{name}, k.opts))
				if len(k.loaded) != 0 {
					t.Errorf("loaded after RemoveModules: %v", k.loaded)
				}
			})
		}
	}
}

func TestReadModInfoCorruptCompressed(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.ko.xz")
	must(t, os.WriteFile(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2, 3}, 0o644))
	if _, err := ReadModInfo(p); !errors.Is(err, ErrNotModule) {
		t.Errorf("ReadModInfo(corrupt xz) = %v, want ErrNotModule", err)
	}
}

func TestModuleFileName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/fs/configfs/configfs.ko.xz": "configfs", "a/null_blk.ko": "null_blk",
		"snd-hda-intel.ko.zst": "snd_hda_intel", "x.ko.gz": "x", "plain": "plain",
	} {
		if got := ModuleFileName(in); got != want {
			t.Errorf("ModuleFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
