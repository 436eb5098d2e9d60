package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kgen/internal/lockfile"
)

// The attack of issue 12, finding 2: someone holds the state lock (a
// flock on a descriptor of .lock) and never lets go. kgen load must give
// up after stateLockTimeout and name the holder, and the dir and lock must be
// the caller's alone.
func TestLockHeldByAnother(t *testing.T) {
	f := newFakeSys(t)
	o := f.opts.withDefaults()
	// An older kgen's state dir: 0755, lock 0644.
	must(t, os.MkdirAll(o.RunDir, 0o755))
	must(t, os.Chmod(o.RunDir, 0o755))
	must(t, os.WriteFile(filepath.Join(o.RunDir, ".lock"), nil, 0o644))
	holder, err := os.Open(filepath.Join(o.RunDir, ".lock")) // read-only is enough for flock
	must(t, err)
	defer holder.Close()
	must(t, unix.Flock(int(holder.Fd()), unix.LOCK_EX))

	old := stateLockTimeout
	stateLockTimeout = 300 * time.Millisecond
	defer func() { stateLockTimeout = old }()
	var log strings.Builder
	f.opts.Log = &log
	_, err = Load(f.ko(), nil, f.opts)
	if !errors.Is(err, lockfile.ErrTimeout) {
		t.Fatalf("Load = %v, want a lock timeout", err)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(log.String(), want) {
		t.Errorf("error %q / log %q do not name the holder (%s)", err, log.String(), want)
	}
	for p, want := range map[string]os.FileMode{o.RunDir: 0o700, filepath.Join(o.RunDir, ".lock"): 0o600} {
		fi, err := os.Stat(p)
		must(t, err)
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	holder.Close()
	if _, err := Load(f.ko(), nil, f.opts); err != nil {
		t.Fatalf("Load after the holder let go: %v", err)
	}
	ents, err := os.ReadDir(o.RunDir)
	must(t, err)
	for _, e := range ents {
		fi, err := e.Info()
		must(t, err)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, readable or writable by others", e.Name(), fi.Mode().Perm())
		}
	}
}

// A state dir another user owns is refused: its files say what to unload
// and unmount.
func TestStateDirOwnedByAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another uid")
	}
	f := newFakeSys(t)
	o := f.opts.withDefaults()
	must(t, os.MkdirAll(o.RunDir, 0o700))
	must(t, os.Chown(o.RunDir, 65534, 65534))
	_, err := Load(f.ko(), nil, f.opts)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Load = %v, want a refusal naming the owner", err)
	}
}

// The lock file itself may not be a symlink someone planted.
func TestLockFileSymlink(t *testing.T) {
	f := newFakeSys(t)
	o := f.opts.withDefaults()
	must(t, os.MkdirAll(o.RunDir, 0o700))
	victim := filepath.Join(t.TempDir(), "victim")
	must(t, os.WriteFile(victim, []byte("keep"), 0o644))
	must(t, os.Symlink(victim, filepath.Join(o.RunDir, ".lock")))
	if _, err := Load(f.ko(), nil, f.opts); err == nil {
		t.Fatal("Load followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim changed: %q", b)
	}
}
