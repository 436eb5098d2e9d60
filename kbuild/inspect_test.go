package kbuild

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestInspectKDIR(t *testing.T) {
	dir := t.TempDir()
	for f, c := range map[string]string{
		"Makefile":                       "",
		".config":                        "CONFIG_CC_VERSION_TEXT=\"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0\"\n",
		"include/generated/utsrelease.h": "#define UTS_RELEASE \"6.12.1-amd64\"\n",
		"include/generated/autoconf.h":   "",
	} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info, err := InspectKDIR(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"gcc-14", "x86_64-linux-gnu-gcc-14", "gcc"}
	if info.Release != "6.12.1-amd64" || info.CC.Major != 14 || !reflect.DeepEqual(info.Candidates, want) {
		t.Errorf("InspectKDIR: release %q cc %+v candidates %q; want 6.12.1-amd64, gcc 14, %q", info.Release, info.CC, info.Candidates, want)
	}
	if _, err := InspectKDIR(t.TempDir(), "", ""); err == nil {
		t.Error("InspectKDIR of an empty dir: no error")
	}
}
