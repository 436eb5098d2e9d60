package kbuild

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// WriteTree writes tree (slash-separated relative names -> contents) under
// dir, creating dir. A file is written whole to a fresh temporary file
// (O_EXCL) beside it, then renamed over it, so an interrupted write leaves
// no half file and a symlink found at a file's name is replaced, not
// written through. The files and directories are reached through os.Root,
// which follows no symlink out of dir; dir itself must not be a symlink.
// kgen generate and --keep-source write into directories another user may
// own; this keeps such a user from turning root's write into an overwrite
// of another file.
func WriteTree(dir string, tree map[string][]byte) error {
	return writeTreeRoot(dir, tree, false)
}

// writeTreeRoot is WriteTree; keepSame leaves a file whose content is
// already right untouched (make then skips up-to-date objects).
func writeTreeRoot(dir string, tree map[string][]byte, keepSame bool) error {
	root, err := openDirRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	names := make([]string, 0, len(tree))
	for n := range tree {
		if !safeTreePath(n) {
			return fmt.Errorf("tree file %q escapes %s", n, dir)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data := tree[n]
		if d := path.Dir(n); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Join(dir, d), err)
			}
		}
		if keepSame {
			if old, err := readNoFollow(root, n); err == nil && bytes.Equal(old, data) {
				continue
			}
		}
		if err := replaceIn(root, n, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, filepath.FromSlash(n)), err)
		}
	}
	return nil
}

// openDirRoot creates dir if needed and opens it as an os.Root, refusing
// a dir that is a symlink (someone who owns its parent could point it at
// a directory of root's).
func openDirRoot(dir string) (*os.Root, error) {
	dir = filepath.Clean(dir)
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	pr, err := os.OpenRoot(parent)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	if base == "." || base == "/" {
		return os.OpenRoot(dir)
	}
	if err := pr.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	fi, err := pr.Lstat(base)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open %s: not a directory (a symlink is not followed)", dir)
	}
	return pr.OpenRoot(base)
}

// readNoFollow reads name in root unless it is a symlink.
func readNoFollow(root *os.Root, name string) ([]byte, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return root.ReadFile(name)
}

// replaceIn writes data to a new temporary file beside name in root and
// renames it over name.
func replaceIn(root *os.Root, name string, data []byte, perm os.FileMode) error {
	var rnd [8]byte
	var f *os.File
	var tmp string
	var err error
	for range 10 {
		_, _ = rand.Read(rnd[:])
		tmp = path.Join(path.Dir(name), "."+path.Base(name)+".kgen-"+hex.EncodeToString(rnd[:]))
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
