// Package kbuild builds a generated module tree against a kernel build
// directory (KDIR): it picks the compiler the kernel wants, runs the feature
// probes, runs Kbuild with a clean environment, maps compiler errors back to
// the spec items that produced the code, and caches results by content.
// It knows nothing about spec kinds.
package kbuild

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoKDIR is returned when no usable kernel build directory is found.
var ErrNoKDIR = errors.New("no kernel build directory")

// KDIRError says which kernel build directory was looked for and where
// the path came from.
type KDIRError struct {
	Path    string // the directory looked for
	From    string // "--kdir", "$KDIR" or "running kernel"
	Release string // running kernel's release when From is "running kernel"
	Err     error
}

func (e *KDIRError) Error() string {
	msg := fmt.Sprintf("find kernel build dir %s (from %s): %v", e.Path, e.From, e.Err)
	if e.Release != "" {
		msg += fmt.Sprintf(": install the kernel headers (Debian: apt-get install linux-headers-%s), or pass --kdir or set $KDIR", e.Release)
	} else {
		msg += ": point it at a kernel build tree (one holding Makefile and .config)"
	}
	return msg
}

func (e *KDIRError) Unwrap() error { return ErrNoKDIR }

// FindKDIR returns the kernel build directory: flag if set, else $KDIR, else
// /lib/modules/$(uname -r)/build. The directory must hold a Makefile and a
// .config; the error for the default names the Debian headers package.
func FindKDIR(flag string) (string, error) {
	path, from, rel := flag, "--kdir", ""
	if path == "" {
		path, from = os.Getenv("KDIR"), "$KDIR"
	}
	if path == "" {
		r, err := unameRelease()
		if err != nil {
			return "", &KDIRError{Path: "/lib/modules/?/build", From: "running kernel", Err: err}
		}
		path, from, rel = "/lib/modules/"+r+"/build", "running kernel", r
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", &KDIRError{Path: path, From: from, Release: rel, Err: err}
	}
	for _, f := range []string{"Makefile", ".config"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("no %s in it", f)
			}
			return "", &KDIRError{Path: abs, From: from, Release: rel, Err: err}
		}
	}
	return abs, nil
}

// KernelRelease returns the release (UTS_RELEASE) a kernel build dir is
// for, read from its include/generated/utsrelease.h.
func KernelRelease(kdir string) (string, error) {
	f := filepath.Join(kdir, "include/generated/utsrelease.h")
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w: is %s a configured kernel build tree (run make modules_prepare in it)?", err, kdir)
	}
	r := parseUTSRelease(b)
	if r == "" {
		return "", fmt.Errorf("read kernel release: no UTS_RELEASE in %s", f)
	}
	return r, nil
}

func unameRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// identityFiles make up a KDIR's identity: what the kernel is configured
// as, its exact release and the symbol versions modules link against.
var identityFiles = []string{
	".config",
	"include/generated/utsrelease.h",
	"include/generated/autoconf.h",
	"Module.symvers", // optional
}

// configKeys are the .config values kbuild reads; the rest are not kept.
var configKeys = []string{
	"CONFIG_CC_VERSION_TEXT",
	"CONFIG_GCC_VERSION",
	"CONFIG_CLANG_VERSION",
	"CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT",
	"CONFIG_DEBUG_INFO_BTF_MODULES",
	// the architecture (see kernelArches)
	"CONFIG_X86_64",
	"CONFIG_ARM64",
	"CONFIG_RISCV",
	"CONFIG_PPC64",
	"CONFIG_S390",
}

// kernel is what kbuild knows of a KDIR, memoised in the cache index by the
// (size, mtime) stamps of its identity files.
type kernel struct {
	Dir     string            `json:"dir"`
	Stamps  []stamp           `json:"stamps"`
	ID      string            `json:"id"`      // sha256 over the identity files
	Release string            `json:"release"` // UTS_RELEASE
	Config  map[string]string `json:"config"`  // configKeys that are set
}

// stamp identifies a file version cheaply.
type stamp struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // ns; -1 = absent
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{Path: path, Mtime: -1}
	}
	return stamp{Path: path, Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
}

func stampsOf(dir string) []stamp {
	s := make([]stamp, len(identityFiles))
	for i, f := range identityFiles {
		s[i] = stampOf(filepath.Join(dir, f))
	}
	return s
}

func sameStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// readKernel hashes the identity files of dir and reads what kbuild needs
// from them.
func readKernel(dir string) (*kernel, error) {
	k := &kernel{Dir: dir, Stamps: stampsOf(dir), Config: map[string]string{}}
	h := sha256.New()
	for i, f := range identityFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) && f == "Module.symvers" {
			fmt.Fprintf(h, "%s absent\n", f)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read kernel identity: %w: is %s a configured kernel build tree (run make modules_prepare in it)?", err, dir)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
		switch i {
		case 0:
			k.Config = parseConfig(b)
		case 1:
			k.Release = parseUTSRelease(b)
		}
	}
	if k.Release == "" {
		return nil, fmt.Errorf("read kernel identity: no UTS_RELEASE in %s", filepath.Join(dir, "include/generated/utsrelease.h"))
	}
	k.ID = hex.EncodeToString(h.Sum(nil))
	return k, nil
}

// parseConfig returns the configKeys set in a .config, values unquoted.
func parseConfig(b []byte) map[string]string {
	want := map[string]bool{}
	for _, k := range configKeys {
		want[k] = true
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, "=")
		if !ok || !want[k] {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		m[k] = v
	}
	return m
}

// parseUTSRelease reads `#define UTS_RELEASE "6.1.0-41-amd64"`.
func parseUTSRelease(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "#define" && f[1] == "UTS_RELEASE" {
			if r, err := strconv.Unquote(f[2]); err == nil {
				return r
			}
		}
	}
	return ""
}

// ReadMakeEnv reads extra make variables, one VAR=value a line, from a
// file such as a fetched kernel's make.env. Blank lines and lines starting
// with # are skipped. A missing file gives no variables and no error.
func ReadMakeEnv(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read make variables: %w", err)
	}
	defer f.Close()
	return parseMakeEnv(f, path)
}

func parseMakeEnv(r io.Reader, name string) ([]string, error) {
	var vars []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || !isMakeVar(k) {
			return nil, fmt.Errorf("read make variables: %s:%d: want VAR=value, got %q", name, n, line)
		}
		vars = append(vars, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read make variables: %w", err)
	}
	return vars, nil
}

func isMakeVar(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// CacheError is a build cache kgen will not use: another user could change
// what is in it, and root would build and load it.
type CacheError struct {
	Dir string
	Err error
}

func (e *CacheError) Error() string {
	return fmt.Sprintf("use build cache %s: %v: kgen builds and loads modules from its cache, so only you (or root) may be able to write to it and to every directory above it; "+
		"fix its owner and mode (chown, chmod go-w), or use another with --cache-dir or XDG_CACHE_HOME (under sudo, sudo -H or without -E)", e.Dir, e.Err)
}

func (e *CacheError) Unwrap() error { return e.Err }
