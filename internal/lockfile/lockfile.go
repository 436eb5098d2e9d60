// Package lockfile takes exclusive flock(2) locks on files that only the
// caller can open, waits for them with a timeout, and names the holder
// when the wait runs out.
package lockfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout means another process held the lock for the whole wait.
var ErrTimeout = errors.New("lock held by another process")

// poll is how often a waiting Acquire retries.
const poll = 100 * time.Millisecond

// Acquire takes an exclusive lock on path, creating it 0600 without
// following a symlink. A file that exists with a group or other bit is
// chmodded to 0600 (older kgens made 0644 ones, which let any user who
// can open it hold the lock); one owned by another user is refused.
// Acquire waits up to timeout (and while ctx lasts) and calls onWait once
// with the holder's pid when it has to wait. It writes its own pid into the
// file so the next waiter can name it.
func Acquire(ctx context.Context, path string, timeout time.Duration, onWait func(holder int)) (func(), error) {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkOwn(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	waited := false
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			waited = true
			if onWait != nil {
				onWait(Holder(path))
			}
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, timeoutError(path, timeout))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(poll):
		}
	}
	// Record the holder for waiters' messages; failure only costs a name.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

func checkOwn(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by you (uid %d): another user may hold or fake the lock; remove it (and check who made it)", st.Uid, os.Geteuid())
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return f.Chmod(0o600)
	}
	return nil
}

func timeoutError(path string, timeout time.Duration) error {
	who := "another process"
	if pid := Holder(path); pid > 0 {
		who = Describe(pid)
	}
	return fmt.Errorf("%w: %s held it for more than %s: wait for it to finish, or stop it", ErrTimeout, who, timeout)
}

// Holder returns the pid holding a flock on path, from /proc/locks (the
// kernel's word, right even when the holder did not write its pid), else
// the pid the last holder wrote into the file; 0 if neither is known.
func Holder(path string) int {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	if pid := lockHolder("/proc/locks", st.Dev, st.Ino); pid > 0 {
		return pid
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// lockHolder finds the FLOCK line for dev:ino in a /proc/locks file:
// "1: FLOCK  ADVISORY  WRITE 1234 00:19:5678 0 EOF".
func lockHolder(locks string, dev, ino uint64) int {
	f, err := os.Open(locks)
	if err != nil {
		return 0
	}
	defer f.Close()
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		// A "->" marks a waiter, shifting the fields by one.
		if len(fl) > 1 && fl[1] == "->" {
			continue
		}
		if len(fl) < 6 || fl[1] != "FLOCK" || fl[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fl[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

// Describe names a process: "pid 1234 (kgen)", or "pid 1234" when its
// comm is unreadable. The comm is escaped: another user chose it.
func Describe(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("pid %d", pid)
	}
	q := strconv.Quote(strings.TrimSuffix(string(b), "\n"))
	return fmt.Sprintf("pid %d (%s)", pid, q[1:len(q)-1])
}
