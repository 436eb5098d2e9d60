package doctor

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (path -> content) below a new root; a content of
// "#!exe" makes an executable.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(c, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const rel = "6.1.0-57-amd64"

// good is a machine where a build and a load work.
func good() map[string]string {
	kd := "/lib/modules/" + rel + "/build/"
	return map[string]string{
		kd + "Makefile":                             "",
		kd + ".config":                              "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"\nCONFIG_GCC_VERSION=120200\n",
		kd + "include/generated/utsrelease.h":       "#define UTS_RELEASE \"" + rel + "\"\n",
		kd + "include/generated/autoconf.h":         "",
		"/usr/bin/gcc-12":                           "#!/bin/sh\necho 'gcc-12 (Debian 12.2.0-14) 12.2.0'\n",
		"/usr/bin/make":                             "#!",
		"/usr/bin/flex":                             "#!",
		"/usr/bin/bison":                            "#!",
		"/usr/bin/bc":                               "#!",
		"/usr/include/libelf.h":                     "",
		"/boot/config-" + rel:                       "CONFIG_MODULES=y\nCONFIG_MODULE_UNLOAD=y\nCONFIG_KPROBES=y\nCONFIG_KRETPROBES=y\nCONFIG_KPROBES_ON_FTRACE=y\nCONFIG_TRACEPOINTS=y\nCONFIG_FTRACE=y\nCONFIG_DEBUG_FS=y\nCONFIG_TRACING=y\n",
		"/proc/cmdline":                             "console=ttyS0\n",
		"/proc/sys/kernel/modules_disabled":         "0\n",
		"/proc/filesystems":                         "nodev\tsysfs\nnodev\tdebugfs\nnodev\ttracefs\n",
		"/proc/self/mounts":                         "debugfs /sys/kernel/debug debugfs rw 0 0\n",
		"/sys/kernel/debug/kprobes/enabled":         "1\n",
		"/sys/module/module/parameters/sig_enforce": "N\n",
		"/sys/kernel/security/lsm":                  "lockdown,capability\n",
		"/sys/kernel/security/lockdown":             "[none] integrity confidentiality\n",
	}
}

func TestRun(t *testing.T) {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	tests := []struct {
		name        string
		edit        func(m map[string]string)
		check       string // the check that changes
		status      Status
		fix         string // part of its fix
		build, load bool
	}{
		{"all good", func(map[string]string) {}, "kprobes enabled", OK, "", true, true},
		{"no headers", func(m map[string]string) {
			for k := range m {
				if strings.HasPrefix(k, "/lib/modules/") {
					delete(m, k)
				}
			}
		}, "kernel headers", Fail, "apt-get install linux-headers-" + rel, false, true},
		{"headers of another release", func(m map[string]string) {
			m["/lib/modules/"+rel+"/build/include/generated/utsrelease.h"] = "#define UTS_RELEASE \"6.1.0-41-amd64\"\n"
		}, "kernel headers", Fail, "apt-get install linux-headers-" + rel, false, true},
		{"no compiler", func(m map[string]string) { delete(m, "/usr/bin/gcc-12") }, "compiler", Fail, "apt-get install gcc-12", false, true},
		{"plain gcc of another version", func(m map[string]string) {
			delete(m, "/usr/bin/gcc-12")
			m["/usr/bin/gcc"] = "#!/bin/sh\necho 'gcc (Debian 14.2.0-19) 14.2.0'\n"
		}, "compiler", Warn, "apt-get install gcc-12", true, true},
		{"plain gcc of the kernel's version", func(m map[string]string) {
			delete(m, "/usr/bin/gcc-12")
			m["/usr/bin/gcc"] = "#!/bin/sh\necho 'gcc (Debian 12.2.0-14) 12.2.0'\n"
		}, "compiler", OK, "", true, true},
		{"clang kernel", func(m map[string]string) {
			m["/lib/modules/"+rel+"/build/.config"] = "CONFIG_CC_VERSION_TEXT=\"Debian clang version 16.0.6 (15)\"\n"
		}, "compiler", Fail, "apt-get install clang-16", false, true},
		{"no make", func(m map[string]string) { delete(m, "/usr/bin/make") }, "make", Fail, "apt-get install make", false, true},
		{"no flex", func(m map[string]string) { delete(m, "/usr/bin/flex") }, "flex", Warn, "apt-get install flex", true, true},
		{"no libelf", func(m map[string]string) { delete(m, "/usr/include/libelf.h") }, "libelf", Warn, "apt-get install libelf-dev", true, true},
		{"BTF without pahole", func(m map[string]string) {
			m["/lib/modules/"+rel+"/build/.config"] += "CONFIG_DEBUG_INFO_BTF_MODULES=y\n"
		}, "pahole", Warn, "apt-get install dwarves", true, true},
		{"config from /proc/config.gz", func(m map[string]string) {
			m["/proc/config.gz"] = gz(m["/boot/config-"+rel])
			delete(m, "/boot/config-"+rel)
		}, "kernel config", OK, "", true, true},
		{"config from the KDIR of the running kernel", func(m map[string]string) {
			m["/lib/modules/"+rel+"/build/.config"] += m["/boot/config-"+rel]
			delete(m, "/boot/config-"+rel)
		}, "CONFIG_KRETPROBES", OK, "", true, true},
		{"no config anywhere", func(m map[string]string) {
			delete(m, "/boot/config-"+rel)
			delete(m, "/lib/modules/"+rel+"/build/.config")
			delete(m, "/lib/modules/"+rel+"/build/Makefile")
		}, "kernel config", Warn, "/boot/config-" + rel, false, true},
		{"no kprobes", func(m map[string]string) {
			m["/boot/config-"+rel] = strings.Replace(m["/boot/config-"+rel], "CONFIG_KPROBES=y", "# CONFIG_KPROBES is not set", 1)
		}, "CONFIG_KPROBES", Fail, "CONFIG_KPROBES=y", true, false},
		{"no module unload", func(m map[string]string) {
			m["/boot/config-"+rel] = strings.Replace(m["/boot/config-"+rel], "CONFIG_MODULE_UNLOAD=y", "", 1)
		}, "CONFIG_MODULE_UNLOAD", Warn, "CONFIG_MODULE_UNLOAD=y", true, true},
		{"modules disabled", func(m map[string]string) { m["/proc/sys/kernel/modules_disabled"] = "1\n" }, "kernel.modules_disabled", Fail, "reboot", true, false},
		{"sig_enforce on the command line", func(m map[string]string) {
			m["/sys/module/module/parameters/sig_enforce"] = "Y\n"
			m["/proc/cmdline"] = "console=ttyS0 module.sig_enforce=1\n"
		}, "module.sig_enforce", Fail, "boot without module.sig_enforce=1", true, false},
		{"sig_enforce built in", func(m map[string]string) { m["/sys/module/module/parameters/sig_enforce"] = "Y\n" }, "module.sig_enforce", Fail, "CONFIG_MODULE_SIG_FORCE", true, false},
		{"lockdown integrity", func(m map[string]string) {
			m["/sys/kernel/security/lockdown"] = "none [integrity] confidentiality\n"
			m["/proc/cmdline"] = "lockdown=integrity\n"
		}, "lockdown", Fail, "boot without lockdown=integrity", true, false},
		{"lockdown confidentiality", func(m map[string]string) {
			m["/sys/kernel/security/lockdown"] = "none integrity [confidentiality]\n"
		}, "lockdown", Fail, "mokutil --disable-validation", true, false},
		{"securityfs not mounted", func(m map[string]string) {
			delete(m, "/sys/kernel/security/lockdown")
			delete(m, "/sys/kernel/security/lsm")
		}, "lockdown", Warn, "mount -t securityfs", true, true},
		{"secure boot on", func(m map[string]string) {
			m["/sys/firmware/efi/efivars/SecureBoot-"+efiGlobal] = "\x06\x00\x00\x00\x01"
		}, "secure boot", Warn, "mokutil --disable-validation", true, true},
		{"secure boot off", func(m map[string]string) {
			m["/sys/firmware/efi/efivars/SecureBoot-"+efiGlobal] = "\x06\x00\x00\x00\x00"
		}, "secure boot", OK, "", true, true},
		{"kprobes disabled", func(m map[string]string) { m["/sys/kernel/debug/kprobes/enabled"] = "0\n" }, "kprobes enabled", Fail, "echo 1 > /sys/kernel/debug/kprobes/enabled", true, false},
		{"debugfs not mounted", func(m map[string]string) { m["/proc/self/mounts"] = "" }, "kprobes enabled", Warn, "mount -t debugfs", true, true},
		{"debugfs=off", func(m map[string]string) {
			m["/proc/self/mounts"] = ""
			m["/proc/filesystems"] = "nodev\ttracefs\n"
			m["/proc/cmdline"] = "debugfs=off\n"
		}, "debugfs", Fail, "boot without debugfs=off", true, false},
		{"no tracefs", func(m map[string]string) { m["/proc/filesystems"] = "nodev\tdebugfs\n" }, "tracefs", Fail, "CONFIG_TRACING=y", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			root := tree(t, m)
			t.Setenv("KDIR", "")
			r := Run(Options{Root: root, Release: rel, Path: "/usr/bin", Euid: func() int { return 0 }})
			var got *Check
			for i := range r.Checks {
				if r.Checks[i].Name == tc.check {
					got = &r.Checks[i]
				}
			}
			var b strings.Builder
			Format(&b, r)
			if got == nil {
				t.Fatalf("no check %q:\n%s", tc.check, b.String())
			}
			if got.Status != tc.status || !strings.Contains(got.Fix, tc.fix) || (got.Status != OK) != (got.Fix != "" || got.Status == Skip) {
				t.Errorf("check %s: %s %q fix %q; want %s with fix containing %q", tc.check, got.Status, got.Detail, got.Fix, tc.status, tc.fix)
			}
			if r.Build != tc.build || r.Load != tc.load {
				t.Errorf("build %v load %v, want %v %v:\n%s", r.Build, r.Load, tc.build, tc.load, b.String())
			}
			// Only the edited check (and what follows from it) is off.
			if tc.name == "all good" {
				for _, c := range r.Checks {
					if c.Status != OK {
						t.Errorf("all good: %s is %s: %s", c.Name, c.Status, c.Detail)
					}
				}
			}
		})
	}
}

func TestNotRoot(t *testing.T) {
	r := Run(Options{Root: tree(t, good()), Release: rel, Path: "/usr/bin", Euid: func() int { return 1000 }})
	if r.Checks[len(r.Checks)-1].Name == "" || !r.Load {
		t.Fatal("a warning must not fail the load")
	}
	for _, c := range r.Checks {
		if c.Name == "root" && c.Status == Warn && strings.Contains(c.Fix, "sudo") {
			return
		}
	}
	t.Error("no root warning for a non-root user")
}

func TestParseConfig(t *testing.T) {
	m := ParseConfig([]byte("# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=\"x y\"\nnoise\n"))
	if len(m) != 2 || m["CONFIG_B"] != "y" || m["CONFIG_C"] != "x y" {
		t.Errorf("ParseConfig: %v", m)
	}
}
