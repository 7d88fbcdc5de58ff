// Package envelope encrypts and decrypts the Secrets of a manifest stream:
// it ties the data-key cryptography (crypto), the recipients (keyring) and
// the source edits (manifest) together, one Secret at a time.
package envelope

import (
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

// Encrypt seals every plaintext value of every Secret in st for recipients.
// A Secret already encrypted for the same recipients, with no plaintext
// value, is left byte-for-byte alone. With no recipients given, encrypted
// Secrets keep theirs. Nothing is written into st unless all Secrets succeed.
func Encrypt(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, recipients []keyring.Recipient) error {
	if len(st.Secrets) == 0 {
		return ErrNoSecrets
	}
	for _, s := range st.Secrets {
		if err := encryptSecret(ctx, st, kr, s, recipients); err != nil {
			return &manifest.Error{Secret: s, Err: err}
		}
	}
	return nil
}

func encryptSecret(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, s *manifest.Secret, recipients []keyring.Recipient) error {
	if s.Meta == nil {
		if len(recipients) == 0 {
			return hint.Wrap(errors.New("no recipients"), "name keys with -k/--key or KSEC_KEYS")
		}
		for _, v := range s.Values {
			if v.IsEncrypted() {
				return &manifest.Error{Value: v, Err: fmt.Errorf("%w: the value is ENC[…] but the Secret has no %s block", crypto.ErrIntegrity, manifest.MetadataKey)}
			}
		}
		dataKey, err := crypto.NewDataKey()
		if err != nil {
			return err
		}
		stanzas, err := wrapAll(ctx, recipients, dataKey, s.Scope())
		if err != nil {
			return err
		}
		return seal(st, s, dataKey, nil, nil, stanzas)
	}

	plaintext := slices.ContainsFunc(s.Values, func(v *manifest.Value) bool { return !v.IsEncrypted() })
	added, removed := diffRecipients(s.Meta.Recipients, recipients)
	if recipients == nil {
		added, removed = nil, nil
	}
	if !plaintext && len(added) == 0 && len(removed) == 0 {
		return nil
	}

	dataKey, opened, err := open(ctx, kr, st, s, true)
	if err != nil {
		return err
	}
	stanzas := s.Meta.Recipients
	if len(removed) > 0 {
		// A removed recipient had the data key: rotate it and re-seal everything.
		if dataKey, err = crypto.NewDataKey(); err != nil {
			return err
		}
		if stanzas, err = wrapAll(ctx, recipients, dataKey, s.Scope()); err != nil {
			return err
		}
		return seal(st, s, dataKey, nil, opened, stanzas)
	}
	more, err := wrapAll(ctx, added, dataKey, s.Scope())
	if err != nil {
		return err
	}
	keep := make(map[*manifest.Value]bool, len(opened))
	for v := range opened {
		keep[v] = true
	}
	return seal(st, s, dataKey, keep, nil, append(slices.Clone(stanzas), more...))
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

// diffRecipients compares a Secret's stanzas with the wanted recipients.
func diffRecipients(have []keyring.Stanza, want []keyring.Recipient) (added []keyring.Recipient, removed []keyring.Stanza) {
	wanted := map[string]bool{}
	for _, r := range want {
		wanted[r.Type()+":"+r.ID()] = true
	}
	present := map[string]bool{}
	for _, s := range have {
		present[s.Type+":"+s.ID] = true
		if !wanted[s.Type+":"+s.ID] {
			removed = append(removed, s)
		}
	}
	for _, r := range want {
		if !present[r.Type()+":"+r.ID()] {
			added = append(added, r)
		}
	}
	return added, removed
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
	key, err := crypto.NewKey(dataKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: unwrapped data key: %v", crypto.ErrIntegrity, err)
	}
	opened := make(map[*manifest.Value]crypto.Payload, len(s.Values))
	allTokens := true
	for _, v := range s.Values {
		if !v.IsEncrypted() {
			if !allowPlain {
				return nil, nil, hint.Wrap(&manifest.Error{Value: v, Err: fmt.Errorf("%w: the value is not encrypted in an encrypted Secret", crypto.ErrIntegrity)},
					"if you added it by hand, seal it with: ksec encrypt -i FILE")
			}
			allTokens = false
			continue
		}
		p, err := key.Open(v.Location(s), v.Text)
		if err != nil {
			return nil, nil, &manifest.Error{Value: v, Err: err}
		}
		opened[v] = p
	}
	if allTokens {
		if err := key.VerifyMAC(macInput(s, s.Meta.Recipients), s.Meta.MAC); err != nil {
			return nil, nil, err
		}
	}
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
	return len(sess.secrets), nil
}
