package kbuild

import (
	"strings"
	"testing"
)

func TestInferArch(t *testing.T) {
	arm64 := map[string]string{"CONFIG_ARM64": "y"}
	amd64 := map[string]string{"CONFIG_X86_64": "y"}
	for _, tt := range []struct {
		name        string
		cfg         Config
		config      map[string]string
		host        string
		arch, cross string
		err         string
	}{
		{"arm64 KDIR on amd64", Config{}, arm64, "amd64", "arm64", "aarch64-linux-gnu-", ""},
		{"--cross-compile overrides", Config{CrossCompile: "/opt/x/bin/aarch64-none-linux-gnu-"}, arm64, "amd64", "arm64", "/opt/x/bin/aarch64-none-linux-gnu-", ""},
		{"--arch alone", Config{Arch: "arm64"}, arm64, "amd64", "arm64", "aarch64-linux-gnu-", ""},
		{"make.env's", Config{Arch: "arm64", CrossCompile: "aarch64-linux-gnu-"}, arm64, "amd64", "arm64", "aarch64-linux-gnu-", ""},
		{"native arm64", Config{}, arm64, "arm64", "", "", ""},
		{"native amd64", Config{}, amd64, "amd64", "", "", ""},
		{"amd64 KDIR on arm64", Config{}, amd64, "arm64", "x86", "x86_64-linux-gnu-", ""},
		{"x86_64 is x86", Config{Arch: "x86_64"}, amd64, "amd64", "x86_64", "", ""},
		{"unknown arch: as given", Config{}, map[string]string{}, "amd64", "", "", ""},
		{"contradiction", Config{Arch: "arm64"}, amd64, "amd64", "", "", "is an x86 kernel's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := inferArch(&c, tt.config, tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || c.Arch != tt.arch || c.CrossCompile != tt.cross {
				t.Errorf("got ARCH=%q CROSS_COMPILE=%q (%v), want %q %q", c.Arch, c.CrossCompile, err, tt.arch, tt.cross)
			}
		})
	}
}
