// Package safedir checks that a directory kgen trusts (its build cache,
// its state dir) can be changed by no one but the current user and root.
package safedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafe means a directory, or one above it, can be changed by another
// user.
var ErrUnsafe = errors.New("directory is not safe")

// Ensure creates dir (and missing parents) with mode 0700 and checks it
// with Check.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return Check(dir)
}

// Check returns an error wrapping ErrUnsafe when another user could
// change dir: when dir, or a directory above it (as written, and after
// resolving symlinks), is owned by someone other than the current user
// and root, or is group- or other-writable. A world-writable directory
// with the sticky bit (/tmp) is allowed above dir, not as dir: there
// others cannot rename or remove what the user owns.
func Check(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := checkChain(abs, true); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	if real != abs {
		return checkChain(real, false)
	}
	return nil
}

// checkChain checks every component of the absolute path p, from / down.
// Symlinks (when lstat is set) are allowed: only the owner of their
// directory, checked before them, can change them.
func checkChain(p string, lstat bool) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			if parts[i] == "" {
				continue
			}
			cur = filepath.Join(cur, parts[i])
		}
		var st unix.Stat_t
		stat := unix.Stat
		if lstat {
			stat = unix.Lstat
		}
		if err := stat(cur, &st); err != nil {
			return &os.PathError{Op: "check", Path: cur, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			continue
		}
		last := i == len(parts)-1
		if err := checkOne(cur, &st, last); err != nil {
			if cur != p {
				return fmt.Errorf("%w: %s is in %s, which %v", ErrUnsafe, p, cur, err)
			}
			return fmt.Errorf("%w: %s %v", ErrUnsafe, p, err)
		}
	}
	return nil
}

func checkOne(p string, st *unix.Stat_t, last bool) error {
	uid := uint32(os.Geteuid())
	if st.Uid != uid && st.Uid != 0 {
		return fmt.Errorf("is owned by uid %d, not by you (uid %d) or root", st.Uid, uid)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if last {
			return fmt.Errorf("is not a directory")
		}
		return nil
	}
	w := st.Mode & 0o022
	if w == 0 {
		return nil
	}
	if !last && st.Mode&unix.S_ISVTX != 0 {
		return nil // /tmp: others cannot replace what is not theirs
	}
	who := "its group"
	if w&0o002 != 0 {
		who = "every user"
	}
	return fmt.Errorf("is writable by %s (mode %04o)", who, st.Mode&0o7777)
}
