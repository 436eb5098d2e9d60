package vm

import (
	"bytes"
	"testing"
)

// consoleSeeds are real console and output-port text of a Debian 6.1
// guest, with the markers kgen's init writes.
var consoleSeeds = []string{
	"[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)\r\n",
	"[    0.000000] Command line: console=ttyS0 panic=-1 quiet\r\n[    2.811093] reboot: Power down\r\n",
	oopsConsole,
	"[    3.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n",
	"[    1.000000] WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2\r\n",
	initMarker + "hello\n" + exitMarker + "0\x00",
	"out" + exitMarker[:5],
	exitMarker + "256\x00" + exitMarker + "1\x00",
}

// FuzzConsole feeds the qemu console, which the guest kernel (and so a
// module under test) writes, in one piece and byte by byte: both must
// keep the same bounded tail and find the same worst line.
func FuzzConsole(f *testing.F) {
	for _, s := range consoleSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := newConsole(nil)
		whole.Write(in)
		whole.finish()
		var streamed bytes.Buffer
		bytewise := newConsole(&streamed)
		for i := range in {
			bytewise.Write(in[i : i+1])
		}
		bytewise.finish()
		t1, r1, l1 := whole.result()
		t2, r2, l2 := bytewise.result()
		if !bytes.Equal(t1, t2) || r1 != r2 || l1 != l2 {
			t.Fatalf("whole: %q %q %q; byte by byte: %q %q %q", t1, r1, l1, t2, r2, l2)
		}
		if len(t1) > consoleTailSize || !bytes.Equal(streamed.Bytes(), bytes.ReplaceAll(in, []byte("\r"), nil)) {
			t.Fatalf("tail %d bytes, streamed %q", len(t1), streamed.Bytes())
		}
	})
}

// FuzzOutputFilter feeds the guest command's output port (which the
// command under test controls) whole and byte by byte: the same output
// and the same exit status either way, and a status only from a marker.
func FuzzOutputFilter(f *testing.F) {
	for _, s := range consoleSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var o1, o2 bytes.Buffer
		a := newOutputFilter(&o1)
		a.Write(in)
		a.flush()
		b := newOutputFilter(&o2)
		for i := range in {
			b.Write(in[i : i+1])
		}
		b.flush()
		s1, _ := a.exitStatus()
		s2, _ := b.exitStatus()
		if s1 != s2 || !bytes.Equal(o1.Bytes(), o2.Bytes()) {
			t.Fatalf("whole: %d %q; byte by byte: %d %q", s1, o1.Bytes(), s2, o2.Bytes())
		}
		if s1 > 255 || (s1 >= 0 && !bytes.Contains(in, []byte(exitMarker))) {
			t.Fatalf("status %d from %q", s1, in)
		}
	})
}
