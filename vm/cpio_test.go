package vm

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	name         string
	mode         uint32
	ino, nlink   uint32
	rmaj, rmin   uint32
	data         string
	headerOffset int
}

// parseNewc is an independent reader of newc archives for the tests.
func parseNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			t.Fatalf("archive ends at %d without a trailer", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		namesize, size := int(field(11)), int(field(6))
		name := string(b[off+110 : off+110+namesize-1])
		if b[off+110+namesize-1] != 0 {
			t.Fatalf("name %q not NUL-terminated", name)
		}
		data := align(off + 110 + namesize)
		e := cpioEntry{name: name, mode: field(1), ino: field(0), nlink: field(4),
			rmaj: field(9), rmin: field(10), data: string(b[data : data+size]), headerOffset: off}
		for _, f := range []int{2, 3, 5, 7, 8, 12} { // uid gid mtime dev check
			if field(f) != 0 {
				t.Errorf("%s: field %d = %d, want 0", name, f, field(f))
			}
		}
		off = align(data + size)
		if name == "TRAILER!!!" {
			if len(b)%512 != 0 {
				t.Errorf("archive length %d not a multiple of 512", len(b))
			}
			if rest := bytes.Trim(b[off:], "\x00"); len(rest) != 0 {
				t.Errorf("%d non-zero bytes after the trailer", len(rest))
			}
			return out
		}
		out = append(out, e)
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	steps := []error{
		c.Dir("/bin", 0o755),
		c.Dir("tmp", 0o777|fs.ModeSticky),
		c.File("/bin/a", 0o755, 1, strings.NewReader("x")),
		c.File("/bin/bb", 0o644|fs.ModeSetuid, 0, strings.NewReader("")),
		c.Symlink("/bin/sh", "a"),
		c.CharDev("/console", 0o600, 5, 1),
		c.File("/name-of-odd-length-x", 0o600, 5, strings.NewReader("hello")),
		c.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got := parseNewc(t, buf.Bytes())
	want := []cpioEntry{
		{name: "bin", mode: 0o40755, ino: 1, nlink: 2},
		{name: "tmp", mode: 0o41777, ino: 2, nlink: 2},
		{name: "bin/a", mode: 0o100755, ino: 3, nlink: 1, data: "x"},
		{name: "bin/bb", mode: 0o104644, ino: 4, nlink: 1},
		{name: "bin/sh", mode: 0o120777, ino: 5, nlink: 1, data: "a"},
		{name: "console", mode: 0o20600, ino: 6, nlink: 1, rmaj: 5, rmin: 1},
		{name: "name-of-odd-length-x", mode: 0o100600, ino: 7, nlink: 1, data: "hello"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		g.headerOffset = 0
		if g != want[i] {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, want[i])
		}
		if got[i].headerOffset%4 != 0 {
			t.Errorf("entry %d header at %d, not 4-aligned", i, got[i].headerOffset)
		}
	}

	// The system's cpio(1) must agree.
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Logf("cpio(1) not installed; skipping the cross-check")
		return
	}
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, out)
	}
	if want := "bin\ntmp\nbin/a\nbin/bb\nbin/sh\nconsole\nname-of-odd-length-x\n"; string(out) != want {
		t.Errorf("cpio -it listed\n%s\nwant\n%s", out, want)
	}
}

func TestCPIOWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(c *cpioWriter) error
		want string
	}{
		{"missing parent", func(c *cpioWriter) error { return c.File("/a/b", 0o644, 0, nil) }, "parent directory /a not added first"},
		{"duplicate", func(c *cpioWriter) error {
			if err := c.Dir("/a", 0o755); err != nil {
				return err
			}
			return c.Dir("/a/", 0o755)
		}, "add /a: already in the archive"},
		{"root", func(c *cpioWriter) error { return c.Dir("/", 0o755) }, "archive root cannot be an entry"},
		{"empty", func(c *cpioWriter) error { return c.Dir("", 0o755) }, "empty name"},
		{"escape", func(c *cpioWriter) error { return c.File("../../etc/x", 0o644, 0, nil) }, ""}, // cleaned to /etc/x
		{"short read", func(c *cpioWriter) error { return c.File("/f", 0o644, 10, strings.NewReader("abc")) }, "read /f: got 3 of 10 bytes"},
		{"after close", func(c *cpioWriter) error {
			if err := c.Close(); err != nil {
				return err
			}
			return c.Dir("/x", 0o755)
		}, "after close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCPIOWriter(&bytes.Buffer{})
			err := tt.do(c)
			if tt.name == "escape" {
				// "../../etc/x" cannot escape: it names /etc/x, whose
				// parent is missing.
				if err == nil || !strings.Contains(err.Error(), "parent directory /etc") {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrCPIO) {
				t.Fatalf("got %v, want an ErrCPIO containing %q", err, tt.want)
			}
		})
	}
}

func TestBuildInitramfs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, perm fs.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), perm); err != nil {
			t.Fatal(err)
		}
	}
	write("bb", "busybox", 0o755)
	write("kg", "kgen", 0o755)
	write("one.txt", "one", 0o600)
	write("tree/a/x.sh", "#!/bin/sh", 0o750)
	write("tree/b.txt", "b", 0o644)
	if err := os.Symlink("b.txt", filepath.Join(dir, "tree/link")); err != nil {
		t.Fatal(err)
	}
	build := func() []byte {
		var buf bytes.Buffer
		err := buildInitramfs(&buf, initramfs{
			busybox: filepath.Join(dir, "bb"),
			kgen:    filepath.Join(dir, "kg"),
			init:    "#!/bin/sh\n",
			files:   map[string]string{"/etc/kgen/cmd": "true", "/etc/kgen/env": ""},
			adds: []Add{
				{Src: filepath.Join(dir, "one.txt")},
				{Src: filepath.Join(dir, "tree"), Dst: "/opt/deep/"},
				{Src: filepath.Join(dir, "one.txt"), Dst: "rel/two"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a := build()
	if b := build(); !bytes.Equal(a, b) {
		t.Fatal("two builds of the same inputs differ")
	}
	byName := map[string]cpioEntry{}
	for _, e := range parseNewc(t, a) {
		byName["/"+e.name] = e
	}
	want := map[string]struct {
		mode uint32
		data string
	}{
		"/bin/busybox":          {0o100755, "busybox"},
		"/bin/sh":               {0o120777, "busybox"},
		"/bin/kgen":             {0o100755, "kgen"},
		"/init":                 {0o100755, "#!/bin/sh\n"},
		"/dev/console":          {0o20600, ""},
		"/tmp":                  {0o41777, ""},
		"/etc/kgen/cmd":         {0o100644, "true"},
		"/root/one.txt":         {0o100600, "one"},
		"/opt":                  {0o40755, ""},
		"/opt/deep/tree/a/x.sh": {0o100750, "#!/bin/sh"},
		"/opt/deep/tree/b.txt":  {0o100644, "b"},
		"/opt/deep/tree/link":   {0o120777, "b.txt"},
		"/root/rel/two":         {0o100600, "one"},
	}
	for name, w := range want {
		e, ok := byName[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if e.mode != w.mode || e.data != w.data {
			t.Errorf("%s: mode %o data %q, want %o %q", name, e.mode, e.data, w.mode, w.data)
		}
	}

	// An add may not replace what kgen puts there.
	var buf bytes.Buffer
	err := buildInitramfs(&buf, initramfs{busybox: filepath.Join(dir, "bb"), init: "x",
		adds: []Add{{Src: filepath.Join(dir, "one.txt"), Dst: "/init"}}})
	if err == nil || !strings.Contains(err.Error(), "already in the archive") {
		t.Errorf("add over /init: got %v", err)
	}
}

func TestAddGuestPath(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"foo.ko", "/root/foo.ko"},
		{"/tmp/x/foo.ko", "/root/foo.ko"},
		{"out/:/lib/", "/lib/out"},
		{"a.ko:/lib/modules/b.ko", "/lib/modules/b.ko"},
		{"a.ko:sub/", "/root/sub/a.ko"},
		{"dir/:", "/root/dir"},
	}
	for _, tt := range tests {
		a, err := ParseAdd(tt.in)
		if err != nil {
			t.Fatalf("ParseAdd(%q): %v", tt.in, err)
		}
		if got := a.guestPath(); got != tt.want {
			t.Errorf("ParseAdd(%q).guestPath() = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := ParseAdd(":/x"); err == nil {
		t.Error("ParseAdd(\":/x\") succeeded")
	}
}
