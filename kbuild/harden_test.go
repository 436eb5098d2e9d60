package kbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kgen/internal/safedir"
)

// The attack of issue 12, finding 1: another user owns (or can write) the
// build cache root uses. Build must refuse it before reading anything.
func TestBuildRefusesUnsafeCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another uid")
	}
	tree := map[string][]byte{"Kbuild": []byte("obj-m := m.o\n")}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the cache dir
		why   string
	}{
		{"cache owned by nobody", func(t *testing.T, dir string) string {
			c := filepath.Join(dir, "cache")
			mustMkdir(t, c, 0o700)
			if err := os.Chown(c, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return c
		}, "owned by uid 65534"},
		{"parent owned by nobody", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "home")
			mustMkdir(t, p, 0o755)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(p, "cache") // made by kgen, in nobody's dir
		}, "owned by uid 65534"},
		{"group-writable cache", func(t *testing.T, dir string) string {
			c := filepath.Join(dir, "cache")
			mustMkdir(t, c, 0o770)
			return c
		}, "writable by its group"},
		{"world-writable parent without sticky bit", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "shared")
			mustMkdir(t, p, 0o777)
			return filepath.Join(p, "cache")
		}, "writable by every user"},
		{"symlink to a cache in nobody's dir", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "theirs")
			mustMkdir(t, p, 0o755)
			mustMkdir(t, filepath.Join(p, "cache"), 0o700)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			l := filepath.Join(dir, "link")
			if err := os.Symlink(filepath.Join(p, "cache"), l); err != nil {
				t.Fatal(err)
			}
			return l
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := tc.setup(t, t.TempDir())
			cfg := Config{KDIR: "/nonexistent-kdir", CacheDir: cache}
			_, err := Build(context.Background(), cfg, tree, "m", t.TempDir())
			var ce *CacheError
			if !errors.As(err, &ce) || !errors.Is(err, safedir.ErrUnsafe) {
				t.Fatalf("err = %v, want a CacheError wrapping ErrUnsafe", err)
			}
			for _, want := range []string{tc.why, "--cache-dir"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestBuildMakesCache0700(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "a", "kgen")
	_, err := Build(context.Background(), Config{KDIR: "/nonexistent-kdir", CacheDir: cache},
		map[string][]byte{"Kbuild": nil}, "m", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "nonexistent-kdir") {
		t.Fatalf("err = %v, want one about the KDIR (after the cache check)", err)
	}
	for _, d := range []string{cache, filepath.Dir(cache)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
}

// A cached module whose bytes no longer match the digest stored beside it
// (someone swapped it) is not used.
func TestLookupChecksDigest(t *testing.T) {
	entry := filepath.Join(t.TempDir(), "key")
	mustMkdir(t, entry, 0o700)
	mod := []byte("\x7fELF the real module")
	sum := sha256.Sum256(mod)
	data, _ := json.Marshal(cacheEntry{Release: "6.1", SHA256: hex.EncodeToString(sum[:])})
	mustWrite(t, filepath.Join(entry, "result.json"), data)
	mustWrite(t, filepath.Join(entry, "m.ko"), mod)
	b := &builder{}
	out := t.TempDir()
	if _, ok := b.lookup(entry, "m", out); !ok {
		t.Fatal("intact entry not used")
	}
	mustWrite(t, filepath.Join(entry, "m.ko"), []byte("\x7fELF evil"))
	os.Remove(filepath.Join(out, "m.ko"))
	if _, ok := b.lookup(entry, "m", out); ok {
		t.Fatal("tampered module used")
	}
	if _, err := os.Stat(filepath.Join(out, "m.ko")); err == nil {
		t.Error("tampered module copied to the output dir")
	}
	// An entry of an older kgen, without a digest, is a miss too.
	data, _ = json.Marshal(cacheEntry{Release: "6.1"})
	mustWrite(t, filepath.Join(entry, "result.json"), data)
	mustWrite(t, filepath.Join(entry, "m.ko"), mod)
	if _, ok := b.lookup(entry, "m", out); ok {
		t.Fatal("entry without a digest used")
	}
}

// Finding 1 and 6: symlinks planted where kgen writes a tree redirect no
// write outside it.
func TestWriteTreeFollowsNoSymlink(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	mustWrite(t, victim, []byte("root's file\n"))
	victimDir := t.TempDir()

	t.Run("file name is a symlink", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink(victim, filepath.Join(dir, "Kbuild")); err != nil {
			t.Fatal(err)
		}
		if err := writeTree(dir, map[string][]byte{"Kbuild": []byte("obj-m := m.o\n")}); err != nil {
			t.Fatal(err)
		}
		checkUnchanged(t, victim, "root's file\n")
		if fi, err := os.Lstat(filepath.Join(dir, "Kbuild")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("Kbuild is not a regular file now: %v %v", fi, err)
		}
	})
	t.Run("temporary name is a symlink", func(t *testing.T) {
		dir := t.TempDir()
		// The old generate wrote <file>.kgen-tmp; plant that too.
		if err := os.Symlink(victim, filepath.Join(dir, "m.c.kgen-tmp")); err != nil {
			t.Fatal(err)
		}
		if err := WriteTree(dir, map[string][]byte{"m.c": []byte("int m;\n")}); err != nil {
			t.Fatal(err)
		}
		checkUnchanged(t, victim, "root's file\n")
	})
	t.Run("subdirectory is a symlink out", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink(victimDir, filepath.Join(dir, "features")); err != nil {
			t.Fatal(err)
		}
		err := WriteTree(dir, map[string][]byte{"features/HAVE_X.c": []byte("x\n")})
		if err == nil {
			t.Error("wrote through a symlinked subdirectory")
		}
		if ents, _ := os.ReadDir(victimDir); len(ents) != 0 {
			t.Errorf("files appeared in the symlink's target: %v", ents)
		}
	})
	t.Run("the dir itself is a symlink", func(t *testing.T) {
		parent := t.TempDir()
		if err := os.Symlink(victimDir, filepath.Join(parent, "m-src")); err != nil {
			t.Fatal(err)
		}
		if err := WriteTree(filepath.Join(parent, "m-src"), map[string][]byte{"Kbuild": nil}); err == nil {
			t.Error("wrote into a symlinked dir")
		}
		if ents, _ := os.ReadDir(victimDir); len(ents) != 0 {
			t.Errorf("files appeared in the symlink's target: %v", ents)
		}
	})
}

func checkUnchanged(t *testing.T, p, want string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != want {
		t.Errorf("%s changed: %q, %v", p, b, err)
	}
}

func mustMkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
