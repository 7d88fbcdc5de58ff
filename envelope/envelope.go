// Package envelope encrypts and decrypts the Secrets of a manifest stream:
// it ties the data-key cryptography (crypto), the recipients (keyring) and
// the source edits (manifest) together, one Secret at a time.
package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// ErrNoSecrets is returned when a stream has no Secret to work on.
var ErrNoSecrets = fmt.Errorf("%w: no Secret found (want kind: Secret, apiVersion: v1, or a List of them)", manifest.ErrBadInput)

// Recipients says who a Secret is encrypted for.
type Recipients struct {
	// Set replaces each Secret's recipients; nil keeps an encrypted
	// Secret's own, changed by Add and Remove.
	Set    []keyring.Recipient
	Add    []keyring.Recipient
	Remove []keyring.Ref
	// Rotate makes a new data key even if no recipient is removed.
	Rotate bool
}

// Encrypt seals every plaintext value of every Secret in st for the
// recipients. A Secret already encrypted for the same recipients, with no
// plaintext value, is left byte-for-byte alone. Adding a recipient wraps
// the existing data key for it; removing one (or Rotate) makes a new data
// key and re-seals every value. Nothing is written into st unless all
// Secrets succeed.
func Encrypt(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, rs Recipients) error {
	return EncryptEach(ctx, st, kr, func(*manifest.Secret) (Recipients, error) { return rs, nil })
}

// EncryptEach is Encrypt with recipients chosen per Secret (a team
// configuration may give each namespace its own).
func EncryptEach(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, recipientsFor func(*manifest.Secret) (Recipients, error)) error {
	_, err := EncryptEachReport(ctx, st, kr, recipientsFor)
	return err
}

// HandSealed counts the values added by hand in plaintext to an encrypted
// Secret that encrypting sealed with the data key the Secret already had.
// Whoever wrote the file knows that key, so they can read those values.
type HandSealed struct {
	Secret *manifest.Secret
	Count  int
}

// EncryptEachReport is EncryptEach, also reporting the Secrets whose
// hand-added values were sealed with their existing data key.
func EncryptEachReport(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, recipientsFor func(*manifest.Secret) (Recipients, error)) ([]HandSealed, error) {
	if err := st.CheckStrays(); err != nil {
		return nil, err
	}
	if len(st.Secrets) == 0 {
		return nil, ErrNoSecrets
	}
	fresh := map[int][]byte{} // data keys of Secrets encrypted from plaintext, by index
	defer func() {
		for _, k := range fresh {
			clear(k)
		}
	}()
	var hand []HandSealed
	for i, s := range st.Secrets {
		rs, err := recipientsFor(s)
		var key []byte
		var n int
		if err == nil {
			key, n, err = encryptSecret(ctx, st, kr, s, rs)
		}
		if err != nil {
			return nil, &manifest.Error{Secret: s, Err: err}
		}
		if key != nil {
			fresh[i] = key
		}
		if n > 0 {
			hand = append(hand, HandSealed{Secret: s, Count: n})
		}
	}
	if len(fresh) == len(st.Secrets) {
		return hand, verifyRoundTrip(st, fresh)
	}
	return hand, nil
}

// Removal lists the recipients a replacing set of recipients would take
// away from an encrypted Secret.
type Removal struct {
	Secret  *manifest.Secret
	Removed []keyring.Ref
}

// Removals reports, for each encrypted Secret of st that recipientsFor
// gives a replacing set (Recipients.Set), the current recipients missing
// from it. Explicit removals (Recipients.Remove) are not reported: they
// say what they remove.
func Removals(st *manifest.Stream, recipientsFor func(*manifest.Secret) (Recipients, error)) ([]Removal, error) {
	var out []Removal
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		rs, err := recipientsFor(s)
		if err != nil {
			return nil, &manifest.Error{Secret: s, Err: err}
		}
		if rs.Set == nil {
			continue
		}
		_, _, removed := planRecipients(s.Meta.Recipients, Recipients{Set: rs.Set})
		if len(removed) == 0 {
			continue
		}
		r := Removal{Secret: s}
		for _, stz := range removed {
			r.Removed = append(r.Removed, keyring.Ref{Type: stz.Type, ID: stz.ID})
		}
		out = append(out, r)
	}
	return out, nil
}

// verifyRoundTrip decrypts the encrypted result with the data keys just
// made and checks it gives back the input byte for byte. It guards the
// fidelity promise: a YAML layout ksec does not rewrite exactly is refused
// with an error, never written out changed.
func verifyRoundTrip(st *manifest.Stream, keys map[int][]byte) error {
	enc := st.Bytes()
	out, err := manifest.Parse(enc)
	if err != nil {
		return cannotRewrite(err)
	}
	if len(out.Secrets) != len(keys) {
		err = errors.New("a Secret went missing")
	}
	sealed := map[*manifest.Value]crypto.Payload{}
	for i, s := range out.Secrets {
		if err != nil {
			break
		}
		var key *crypto.Key
		if key, err = crypto.NewKey(keys[i]); err != nil {
			break
		}
		for _, v := range s.Values {
			var p crypto.Payload
			if p, err = key.Open(v.Location(s), v.Text); err != nil {
				break
			}
			// What decrypt will refuse must not be written either.
			if err = out.CheckPayload(v, p); err != nil {
				break
			}
			if err = out.SetPlain(v, p); err != nil {
				break
			}
			sealed[v] = p
		}
		out.RemoveMetadata(s)
	}
	if err == nil && !bytes.Equal(out.Bytes(), st.Source()) {
		err = errors.New("decrypting it would not give back the input byte for byte")
	}
	if err == nil {
		// The decrypted text is the input itself, already parsed as st.
		err = out.VerifyDecryptedParsed(st, out.Secrets, sealed)
	}
	if err != nil {
		return cannotRewrite(err)
	}
	return nil
}

func cannotRewrite(err error) error {
	return hint.Wrap(fmt.Errorf("%w: ksec cannot rewrite this file's layout exactly (%v); nothing was written", manifest.ErrBadInput, err),
		"this is a ksec bug with an unusual YAML layout: please report the layout (never the values); reformatting the file, e.g. with kubectl, works around it")
}

// encryptSecret encrypts s for rs. freshKey is the data key of a Secret
// encrypted from plaintext; handSealed counts hand-added values sealed with
// the data key an encrypted Secret already had.
func encryptSecret(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, s *manifest.Secret, rs Recipients) (freshKey []byte, handSealed int, err error) {
	if s.Meta == nil {
		for _, v := range s.Values {
			if v.IsEncrypted() {
				return nil, 0, &manifest.Error{Value: v, Err: fmt.Errorf("%w: the value is ENC[…] but the Secret has no %s block", crypto.ErrIntegrity, manifest.MetadataKey)}
			}
		}
		if rs.Rotate {
			return nil, 0, nil // nothing to rotate; rotating never encrypts
		}
		recipients := rs.Set
		if recipients == nil {
			recipients = rs.Add
		}
		if len(recipients) == 0 {
			return nil, 0, hint.Wrap(errors.New("no recipients"), "name keys with -k/--key or KSEC_KEYS")
		}
		dataKey, err := crypto.NewDataKey()
		if err != nil {
			return nil, 0, err
		}
		stanzas, err := wrapAll(ctx, recipients, dataKey, s.Scope())
		if err != nil {
			return nil, 0, err
		}
		return dataKey, 0, seal(st, s, dataKey, nil, nil, stanzas)
	}

	kept, added, removed := planRecipients(s.Meta.Recipients, rs)
	if len(kept)+len(added) == 0 {
		return nil, 0, hint.Wrap(fmt.Errorf("%w: that would remove the last recipient", manifest.ErrBadInput),
			"a Secret needs at least one recipient; add the new one first (-k +KEY)")
	}
	plaintext := 0
	for _, v := range s.Values {
		if !v.IsEncrypted() {
			plaintext++
		}
	}
	if plaintext == 0 && len(added) == 0 && len(removed) == 0 && !rs.Rotate {
		return nil, 0, nil
	}

	dataKey, opened, err := open(ctx, kr, st, s, true)
	if err != nil {
		return nil, 0, err
	}
	defer clear(dataKey) // seal has derived what it needs
	if len(removed) > 0 || rs.Rotate {
		// A removed recipient had the data key: make a new one, re-seal
		// every value and wrap it for everyone who stays.
		if dataKey, err = crypto.NewDataKey(); err != nil {
			return nil, 0, err
		}
		defer clear(dataKey)
		stay, err := recipientsOf(ctx, kr, kept, rs.Set)
		if err != nil {
			return nil, 0, err
		}
		stanzas, err := wrapAll(ctx, append(stay, added...), dataKey, s.Scope())
		if err != nil {
			return nil, 0, err
		}
		return nil, 0, seal(st, s, dataKey, nil, opened, stanzas)
	}
	more, err := wrapAll(ctx, added, dataKey, s.Scope())
	if err != nil {
		return nil, 0, err
	}
	keep := make(map[*manifest.Value]bool, len(opened))
	for v := range opened {
		keep[v] = true
	}
	return nil, plaintext, seal(st, s, dataKey, keep, nil, append(slices.Clone(kept), more...))
}

// planRecipients splits a Secret's recipients into those that stay and
// those removed, and lists the recipients to add.
func planRecipients(have []keyring.Stanza, rs Recipients) (kept []keyring.Stanza, added []keyring.Recipient, removed []keyring.Stanza) {
	ref := func(s keyring.Stanza) keyring.Ref { return keyring.Ref{Type: s.Type, ID: s.ID} }
	present := map[keyring.Ref]bool{}
	for _, s := range have {
		present[ref(s)] = true
	}
	wantAdd := rs.Add
	drop := map[keyring.Ref]bool{}
	if rs.Set != nil {
		wanted := map[keyring.Ref]bool{}
		for _, r := range rs.Set {
			wanted[keyring.RefOf(r)] = true
		}
		for _, s := range have {
			drop[ref(s)] = !wanted[ref(s)]
		}
		wantAdd = rs.Set
	}
	for _, r := range rs.Remove {
		drop[r] = true
	}
	for _, s := range have {
		if drop[ref(s)] {
			removed = append(removed, s)
		} else {
			kept = append(kept, s)
		}
	}
	for _, r := range wantAdd {
		if ref := keyring.RefOf(r); !present[ref] && !drop[ref] {
			present[ref] = true
			added = append(added, r)
		}
	}
	return kept, added, removed
}

// recipientsOf returns recipients for stanzas, from the given set when it
// has them, else by parsing "type:id" (which for pgp needs the public key
// in the gpg keyring).
func recipientsOf(ctx context.Context, kr *keyring.Keyring, stanzas []keyring.Stanza, known []keyring.Recipient) ([]keyring.Recipient, error) {
	var out []keyring.Recipient
	for _, s := range stanzas {
		i := slices.IndexFunc(known, func(r keyring.Recipient) bool { return keyring.RefOf(r) == keyring.Ref{Type: s.Type, ID: s.ID} })
		if i >= 0 {
			out = append(out, known[i])
			continue
		}
		r, err := kr.ParseRecipient(ctx, s.Type+":"+s.ID)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("cannot wrap the new data key for %s:%s: %w", s.Type, s.ID, err),
				"ksec needs every remaining recipient's public key; for pgp, import it into gpg or name its file with -k")
		}
		out = append(out, r)
	}
	return out, nil
}

// seal writes s's metadata block and a token for every value under
// dataKey. Values in keep are tokens already valid under dataKey and stay
// byte-for-byte; the others are sealed afresh from their payload in
// payloads (a rotation) or else from the plaintext in the file.
func seal(st *manifest.Stream, s *manifest.Secret, dataKey []byte, keep map[*manifest.Value]bool, payloads map[*manifest.Value]crypto.Payload, stanzas []keyring.Stanza) error {
	key, err := crypto.NewKey(dataKey)
	if err != nil {
		return err
	}
	in := macInput(s, stanzas)
	for i, v := range s.Values {
		token := v.Text
		if !keep[v] {
			p, ok := payloads[v]
			if !ok {
				if p, err = st.Payload(v); err != nil {
					return &manifest.Error{Value: v, Err: err}
				}
			}
			if token, err = key.Seal(v.Location(s), p); err != nil {
				return err
			}
			st.SetToken(v, token)
		}
		in.Values[i].Token = token
	}
	st.SetMetadata(s, manifest.Metadata{Version: crypto.Version, Recipients: stanzas, MAC: key.MAC(in)})
	return nil
}

func wrapAll(ctx context.Context, recipients []keyring.Recipient, dataKey []byte, scope keyring.Scope) ([]keyring.Stanza, error) {
	var out []keyring.Stanza
	for _, r := range recipients {
		stz, err := r.Wrap(ctx, dataKey, scope)
		if err != nil {
			return nil, fmt.Errorf("wrap data key for %s:%s: %w", r.Type(), r.ID(), err)
		}
		out = append(out, stz)
	}
	return out, nil
}

func macInput(s *manifest.Secret, stanzas []keyring.Stanza) crypto.MACInput {
	in := crypto.MACInput{Namespace: s.Namespace, Name: s.Name}
	for _, r := range stanzas {
		in.Recipients = append(in.Recipients, crypto.MACRecipient{Type: r.Type, ID: r.ID, Wrapped: r.Wrapped})
	}
	for _, v := range s.Values {
		in.Values = append(in.Values, crypto.MACValue{Field: v.Field, Key: v.Key, Token: v.Text})
	}
	return in
}

// open unwraps s's data key, opens every token and checks the MAC. With
// allowPlain, values that are not tokens are skipped (encrypt seals them);
// otherwise they are an integrity failure. The MAC is checked over the
// tokens only when every value is a token.
func open(ctx context.Context, kr *keyring.Keyring, st *manifest.Stream, s *manifest.Secret, allowPlain bool) ([]byte, map[*manifest.Value]crypto.Payload, error) {
	dataKey, err := kr.Unwrap(ctx, s.Meta.Recipients, s.Scope())
	if err != nil {
		return nil, nil, err
	}
	return openWith(st, s, dataKey, allowPlain)
}

// openWith is open with the data key already at hand; it takes dataKey
// over and zeroes it on failure.
func openWith(st *manifest.Stream, s *manifest.Secret, dataKey []byte, allowPlain bool) ([]byte, map[*manifest.Value]crypto.Payload, error) {
	ok := false
	defer func() {
		if !ok {
			clear(dataKey) // a Secret that does not verify keeps nothing
		}
	}()
	key, err := crypto.NewKey(dataKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: unwrapped data key: %v", crypto.ErrIntegrity, err)
	}
	opened := make(map[*manifest.Value]crypto.Payload, len(s.Values))
	allTokens := true
	for _, v := range s.Values {
		if !v.IsEncrypted() {
			if !allowPlain {
				advice := "if you added it by hand, seal it with: ksec encrypt -i FILE"
				if twin := s.Twin(v); twin != nil {
					// Sealing it would only make the shadow permanent.
					advice = fmt.Sprintf("do not seal it: %s holds the same key, and Kubernetes merges stringData over data; keep one of the two, and change values with ksec edit or ksec patch", twin)
				}
				return nil, nil, hint.Wrap(&manifest.Error{Value: v, Err: fmt.Errorf("%w: the value is not encrypted in an encrypted Secret", crypto.ErrIntegrity)}, advice)
			}
			allTokens = false
			continue
		}
		p, err := key.Open(v.Location(s), v.Text)
		if err != nil {
			return nil, nil, explainScope(key, s, &manifest.Error{Value: v, Err: err})
		}
		// Whoever holds a public key can seal anything: accept only what
		// ksec's writer seals for one value at this place.
		if err := st.CheckPayload(v, p); err != nil {
			return nil, nil, &manifest.Error{Value: v, Err: err}
		}
		opened[v] = p
	}
	// The MAC covers the tokens in order. Values added by hand in plaintext
	// are left out, so adding keys is allowed, but a token replaced, removed
	// or reordered is still caught before anything is sealed with this key.
	in := macInput(s, s.Meta.Recipients)
	if !allTokens {
		in.Values = slices.DeleteFunc(in.Values, func(mv crypto.MACValue) bool { return !crypto.LooksEncrypted(mv.Token) })
	}
	if err := key.VerifyMAC(in, s.Meta.MAC); err != nil {
		if !allTokens {
			err = hint.Wrap(err, "values added by hand are fine, but an encrypted value was changed, removed or moved; change values with ksec edit or ksec patch")
		}
		return nil, nil, err
	}
	ok = true
	return dataKey, opened, nil
}

// Decrypt replaces every token with its plaintext and removes the metadata
// blocks. Secrets that are not encrypted pass through. It reports how many
// Secrets it decrypted.
func Decrypt(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring) (int, error) {
	sess, err := DecryptSession(ctx, st, kr)
	if err != nil {
		return 0, err
	}
	defer sess.wipe()
	return len(sess.secrets), nil
}
