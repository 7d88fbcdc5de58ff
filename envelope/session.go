package envelope

import (
	"context"
	"fmt"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Session remembers what decrypting a stream revealed — each Secret's data
// key, recipients, scope and sealed values — so that an edited version of
// the stream can be sealed again without unwrapping twice, keeping the
// token of every value the edit did not change.
type Session struct {
	secrets []*openedSecret
}

type openedSecret struct {
	index   int // position among the stream's Secrets
	scope   keyring.Scope
	stanzas []keyring.Stanza
	dataKey []byte
	values  map[valueKey]openedValue
	taken   bool
}

type valueKey struct{ field, key string }

type openedValue struct {
	token   string
	payload crypto.Payload
}

// DecryptSession decrypts st like Decrypt and returns the session.
func DecryptSession(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring) (*Session, error) {
	if err := st.CheckStrays(); err != nil {
		return nil, err
	}
	sess := &Session{}
	for i, s := range st.Secrets {
		if s.Meta == nil {
			for _, v := range s.Values {
				if v.IsEncrypted() {
					return nil, &manifest.Error{Secret: s, Value: v, Err: fmt.Errorf("%w: the value is ENC[…] but the Secret has no %s block", crypto.ErrIntegrity, manifest.MetadataKey)}
				}
			}
			continue
		}
		dataKey, opened, err := open(ctx, kr, st, s, false)
		if err != nil {
			sess.wipe()
			return nil, &manifest.Error{Secret: s, Err: err}
		}
		o := &openedSecret{index: i, scope: s.Scope(), stanzas: s.Meta.Recipients, dataKey: dataKey, values: map[valueKey]openedValue{}}
		for _, v := range s.Values {
			if err := st.SetPlain(v, opened[v]); err != nil {
				clear(dataKey)
				sess.wipe()
				return nil, &manifest.Error{Secret: s, Value: v, Err: err}
			}
			o.values[valueKey{v.Field, v.Key}] = openedValue{token: v.Text, payload: opened[v]}
		}
		st.RemoveMetadata(s)
		sess.secrets = append(sess.secrets, o)
	}
	return sess, nil
}

// Reseal encrypts an edited plaintext stream with the session's data keys.
// Each Secret is matched to the one it was decrypted from by its scope,
// else by its position; its values keep their old token when their content
// did not change. A renamed Secret keeps its data key, but every value is
// re-sealed for the new scope, and wrapped keys that are bound to the scope
// (cloud KMS) are re-wrapped. A Secret that matches none is encrypted with
// a fresh data key for recipients, or else for the recipients of the first
// decrypted Secret.
func (sess *Session) Reseal(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, newRecipients func(*manifest.Secret) (Recipients, error)) error {
	for _, s := range sess.secrets {
		s.taken = false
	}
	for i, s := range st.Secrets {
		if err := sess.resealSecret(ctx, st, kr, s, i, newRecipients); err != nil {
			return &manifest.Error{Secret: s, Err: err}
		}
	}
	return nil
}

func (sess *Session) resealSecret(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, s *manifest.Secret, index int, newRecipients func(*manifest.Secret) (Recipients, error)) error {
	for _, v := range s.Values {
		if v.IsEncrypted() {
			return &manifest.Error{Value: v, Err: fmt.Errorf("%w: an ENC[…] value in plaintext being encrypted", manifest.ErrBadInput)}
		}
	}
	old := sess.match(s.Scope(), index)
	if old == nil {
		rs, err := newRecipients(s)
		if err != nil {
			return err
		}
		recipients := rs.Set
		if recipients == nil {
			recipients = rs.Add
		}
		if len(recipients) == 0 && len(sess.secrets) > 0 {
			var specs []string
			for _, stz := range sess.secrets[0].stanzas {
				specs = append(specs, stz.Type+":"+stz.ID)
			}
			var err error
			if recipients, err = kr.ParseRecipients(ctx, specs); err != nil {
				return fmt.Errorf("a new Secret: recipients of the file: %w", err)
			}
		}
		_, err = encryptSecret(ctx, st, kr, s, Recipients{Set: recipients})
		return err
	}
	old.taken = true
	stanzas := old.stanzas
	sameScope := old.scope == s.Scope()
	if !sameScope {
		var err error
		if stanzas, err = kr.Rebind(ctx, stanzas, old.dataKey, s.Scope()); err != nil {
			return err
		}
	}
	keep := map[*manifest.Value]bool{}
	for _, v := range s.Values {
		prev, ok := old.values[valueKey{v.Field, v.Key}]
		if !ok || !sameScope {
			continue
		}
		same, err := sameContent(st, v, prev.payload)
		if err != nil {
			return err
		}
		if same {
			st.SetToken(v, prev.token)
			v.Text = prev.token
			keep[v] = true
		}
	}
	return seal(st, s, old.dataKey, keep, nil, stanzas)
}

// match finds the decrypted Secret an edited one came from.
func (sess *Session) match(scope keyring.Scope, index int) *openedSecret {
	for _, o := range sess.secrets {
		if !o.taken && o.scope == scope {
			return o
		}
	}
	for _, o := range sess.secrets {
		if !o.taken && o.index == index {
			return o
		}
	}
	return nil
}

// sameContent reports whether plaintext value v holds what the old payload did.
func sameContent(st *manifest.Stream, v *manifest.Value, old crypto.Payload) (bool, error) {
	p, err := st.Payload(v)
	if err != nil {
		return false, &manifest.Error{Value: v, Err: err}
	}
	return sameValue(v.Field, old, p), nil
}

// Matches reports whether any Secret of st is one the session decrypted
// (same namespace and name).
func (sess *Session) Matches(st *manifest.Stream) bool {
	for _, s := range st.Secrets {
		for _, o := range sess.secrets {
			if o.scope == s.Scope() {
				return true
			}
		}
	}
	return false
}

// Close zeroes the data keys and decrypted values the session holds; the
// session cannot reseal after it.
func (sess *Session) Close() { sess.wipe() }

// wipe zeroes the data keys and decrypted values the session holds, once
// it is no longer needed. Copies Go made elsewhere (strings, the output)
// are out of its reach.
func (sess *Session) wipe() {
	for _, o := range sess.secrets {
		clear(o.dataKey)
		for _, v := range o.values {
			clear(v.payload.Value)
		}
	}
}
