package loader

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"kgen/modsign"
)

// signatureError explains an EKEYREJECTED from finit_module. The kernel
// returns that one errno for every refusal under module.sig_enforce=1 (an
// unsigned module, a key missing from its keyrings, an unsupported
// algorithm, a signature that does not verify) and logs which one without
// the module's name, so kgen reads the module's own signature and the
// kernel log lines since the load began to tell them apart.
func signatureError(o *Options, name string, errno error, f *os.File, c Compression, mark string) error {
	me := &ModuleError{Op: "load", Module: name, Errno: errno, Kind: ErrSignature}
	var img []byte
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		img, _ = decompress(c, f)
	}
	info, perr := modsign.Parse(img)
	reason := kernelSigReason(o, mark)
	switch {
	case img == nil:
		me.Hint = "module signature enforcement is on (module.sig_enforce=1 or Secure Boot): sign the module " +
			"with a key the kernel trusts (kgen build --sign-key) or boot with module.sig_enforce=0"
	case errors.Is(perr, modsign.ErrUnsigned):
		me.Hint = "the module is unsigned and the kernel enforces module signatures (module.sig_enforce=1 " +
			"or Secure Boot): sign it with a key the kernel trusts (kgen build --sign-key KEY --sign-cert CERT; " +
			"kgen keygen makes one to enroll with mokutil) or boot with module.sig_enforce=0"
	case perr != nil:
		me.Hint = fmt.Sprintf("the module's signature is malformed (%v): rebuild and sign it again", perr)
	case reason == "unavailable key" || reason == "":
		me.Hint = fmt.Sprintf("the module is signed by %s, a key unknown to the kernel "+
			"(in none of its builtin, secondary or platform/MOK keyrings): enroll that certificate "+
			"(mokutil --import CERT.der, reboot, confirm in MokManager) or sign with a key the kernel has",
			signerName(info))
		if reason == "" {
			me.Hint += "; or the signature does not verify (the module changed after signing, " +
				"or the certificate is not the key's)"
		}
	case reason == "unsupported crypto":
		me.Hint = fmt.Sprintf("the module is signed (%s, %s) with an algorithm this kernel cannot verify: "+
			"sign it with --sign-hash sha256 and an RSA key", info.KeyAlgorithm, info.Hash)
	default:
		me.Hint = fmt.Sprintf("the kernel refused the module's signature by %s (%s)", signerName(info), reason)
	}
	return me
}

// kernelSigReason returns the reason of the kernel's "Loading of <reason>
// is rejected" line logged since mark, without its "module with " prefix:
// "unsigned module", "unavailable key", "unsupported crypto"; "" when the
// log has none (a signature that failed to verify returns EKEYREJECTED
// without that line).
func kernelSigReason(o *Options, mark string) string {
	b, err := o.Klog()
	if err != nil {
		return ""
	}
	log := string(b)
	if i := strings.LastIndex(log, mark); mark != "" && i >= 0 {
		log = log[i+len(mark):]
	}
	const pre, post = "Loading of ", " is rejected"
	i := strings.LastIndex(log, pre)
	if i < 0 {
		return ""
	}
	r, _, ok := strings.Cut(log[i+len(pre):], post)
	if !ok || strings.Contains(r, "\n") {
		return ""
	}
	return strings.TrimPrefix(r, "module with ")
}

// signerName names a signature's certificate by issuer and serial number,
// as the kernel's keyrings know it.
func signerName(info *modsign.Info) string {
	var issuer pkix.RDNSequence
	var serial *big.Int
	name := "an unknown signer"
	if _, err := asn1.Unmarshal(info.Issuer, &issuer); err == nil {
		var n pkix.Name
		n.FillFromRDNSequence(&issuer)
		name = fmt.Sprintf("%q", n.String())
	}
	if _, err := asn1.Unmarshal(info.Serial, &serial); err == nil {
		name += fmt.Sprintf(" serial %x", serial)
	}
	return name + " (" + info.KeyAlgorithm + ", " + info.Hash + ")"
}
