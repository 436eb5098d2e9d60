package modsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Key is a signing key with its certificate.
type Key struct {
	Signer   crypto.Signer
	Cert     *x509.Certificate
	KeyPath  string
	CertPath string
}

// LoadKey reads a PEM private key (PKCS#8, PKCS#1 or SEC 1) from keyPath
// and its X.509 certificate (DER or PEM) from certPath. An empty certPath
// takes the certificate from the key file, as the kernel's own
// certs/signing_key.pem holds both.
func LoadKey(keyPath, certPath string) (*Key, error) {
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	signer, inlineCert, err := parseKeyPEM(kb)
	if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", keyPath, err)
	}
	k := &Key{Signer: signer, KeyPath: keyPath, CertPath: certPath}
	if certPath == "" {
		if inlineCert == nil {
			return nil, fmt.Errorf("read signing key %s: it holds no certificate: pass the key's certificate (--sign-cert)", keyPath)
		}
		k.Cert, k.CertPath = inlineCert, keyPath
	} else {
		cb, err := os.ReadFile(certPath)
		if err != nil {
			return nil, fmt.Errorf("read signing certificate: %w", err)
		}
		if k.Cert, err = ParseCert(cb); err != nil {
			return nil, fmt.Errorf("read signing certificate %s: %w", certPath, err)
		}
	}
	if err := Matches(k.Signer, k.Cert); err != nil {
		return nil, fmt.Errorf("signing key %s and certificate %s: %w", keyPath, k.CertPath, err)
	}
	return k, nil
}

func parseKeyPEM(b []byte) (crypto.Signer, *x509.Certificate, error) {
	var signer crypto.Signer
	var cert *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if signer != nil {
				return nil, nil, errors.New("more than one private key")
			}
			s, err := parsePrivateKey(blk)
			if err != nil {
				return nil, nil, err
			}
			signer = s
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, errors.New("the key is encrypted: decrypt it first (openssl pkey -in KEY -out PLAIN.pem)")
		case "CERTIFICATE":
			if cert == nil {
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, nil, fmt.Errorf("certificate: %w", err)
				}
				cert = c
			}
		}
	}
	if signer == nil {
		return nil, nil, errors.New("no PEM private key in it (want a PEM \"PRIVATE KEY\" block, as openssl writes)")
	}
	return signer, cert, nil
}

func parsePrivateKey(blk *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%T keys cannot sign modules: use an RSA or ECDSA key", k)
	}
}

// ParseCert reads a DER or PEM X.509 certificate.
func ParseCert(b []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q, want CERTIFICATE", blk.Type)
		}
		b = blk.Bytes
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("not a DER or PEM X.509 certificate: %w", err)
	}
	return c, nil
}

// Generated key pair file names, in the directory given to Generate.
const (
	KeyFile  = "kgen-signing.key" // PEM PKCS#8 private key, mode 0600
	CertFile = "kgen-signing.der" // DER certificate, as mokutil --import takes
)

// Generate makes a module signing key pair in dir: an RSA 2048 key (what
// shim's MOK accepts everywhere) and a self-signed X.509 v3 certificate
// with digitalSignature key usage and the codeSigning extended key usage
// the kernel's module signing documentation gives. It refuses to
// overwrite an existing key.
func Generate(dir, commonName string, validFor time.Duration) (keyPath, certPath string, err error) {
	keyPath, certPath = filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	for _, p := range []string{keyPath, certPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("generate signing key: %s exists: remove it or pick another directory (-o)", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("generate signing key: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: serial: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: %w", err)
	}
	ski := sha1.Sum(pubDER)
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski[:],
		AuthorityKeyId:        ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("generate signing key: %w", err)
	}
	var kb bytes.Buffer
	_ = pem.Encode(&kb, &pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	if err := writeNew(keyPath, kb.Bytes(), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(certPath, der, 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return keyPath, certPath, nil
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("generate signing key: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("generate signing key: write %s: %w", path, err)
	}
	return nil
}

// SignFile signs the module at path in place (through a temporary file
// renamed over it).
func SignFile(path string, k *Key, h Hash) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sign module: %w", err)
	}
	out, err := Sign(b, k.Signer, k.Cert, h)
	if err != nil {
		return fmt.Errorf("sign %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sign module: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sign-*")
	if err != nil {
		return fmt.Errorf("sign module: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("sign module: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("sign module: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sign module: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sign module: %w", err)
	}
	return nil
}
