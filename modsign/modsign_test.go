package modsign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t testing.TB, key any, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234567),
		Subject:      pkix.Name{CommonName: "kgen unit test"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<32, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	testRSA, _ = rsa.GenerateKey(rand.Reader, 2048)
	testEC, _  = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
)

func TestSignParseVerify(t *testing.T) {
	rsaCert := selfSigned(t, testRSA, &testRSA.PublicKey)
	ecCert := selfSigned(t, testEC, &testEC.PublicKey)
	mod := []byte("\x7fELF module body")
	for _, h := range Hashes {
		for _, tc := range []struct {
			alg  string
			cert *x509.Certificate
		}{{"RSA", rsaCert}, {"ECDSA", ecCert}} {
			t.Run(h.Name+"/"+tc.alg, func(t *testing.T) {
				var signed []byte
				var err error
				if tc.alg == "RSA" {
					signed, err = Sign(mod, testRSA, tc.cert, h)
				} else {
					signed, err = Sign(mod, testEC, tc.cert, h)
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(signed, mod) || !bytes.HasSuffix(signed, []byte(Magic)) {
					t.Fatalf("signed module does not start with the module and end with the magic")
				}
				n := len(signed) - len(Magic)
				tr := signed[n-trailerLen : n]
				if !bytes.Equal(tr[:8], []byte{0, 0, idPKCS7, 0, 0, 0, 0, 0}) {
					t.Errorf("trailer %x: want algo=0 hash=0 id_type=2, zero lengths and padding", tr[:8])
				}
				if l := binary.BigEndian.Uint32(tr[8:]); int(l) != len(signed)-len(mod)-trailerLen-len(Magic) {
					t.Errorf("sig_len %d, want %d", l, len(signed)-len(mod)-trailerLen-len(Magic))
				}
				info, err := Parse(signed)
				if err != nil {
					t.Fatal(err)
				}
				if info.Hash != h.Name || info.KeyAlgorithm != tc.alg {
					t.Errorf("parsed %s/%s, want %s/%s", info.Hash, info.KeyAlgorithm, h.Name, tc.alg)
				}
				if !bytes.Equal(info.Issuer, tc.cert.RawIssuer) {
					t.Errorf("issuer is not the certificate's")
				}
				if err := Verify(signed, tc.cert); err != nil {
					t.Fatal(err)
				}
				// Re-signing replaces the signature instead of stacking one.
				var again []byte
				if tc.alg == "RSA" {
					again, err = Sign(signed, testRSA, tc.cert, h)
					if err == nil && !bytes.Equal(again, signed) {
						t.Errorf("re-signing with RSA changed the module")
					}
				} else {
					again, err = Sign(signed, testEC, tc.cert, h)
				}
				if err != nil {
					t.Fatal(err)
				}
				if body, ok := Strip(again); !ok || !bytes.Equal(body, mod) {
					t.Errorf("Strip(re-signed) = %q, %v; want the module", body, ok)
				}
				// A changed module fails verification.
				bad := bytes.Clone(signed)
				bad[1] ^= 1
				if err := Verify(bad, tc.cert); err == nil {
					t.Errorf("Verify accepted a modified module")
				}
				// Another key's certificate is not the signer.
				other := selfSigned(t, testRSA, &testRSA.PublicKey)
				other.RawIssuer = []byte{0x30, 0}
				if err := Verify(signed, other); err == nil {
					t.Errorf("Verify accepted another certificate")
				}
			})
		}
	}
}

func TestSignErrors(t *testing.T) {
	rsaCert := selfSigned(t, testRSA, &testRSA.PublicKey)
	h, _ := LookupHash("sha256")
	if _, err := Sign([]byte("m"), testEC, rsaCert, h); err == nil || !strings.Contains(err.Error(), "not the key's") {
		t.Errorf("key/certificate mismatch: %v", err)
	}
	broken := append([]byte("m\x00\x00\x02\x00\x00\x00\x00\x00\xff\xff\xff\xff"), Magic...)
	if _, err := Sign(broken, testRSA, rsaCert, h); err == nil || !strings.Contains(err.Error(), "broken signature") {
		t.Errorf("broken signature: %v", err)
	}
	if _, err := Parse([]byte("unsigned")); !errors.Is(err, ErrUnsigned) {
		t.Errorf("Parse(unsigned) = %v, want ErrUnsigned", err)
	}
	if _, err := Parse(broken); err == nil {
		t.Errorf("Parse(broken) succeeded")
	}
}

func TestLookupHash(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"sha256", "sha256", true}, {"SHA512", "sha512", true}, {"sha3-384", "sha3-384", true},
		{"sha1", "", false}, {"md5", "", false}, {"", "", false},
	} {
		h, err := LookupHash(tc.in)
		if (err == nil) != tc.ok || h.Name != tc.want {
			t.Errorf("LookupHash(%q) = %q, %v", tc.in, h.Name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "sha256, sha384") {
			t.Errorf("LookupHash(%q) error does not list the hashes: %v", tc.in, err)
		}
	}
}

func writePEM(t *testing.T, path string, blocks ...*pem.Block) {
	t.Helper()
	var b bytes.Buffer
	for _, blk := range blocks {
		if err := pem.Encode(&b, blk); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKey(t *testing.T) {
	d := t.TempDir()
	rsaCert := selfSigned(t, testRSA, &testRSA.PublicKey)
	ecCert := selfSigned(t, testEC, &testEC.PublicKey)
	p8, _ := x509.MarshalPKCS8PrivateKey(testRSA)
	sec1, _ := x509.MarshalECPrivateKey(testEC)
	f := func(n string) string { return filepath.Join(d, n) }
	writePEM(t, f("pkcs8.pem"), &pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	writePEM(t, f("pkcs1.pem"), &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSA)})
	writePEM(t, f("ec.pem"), &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	// The kernel's certs/signing_key.pem: key and certificate in one file.
	writePEM(t, f("both.pem"), &pem.Block{Type: "PRIVATE KEY", Bytes: p8}, &pem.Block{Type: "CERTIFICATE", Bytes: rsaCert.Raw})
	writePEM(t, f("enc.pem"), &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})
	writePEM(t, f("rsa.crt"), &pem.Block{Type: "CERTIFICATE", Bytes: rsaCert.Raw})
	os.WriteFile(f("rsa.der"), rsaCert.Raw, 0o644)
	os.WriteFile(f("ec.der"), ecCert.Raw, 0o644)
	for _, tc := range []struct {
		key, cert, err string
	}{
		{"pkcs8.pem", "rsa.der", ""},
		{"pkcs8.pem", "rsa.crt", ""},
		{"pkcs1.pem", "rsa.der", ""},
		{"ec.pem", "ec.der", ""},
		{"both.pem", "", ""},
		{"pkcs8.pem", "", "holds no certificate"},
		{"pkcs8.pem", "ec.der", "not the key's"},
		{"enc.pem", "rsa.der", "encrypted"},
		{"rsa.der", "rsa.der", "no PEM private key"},
		{"missing.pem", "rsa.der", "no such file"},
		{"pkcs8.pem", "pkcs1.pem", "want CERTIFICATE"},
	} {
		cert := tc.cert
		if cert != "" {
			cert = f(cert)
		}
		k, err := LoadKey(f(tc.key), cert)
		if tc.err == "" {
			if err != nil {
				t.Errorf("LoadKey(%s, %s): %v", tc.key, tc.cert, err)
			} else if k.Signer == nil || k.Cert == nil {
				t.Errorf("LoadKey(%s, %s): no key or certificate", tc.key, tc.cert)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("LoadKey(%s, %s) = %v, want an error with %q", tc.key, tc.cert, err, tc.err)
		}
	}
}

func TestGenerate(t *testing.T) {
	d := filepath.Join(t.TempDir(), "keys")
	kp, cp, err := Generate(d, "kgen test", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kp); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v, mode %v; want 0600", kp, err, fi.Mode())
	}
	k, err := LoadKey(kp, cp)
	if err != nil {
		t.Fatal(err)
	}
	c := k.Cert
	if c.Subject.CommonName != "kgen test" || c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning || len(c.SubjectKeyId) == 0 {
		t.Errorf("certificate: CN %q CA %v usage %v EKU %v SKID %x", c.Subject.CommonName, c.IsCA, c.KeyUsage, c.ExtKeyUsage, c.SubjectKeyId)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Errorf("public key %T, want RSA 2048", c.PublicKey)
	}
	signed, err := Sign([]byte("m"), k.Signer, k.Cert, Hashes[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(signed, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Generate(d, "again", time.Hour); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Generate over an existing key: %v", err)
	}
}

func TestSignFile(t *testing.T) {
	d := t.TempDir()
	cert := selfSigned(t, testRSA, &testRSA.PublicKey)
	ko := filepath.Join(d, "m.ko")
	if err := os.WriteFile(ko, []byte("module"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := SignFile(ko, &Key{Signer: testRSA, Cert: cert}, Hashes[1]); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ko)
	if err := Verify(b, cert); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(ko); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if m, _ := filepath.Glob(filepath.Join(d, ".sign-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func FuzzParse(f *testing.F) {
	cert := selfSigned(f, testRSA, &testRSA.PublicKey)
	signed, err := Sign([]byte("module"), testRSA, cert, Hashes[1])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(Magic))
	f.Add(append([]byte("\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x05"), Magic...))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Parse(b)
		body, signed := Strip(b)
		if err == nil {
			if !signed || len(body)+len(info.PKCS7)+trailerLen+len(Magic) != len(b) {
				t.Fatalf("parsed a signature Strip does not cut: %v %d", signed, len(body))
			}
			_ = Verify(b, cert)
		}
	})
}

func TestKernelVerifies(t *testing.T) {
	sha256, _ := LookupHash("sha256")
	sha3, _ := LookupHash("sha3-256")
	for _, tc := range []struct {
		h       Hash
		release string
		want    bool
	}{
		{sha256, "5.10.0-35-amd64", true},
		{sha3, "5.10.0-35-amd64", false},
		{sha3, "6.1.0-57-amd64", false},
		{sha3, "6.7.0", true},
		{sha3, "6.12.118+deb13-amd64", true},
		{sha3, "7.0", true},
		{sha3, "weird", true},
	} {
		if got := tc.h.KernelVerifies(tc.release); got != tc.want {
			t.Errorf("%s.KernelVerifies(%q) = %v, want %v", tc.h.Name, tc.release, got, tc.want)
		}
	}
}
