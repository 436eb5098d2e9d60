package vm

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kernelsDir is where scripts/fetch-kernels.sh puts the test kernels.
func kernelsDir() string {
	if d := os.Getenv("KGEN_KERNELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kgen", "kernels")
}

// needKernel returns kernel name's bootable file (vmlinux, or Image for an
// arm64 kernel) and release, or skips (fails with KGEN_REQUIRE_VM=1) when
// it or qemu is missing.
func needKernel(t *testing.T, name string) (vmlinux, release string) {
	t.Helper()
	miss := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if testing.Short() {
		miss("boots a VM; not in -short mode")
	}
	qemu, pkg, file := "qemu-system-x86_64", "qemu-system-x86", "vmlinux"
	if strings.HasSuffix(name, "-arm64") {
		qemu, pkg, file = "qemu-system-aarch64", "qemu-system-arm", "Image"
	}
	if _, err := exec.LookPath(qemu); err != nil {
		miss("%s not installed (apt-get install %s)", qemu, pkg)
	}
	dir := filepath.Join(kernelsDir(), name)
	vmlinux = filepath.Join(dir, file)
	if _, err := os.Stat(vmlinux); err != nil {
		miss("no %s kernel (run scripts/fetch-kernels.sh): %v", name, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		t.Logf("no release file: %v", err)
	}
	return vmlinux, strings.TrimSpace(string(b))
}

// stubKgen builds a tiny static Go program for goarch to stand in for
// /bin/kgen, so these tests do not depend on cmd/kgen building.
func stubKgen(t *testing.T, dir, goarch string) string {
	t.Helper()
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"kgen stub ok\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module stub\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kgen-"+goarch)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stub kgen: %v\n%s", err, out)
	}
	return bin
}

// TestRun boots every test kernel present once and checks what a
// command sees and returns. The arm64 kernel's architecture comes from its
// Image (no Config.Arch), with the busybox and virtio-console modules
// fetch-kernels.sh put next to it.
func TestRun(t *testing.T) {
	stubs, stubDir := map[string]string{}, t.TempDir()
	for _, k := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debug-6.1", "debian-6.1-arm64"} {
		t.Run(k, func(t *testing.T) {
			vmlinux, release := needKernel(t, k)
			goarch := "amd64"
			if strings.HasSuffix(k, "-arm64") {
				goarch = "arm64"
			}
			kgen := stubs[goarch]
			if kgen == "" {
				kgen = stubKgen(t, stubDir, goarch)
				stubs[goarch] = kgen
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the host\n"), 0o640)
			os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
			os.WriteFile(filepath.Join(dir, "tree", "sub", "x.sh"), []byte("#!/bin/sh\necho script ran\n"), 0o755)
			var out, con bytes.Buffer
			res, err := Run(t.Context(), Config{
				Kernel:     vmlinux,
				KgenBinary: kgen,
				Adds: []Add{
					{Src: filepath.Join(dir, "hello.txt")},
					{Src: filepath.Join(dir, "tree"), Dst: "/opt/"},
				},
				Env:     map[string]string{"GREETING": "it's me"},
				Timeout: 90 * time.Second,
				Stdout:  &out,
				Console: &con,
				Cmd: `uname -r
cat hello.txt; stat -c %a hello.txt
/opt/tree/sub/x.sh
kgen
echo "pwd=$(pwd) user=$(id -u) in_vm=$KGEN_IN_VM greeting=$GREETING"
grep -cE ' (debugfs|tracefs) ' /proc/mounts
echo to stderr >&2
printf 'no newline'
exit 3`,
			})
			if err != nil {
				t.Fatalf("Run: %v\nconsole:\n%s", err, con.String())
			}
			t.Logf("%s: boot to exit %v", k, res.Duration.Round(time.Millisecond))
			if res.ExitCode != 3 {
				t.Errorf("exit code %d, want 3", res.ExitCode)
			}
			want := release + "\n" +
				"hello from the host\n640\n" +
				"script ran\n" +
				"kgen stub ok\n" +
				"pwd=/root user=0 in_vm=1 greeting=it's me\n" +
				"0\n" + // neither debugfs nor tracefs mounted
				"to stderr\n" +
				"no newline"
			got := out.String()
			if release == "" { // no release file: skip the uname line
				got, want = got[strings.IndexByte(got, '\n')+1:], want[strings.IndexByte(want, '\n')+1:]
			}
			if got != want {
				t.Errorf("guest output:\n%q\nwant\n%q", got, want)
			}
			if !bytes.Contains(res.Console, []byte("reboot: Power down")) || !bytes.Equal(res.Console, con.Bytes()) {
				t.Errorf("console not captured whole:\n%s", res.Console)
			}
		})
	}
}

// TestRunGuestErrors checks that a panic, a kernel warning and a hung
// command each fail the run with the right reason and the console tail.
func TestRunGuestErrors(t *testing.T) {
	vmlinux, _ := needKernel(t, "debian-6.1")
	tests := []struct {
		name    string
		cmd     string
		timeout time.Duration
		want    error
		line    string
		code    int
	}{
		{"panic", "echo c > /proc/sysrq-trigger", 90 * time.Second, ErrPanic, "Kernel panic - not syncing: sysrq triggered crash", -1},
		// A message written to /dev/kmsg takes the same path to the
		// console as a kernel WARN(), so this checks the detection end
		// to end; the command's status is still passed on.
		{"warning", "echo '<4>WARNING: CPU: 0 PID: 1 at kgen-test' > /dev/kmsg", 90 * time.Second, ErrWarning, "WARNING: CPU: 0 PID: 1 at kgen-test", 0},
		// 30 s: a boot on a loaded 2-CPU host can take more than 10.
		{"timeout", "echo started; sleep 100", 30 * time.Second, ErrTimeout, "no exit after 30s", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Run(t.Context(), Config{Kernel: vmlinux, KgenBinary: "-", Cmd: tt.cmd, Timeout: tt.timeout, Stdout: &out})
			var ge *GuestError
			if !errors.As(err, &ge) || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want a GuestError wrapping %v", err, tt.want)
			}
			t.Logf("%s: %v after %v", tt.name, err, res.Duration.Round(time.Millisecond))
			if !strings.Contains(ge.Line, tt.line) {
				t.Errorf("line %q, want it to contain %q", ge.Line, tt.line)
			}
			if tt.want != ErrTimeout && !strings.Contains(ge.Tail, tt.line) {
				t.Errorf("tail lacks %q:\n%s", tt.line, ge.Tail)
			}
			if res.ExitCode != tt.code {
				t.Errorf("exit code %d, want %d", res.ExitCode, tt.code)
			}
			if tt.name == "timeout" && out.String() != "started\n" {
				t.Errorf("output before the timeout %q, want %q", out.String(), "started\n")
			}
		})
	}
}
