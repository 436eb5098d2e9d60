// Package modsign signs Linux kernel modules the way the kernel's own
// scripts/sign-file does, in pure Go: a detached PKCS#7 (CMS) SignedData over
// the module's bytes, without certificates or signed attributes, appended to
// the module with the struct module_signature trailer and the
// "~Module signature appended~\n" magic.
//
// For RSA keys the output is byte-identical to sign-file's (PKCS#1 v1.5
// signatures are deterministic); ECDSA signatures are randomised, so only
// their structure matches.
package modsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	_ "crypto/sha1"   // registered for crypto.SHA1
	_ "crypto/sha256" // registered for crypto.SHA224/SHA256
	_ "crypto/sha3"   // registered for crypto.SHA3_*
	_ "crypto/sha512" // registered for crypto.SHA384/SHA512
)

// Magic ends every signed module (include/linux/module_signature.h).
const Magic = "~Module signature appended~\n"

// trailerLen is sizeof(struct module_signature): algo, hash, id_type,
// signer_len, key_id_len, __pad[3], __be32 sig_len.
const trailerLen = 12

// idPKCS7 is module_signature.id_type for a PKCS#7 message (PKEY_ID_PKCS7).
const idPKCS7 = 2

// Hash is a digest algorithm a module signature can use.
type Hash struct {
	Name  string // sign-file's name: sha256, sha3-256, ...
	Hash  crypto.Hash
	oid   asn1.ObjectIdentifier // digestAlgorithm
	ecOID asn1.ObjectIdentifier // ECDSA signatureAlgorithm with this digest
	Since string                // first kernel release that verifies it
}

// Hashes are the digests sign-file and the kernel share, in the kernel's
// Kconfig order. sha1 is left out: it is deprecated for module signatures.
var Hashes = []Hash{
	{"sha224", crypto.SHA224, oid(2, 16, 840, 1, 101, 3, 4, 2, 4), oid(1, 2, 840, 10045, 4, 3, 1), "3.7"},
	{"sha256", crypto.SHA256, oid(2, 16, 840, 1, 101, 3, 4, 2, 1), oid(1, 2, 840, 10045, 4, 3, 2), "3.7"},
	{"sha384", crypto.SHA384, oid(2, 16, 840, 1, 101, 3, 4, 2, 2), oid(1, 2, 840, 10045, 4, 3, 3), "3.7"},
	{"sha512", crypto.SHA512, oid(2, 16, 840, 1, 101, 3, 4, 2, 3), oid(1, 2, 840, 10045, 4, 3, 4), "3.7"},
	{"sha3-256", crypto.SHA3_256, oid(2, 16, 840, 1, 101, 3, 4, 2, 8), oid(2, 16, 840, 1, 101, 3, 4, 3, 10), "6.7"},
	{"sha3-384", crypto.SHA3_384, oid(2, 16, 840, 1, 101, 3, 4, 2, 9), oid(2, 16, 840, 1, 101, 3, 4, 3, 11), "6.7"},
	{"sha3-512", crypto.SHA3_512, oid(2, 16, 840, 1, 101, 3, 4, 2, 10), oid(2, 16, 840, 1, 101, 3, 4, 3, 12), "6.7"},
}

// KernelVerifies reports whether a kernel of release (uname -r, e.g.
// 6.1.0-57-amd64) verifies signatures with h; true when release is not
// understood.
func (h Hash) KernelVerifies(release string) bool {
	var rm, rn, sm, sn int
	if _, err := fmt.Sscanf(release, "%d.%d", &rm, &rn); err != nil {
		return true
	}
	if _, err := fmt.Sscanf(h.Since, "%d.%d", &sm, &sn); err != nil {
		return true
	}
	return rm > sm || (rm == sm && rn >= sn)
}

// DefaultHash is the kernel's default (CONFIG_MODULE_SIG_SHA256 in Debian's
// and most distributions' configs).
const DefaultHash = "sha256"

// LookupHash returns the Hash named name (sign-file's spelling).
func LookupHash(name string) (Hash, error) {
	for _, h := range Hashes {
		if h.Name == strings.ToLower(name) {
			return h, nil
		}
	}
	names := make([]string, len(Hashes))
	for i, h := range Hashes {
		names[i] = h.Name
	}
	return Hash{}, fmt.Errorf("unknown signature hash %q: use one of %s", name, strings.Join(names, ", "))
}

func oid(v ...int) asn1.ObjectIdentifier { return v }

var (
	oidSignedData    = oid(1, 2, 840, 113549, 1, 7, 2)
	oidData          = oid(1, 2, 840, 113549, 1, 7, 1)
	oidRSAEncryption = oid(1, 2, 840, 113549, 1, 1, 1)
)

// The PKCS#7 structures, as OpenSSL's CMS code writes them for sign-file.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     signedData `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []algorithmIdentifier `asn1:"set"`
	ContentInfo      encapContent
	SignerInfos      []signerInfo `asn1:"set"`
}

type encapContent struct {
	ContentType asn1.ObjectIdentifier
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial asn1.RawValue
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    algorithmIdentifier
	SignatureAlgorithm algorithmIdentifier
	Signature          []byte
}

var asn1Null = asn1.RawValue{Tag: asn1.TagNull, FullBytes: []byte{asn1.TagNull, 0}}

// Sign returns module with a signature by key appended; cert is key's
// certificate (its issuer and serial number name the key to the kernel).
// A signature the module already has is replaced, not stacked.
func Sign(module []byte, key crypto.Signer, cert *x509.Certificate, h Hash) ([]byte, error) {
	return sign(rand.Reader, module, key, cert, h)
}

func sign(rnd io.Reader, module []byte, key crypto.Signer, cert *x509.Certificate, h Hash) ([]byte, error) {
	if err := Matches(key, cert); err != nil {
		return nil, err
	}
	if !h.Hash.Available() {
		return nil, fmt.Errorf("sign module: hash %s is not available", h.Name)
	}
	body := module
	if rs, err := splitSig(module); err != nil {
		return nil, fmt.Errorf("sign module: it ends with a broken signature (%w): rebuild it", err)
	} else if rs != nil {
		body, _ = Strip(module)
	}
	d := h.Hash.New()
	d.Write(body)
	digest := d.Sum(nil)

	var sigAlg algorithmIdentifier
	switch key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = algorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1Null}
	case *ecdsa.PublicKey:
		sigAlg = algorithmIdentifier{Algorithm: h.ecOID}
	default:
		return nil, fmt.Errorf("sign module: %T keys cannot sign modules: use an RSA or ECDSA key", key.Public())
	}
	sig, err := key.Sign(rnd, digest, h.Hash)
	if err != nil {
		return nil, fmt.Errorf("sign module with %s: %w", h.Name, err)
	}
	digestAlg := algorithmIdentifier{Algorithm: h.oid}
	ci := contentInfo{
		ContentType: oidSignedData,
		Content: signedData{
			Version:          1,
			DigestAlgorithms: []algorithmIdentifier{digestAlg},
			ContentInfo:      encapContent{ContentType: oidData},
			SignerInfos: []signerInfo{{
				Version: 1,
				SID: issuerAndSerial{
					Issuer: asn1.RawValue{FullBytes: cert.RawIssuer},
					Serial: asn1.RawValue{FullBytes: mustMarshal(cert.SerialNumber)},
				},
				DigestAlgorithm:    digestAlg,
				SignatureAlgorithm: sigAlg,
				Signature:          sig,
			}},
		},
	}
	p7, err := asn1.Marshal(ci)
	if err != nil {
		return nil, fmt.Errorf("sign module: encode PKCS#7: %w", err)
	}
	out := make([]byte, 0, len(body)+len(p7)+trailerLen+len(Magic))
	out = append(out, body...)
	out = append(out, p7...)
	var tr [trailerLen]byte
	tr[2] = idPKCS7
	binary.BigEndian.PutUint32(tr[8:], uint32(len(p7)))
	out = append(out, tr[:]...)
	out = append(out, Magic...)
	return out, nil
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Matches reports whether cert holds key's public key.
func Matches(key crypto.Signer, cert *x509.Certificate) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("sign module: the certificate (%s, serial %x) is not the key's: pass the certificate made with this key",
			cert.Subject, cert.SerialNumber)
	}
	return nil
}

// Strip returns module without its appended signature, and whether it had one.
func Strip(module []byte) ([]byte, bool) {
	sig, err := splitSig(module)
	if err != nil || sig == nil {
		return module, false
	}
	return module[:len(module)-len(Magic)-trailerLen-len(sig.raw)], true
}

type rawSig struct {
	raw    []byte
	idType byte
}

// splitSig finds the signature of module; nil, nil when it has none.
func splitSig(module []byte) (*rawSig, error) {
	if !bytes.HasSuffix(module, []byte(Magic)) {
		return nil, nil
	}
	n := len(module) - len(Magic)
	if n < trailerLen {
		return nil, errors.New("signature trailer truncated")
	}
	tr := module[n-trailerLen : n]
	l := binary.BigEndian.Uint32(tr[8:])
	if uint64(l) > uint64(n-trailerLen) {
		return nil, fmt.Errorf("signature length %d exceeds the module", l)
	}
	start := n - trailerLen - int(l)
	return &rawSig{raw: module[start : n-trailerLen], idType: tr[2]}, nil
}

// message is a PKCS#7 SignedData as read back (certificates allowed).
type message struct {
	ContentType asn1.ObjectIdentifier
	Content     struct {
		Version          int
		DigestAlgorithms []algorithmIdentifier `asn1:"set"`
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos      []struct {
			Version            int
			SID                asn1.RawValue
			DigestAlgorithm    algorithmIdentifier
			SignatureAlgorithm algorithmIdentifier
			Signature          []byte
		} `asn1:"set"`
	} `asn1:"explicit,tag:0"`
}

// Info describes a module's signature.
type Info struct {
	Hash         string // sign-file's hash name, or the OID when unknown
	KeyAlgorithm string // "RSA" or "ECDSA" (or the OID)
	Issuer       []byte // DER Name of the signer's certificate issuer
	Serial       []byte // DER INTEGER of the signer's certificate serial
	Signature    []byte
	PKCS7        []byte // the whole DER message
}

// ErrUnsigned is returned by Parse for a module without a signature.
var ErrUnsigned = errors.New("module is not signed")

// Parse reads the signature appended to module.
func Parse(module []byte) (*Info, error) {
	rs, err := splitSig(module)
	if err != nil {
		return nil, fmt.Errorf("parse module signature: %w", err)
	}
	if rs == nil {
		return nil, ErrUnsigned
	}
	if rs.idType != idPKCS7 {
		return nil, fmt.Errorf("parse module signature: id_type %d, want %d (PKCS#7)", rs.idType, idPKCS7)
	}
	var ci message
	rest, err := asn1.Unmarshal(rs.raw, &ci)
	if err != nil {
		return nil, fmt.Errorf("parse module signature: PKCS#7: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("parse module signature: %d bytes after the PKCS#7 message", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("parse module signature: content type %v, want signedData", ci.ContentType)
	}
	if len(ci.Content.SignerInfos) != 1 {
		return nil, fmt.Errorf("parse module signature: %d signers, want 1", len(ci.Content.SignerInfos))
	}
	si := ci.Content.SignerInfos[0]
	var sid issuerAndSerial
	if rest, err := asn1.Unmarshal(si.SID.FullBytes, &sid); err != nil || len(rest) > 0 {
		return nil, errors.New("parse module signature: the signer is not named by issuer and serial number")
	}
	info := &Info{
		Hash:         si.DigestAlgorithm.Algorithm.String(),
		KeyAlgorithm: si.SignatureAlgorithm.Algorithm.String(),
		Issuer:       sid.Issuer.FullBytes,
		Serial:       sid.Serial.FullBytes,
		Signature:    si.Signature,
		PKCS7:        rs.raw,
	}
	for _, h := range Hashes {
		if h.oid.Equal(si.DigestAlgorithm.Algorithm) {
			info.Hash = h.Name
		}
	}
	switch {
	case si.SignatureAlgorithm.Algorithm.Equal(oidRSAEncryption):
		info.KeyAlgorithm = "RSA"
	case slices.ContainsFunc(Hashes, func(h Hash) bool { return h.ecOID.Equal(si.SignatureAlgorithm.Algorithm) }):
		info.KeyAlgorithm = "ECDSA"
	}
	return info, nil
}

// Verify checks module's signature against cert (what the kernel does with
// a key in its keyrings): the signer must be cert and the signature valid.
func Verify(module []byte, cert *x509.Certificate) error {
	info, err := Parse(module)
	if err != nil {
		return err
	}
	if !bytes.Equal(info.Issuer, cert.RawIssuer) || !bytes.Equal(info.Serial, mustMarshal(cert.SerialNumber)) {
		return errors.New("verify module signature: signed by another key than the certificate's")
	}
	h, err := LookupHash(info.Hash)
	if err != nil {
		return fmt.Errorf("verify module signature: %w", err)
	}
	body, _ := Strip(module)
	d := h.Hash.New()
	d.Write(body)
	digest := d.Sum(nil)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, h.Hash, digest, info.Signature)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, info.Signature) {
			err = errors.New("ECDSA signature mismatch")
		}
	default:
		err = fmt.Errorf("%T keys are not supported", pub)
	}
	if err != nil {
		return fmt.Errorf("verify module signature: %w", err)
	}
	return nil
}
