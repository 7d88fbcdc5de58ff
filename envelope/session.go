package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Session remembers what decrypting a stream revealed — each Secret's data
// key, recipients, scope and sealed values — so that an edited version of
// the stream can be sealed again without unwrapping twice, keeping the
// token of every value the edit did not change.
type Session struct {
	secrets []*openedSecret
	total   int                    // Secrets in the decrypted stream, encrypted or not
	plain   map[keyring.Scope]bool // the stream's Secrets that were not encrypted
}

type openedSecret struct {
	index   int // position among the stream's Secrets
	scope   keyring.Scope
	stanzas []keyring.Stanza
	dataKey []byte
	values  map[valueKey]openedValue
}

type valueKey struct{ field, key string }

type openedValue struct {
	token   string
	payload crypto.Payload
}

// DecryptSession decrypts st like Decrypt and returns the session.
func DecryptSession(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring) (*Session, error) {
	return decryptSession(st, func(s *manifest.Secret) ([]byte, map[*manifest.Value]crypto.Payload, error) {
		return open(ctx, kr, st, s, false)
	})
}

// DecryptSessionWithKeys is DecryptSession with each encrypted Secret's
// data key given by keyFor (nil: none) instead of unwrapped. ksec's merge
// driver opens a merge base whose recipients may not include the user with
// the data keys of the sides that continue it. Every token and the MAC are
// verified as usual, so a wrong key fails (an integrity error); a Secret
// keyFor has no key for fails with keyring.ErrNoIdentity.
func DecryptSessionWithKeys(st *manifest.Stream, keyFor func(keyring.Scope) []byte) (*Session, error) {
	return decryptSession(st, func(s *manifest.Secret) ([]byte, map[*manifest.Value]crypto.Payload, error) {
		key := keyFor(s.Scope())
		if key == nil {
			return nil, nil, keyring.ErrNoIdentity
		}
		return openWith(st, s, bytes.Clone(key), false)
	})
}

func decryptSession(st *manifest.Stream, open func(*manifest.Secret) ([]byte, map[*manifest.Value]crypto.Payload, error)) (*Session, error) {
	if err := st.CheckStrays(); err != nil {
		return nil, err
	}
	sess := &Session{total: len(st.Secrets), plain: map[keyring.Scope]bool{}}
	sealed := map[*manifest.Value]crypto.Payload{}
	var decrypted []*manifest.Secret
	for i, s := range st.Secrets {
		if s.Meta == nil {
			sess.plain[s.Scope()] = true
			for _, v := range s.Values {
				if v.IsEncrypted() {
					return nil, &manifest.Error{Secret: s, Value: v, Err: fmt.Errorf("%w: the value is ENC[…] but the Secret has no %s block", crypto.ErrIntegrity, manifest.MetadataKey)}
				}
			}
			continue
		}
		dataKey, opened, err := open(s)
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
		for v, p := range opened {
			sealed[v] = p
		}
		decrypted = append(decrypted, s)
	}
	// Independent of how the values were spliced in: the output, parsed
	// again, must hold exactly the sealed values and nothing more.
	if err := st.VerifyDecrypted(st.Bytes(), decrypted, sealed); err != nil {
		sess.wipe()
		return nil, err
	}
	return sess, nil
}

// ResealOptions tune Reseal.
type ResealOptions struct {
	// AllowRename lets a Secret whose namespace/name matches none of the
	// decrypted ones keep the data key and recipients of the one Secret that
	// disappeared, when the edit is an unambiguous rename (see pair).
	AllowRename bool
	// Rotate gives every Secret that keeps its recipients a new data key:
	// every value is sealed afresh and the key wrapped again for the same
	// recipients.
	Rotate bool
}

// Inherited says that a Secret of the resealed stream took the data key and
// recipients of a decrypted Secret.
type Inherited struct {
	Secret *manifest.Secret // in the resealed stream
	From   keyring.Scope    // the decrypted Secret's namespace and name
	// Resealed counts the values sealed with the inherited data key (new or
	// changed ones); whoever wrote the decrypted file knows that key. It is
	// 0 when Rotate made a new key.
	Resealed int
}

// Renamed reports whether the Secret took the keys of another name.
func (in Inherited) Renamed() bool { return in.Secret.Scope() != in.From }

// ErrNoKeysForNew says a Secret that matches no decrypted one has no keys
// named for it.
var ErrNoKeysForNew = errors.New("no keys were named for it")

// Reseal encrypts an edited plaintext stream with the session's data keys.
// A Secret takes the data key and recipients of the decrypted Secret with
// the same namespace and name, never of another one by position: a dev
// Secret's keys must not end up protecting a prod one because a Secret was
// inserted above it. With opts.AllowRename, one unambiguous rename keeps its
// keys too (see pair). A matched Secret's values keep their old token when
// their content did not change; a renamed one has every value re-sealed for
// the new scope, and wrapped keys bound to the scope (cloud KMS) re-wrapped.
// Any other Secret is new and is encrypted with a fresh data key for the
// recipients newRecipients names; with none, it is an error naming it.
func (sess *Session) Reseal(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, newRecipients func(*manifest.Secret) (Recipients, error), opts ResealOptions) ([]Inherited, error) {
	from := sess.pair(st.Secrets, opts.AllowRename)
	var inherited []Inherited
	for i, s := range st.Secrets {
		n, err := sess.resealSecret(ctx, st, kr, s, from[i], newRecipients, opts.Rotate)
		if err != nil {
			return nil, &manifest.Error{Secret: s, Err: err}
		}
		if from[i] != nil {
			inherited = append(inherited, Inherited{Secret: s, From: from[i].scope, Resealed: n})
		}
	}
	return inherited, nil
}

// pair finds, for each edited Secret, the decrypted one it continues: the
// one with the same namespace and name. With allowRename, one more pair is
// made when the edit is clearly a rename: the stream has as many Secrets as
// before, exactly one decrypted Secret lost its match and exactly one
// edited Secret has none, both at the same position and in the same
// namespace. Anything else (an insertion, a move, a change of namespace)
// leaves the unmatched Secrets new.
func (sess *Session) pair(secrets []*manifest.Secret, allowRename bool) []*openedSecret {
	from := make([]*openedSecret, len(secrets))
	taken := map[*openedSecret]bool{}
	for i, s := range secrets {
		for _, o := range sess.secrets {
			if !taken[o] && o.scope == s.Scope() {
				from[i], taken[o] = o, true
				break
			}
		}
	}
	if !allowRename || len(secrets) != sess.total {
		return from
	}
	var unmatched []int
	for i := range secrets {
		if from[i] == nil {
			unmatched = append(unmatched, i)
		}
	}
	var gone []*openedSecret
	for _, o := range sess.secrets {
		if !taken[o] {
			gone = append(gone, o)
		}
	}
	if len(unmatched) == 1 && len(gone) == 1 {
		i, o := unmatched[0], gone[0]
		if o.index == i && o.scope.Namespace == secrets[i].Namespace {
			from[i] = o
		}
	}
	return from
}

// resealSecret encrypts plaintext Secret s, continuing old when not nil. It
// returns how many values it sealed with old's data key.
func (sess *Session) resealSecret(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, s *manifest.Secret, old *openedSecret, newRecipients func(*manifest.Secret) (Recipients, error), rotate bool) (int, error) {
	for _, v := range s.Values {
		if v.IsEncrypted() {
			return 0, &manifest.Error{Value: v, Err: fmt.Errorf("%w: an ENC[…] value in plaintext being encrypted", manifest.ErrBadInput)}
		}
	}
	if old == nil {
		rs, err := newRecipients(s)
		if err != nil {
			return 0, err
		}
		recipients := rs.Set
		if recipients == nil {
			recipients = rs.Add
		}
		if len(recipients) == 0 {
			// Never another Secret's recipients: which ones a new Secret
			// needs is the user's call.
			what := "a new Secret (none of the file had this namespace and name)"
			if sess.plain[s.Scope()] {
				what = "a Secret that was not encrypted"
			}
			return 0, hint.Wrap(fmt.Errorf("%s, and %w", what, ErrNoKeysForNew),
				"name its keys with -k/--key or KSEC_KEYS, or add a rule for it to .ksec.yaml (ksec init); ksec does not copy another Secret's recipients")
		}
		key, _, err := encryptSecret(ctx, st, kr, s, Recipients{Set: recipients})
		clear(key)
		return 0, err
	}
	stanzas := old.stanzas
	sameScope := old.scope == s.Scope()
	if rotate {
		dataKey, err := crypto.NewDataKey()
		if err != nil {
			return 0, err
		}
		defer clear(dataKey)
		rs, err := recipientsOf(ctx, kr, stanzas, nil)
		if err != nil {
			return 0, err
		}
		if stanzas, err = wrapAll(ctx, rs, dataKey, s.Scope()); err != nil {
			return 0, err
		}
		return 0, seal(st, s, dataKey, nil, nil, stanzas)
	}
	if !sameScope {
		var err error
		if stanzas, err = kr.Rebind(ctx, stanzas, old.dataKey, s.Scope()); err != nil {
			return 0, err
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
			return 0, err
		}
		if same {
			st.SetToken(v, prev.token)
			v.Text = prev.token
			keep[v] = true
		}
	}
	return len(s.Values) - len(keep), seal(st, s, old.dataKey, keep, nil, stanzas)
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
