package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kallsymsSeed is /proc/kallsyms as a Debian 6.1 guest prints it
// ("%px %c %s\n", modules "%px %c %s\t[%s]\n"): per-CPU absolute symbols
// first, then text, then a module's. Addresses are the guest's.
const kallsymsSeed = `0000000000000000 A fixed_percpu_data
0000000000000000 A __per_cpu_start
0000000000001000 A cpu_debug_store
ffffffff81000000 T startup_64
ffffffff81000000 T _stext
ffffffff813abfb0 T ksys_sync
ffffffff813ac050 T __x64_sys_sync
ffffffff813669e5 t vfs_read_helper
ffffffff81a43e1d T do_syscall_64
ffffffff81c00126 T entry_SYSCALL_64_after_hwframe
ffffffff82a00000 D _sdata
ffffffffc0201900 t vfs_read_lat_ret	[vfs_read_lat]
ffffffffc020c0c8 t vfs_read_lat_entry	[vfs_read_lat]
ffffffffc020d000 d vfs_read_lat_krps	[vfs_read_lat]
`

// FuzzParseKallsyms: /proc/kallsyms is the kernel's, but of every loaded
// module too; any text parses or errors, and symbolising never panics.
func FuzzParseKallsyms(f *testing.F) {
	f.Add(kallsymsSeed)
	f.Add(strings.ReplaceAll(kallsymsSeed, "ffffffff", "00000000")) // kptr_restrict
	f.Add("zz T x\n1 T\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseKallsyms(strings.NewReader(text))
		if err != nil {
			if !errors.Is(err, ErrNoKallsyms) && !strings.Contains(err.Error(), "read kallsyms") {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, a := range []uint64{0, 1, 0xffffffff813abfb5, 0xffffffffc0201946, ^uint64(0)} {
			if s.Symbolize(a) == "" {
				t.Fatalf("empty symbol for %#x", a)
			}
		}
	})
}

// FuzzReadModInfo: the module ELF a user points kgen load at; a corrupt
// one is ErrNotModule, never a panic. Seeded with a real 6.1 module cut to
// its .modinfo section (objcopy --only-section=.modinfo).
func FuzzReadModInfo(f *testing.F) {
	ko, err := os.ReadFile("testdata/otst-6.1-modinfo.ko")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ko)
	f.Add(ko[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, err := readModInfo(bytes.NewReader(data), "fuzz.ko")
		if err != nil {
			if !errors.Is(err, ErrNotModule) {
				t.Fatalf("error %v does not wrap ErrNotModule", err)
			}
			return
		}
		if mi.Vermagic == "" || mi.Name == "" {
			t.Fatalf("modinfo %+v", mi)
		}
	})
}

func TestReadModInfoReal(t *testing.T) {
	mi, err := ReadModInfo("testdata/otst-6.1-modinfo.ko")
	if err != nil {
		t.Fatal(err)
	}
	if mi.Name != "otst" || mi.Release() != "6.1.0-57-amd64" || mi.Fields["license"] != "GPL" {
		t.Errorf("modinfo %+v", mi)
	}
}

// FuzzReadState: the state files under the run dir say what kgen unload
// undoes (as root); one that does not describe kgen's own instance and
// mounts is an error, not a command.
func FuzzReadState(f *testing.F) {
	f.Add([]byte(`{
  "name": "vfs_read_lat",
  "module": "/root/vfs_read_lat.ko",
  "debugfs": "/sys/kernel/debug",
  "tracing": "/sys/kernel/tracing",
  "instance": "/sys/kernel/tracing/instances/kgen_vfs_read_lat",
  "events": "/sys/kernel/tracing/instances/kgen_vfs_read_lat/events/vfs_read_lat",
  "mounted": [
    {"target": "/sys/kernel/debug", "fstype": "debugfs", "id": 25},
    {"target": "/sys/kernel/tracing", "fstype": "tracefs", "id": 26}
  ],
  "loaded_at": "2026-12-01T21:24:32.961808433Z"
}`), []byte(`[{"target": "/sys/kernel/debug", "fstype": "debugfs", "id": 25}]`))
	f.Add([]byte(`{"name": "vfs_read_lat", "instance": "/etc"}`), []byte(`[{"target": "/", "fstype": "ext4"}]`))
	f.Fuzz(func(t *testing.T, state, mounts []byte) {
		o := (&Options{RunDir: t.TempDir()}).withDefaults()
		must(t, os.WriteFile(filepath.Join(o.RunDir, "vfs_read_lat.json"), state, 0o600))
		must(t, os.WriteFile(filepath.Join(o.RunDir, mountsFile), mounts, 0o600))
		if st, err := readState(o, "vfs_read_lat"); err == nil {
			if st.check("vfs_read_lat") != nil {
				t.Fatalf("accepted state %+v", st)
			}
			if st.Instance != "" && !strings.HasPrefix(st.Instance, st.Tracing+"/instances/kgen_vfs_read_lat") {
				t.Fatalf("instance %q accepted", st.Instance)
			}
		}
		if ms, err := readMounts(o); err == nil {
			for _, m := range ms {
				if m.Target != debugfsPath && m.Target != tracefsPath {
					t.Fatalf("mount %+v accepted", m)
				}
			}
		}
	})
}
