package kedrconf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kgen/loader"
)

// TestSystemShellAndRecord runs Load and Unload for real on a
// configuration of shell commands and a module line that fails: the
// commands' output passes through, the failure rolls back and names its
// line, and a successful load leaves a record that unload removes.
func TestSystemShellAndRecord(t *testing.T) {
	dir := t.TempDir()
	lo := &loader.Options{
		RunDir: filepath.Join(dir, "run"), ModulesDir: filepath.Join(dir, "lib/modules"), ProcDir: filepath.Join(dir, "proc"),
		Uname: func() (string, string, error) { return "6.12.0-test", "#1", nil },
	}
	var out, errb bytes.Buffer
	o := Options{Loader: lo, Stdout: &out, Stderr: &errb}
	trail := filepath.Join(dir, "trail")
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "on_load echo loaded; echo L >> "+trail+"\non_unload echo U >> "+trail+"; echo oops >&2\n")
	if err := Load(context.Background(), good, o); err != nil {
		t.Fatal(err)
	}
	if out.String() != "loaded\n" || !strings.Contains(errb.String(), "load "+good+":1: on_load echo loaded") {
		t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
	}
	recs, _ := filepath.Glob(filepath.Join(dir, "run/kedrconf/*.json"))
	if len(recs) != 1 {
		t.Errorf("records: %v", recs)
	}
	if err := Load(context.Background(), good, o); err == nil || !errors.Is(err, loader.ErrAlreadyLoaded) {
		t.Errorf("second load -c: %v, want refused until unload -c", err)
	}
	errb.Reset()
	if err := Unload(good, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "oops\n") {
		t.Errorf("on_unload's stderr not passed through: %q", errb.String())
	}
	if recs, _ := filepath.Glob(filepath.Join(dir, "run/kedrconf/*.json")); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}

	bad := write("bad.conf", "on_unload echo U2 >> "+trail+"\non_load echo L2 >> "+trail+"\nmodule null_blk\non_load echo never >> "+trail+"\n")
	err := Load(context.Background(), bad, o)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3: module null_blk: load module null_blk: ") ||
		!strings.Contains(err.Error(), "apt-get install linux-image-6.12.0-test") {
		t.Errorf("failing module line: %v", err)
	}
	if b, _ := os.ReadFile(trail); string(b) != "L\nU\nL2\nU2\n" {
		t.Errorf("trail = %q", b)
	}
	if err := Load(context.Background(), write("sh.conf", "on_load exit 3\n"), o); err == nil || !strings.Contains(err.Error(), ":1: on_load exit 3: run /bin/sh -c: exit status 3") {
		t.Errorf("failing command: %v", err)
	}
	if err := Load(context.Background(), filepath.Join(dir, "none.conf"), o); err == nil || !strings.Contains(err.Error(), "read configuration: open ") {
		t.Errorf("missing file: %v", err)
	}
}
