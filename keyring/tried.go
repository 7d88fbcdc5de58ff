package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// When no key can decrypt a Secret, the error says which keys were tried and
// why each did not fit, so that "I have no key" and "I have the wrong key"
// read differently and the user knows what to hand over or ask for. Only
// names (file paths, setting names, never their values) and public key IDs
// appear.

// triedDescriber is implemented by identities that can say, after none could
// decrypt, what they are and why they did not fit: one line, without secret
// material. errs are the ErrIncorrectIdentity errors the identity returned
// for this Secret's stanzas. absent reports that the identity had no key
// at all (a default file that does not exist, gpg without secret keys).
// An empty line leaves the identity out.
type triedDescriber interface {
	describeTry(ctx context.Context, stanzas []Stanza, errs []error) (line string, absent bool)
}

// attempt collects one identity's "not mine" answers for one Secret.
type attempt struct {
	id   Identity
	errs []error
}

// describeAttempts returns a line per identity that was tried and did not
// fit, and whether any of them had a key at all.
func describeAttempts(ctx context.Context, attempts []*attempt, stanzas []Stanza) (lines []string, anyKey bool) {
	for _, a := range attempts {
		if len(a.errs) == 0 {
			continue
		}
		if d, ok := a.id.(triedDescriber); ok {
			line, absent := d.describeTry(ctx, stanzas, a.errs)
			if line != "" {
				lines = append(lines, line)
			}
			anyKey = anyKey || !absent
			continue
		}
		msg := strings.TrimSuffix(a.errs[0].Error(), ": "+ErrIncorrectIdentity.Error())
		lines = append(lines, msg)
		anyKey = true
	}
	return lines, anyKey
}

// listIDs joins IDs for a message, at most three and a count of the rest.
func listIDs(ids []string) string {
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
	}
	return strings.Join(ids, ", ")
}

func countType(stanzas []Stanza, typ string) int {
	return len(stanzasOfType(stanzas, typ))
}

// describeKeys is the line of an identity holding keys of one type.
func describeKeys(label, typ, kind string, holds []string, stanzas []Stanza) string {
	what := kind
	if len(holds) > 0 {
		what += " " + listIDs(holds)
	}
	if countType(stanzas, typ) == 0 {
		return fmt.Sprintf("%s holds %s, but the Secret has no %s recipient", label, what, typ)
	}
	return fmt.Sprintf("%s holds %s, which is not a recipient", label, what)
}

func (a *ageIdentities) describeTry(_ context.Context, stanzas []Stanza, _ []error) (string, bool) {
	return a.describeAs(a.label, stanzas), false
}

func (a *ageIdentities) describeAs(label string, stanzas []Stanza) string {
	var holds []string
	for _, k := range a.keys {
		if k.id != "" {
			holds = append(holds, shortAgeID(k.id))
		}
	}
	kind := "the age key"
	if len(a.keys) > 1 {
		kind = fmt.Sprintf("%d age keys", len(a.keys))
	}
	return describeKeys(label, ageType, kind, holds, stanzas)
}

func (id *pgpFileIdentity) describeTry(_ context.Context, stanzas []Stanza, _ []error) (string, bool) {
	return id.describeAs(id.label, stanzas), false
}

func (id *pgpFileIdentity) describeAs(label string, stanzas []Stanza) string {
	var holds []string
	for _, e := range id.keys {
		holds = append(holds, fingerprint(e.PrimaryKey))
	}
	kind := "the OpenPGP secret key"
	if len(holds) > 1 {
		kind = fmt.Sprintf("%d OpenPGP secret keys", len(holds))
	}
	return describeKeys(label, pgpType, kind, holds, stanzas)
}

func (d *defaultAgeIdentity) describeTry(_ context.Context, stanzas []Stanza, _ []error) (string, bool) {
	if countType(stanzas, ageType) == 0 {
		return "", true // not tried: nothing for age keys
	}
	label := "the default age identity file " + d.path
	switch {
	case d.path == "":
		return "no default age identity file (neither HOME nor XDG_CONFIG_HOME is set)", true
	case errors.Is(d.err, ErrIncorrectIdentity):
		return label + " does not exist", true
	case d.id == nil:
		return "", true
	}
	if a, ok := d.id.(interface{ describeAs(string, []Stanza) string }); ok {
		return a.describeAs(label, stanzas), false
	}
	return label + " holds no key for any recipient", false
}

// gpgNoSecretKeyError is gpg's answer for a pgp stanza it holds no secret
// key for, with the key IDs the message is encrypted to and gpg's own
// words (sanitized), shown when no key could decrypt.
type gpgNoSecretKeyError struct {
	stanza string   // the stanza's ID (a fingerprint)
	keyIDs []string // 16-hex key IDs the message is encrypted to
	gpg    string   // gpg's message, e.g. "decryption failed: No secret key"
}

func (e *gpgNoSecretKeyError) Error() string {
	return "gpg has no secret key for pgp:" + e.stanza + ": " + ErrIncorrectIdentity.Error()
}

func (e *gpgNoSecretKeyError) Is(target error) bool { return target == ErrIncorrectIdentity }

func (id *pgpAgentIdentity) describeTry(ctx context.Context, _ []Stanza, errs []error) (string, bool) {
	var parts []string
	said := ""
	for _, err := range errs {
		var e *gpgNoSecretKeyError
		if !errors.As(err, &e) {
			continue
		}
		p := "pgp:" + e.stanza
		if len(e.keyIDs) > 0 {
			p += " is encrypted to key ID " + strings.Join(e.keyIDs, ", ")
		}
		parts = append(parts, p)
		if said == "" {
			said = e.gpg
		}
	}
	if len(parts) == 0 {
		return "", true
	}
	detail := strings.Join(parts, "; ")
	if said != "" {
		detail += "; gpg: " + said
	}
	// Which secret keys gpg does hold tells "no key" from "wrong key".
	res, err := id.gpg.run(ctx, nil, nil, "--batch", "--with-colons", "--fixed-list-mode", "--list-secret-keys")
	if err != nil {
		return "gpg has no secret key for it (" + detail + ")", true
	}
	var own []string
	for _, k := range parseGPGKeys(string(res.stdout)) {
		if k.fpr != "" {
			own = append(own, k.fpr)
		}
	}
	if len(own) == 0 {
		return "gpg holds no secret key at all (" + detail + ")", true
	}
	if len(own) == 1 {
		return "gpg holds the secret key of " + own[0] + ", which is not a recipient (" + detail + ")", false
	}
	return "gpg holds the secret keys of " + listIDs(own) + ", none of them a recipient (" + detail + ")", false
}

// stanzaError is an unwrap failure with the recipients it happened for,
// named in front when the message does not name them itself (a KMS error
// such as "no AWS credentials found" says nothing of the key).
type stanzaError struct {
	err  error
	refs []string
}

func (e *stanzaError) add(s Stanza) {
	msg := e.err.Error()
	if strings.Contains(msg, s.ID) || strings.Contains(msg, shortAgeID(s.ID)) {
		return
	}
	e.refs = append(e.refs, s.Type+":"+shortAgeID(s.ID))
}

func (e *stanzaError) Error() string {
	if len(e.refs) == 0 {
		return e.err.Error()
	}
	return listIDs(e.refs) + ": " + e.err.Error()
}

func (e *stanzaError) Unwrap() error { return e.err }
