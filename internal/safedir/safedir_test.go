package safedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, mode os.FileMode) string {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := Ensure(filepath.Join(dir, "new", "kgen")); err != nil {
		t.Errorf("fresh dir: %v", err)
	}
	sticky := mk("tmp", 0o777|os.ModeSticky)
	if err := Ensure(filepath.Join(sticky, "mine")); err != nil {
		t.Errorf("dir under a sticky dir: %v", err)
	}
	if err := Check(sticky); !errors.Is(err, ErrUnsafe) {
		t.Errorf("sticky world-writable dir itself: %v", err)
	}
	if err := Check(mk("gw", 0o775)); !errors.Is(err, ErrUnsafe) {
		t.Errorf("group-writable: %v", err)
	}
	if err := Check(filepath.Join(mk("ww", 0o777), "..", "ww")); !errors.Is(err, ErrUnsafe) {
		t.Errorf("world-writable: %v", err)
	}
	if os.Geteuid() == 0 {
		other := mk("other", 0o755)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := Ensure(filepath.Join(other, "cache")); !errors.Is(err, ErrUnsafe) {
			t.Errorf("under another user's dir: %v", err)
		}
	}
}
