package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAcquireTimesOutNamingHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Acquire(context.Background(), p, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waitedFor int
	_, err = Acquire(context.Background(), p, 200*time.Millisecond, func(pid int) { waitedFor = pid })
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("err = %v, want a timeout naming pid %d", err, os.Getpid())
	}
	if waitedFor != os.Getpid() {
		t.Errorf("onWait got pid %d", waitedFor)
	}
	unlock()
	unlock2, err := Acquire(context.Background(), p, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file %v %v, want mode 0600", fi, err)
	}
}

func TestAcquireOwnedByAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	p := filepath.Join(t.TempDir(), "x.lock")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(context.Background(), p, time.Second, nil); err == nil || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}
