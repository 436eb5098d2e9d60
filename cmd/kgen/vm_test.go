package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVMCmdArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--", "true"}, `required flag(s) "kernel" not set`},
		{[]string{"--kernel", "k", "uname"}, "put the guest command after --"},
		{[]string{"--kernel", "k", "--"}, "no guest command"},
		{[]string{"--kernel", "k"}, "no guest command"},
		{[]string{"--kernel", "k", "x", "--", "true"}, "unexpected arguments before --: x"},
		{[]string{"--kernel", "/nonexistent/vmlinux", "--", "true"}, "no such file"},
		{[]string{"--kernel", "/etc/passwd", "--env", "NOEQUALS", "--", "true"}, `parse --env "NOEQUALS": want NAME=VALUE`},
		{[]string{"--kernel", "/etc/passwd", "--add", ":/x", "--", "true"}, "empty source"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := newVMCmd(&out, &errb)
			cmd.SetArgs(tt.args)
			cmd.SetOut(&out)
			cmd.SetErr(&errb)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestVMCmd boots debian-6.1 once when it is there and checks that kgen
// vm passes the command's output and exit status on.
func TestVMCmd(t *testing.T) {
	dir := os.Getenv("KGEN_KERNELS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "kgen", "kernels")
	}
	vmlinux := filepath.Join(dir, "debian-6.1", "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil || testing.Short() {
		if os.Getenv("KGEN_REQUIRE_VM") == "1" && !testing.Short() {
			t.Fatalf("no debian-6.1 kernel: %v", err)
		}
		t.Skipf("needs %s (scripts/fetch-kernels.sh) and no -short", vmlinux)
	}
	host := filepath.Join(t.TempDir(), "data.txt")
	os.WriteFile(host, []byte("payload\n"), 0o644)
	var out, errb bytes.Buffer
	cmd := newVMCmd(&out, &errb)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs([]string{"--kernel", vmlinux, "--kgen-binary", "-", "--add", host + ":/data/", "--env", "X=a b",
		"--", "cat /data/data.txt;", `echo "$X";`, "exit 3"})
	err := cmd.Execute()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 {
		t.Fatalf("got %v, want exit status 3; stderr:\n%s", err, errb.String())
	}
	if want := "payload\na b\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
}
