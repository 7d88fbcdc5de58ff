package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// ageType is the provider type and the stanza type of age recipients.
const ageType = "age"

const (
	hintAgeRecipient = "age keys are written age1… (from ksec keygen or age-keygen), or as an SSH public key line: ssh-ed25519 AAAA… or ssh-rsa AAAA…"
	hintAgeSecretKey = "give the public key instead: it is on the '# public key:' line of the key file, or printed by age-keygen -y FILE"
)

// NewAge returns the age provider. Recipients are age X25519 public keys
// (age1…), post-quantum hybrid keys (age1pq1…) and SSH public keys
// (ssh-ed25519, ssh-rsa); each wraps the data key into a binary age file.
// Identities come from identity files and KSEC_AGE_KEY (see
// ParseIdentityFile), so the provider has no ambient identity.
func NewAge() Provider { return NewAgeWith(AgeOptions{}) }

type ageProvider struct {
	plugins *pluginRunner
}

func (ageProvider) Type() string { return ageType }

// AmbientIdentity is nil: age keys live in files the caller names (the
// default one included), never in an agent.
func (ageProvider) AmbientIdentity() Identity { return nil }

func (p ageProvider) ParseRecipient(_ context.Context, spec string) (Recipient, error) {
	spec = strings.TrimSpace(spec)
	if isPluginRecipient(strings.ToLower(spec)) {
		return p.plugins.parseRecipient(spec)
	}
	r, id, err := parseAgeRecipient(spec)
	if err != nil {
		return nil, err
	}
	return &ageRecipient{id: id, r: r}, nil
}

// parseAgeRecipient returns the age recipient of a spec and its normalised
// ID: the canonical Bech32 string, or for SSH keys the key type and base64
// blob without the comment, so one key is one recipient whatever its comment.
func parseAgeRecipient(s string) (age.Recipient, string, error) {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "age1") && s == strings.ToUpper(s) {
		// Bech32 allows all upper case (QR codes); age parses lower case.
		s = lower
	}
	switch {
	case strings.HasPrefix(lower, "age1pq1"):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, "", hint.Wrap(fmt.Errorf("not a valid age post-quantum public key: %w", err), hintAgeRecipient)
		}
		return r, r.String(), nil
	case strings.HasPrefix(lower, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, "", hint.Wrap(fmt.Errorf("not a valid age public key: %w", err), hintAgeRecipient)
		}
		return r, r.String(), nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-") || strings.HasPrefix(s, "AGE-PLUGIN-"):
		return nil, "", hint.Wrap(errors.New("this is an age secret key, not a public key"), hintAgeSecretKey)
	case strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-") || strings.HasPrefix(s, "sk-"):
		return parseSSHRecipient(s)
	}
	return nil, "", hint.Wrap(errors.New("not an age or SSH public key"), hintAgeRecipient)
}

func parseSSHRecipient(s string) (age.Recipient, string, error) {
	pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, "", hint.Wrap(fmt.Errorf("not a valid SSH public key: %w", err),
			"paste the whole line of the .pub file: TYPE BASE64 [COMMENT]")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", errors.New("more than one SSH public key: give one key per spec")
	}
	var r age.Recipient
	switch pk.Type() {
	case ssh.KeyAlgoED25519:
		r, err = agessh.NewEd25519Recipient(pk)
	case ssh.KeyAlgoRSA:
		r, err = agessh.NewRSARecipient(pk)
	default:
		return nil, "", hint.Wrap(fmt.Errorf("SSH key type %s cannot be used with age", pk.Type()),
			"age supports ssh-ed25519 and ssh-rsa keys; or make an age key with ksec keygen")
	}
	if err != nil {
		return nil, "", fmt.Errorf("unusable %s key: %w", pk.Type(), err)
	}
	return r, sshKeyID(pk), nil
}

// sshKeyID is the stanza ID of an SSH key: "TYPE BASE64", no comment.
func sshKeyID(pk ssh.PublicKey) string {
	return pk.Type() + " " + base64.StdEncoding.EncodeToString(pk.Marshal())
}

// shortAgeID abbreviates long IDs (SSH RSA, post-quantum keys) in messages.
func shortAgeID(id string) string {
	if len(id) <= 80 {
		return id
	}
	if typ, blob, ok := strings.Cut(id, " "); ok {
		if raw, err := base64.StdEncoding.DecodeString(blob); err == nil {
			if pk, err := ssh.ParsePublicKey(raw); err == nil {
				return typ + " " + ssh.FingerprintSHA256(pk)
			}
		}
	}
	return id[:24] + "…" + id[len(id)-8:]
}

type ageRecipient struct {
	id string
	r  age.Recipient
}

func (r *ageRecipient) Type() string { return ageType }
func (r *ageRecipient) ID() string   { return r.id }

// Wrap seals the data key as a binary age file for this one recipient.
// The scope is not bound here: age has no additional data, and ksec's MAC
// covers the stanza and the Secret's scope.
func (r *ageRecipient) Wrap(ctx context.Context, dataKey []byte, _ Scope) (Stanza, error) {
	if err := ctx.Err(); err != nil {
		return Stanza{}, err
	}
	if len(dataKey) != crypto.DataKeySize {
		return Stanza{}, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), crypto.DataKeySize)
	}
	rec := r.r
	if p, ok := rec.(*pluginRecipient); ok {
		rec = p.withContext(ctx)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rec)
	var plugErr *PluginError
	if errors.As(err, &plugErr) {
		err = plugErr // age's "failed to wrap key for recipient #0" adds nothing
	}
	if err != nil {
		return Stanza{}, fmt.Errorf("age: encrypt to %s: %w", shortAgeID(r.id), err)
	}
	if _, err := w.Write(dataKey); err != nil {
		return Stanza{}, fmt.Errorf("age: encrypt to %s: %w", shortAgeID(r.id), err)
	}
	if err := w.Close(); err != nil {
		return Stanza{}, fmt.Errorf("age: encrypt to %s: %w", shortAgeID(r.id), err)
	}
	if buf.Len() > MaxWrapped {
		// A plugin chooses its stanzas; no reader would accept this.
		return Stanza{}, fmt.Errorf("age: encrypt to %s: the wrapped data key is %d bytes, more than %d", shortAgeID(r.id), buf.Len(), MaxWrapped)
	}
	return Stanza{Type: ageType, ID: r.id, Wrapped: buf.Bytes()}, nil
}

// ageKey is one age identity with the stanza ID of its public key, or ""
// when that cannot be known (identity types this package does not know).
type ageKey struct {
	id       string
	identity age.Identity
}

// NewAgeIdentities returns an identity holding age identities, such as those
// of age.ParseIdentities; source names where they came from in messages.
func NewAgeIdentities(ids []age.Identity, source string) Identity {
	keys := make([]ageKey, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, ageKey{id: ageIdentityID(id), identity: id})
	}
	return &ageIdentities{source: source, label: source, keys: keys}
}

func ageIdentityID(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	return ""
}

type ageIdentities struct {
	source string
	label  string // names it in the list of keys tried: "identity file F", "KSEC_AGE_KEY"
	keys   []ageKey
}

// Unwrap tries first the age stanzas whose ID names one of its keys: a
// failure there means the stanza was altered. Then, in case a stanza's ID is
// written in another form, every key on the remaining age stanzas.
func (a *ageIdentities) Unwrap(ctx context.Context, stanzas []Stanza, _ Scope) ([]byte, error) {
	var ids []string
	var failure error
	tried := make([]bool, len(stanzas))
	for i, s := range stanzas {
		if s.Type != ageType {
			continue
		}
		ids = append(ids, s.ID)
		k := a.key(s.ID)
		if k == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tried[i] = true
		key, _, err := openAgeFile(s.Wrapped, k.identity)
		if err == nil {
			return key, nil
		}
		if failure == nil {
			failure = fmt.Errorf("%w: age:%s: the wrapped data key does not open with the matching key from %s: %v",
				crypto.ErrIntegrity, shortAgeID(s.ID), a.source, err)
		}
	}
	for i, s := range stanzas {
		all := a.keysFor(ctx, s.ID)
		if s.Type != ageType || tried[i] || len(all) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key, matched, err := openAgeFile(s.Wrapped, all...)
		if err == nil {
			return key, nil
		}
		if ctx.Err() != nil { // a plugin run was cut short
			return nil, ctx.Err()
		}
		var plugErr *PluginError
		if errors.As(err, &plugErr) && failure == nil {
			failure = fmt.Errorf("age:%s: %w", shortAgeID(s.ID), err)
		}
		if matched && failure == nil {
			failure = fmt.Errorf("%w: age:%s: the wrapped data key does not open with the key from %s that matches it: %v",
				crypto.ErrIntegrity, shortAgeID(s.ID), a.source, err)
		}
	}
	if failure != nil {
		return nil, failure
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no age recipients to try: %w", a.source, ErrIncorrectIdentity)
	}
	short := make([]string, len(ids))
	for i, id := range ids {
		short[i] = "age:" + shortAgeID(id)
	}
	return nil, fmt.Errorf("%s holds no age key for %s: %w", a.source, strings.Join(short, ", "), ErrIncorrectIdentity)
}

// keysFor returns the identities to try on a stanza whose ID is not one of
// the known keys': every native key, and the plugin keys of the plugin the
// ID names, bound to ctx.
func (a *ageIdentities) keysFor(ctx context.Context, id string) []age.Identity {
	var out []age.Identity
	for _, k := range a.keys {
		p, ok := k.identity.(*pluginKey)
		switch {
		case !ok:
			out = append(out, k.identity)
		case p.fits(id):
			out = append(out, p.withContext(ctx))
		}
	}
	return out
}

func (a *ageIdentities) key(id string) *ageKey {
	for i := range a.keys {
		if a.keys[i].id != "" && a.keys[i].id == id {
			return &a.keys[i]
		}
	}
	return nil
}

// openAgeFile decrypts a wrapped data key. matched reports whether one of
// the identities opened the file's recipient stanza, so that a failure after
// that point is the file's fault, not a key that does not fit.
func openAgeFile(wrapped []byte, ids ...age.Identity) (key []byte, matched bool, err error) {
	watched := make([]age.Identity, len(ids))
	for i, id := range ids {
		watched[i] = watchedIdentity{Identity: id, matched: &matched}
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), watched...)
	if err != nil {
		return nil, matched, err
	}
	// One byte more than a data key, to see a payload that is too long.
	key, err = io.ReadAll(io.LimitReader(r, crypto.DataKeySize+1))
	if err != nil {
		clear(key)
		return nil, matched, err
	}
	if len(key) != crypto.DataKeySize {
		clear(key)
		return nil, matched, fmt.Errorf("the age file does not hold a %d-byte data key", crypto.DataKeySize)
	}
	return key, matched, nil
}

// watchedIdentity records whether the identity it wraps unwrapped a stanza.
type watchedIdentity struct {
	age.Identity
	matched *bool
}

func (w watchedIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	fileKey, err := w.Identity.Unwrap(stanzas)
	if err == nil {
		*w.matched = true
	}
	return fileKey, err
}

// DefaultAgeIdentityFile is where ksec looks for age keys when none is
// named: $XDG_CONFIG_HOME/ksec/identities, else ~/.config/ksec/identities.
// The same path is used on macOS and Windows (from %USERPROFILE% when HOME
// is unset), so there is one place to document. "" means no home is known.
func DefaultAgeIdentityFile(getenv func(string) string) string {
	// The XDG spec says to ignore a relative XDG_CONFIG_HOME.
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "ksec", "identities")
	}
	home := getenv("HOME")
	if home == "" {
		home = getenv("USERPROFILE")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "ksec", "identities")
}
