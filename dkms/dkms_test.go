package dkms

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"1.0", true}, {"2.1~rc1", true}, {"0+git20240101", true}, {"10", true},
		{"", false}, {"v1", false}, {"1.0 2", false}, {"1/0", false}, {"1;rm", false},
		{"1-2", false}, // '-' splits NAME-VERSION and a deb's revision
		{"1\n", false}, {"1$(x)", false}, {strings.Repeat("1", 65), false},
	} {
		if err := CheckVersion(tc.v); (err == nil) != tc.ok {
			t.Errorf("CheckVersion(%q) = %v, want ok=%v", tc.v, err, tc.ok)
		}
	}
}

func TestTree(t *testing.T) {
	in := map[string][]byte{"Makefile": []byte("all:\n"), "Kbuild": []byte("obj-m := m.o\n"), "m.c": []byte("x")}
	out, err := Tree(in, "m", "1.2")
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range in {
		if string(out[n]) != string(b) {
			t.Errorf("%s changed", n)
		}
	}
	if len(out) != len(in)+1 {
		t.Errorf("tree has %d files, want %d", len(out), len(in)+1)
	}
	golden := "testdata/dkms.conf.golden"
	if *update {
		if err := os.WriteFile(golden, out["dkms.conf"], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(out["dkms.conf"]) != string(want) {
		t.Errorf("dkms.conf:\n%s\nwant (go test -update):\n%s", out["dkms.conf"], want)
	}

	for _, tc := range []struct {
		name, ver string
		tree      map[string][]byte
		err       string
	}{
		{"M", "1", in, "module name"},
		{"m", "x", in, "check DKMS version"},
		{"m", "1", map[string][]byte{"Kbuild": nil}, "no Makefile"},
		{"m", "1", map[string][]byte{"Makefile": nil, "Kbuild": nil, "dkms.conf": nil}, "already has a dkms.conf"},
	} {
		if _, err := Tree(tc.tree, tc.name, tc.ver); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Tree(%s, %s) = %v, want %q", tc.name, tc.ver, err, tc.err)
		}
	}
}
