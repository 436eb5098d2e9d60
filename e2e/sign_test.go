package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// signKernels have a scripts/sign-file to compare kgen build's signing with.
var signKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

// kernelSignFile returns k's scripts/sign-file as a command prefix, or
// skips (fails under KGEN_REQUIRE_KERNELS=1).
func kernelSignFile(t *testing.T, k kernel) func(args ...string) *exec.Cmd {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(k.Dir, "root/usr/lib/linux-kbuild-*/scripts/sign-file"))
	if len(m) != 1 {
		msg := k.Name + " has no scripts/sign-file: run scripts/fetch-kernels.sh " + k.Name
		if os.Getenv("KGEN_REQUIRE_KERNELS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := os.Environ()
	// bullseye's sign-file links libcrypto.so.1.1 (fetch-kernels.sh).
	if lib := filepath.Join(k.Dir, "libcrypto/usr/lib/x86_64-linux-gnu"); signTestHas(lib) {
		env = append(env, "LD_LIBRARY_PATH="+lib)
	}
	return func(args ...string) *exec.Cmd {
		c := exec.Command(m[0], args...)
		c.Env = env
		return c
	}
}

func signTestHas(p string) bool { _, err := os.Stat(p); return err == nil }

// TestBuildSign: kgen build --sign-key on each Debian kernel writes the
// module its scripts/sign-file would (byte for byte, RSA key from kgen
// keygen), the build cache stays unsigned (a build without the key after a
// signed one is the unsigned module), and DKMS-less defaults sign nothing.
func TestBuildSign(t *testing.T) {
	keys := t.TempDir()
	if o, err := kgen(t, "keygen", "-o", keys, "--cn", "kgen e2e"); err != nil {
		t.Fatalf("kgen keygen: %v\n%s", err, o)
	}
	key, cert := filepath.Join(keys, "kgen-signing.key"), filepath.Join(keys, "kgen-signing.der")
	for _, name := range signKernels {
		t.Run(name, func(t *testing.T) {
			k := need(t, name, "KGEN_REQUIRE_KERNELS")
			signFile := kernelSignFile(t, k)
			d := t.TempDir()
			build := func(out string, extra ...string) (string, []byte) {
				t.Helper()
				args := append([]string{"build", "../examples/kretprobe.yaml", "--kdir", k.KDIR, "-o", filepath.Join(d, out)}, extra...)
				o, err := kgen(t, args...)
				if err != nil {
					t.Fatalf("kgen %v: %v\n%s", args, err, o)
				}
				b, err := os.ReadFile(filepath.Join(d, out, "vfs_read_lat.ko"))
				if err != nil {
					t.Fatal(err)
				}
				return o, b
			}
			_, unsigned := build("unsigned")
			if bytes.HasSuffix(unsigned, []byte("~Module signature appended~\n")) {
				t.Fatalf("kgen build without a key signed the module")
			}
			for _, hash := range []string{"sha256", "sha512"} {
				o, signed := build("signed-"+hash, "--sign-key", key, "--sign-cert", cert, "--sign-hash", hash)
				if !regexp.MustCompile(`(?m)^signed .*vfs_read_lat\.ko with .*kgen-signing\.key \(--sign-key, ` + hash + `, CN=kgen e2e\)$`).MatchString(o) {
					t.Errorf("kgen build --sign-key output does not say it signed:\n%s", o)
				}
				ref := filepath.Join(d, "ref-"+hash+".ko")
				if err := os.WriteFile(ref+".in", unsigned, 0o644); err != nil {
					t.Fatal(err)
				}
				if o, err := signFile(hash, key, cert, ref+".in", ref).CombinedOutput(); err != nil {
					t.Fatalf("sign-file: %v\n%s", err, o)
				}
				want, _ := os.ReadFile(ref)
				if !bytes.Equal(signed, want) {
					t.Errorf("%s: kgen build --sign-key's module differs from sign-file's (%d vs %d bytes)", hash, len(signed), len(want))
				}
			}
			// The signed builds came from (and left) the cache unsigned.
			o, again := build("again")
			if !strings.HasPrefix(o, "cached ") || !bytes.Equal(again, unsigned) {
				t.Errorf("a build after the signed ones is not the cached unsigned module:\n%s", o)
			}
		})
	}
}

// TestVMSign boots Debian 6.1 once with module.sig_enforce=1 and runs
// testdata/sign.sh: kgen load of an unsigned module, of modules kgen signed
// with a key the kernel lacks (RSA and ECDSA with sha256; RSA with
// sha3-256, which 6.1 cannot verify), and of Debian's own signed loop.ko.
func TestVMSign(t *testing.T) {
	k := needVM(t, "debian-6.1")
	deb := filepath.Join(k.Dir, "modules", "ko", "loop.ko")
	if !signTestHas(deb) {
		msg := "Debian modules not extracted (make kernels, or scripts/extract-modules.sh debian-6.1)"
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("KGEN_REQUIRE_VM") == "1" {
			t.Fatal("openssl not found (apt-get install openssl)")
		}
		t.Skip("openssl not found (apt-get install openssl)")
	}
	keys := t.TempDir()
	if o, err := kgen(t, "keygen", "-o", filepath.Join(keys, "rsa"), "--cn", "untrusted rsa"); err != nil {
		t.Fatalf("kgen keygen: %v\n%s", err, o)
	}
	// kgen keygen makes RSA keys; the ECDSA one comes from openssl, as
	// users' existing keys do.
	ecKey, ecCert := filepath.Join(keys, "ec.pem"), filepath.Join(keys, "ec.der")
	if o, err := exec.Command("openssl", "req", "-new", "-nodes", "-batch", "-x509", "-days", "1", "-subj", "/CN=untrusted ecdsa",
		"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", ecKey, "-outform", "DER", "-out", ecCert).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, o)
	}
	rsaKey, rsaCert := filepath.Join(keys, "rsa", "kgen-signing.key"), filepath.Join(keys, "rsa", "kgen-signing.der")
	out := t.TempDir()
	cases := map[string][]string{
		"unsigned":     nil,
		"rsa-sha256":   {"--sign-key", rsaKey, "--sign-cert", rsaCert},
		"ecdsa-sha256": {"--sign-key", ecKey, "--sign-cert", ecCert},
		"rsa-sha3-256": {"--sign-key", rsaKey, "--sign-cert", rsaCert, "--sign-hash", "sha3-256"},
	}
	var files []string
	for c, extra := range cases {
		dir := filepath.Join(out, c)
		args := append([]string{"build", "../examples/kretprobe.yaml", "--kdir", k.KDIR, "-o", dir}, extra...)
		o, err := kgen(t, args...)
		if err != nil {
			t.Fatalf("kgen %v: %v\n%s", args, err, o)
		}
		if warn := "cannot verify sha3-256 signatures (Linux 6.7+ can)"; strings.Contains(o, warn) != (c == "rsa-sha3-256") {
			t.Errorf("kgen %v: the warning %q is wrong:\n%s", args, warn, o)
		}
		files = append(files, filepath.Join(dir, "vfs_read_lat.ko")+":/root/"+c+"/vfs_read_lat.ko")
	}
	files = append(files, deb+":/root/loop.ko")
	g := guest{Script: "testdata/sign.sh", Files: files, Timeout: "3m", Append: "module.sig_enforce=1"}
	o, s := g.run(t, k)
	checkSign(t, s)
	if t.Failed() || testing.Verbose() {
		t.Logf("guest output:\n%s", o)
	}
}

func checkSign(t *testing.T, s map[string]string) {
	if got := strings.TrimSpace(s["enforce"]); got != "Y" {
		t.Fatalf("module.sig_enforce is %q in the guest, want Y", got)
	}
	for _, tc := range []struct {
		sec, kernel string   // the kernel's "Loading of ... is rejected" line
		want        []string // in kgen load's error
	}{
		{"unsigned", "Loading of unsigned module is rejected",
			[]string{"module signature rejected (key was rejected by service)", "the module is unsigned", "kgen build --sign-key"}},
		{"rsa-sha256", "Loading of module with unavailable key is rejected",
			[]string{`signed by "CN=untrusted rsa" serial `, "(RSA, sha256), a key unknown to the kernel", "mokutil --import"}},
		{"ecdsa-sha256", "Loading of module with unavailable key is rejected",
			[]string{`signed by "CN=untrusted ecdsa" serial `, "(ECDSA, sha256), a key unknown to the kernel"}},
		{"rsa-sha3-256", "Loading of module with unsupported crypto is rejected",
			[]string{"(RSA, sha3-256) with an algorithm this kernel cannot verify"}},
	} {
		sec := s[tc.sec]
		if !strings.Contains(sec, "rc=1\n0\n") {
			t.Errorf("%s: kgen load did not fail, or the module is loaded:\n%s", tc.sec, sec)
		}
		if !strings.Contains(sec, tc.kernel) {
			t.Errorf("%s: the kernel did not log %q:\n%s", tc.sec, tc.kernel, sec)
		}
		for _, w := range tc.want {
			if !strings.Contains(sec, w) {
				t.Errorf("%s: kgen load's error lacks %q:\n%s", tc.sec, w, sec)
			}
		}
		// One case's hint never leaks into another's.
		if tc.sec != "unsigned" && strings.Contains(sec, "the module is unsigned") {
			t.Errorf("%s: a signed module was called unsigned:\n%s", tc.sec, sec)
		}
	}
	if d := s["debian"]; !strings.Contains(d, "rc=0\n1\n") || !strings.Contains(d, "unload rc=0") {
		t.Errorf("Debian's own signed loop.ko did not load and unload under sig_enforce:\n%s", d)
	}
}
