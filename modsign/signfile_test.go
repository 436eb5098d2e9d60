package modsign

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tests against each Debian kernel's own scripts/sign-file (from
// scripts/fetch-kernels.sh, in $KGEN_KERNELS, default ~/.cache/kgen/kernels)
// and real Debian modules. They skip when a kernel or openssl is absent,
// unless KGEN_REQUIRE_KERNELS=1.

var signFileKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

func kernelsDir() string {
	if d := os.Getenv("KGEN_KERNELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kgen", "kernels")
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// signFile is a kernel's scripts/sign-file, ready to run.
type signFile struct {
	path string
	env  []string
	dir  string // the kernel's directory
}

func needSignFile(t *testing.T, name string) signFile {
	t.Helper()
	dir := filepath.Join(kernelsDir(), name)
	m, _ := filepath.Glob(filepath.Join(dir, "root/usr/lib/linux-kbuild-*/scripts/sign-file"))
	if len(m) != 1 {
		skipOrFail(t, "kernel "+name+" has no scripts/sign-file (run scripts/fetch-kernels.sh "+name+")")
	}
	sf := signFile{path: m[0], env: os.Environ(), dir: dir}
	// bullseye's sign-file links libcrypto.so.1.1, which fetch-kernels.sh
	// extracts when the host lacks it.
	if lib := filepath.Join(dir, "libcrypto/usr/lib/x86_64-linux-gnu"); isDir(lib) {
		sf.env = append(sf.env, "LD_LIBRARY_PATH="+lib)
	}
	if out, err := sf.cmd().CombinedOutput(); !strings.Contains(string(out), "Usage:") {
		skipOrFail(t, "kernel "+name+": "+m[0]+" does not run ("+string(out)+"): rerun scripts/fetch-kernels.sh "+name+": "+errString(err))
	}
	return sf
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func (sf signFile) cmd(args ...string) *exec.Cmd {
	c := exec.Command(sf.path, args...)
	c.Env = sf.env
	return c
}

// sign runs sign-file HASH KEY CERT on module and returns the signed bytes.
func (sf signFile) sign(t *testing.T, hash, key, cert string, module []byte) []byte {
	t.Helper()
	d := t.TempDir()
	in, out := filepath.Join(d, "m.ko"), filepath.Join(d, "m.signed")
	if err := os.WriteFile(in, module, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := sf.cmd(hash, key, cert, in, out).CombinedOutput(); err != nil {
		t.Fatalf("sign-file %s: %v\n%s", hash, err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not found (apt-get install openssl): the tests make their keys with it")
	}
}

// opensslKey makes a key pair with openssl req as the kernel's
// certs/Makefile and DKMS do: KEY.pem and CERT.der.
func opensslKey(t *testing.T, dir, name string, newkey ...string) (key, cert string) {
	t.Helper()
	key, cert = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".der")
	args := []string{"req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch", "-x509",
		"-subj", "/CN=kgen test " + name + "/O=kgen", "-outform", "DER", "-out", cert, "-keyout", key}
	args = append(args, newkey...)
	if o, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl req %v: %v\n%s", newkey, err, o)
	}
	return key, cert
}

// testModules are the modules to sign: a small synthetic one and a real
// Debian module of the kernel (its Debian signature stripped, as sign-file
// would stack a second one).
func testModules(t *testing.T, sf signFile) map[string][]byte {
	t.Helper()
	mods := map[string][]byte{"synthetic": []byte("\x7fELF not really a module, but sign-file does not care\n")}
	deb := filepath.Join(sf.dir, "modules/ko/loop.ko")
	b, err := os.ReadFile(deb)
	if err != nil {
		skipOrFail(t, "no real Debian module "+deb+" (run scripts/fetch-kernels.sh): "+err.Error())
	}
	body, signed := Strip(b)
	if !signed {
		t.Fatalf("%s: Debian's module has no signature to strip", deb)
	}
	if info, err := Parse(b); err != nil || info.KeyAlgorithm == "" {
		t.Fatalf("%s: parse Debian's signature: %v", deb, err)
	}
	mods["loop.ko"] = body
	return mods
}

// TestSignFileRSAIdentical: with RSA keys (PKCS#1 v1.5 is deterministic),
// kgen's signed module is byte for byte what each kernel's sign-file writes,
// for every hash, for a synthetic and a real Debian module.
func TestSignFileRSAIdentical(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	type pair struct{ key, cert string }
	keys := map[string]pair{}
	for _, bits := range []string{"2048"} {
		k, c := opensslKey(t, dir, "rsa"+bits, "-newkey", "rsa:"+bits)
		keys["rsa"+bits] = pair{k, c}
	}
	for _, name := range signFileKernels {
		t.Run(name, func(t *testing.T) {
			sf := needSignFile(t, name)
			mods := testModules(t, sf)
			n := 0
			for kn, kp := range keys {
				k, err := LoadKey(kp.key, kp.cert)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range Hashes {
					for mn, mod := range mods {
						want := sf.sign(t, h.Name, kp.key, kp.cert, mod)
						got, err := Sign(mod, k.Signer, k.Cert, h)
						if err != nil {
							t.Fatalf("%s %s %s: %v", kn, h.Name, mn, err)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("%s %s %s: kgen's signed module differs from sign-file's (%d vs %d bytes)\nkgen:      %x\nsign-file: %x",
								kn, h.Name, mn, len(got), len(want), tail(got, len(mod)), tail(want, len(mod)))
						}
						if err := Verify(got, k.Cert); err != nil {
							t.Errorf("%s %s %s: %v", kn, h.Name, mn, err)
						}
						n++
					}
				}
			}
			t.Logf("%d signatures byte-identical to %s", n, sf.path)
		})
	}
}

func tail(b []byte, from int) []byte {
	if from > len(b) {
		return b
	}
	return b[from:]
}

// TestSignFileECDSAStructure: ECDSA signatures are randomised, so kgen's and
// sign-file's messages must be the same but for the signature value, and
// both signatures must verify (with Go's crypto and openssl cms).
func TestSignFileECDSAStructure(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	curves := []string{"prime256v1", "secp384r1"}
	for _, name := range signFileKernels {
		t.Run(name, func(t *testing.T) {
			sf := needSignFile(t, name)
			mods := testModules(t, sf)
			for _, curve := range curves {
				key, cert := filepath.Join(dir, curve+".pem"), filepath.Join(dir, curve+".der")
				if _, err := os.Stat(key); err != nil {
					key, cert = opensslKey(t, dir, curve, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:"+curve)
				}
				k, err := LoadKey(key, cert)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range Hashes {
					for mn, mod := range mods {
						got, err := Sign(mod, k.Signer, k.Cert, h)
						if err != nil {
							t.Fatalf("%s %s %s: %v", curve, h.Name, mn, err)
						}
						if strings.HasPrefix(h.Name, "sha3-") {
							// OpenSSL's CMS (1.1 and 3.0) cannot make
							// ECDSA-with-SHA3 signatures; the kernel
							// verifies them since 6.7.
							if err := Verify(got, k.Cert); err != nil {
								t.Errorf("%s %s %s: %v", curve, h.Name, mn, err)
							}
							continue
						}
						want := sf.sign(t, h.Name, key, cert, mod)
						gi, err := Parse(got)
						if err != nil {
							t.Fatal(err)
						}
						wi, err := Parse(want)
						if err != nil {
							t.Fatal(err)
						}
						if gi.KeyAlgorithm != "ECDSA" || gi.Hash != h.Name {
							t.Errorf("%s %s: kgen's signature says %s/%s", curve, h.Name, gi.KeyAlgorithm, gi.Hash)
						}
						// Same message once each signature is blanked
						// (DER ECDSA signatures differ in length too).
						if g, w := blankSig(t, gi), blankSig(t, wi); !bytes.Equal(g, w) {
							t.Errorf("%s %s %s: PKCS#7 differs beyond the signature\nkgen:      %x\nsign-file: %x", curve, h.Name, mn, g, w)
						}
						for who, m := range map[string][]byte{"kgen": got, "sign-file": want} {
							if err := Verify(m, k.Cert); err != nil {
								t.Errorf("%s %s %s: %s's signature: %v", curve, h.Name, mn, who, err)
							}
						}
						if mn == "loop.ko" && h.Name == DefaultHash {
							opensslVerify(t, dir, gi.PKCS7, mod, cert)
						}
					}
				}
			}
		})
	}
}

// blankSig re-encodes the PKCS#7 message with an empty signature value.
func blankSig(t *testing.T, info *Info) []byte {
	t.Helper()
	var m message
	if _, err := asn1.Unmarshal(info.PKCS7, &m); err != nil {
		t.Fatal(err)
	}
	m.Content.SignerInfos[0].Signature = nil
	b, err := asn1.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opensslVerify checks a detached PKCS#7 signature with openssl cms.
func opensslVerify(t *testing.T, dir string, p7, content []byte, cert string) {
	t.Helper()
	sig, body, pemCert := filepath.Join(dir, "v.p7"), filepath.Join(dir, "v.body"), filepath.Join(dir, "v.crt")
	der, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pemCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sig, p7, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(body, content, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig,
		"-content", body, "-certfile", pemCert, "-nointern", "-noverify", "-out", os.DevNull).CombinedOutput()
	if err != nil {
		t.Errorf("openssl cms -verify of kgen's signature: %v\n%s", err, o)
	}
}
