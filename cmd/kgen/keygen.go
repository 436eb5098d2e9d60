package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"kgen/modsign"
)

func newKeygenCmd(stdout io.Writer) *cobra.Command {
	var dir, cn string
	var days int
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a module signing key and certificate to enroll as a Secure Boot MOK",
		Long: `keygen makes a module signing key pair in DIR: ` + modsign.KeyFile + ` (PEM private
key, mode 0600) and ` + modsign.CertFile + ` (self-signed X.509 certificate, DER, RSA 2048,
digitalSignature and codeSigning usage, as the kernel's module signing
documentation and shim's MOK list want). It prints the mokutil step that
enrolls the certificate, after which kernels booted through shim trust modules
signed with the key (kgen build --sign-key). It never overwrites a key.`,
		Example: `  kgen keygen -o ~/.config/kgen
  kgen keygen -o keys --cn "ACME probes signing key"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return fmt.Errorf("keygen: --days %d: want at least 1", days)
			}
			if cn == "" {
				host, _ := os.Hostname()
				cn = "kgen module signing key"
				if host != "" {
					cn += " (" + host + ")"
				}
			}
			kp, cp, err := modsign.Generate(dir, cn, time.Duration(days)*24*time.Hour)
			if err != nil {
				return err
			}
			der, err := os.ReadFile(cp)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			fmt.Fprintf(stdout, "wrote %s (private key: keep it secret)\n", kp)
			fmt.Fprintf(stdout, "wrote %s (certificate %q, SHA-256 %x)\n", cp, cn, sha256.Sum256(der))
			fmt.Fprintf(stdout, `
Enroll the certificate in shim's MOK list (Secure Boot machines):
  sudo mokutil --import %s
  (set a one-time password, reboot, choose "Enroll MOK" in MokManager and enter it;
   mokutil --test-key %s tells whether it is enrolled)
Sign modules with it:
  kgen build SPEC --sign-key %s --sign-cert %s
`, cp, cp, kp, cp)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&dir, "output", "o", ".", "directory to write "+modsign.KeyFile+" and "+modsign.CertFile+" to")
	fl.StringVar(&cn, "cn", "", `the certificate's common name (default "kgen module signing key (HOSTNAME)")`)
	fl.IntVar(&days, "days", 36500, "days the certificate is valid (the kernel ignores expiry; DKMS uses 36500)")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}
