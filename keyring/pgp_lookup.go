package keyring

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// A pgp key may be named the ways gpg users name keys: a fingerprint as
// gpg --fingerprint prints it (groups of four with spaces), a 16-hex key ID
// or an email address. ksec looks such names up in the gpg public keyring
// and records the primary key's full fingerprint, which is what a stanza
// names; a name that matches several keys is refused, never guessed.

const hintPGPName = "name the key by its full fingerprint: gpg --list-keys --with-colons shows it on the fpr lines"

// compactFingerprint returns s as a 40-hex fingerprint when it is one
// written with spaces (as gpg --fingerprint prints it) or a 0x prefix.
func compactFingerprint(s string) (string, bool) {
	c := strings.Join(strings.Fields(s), "")
	if !IsFingerprint(c) {
		return "", false
	}
	return normalizeFingerprint(c), true
}

// isKeyID reports whether s is a 16-hex OpenPGP key ID, optionally
// 0x-prefixed.
func isKeyID(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return len(s) == 16 && isHex(s)
}

// isShortKeyID reports whether s is an 8-hex short key ID, which ksec
// refuses: short IDs collide easily and on purpose.
func isShortKeyID(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return len(s) == 8 && isHex(s)
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return s != ""
}

// emailOf returns the address of a spec written user@host or <user@host>.
func emailOf(s string) (string, bool) {
	if t, ok := strings.CutPrefix(s, "<"); ok {
		if t, ok = strings.CutSuffix(t, ">"); !ok {
			return "", false
		}
		s = t
	}
	for _, ext := range []string{".asc", ".gpg", ".pgp", ".pub", ".key"} {
		if strings.HasSuffix(strings.ToLower(s), ext) {
			return "", false // a key file's name, not an address
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "@") {
		return "", false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("<>:,;\"'\\/", c) {
			return "", false
		}
	}
	return s, true
}

// pgpKeyName says what kind of gpg key name spec is: "key ID", "email" or
// "" when it is neither (a fingerprint or a file).
func pgpKeyName(spec string) string {
	if isKeyID(spec) {
		return "key ID"
	}
	if _, ok := emailOf(spec); ok {
		return "email"
	}
	return ""
}

// gpgKey is one key of a gpg --with-colons listing.
type gpgKey struct {
	fpr      string
	uid      string
	validity string // field 2 of the pub record: r revoked, e expired, …
	disabled bool
}

func (k gpgKey) usable() bool { return k.validity != "r" && k.validity != "e" && !k.disabled }

func (k gpgKey) String() string {
	s := k.fpr
	if k.uid != "" {
		s += " " + sanitizeOneLine(k.uid, 100)
	}
	switch {
	case k.validity == "r":
		s += " (revoked)"
	case k.validity == "e":
		s += " (expired)"
	case k.disabled:
		s += " (disabled)"
	}
	return s
}

// parseGPGKeys reads the primary keys of a gpg --with-colons listing: each
// "pub" (or "sec") record, its fingerprint (the first "fpr" after it) and its
// first user ID.
func parseGPGKeys(colons string) []gpgKey {
	var keys []gpgKey
	cur := -1
	wantFpr := false
	for _, line := range strings.Split(colons, "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), ":")
		switch {
		case len(f) < 2:
		case f[0] == "pub" || f[0] == "sec":
			k := gpgKey{validity: f[1]}
			if len(f) > 11 && strings.Contains(f[11], "D") {
				k.disabled = true
			}
			keys = append(keys, k)
			cur, wantFpr = len(keys)-1, true
		case f[0] == "sub" || f[0] == "ssb":
			wantFpr = false
		case f[0] == "fpr" && wantFpr && cur >= 0 && len(f) > 9:
			keys[cur].fpr = strings.ToUpper(f[9])
			wantFpr = false
		case f[0] == "uid" && cur >= 0 && keys[cur].uid == "" && len(f) > 9:
			keys[cur].uid = unescapeColons(f[9])
		}
	}
	return keys
}

// resolvePGPName looks a key ID or email address up in the gpg public
// keyring and returns the one usable primary key's fingerprint.
func (p *pgpProvider) resolvePGPName(ctx context.Context, spec string) (string, error) {
	kind := pgpKeyName(spec)
	pattern := "0x" + strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(spec, "0x"), "0X"))
	if kind == "email" {
		email, _ := emailOf(spec)
		pattern = "<" + email + ">" // exact address, not a substring
	}
	res, err := p.gpg.run(ctx, nil, nil, "--batch", "--with-colons", "--fixed-list-mode", "--list-keys", "--", pattern)
	if err != nil {
		if isNotFound(err) {
			return "", hint.Wrap(fmt.Errorf("cannot look up the %s with gpg: %w", kind, p.gpg.notFound(err)), hintGPGForRecipient)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("looking up the %s with gpg: %w", kind, ctx.Err())
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return "", fmt.Errorf("gpg --list-keys failed: %w", err)
		}
		// gpg exits 2 for "No public key": fall through with no keys.
	}
	keys := parseGPGKeys(string(res.stdout))
	var usable []gpgKey
	for _, k := range keys {
		if k.fpr != "" && k.usable() {
			usable = append(usable, k)
		}
	}
	switch {
	case len(keys) == 0:
		return "", hint.Wrap(fmt.Errorf("no key with this %s in the gpg keyring (gpg: %s)", kind, sanitizeOneLine(res.messages(""), 200)), hintImportKey)
	case len(usable) == 0:
		return "", hint.Wrap(fmt.Errorf("every key with this %s in the gpg keyring is revoked, expired or disabled: %s", kind, listKeys(keys)),
			"ask the key's owner for a current public key and import it with gpg --import")
	case len(usable) > 1:
		return "", hint.Wrap(fmt.Errorf("%d keys in the gpg keyring have this %s: %s", len(usable), kind, listKeys(usable)), hintPGPName)
	}
	return usable[0].fpr, nil
}

func listKeys(keys []gpgKey) string {
	var parts []string
	for i, k := range keys {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(keys)-5))
			break
		}
		parts = append(parts, k.String())
	}
	return strings.Join(parts, ", ")
}

// sanitizeOneLine makes text from outside (gpg's messages, user IDs) safe
// for a one-line error: control characters become spaces, runs of spaces
// one, and it is cut after max runes.
func sanitizeOneLine(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\ufffd' {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		if n == max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
