package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"kgen/modsign"
)

// signFlags are kgen build's module signing options.
type signFlags struct {
	key, cert, hash string
	none            bool
}

func (f *signFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.key, "sign-key", "", "sign the module with this PEM private key (default $KGEN_SIGN_KEY, else DKMS's MOK key when present)")
	fl.StringVar(&f.cert, "sign-cert", "", "the signing key's X.509 certificate, DER or PEM (default $KGEN_SIGN_CERT, else the one in the key file)")
	fl.StringVar(&f.hash, "sign-hash", "", "signature hash: sha256 (default, or $KGEN_SIGN_HASH), sha224, sha384, sha512, sha3-256, sha3-384, sha3-512")
	fl.BoolVar(&f.none, "no-sign", false, "do not sign the module, even with DKMS's MOK key present")
}

// dkmsDir holds DKMS's module signing pair (mok.key, mok.pub); a variable
// for tests.
var dkmsDir = "/var/lib/dkms"

// signSetup is what kgen build signs with: nil key for an unsigned module.
type signSetup struct {
	key  *modsign.Key
	hash modsign.Hash
	from string // where the key came from, for the build output
}

// resolveSigning picks the signing key: --sign-key, else $KGEN_SIGN_KEY,
// else DKMS's MOK pair when both files exist. A DKMS key kgen cannot read
// (it is root's) is skipped with a note on stderr rather than failing an
// unsigned build that worked before.
func resolveSigning(f signFlags, stderr io.Writer) (*signSetup, error) {
	hashName := f.hash
	if hashName == "" {
		hashName = os.Getenv("KGEN_SIGN_HASH")
	}
	if hashName == "" {
		hashName = modsign.DefaultHash
	}
	h, err := modsign.LookupHash(hashName)
	if err != nil {
		return nil, fmt.Errorf("--sign-hash: %w", err)
	}
	if f.none {
		if f.key != "" || f.cert != "" {
			return nil, errors.New("--no-sign with --sign-key/--sign-cert: pick one")
		}
		return nil, nil
	}
	key, cert, from := f.key, f.cert, "--sign-key"
	if key == "" && cert != "" {
		return nil, errors.New("--sign-cert without --sign-key: pass the certificate's private key too (--sign-key KEY.pem)")
	}
	if key == "" {
		key, from = os.Getenv("KGEN_SIGN_KEY"), "$KGEN_SIGN_KEY"
		if cert == "" {
			cert = os.Getenv("KGEN_SIGN_CERT")
		}
	}
	if key == "" {
		mk, mc := filepath.Join(dkmsDir, "mok.key"), filepath.Join(dkmsDir, "mok.pub")
		if !mokFileExists(mk) || !mokFileExists(mc) {
			return nil, nil
		}
		fh, err := os.Open(mk)
		if err != nil {
			fmt.Fprintf(stderr, "kgen: not signing: DKMS's MOK key %s is there but unreadable (%v): run as root, pass --sign-key, or --no-sign to silence this\n", mk, errors.Unwrap(err))
			return nil, nil
		}
		fh.Close()
		key, cert, from = mk, mc, "DKMS's MOK key, no --sign-key given"
	}
	k, err := modsign.LoadKey(key, cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return &signSetup{key: k, hash: h, from: from}, nil
}

func mokFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// sign signs ko, built for release, in place and says so on stdout; a
// hash the kernel cannot verify gets a warning on stderr.
func (s *signSetup) sign(ko, release string, stdout, stderr io.Writer) error {
	if err := modsign.SignFile(ko, s.key, s.hash); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s with %s (%s, %s, %s)\n", ko, s.key.KeyPath, s.from, s.hash.Name, s.key.Cert.Subject)
	if !s.hash.KernelVerifies(release) {
		fmt.Fprintf(stderr, "kgen: warning: %s cannot verify %s signatures (Linux %s+ can): it will refuse the module under signature enforcement; use --sign-hash sha256\n",
			release, s.hash.Name, s.hash.Since)
	}
	return nil
}
