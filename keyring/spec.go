package keyring

import (
	"fmt"
	"os"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// specTypes are the prefixes a key spec may carry explicitly. A type listed
// here but not registered as a Provider gets a "not supported" error.
var specTypes = []string{"pgp", "aws", "gcp", "age"}

// SplitSpec returns a key spec's type and the rest. Explicit "TYPE:" prefixes
// win; bare forms are recognised by shape: 40 hex digits or an existing file
// (pgp), an AWS KMS ARN (aws), a Cloud KMS key name (gcp), an age or SSH
// public key (age).
func SplitSpec(spec string) (typ, rest string, err error) {
	for _, t := range specTypes {
		if r, ok := strings.CutPrefix(spec, t+":"); ok {
			if r == "" {
				return "", "", hint.Wrap(fmt.Errorf("key %q: nothing after %q", spec, t+":"), specHint)
			}
			return t, r, nil
		}
	}
	switch {
	case IsFingerprint(spec):
		return "pgp", spec, nil
	case strings.HasPrefix(spec, "arn:aws:kms:") || strings.HasPrefix(spec, "arn:aws-"):
		return "aws", spec, nil
	case strings.HasPrefix(spec, "projects/") && strings.Contains(spec, "/cryptoKeys/"):
		return "gcp", spec, nil
	case strings.HasPrefix(spec, "age1") || strings.HasPrefix(spec, "ssh-ed25519 ") || strings.HasPrefix(spec, "ssh-rsa "):
		return "age", spec, nil
	}
	if st, err := os.Stat(spec); err == nil && st.Mode().IsRegular() {
		return "pgp", spec, nil
	}
	return "", "", hint.Wrap(fmt.Errorf("key %q: not a key spec ksec understands, nor an existing key file", spec), specHint)
}

const specHint = "keys are written pgp:FINGERPRINT, pgp:PATH, a bare 40-hex fingerprint or a public-key file path"

// IsFingerprint reports whether s is a v4 OpenPGP fingerprint: 40 hex digits,
// optionally with a 0x prefix.
func IsFingerprint(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
