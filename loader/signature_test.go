package loader

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kgen/modsign"
)

// TestLoadSignatureMessages: finit_module's EKEYREJECTED is explained by
// the module's own signature and the kernel's "Loading of ... is
// rejected" line (the kernel returns one errno for every case).
func TestLoadSignatureMessages(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0xabc), Subject: pkix.Name{CommonName: "untrusted"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	h, _ := modsign.LookupHash("sha256")
	tests := []struct {
		name   string
		signed bool
		klog   string
		want   []string
	}{
		{"unsigned", false, "Loading of unsigned module is rejected", []string{"the module is unsigned", "kgen build --sign-key", "module.sig_enforce=0"}},
		{"unknown key", true, "Loading of module with unavailable key is rejected", []string{`signed by "CN=untrusted" serial abc (RSA, sha256), a key unknown to the kernel`, "mokutil --import"}},
		{"bad signature", true, "", []string{"key unknown to the kernel", "does not verify"}},
		{"unsupported", true, "Loading of module with unsupported crypto is rejected", []string{"algorithm this kernel cannot verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(t)
			f.fail["finit"] = unix.EKEYREJECTED
			reads := 0
			f.opts.Klog = func() ([]byte, error) {
				reads++
				if reads == 1 {
					return []byte("[0.5] Loading of module with unavailable key is rejected\n[0.6] before\n"), nil
				}
				return []byte("[0.5] Loading of module with unavailable key is rejected\n[0.6] before\n[1.0] " + tt.klog + "\n"), nil
			}
			ko := f.ko()
			if tt.signed {
				b, err := os.ReadFile(ko)
				if err != nil {
					t.Fatal(err)
				}
				if b, err = modsign.Sign(b, key, cert, h); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(ko, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(ko, nil, f.opts)
			if !errors.Is(err, ErrSignature) || !errors.Is(err, unix.EKEYREJECTED) {
				t.Fatalf("err = %v, want ErrSignature wrapping EKEYREJECTED", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
