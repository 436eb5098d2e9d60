package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kgen/modsign"
)

// TestResolveSigning: which key kgen build signs with, from flags,
// environment and DKMS's MOK pair, and the errors that tell the fix.
func TestResolveSigning(t *testing.T) {
	keys := t.TempDir()
	kp, cp, err := modsign.Generate(keys, "resolve test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dkms := t.TempDir()
	copyFile(t, kp, filepath.Join(dkms, "mok.key"), 0o600)
	copyFile(t, cp, filepath.Join(dkms, "mok.pub"), 0o644)
	empty := t.TempDir()
	for _, tc := range []struct {
		name     string
		f        signFlags
		env      map[string]string
		dkms     string
		wantFrom string // "" = unsigned
		wantHash string
		wantErr  string
	}{
		{name: "nothing", dkms: empty},
		{name: "flags", f: signFlags{key: kp, cert: cp}, dkms: empty, wantFrom: "--sign-key", wantHash: "sha256"},
		{name: "flags win over DKMS", f: signFlags{key: kp, cert: cp, hash: "sha512"}, dkms: dkms, wantFrom: "--sign-key", wantHash: "sha512"},
		{name: "env", env: map[string]string{"KGEN_SIGN_KEY": kp, "KGEN_SIGN_CERT": cp, "KGEN_SIGN_HASH": "sha384"}, dkms: dkms, wantFrom: "$KGEN_SIGN_KEY", wantHash: "sha384"},
		{name: "DKMS", dkms: dkms, wantFrom: "DKMS's MOK key", wantHash: "sha256"},
		{name: "no-sign with DKMS", f: signFlags{none: true}, dkms: dkms},
		{name: "no-sign with key", f: signFlags{none: true, key: kp}, dkms: empty, wantErr: "pick one"},
		{name: "cert alone", f: signFlags{cert: cp}, dkms: empty, wantErr: "without --sign-key"},
		{name: "key without cert", f: signFlags{key: kp}, dkms: empty, wantErr: "holds no certificate"},
		{name: "bad hash", f: signFlags{key: kp, cert: cp, hash: "md5"}, dkms: empty, wantErr: "unknown signature hash"},
		{name: "missing key", f: signFlags{key: filepath.Join(empty, "nope.pem"), cert: cp}, dkms: empty, wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"KGEN_SIGN_KEY", "KGEN_SIGN_CERT", "KGEN_SIGN_HASH"} {
				t.Setenv(k, tc.env[k])
			}
			old := dkmsDir
			dkmsDir = tc.dkms
			defer func() { dkmsDir = old }()
			var stderr bytes.Buffer
			s, err := resolveSigning(tc.f, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantFrom == "" {
				if s != nil {
					t.Fatalf("signs with %s, want unsigned", s.from)
				}
				return
			}
			if s == nil || !strings.HasPrefix(s.from, tc.wantFrom) || s.hash.Name != tc.wantHash {
				t.Fatalf("got %+v, want from %q hash %s", s, tc.wantFrom, tc.wantHash)
			}
		})
	}
	// A DKMS key kgen cannot read: unsigned, with a note naming the fix.
	if os.Geteuid() != 0 {
		if err := os.Chmod(filepath.Join(dkms, "mok.key"), 0); err != nil {
			t.Fatal(err)
		}
		old := dkmsDir
		dkmsDir = dkms
		defer func() { dkmsDir = old }()
		var stderr bytes.Buffer
		s, err := resolveSigning(signFlags{}, &stderr)
		if err != nil || s != nil || !strings.Contains(stderr.String(), "--no-sign") {
			t.Errorf("unreadable DKMS key: %+v, %v, %q", s, err, stderr.String())
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
