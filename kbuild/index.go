package kbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// index memoises what is slow to recompute on every build and cheap to
// validate: a KDIR's identity (checked by file stamps, not by re-hashing a
// 2 MB Module.symvers), compilers' --version lines (by the executable's
// stamp) and compiler flag probes (by compiler identity). It lives in one
// small JSON file in the cache dir; concurrent writers just race to
// replace it whole.
type index struct {
	path  string
	mu    sync.Mutex
	dirty bool
	data  indexData
}

type indexData struct {
	Version   int                `json:"version"`
	Kernels   map[string]*kernel `json:"kernels"`   // by KDIR path
	Compilers map[string]ccMemo  `json:"compilers"` // by executable path
	Flags     map[string]bool    `json:"flags"`     // by sha256(identity, path, flag)
}

type ccMemo struct {
	Stamp    stamp  `json:"stamp"`
	Identity string `json:"identity"`
}

const indexVersion = 2 // 2: kernels' Config holds the architecture symbols

func loadIndex(cacheDir string) *index {
	ix := &index{path: filepath.Join(cacheDir, "index.json")}
	if b, err := os.ReadFile(ix.path); err == nil {
		// A corrupt or old index is only a lost memo: start afresh.
		if json.Unmarshal(b, &ix.data) != nil || ix.data.Version != indexVersion {
			ix.data = indexData{}
		}
	}
	ix.data.Version = indexVersion
	if ix.data.Kernels == nil {
		ix.data.Kernels = map[string]*kernel{}
	}
	if ix.data.Compilers == nil {
		ix.data.Compilers = map[string]ccMemo{}
	}
	if ix.data.Flags == nil {
		ix.data.Flags = map[string]bool{}
	}
	return ix
}

// save writes the index if it changed.
func (ix *index) save() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.dirty {
		return nil
	}
	b, err := json.Marshal(&ix.data)
	if err != nil {
		return fmt.Errorf("save cache index: %w", err)
	}
	if err := writeFileAtomic(ix.path, b, 0o644); err != nil {
		return fmt.Errorf("save cache index: %w", err)
	}
	ix.dirty = false
	return nil
}

// kernel returns dir's identity, re-reading it only when a stamp changed.
func (ix *index) kernel(dir string) (*kernel, error) {
	ix.mu.Lock()
	k := ix.data.Kernels[dir]
	ix.mu.Unlock()
	if k != nil && sameStamps(k.Stamps, stampsOf(dir)) {
		return k, nil
	}
	k, err := readKernel(dir)
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	ix.data.Kernels[dir] = k
	ix.dirty = true
	ix.mu.Unlock()
	return k, nil
}

// compilerIdentity returns path's --version first line.
func (ix *index) compilerIdentity(ctx context.Context, path string) (string, error) {
	st := stampOf(path)
	ix.mu.Lock()
	m, ok := ix.data.Compilers[path]
	ix.mu.Unlock()
	if ok && m.Stamp == st && st.Mtime != -1 {
		return m.Identity, nil
	}
	id, err := versionLine(ctx, path)
	if err != nil {
		return "", err
	}
	ix.mu.Lock()
	ix.data.Compilers[path] = ccMemo{Stamp: st, Identity: id}
	ix.dirty = true
	ix.mu.Unlock()
	return id, nil
}

// flagSupported reports (and memoises) whether cc accepts flag.
func (ix *index) flagSupported(ctx context.Context, cc *compiler, flag string) bool {
	key := hashStrings(cc.Identity, cc.Path, flag)
	ix.mu.Lock()
	v, ok := ix.data.Flags[key]
	ix.mu.Unlock()
	if ok {
		return v
	}
	v = ccAccepts(ctx, cc.Path, flag)
	if ctx.Err() != nil {
		return v // a cancelled probe is no fact
	}
	ix.mu.Lock()
	ix.data.Flags[key] = v
	ix.dirty = true
	ix.mu.Unlock()
	return v
}

// hashStrings hashes a list of strings unambiguously.
func hashStrings(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeFileAtomic writes b to a temporary file beside path and renames it
// over path, so readers never see a partial file.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyFileAtomic copies src to dst through a temporary file beside dst.
func copyFileAtomic(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFileAtomic(dst, b, 0o644)
}
