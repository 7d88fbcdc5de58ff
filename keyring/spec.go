package keyring

import (
	"fmt"
	"os"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// specTypes are the prefixes a key spec may carry explicitly. A type listed
// here but not registered as a Provider gets a "not supported" error.
var specTypes = []string{"pgp", "aws", "gcp", "age", "vault", "azure"}

// SplitSpec returns a key spec's type and the rest. Explicit "TYPE:" prefixes
// win; bare forms are recognised by shape: 40 hex digits (with or without
// gpg's spaces), a 16-hex key ID, an email address or an existing file
// (pgp), an AWS KMS ARN (aws), a Cloud KMS key name (gcp), a transit key
// URL https://…/v1/…/keys/NAME (vault), an age or SSH public key (age), an
// Azure Key Vault key URL (azure).
func SplitSpec(spec string) (typ, rest string, err error) {
	for _, t := range specTypes {
		if r, ok := strings.CutPrefix(spec, t+":"); ok {
			if r == "" {
				return "", "", hint.Wrap(fmt.Errorf("key %s: nothing after %q", QuoteSpec(spec), t+":"), specHint)
			}
			return t, r, nil
		}
	}
	switch {
	case IsFingerprint(spec):
		return "pgp", spec, nil
	case pgpKeyName(spec) != "":
		return "pgp", spec, nil
	case isSpacedFingerprint(spec):
		return "pgp", spec, nil
	case strings.HasPrefix(spec, "arn:aws:kms:") || strings.HasPrefix(spec, "arn:aws-"):
		return "aws", spec, nil
	case strings.HasPrefix(spec, "projects/") && strings.Contains(spec, "/cryptoKeys/"):
		return "gcp", spec, nil
	case IsVaultURI(spec):
		return "vault", spec, nil
	case isAzureKeyURL(spec):
		return "azure", spec, nil
	case strings.HasPrefix(spec, "age1") || strings.HasPrefix(spec, "ssh-ed25519 ") || strings.HasPrefix(spec, "ssh-rsa "):
		return "age", spec, nil
	}
	if isRegularFile(spec) {
		return "pgp", spec, nil
	}
	return "", "", hint.Wrap(fmt.Errorf("key %s: not a key spec ksec understands, nor an existing key file", QuoteSpec(spec)), specHint)
}

// QuoteSpec quotes a key spec for an error message, unless it looks like
// secret key material pasted by mistake, which is never repeated.
func QuoteSpec(spec string) string {
	if _, rest, ok := strings.Cut(spec, "://"); ok {
		if authority, _, _ := strings.Cut(rest, "/"); strings.Contains(authority, "@") {
			return "(a URL with a user name or password, not shown)"
		}
	}
	upper := strings.ToUpper(spec)
	for _, secret := range []string{"AGE-SECRET-KEY-", "AGE-PLUGIN-", "PRIVATE KEY"} {
		if strings.Contains(upper, secret) {
			return "(a secret key, not shown)"
		}
	}
	return fmt.Sprintf("%q", spec)
}

const specHint = "keys are written pgp:FINGERPRINT, pgp:KEYID, pgp:EMAIL or pgp:PATH (an OpenPGP key, looked up in gpg or read from a file), age:age1… or age:ssh-ed25519 … (an age recipient), aws:arn:aws:kms:…, gcp:projects/…/cryptoKeys/…, vault:https://HOST:8200/v1/MOUNT/keys/NAME or azure:https://VAULT.vault.azure.net/keys/KEY; bare forms work too"

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

// isRegularFile reports whether path names an existing regular file.
func isRegularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// isSpacedFingerprint reports whether s is a fingerprint as gpg
// --fingerprint prints it, in groups with spaces.
func isSpacedFingerprint(s string) bool {
	_, ok := compactFingerprint(s)
	return ok
}
