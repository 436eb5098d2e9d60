package dkmspkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blakesmith/ar"
	rpmutils "github.com/sassoftware/go-rpmutils"
)

var testTree = map[string][]byte{
	"dkms.conf":           []byte("PACKAGE_NAME=\"my_mod\"\n"),
	"Makefile":            []byte("all:\n"),
	"Kbuild":              []byte("obj-m := my_mod.o\n"),
	"my_mod.c":            []byte("/* c */\n"),
	"features/HAVE_X.c":   []byte("/* probe */\n"),
	"features/HAVE_Y.sym": []byte("sym\n"),
}

func build(t *testing.T, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	p := Package{Module: "my_mod", Version: "1.2", Tree: testTree, Format: format, MTime: time.Unix(1700000000, 0)}
	if err := Build(p, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// untar reads a (gzip'd) tar into name -> content.
func untar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	m := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		m[strings.TrimPrefix(h.Name, ".")] = string(b)
	}
}

// checkScripts: the install script adds and builds the module for the
// running kernel, the removal script takes it out of DKMS; both parse.
func checkScripts(t *testing.T, postinst, prerm string) {
	t.Helper()
	for _, want := range []string{"dkms add -m my_mod -v 1.2", `dkms build -m my_mod -v 1.2 -k "$kernel"`, `dkms install -m my_mod -v 1.2 -k "$kernel"`, "kernel=$(uname -r)"} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q:\n%s", want, postinst)
		}
	}
	if !strings.Contains(prerm, "dkms remove -m my_mod -v 1.2 --all") {
		t.Errorf("prerm does not remove the module from DKMS:\n%s", prerm)
	}
	for name, s := range map[string]string{"postinst": postinst, "prerm": prerm} {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
}

func TestDeb(t *testing.T) {
	r := ar.NewReader(bytes.NewReader(build(t, "deb")))
	var control, data map[string]string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		switch strings.TrimSuffix(h.Name, "/") {
		case "control.tar.gz":
			control = untar(t, bytes.NewReader(b))
		case "data.tar.gz":
			data = untar(t, bytes.NewReader(b))
		}
	}
	if control == nil || data == nil {
		t.Fatalf("deb lacks control.tar.gz or data.tar.gz")
	}
	c := control["/control"]
	for _, want := range []string{"Package: my-mod-dkms\n", "Version: 1.2-1\n", "Architecture: all\n", "Depends: dkms, make\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("control lacks %q:\n%s", want, c)
		}
	}
	for n, b := range testTree {
		if got, ok := data["/usr/src/my_mod-1.2/"+n]; !ok || got != string(b) {
			t.Errorf("data: /usr/src/my_mod-1.2/%s = %q, %v; want %q", n, got, ok, b)
		}
	}
	checkScripts(t, control["/postinst"], control["/prerm"])
}

func TestRPM(t *testing.T) {
	rpm, err := rpmutils.ReadRpm(bytes.NewReader(build(t, "rpm")))
	if err != nil {
		t.Fatal(err)
	}
	h := rpm.Header
	for tag, want := range map[int]string{rpmutils.NAME: "my-mod-dkms", rpmutils.VERSION: "1.2", rpmutils.ARCH: "noarch"} {
		if got, err := h.GetString(tag); err != nil || got != want {
			t.Errorf("rpm tag %d = %q, %v; want %q", tag, got, err, want)
		}
	}
	req, _ := h.GetStrings(rpmutils.REQUIRENAME)
	if !slices.Contains(req, "dkms") {
		t.Errorf("rpm requires %q, want dkms", req)
	}
	files, err := h.GetFiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	for n := range testTree {
		if !slices.Contains(names, "/usr/src/my_mod-1.2/"+n) {
			t.Errorf("rpm lacks /usr/src/my_mod-1.2/%s (has %q)", n, names)
		}
	}
	// The payload holds the tree's bytes.
	pr, err := rpm.PayloadReaderExtended()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for {
		fi, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(pr)
		got[fi.Name()] = string(b)
	}
	if got["/usr/src/my_mod-1.2/dkms.conf"] != string(testTree["dkms.conf"]) {
		t.Errorf("rpm payload dkms.conf = %q", got["/usr/src/my_mod-1.2/dkms.conf"])
	}
	post, _ := h.GetString(rpmutils.POSTIN)
	preun, _ := h.GetString(rpmutils.PREUN)
	checkScripts(t, post, preun)
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		p    Package
		want string
	}{
		{Package{Module: "m", Version: "1", Tree: testTree, Format: "apk"}, "unknown format"},
		{Package{Module: "m", Version: "1", Tree: map[string][]byte{"Makefile": nil}, Format: "deb"}, "no dkms.conf"},
		{Package{Module: "m", Version: "1", Tree: map[string][]byte{"dkms.conf": nil, "../x": nil}, Format: "deb"}, "escapes"},
	} {
		if err := Build(tc.p, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) = %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := FileName(Package{Module: "vfs_read_lat", Version: "1.2", Format: "deb"}); got != "vfs-read-lat-dkms_1.2_all.deb" {
		t.Errorf("deb file name %q", got)
	}
	if got := FileName(Package{Module: "vfs_read_lat", Version: "1.2", Format: "rpm"}); got != "vfs-read-lat-dkms-1.2-1.noarch.rpm" {
		t.Errorf("rpm file name %q", got)
	}
}
