package mergedriver

// This file turns a merged projection back into a verified ksec file.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// build turns a merged projection back into a ksec file: placeholders
// become tokens valid under each Secret's merged data key, the dummy
// blocks become the merged recipients with a MAC over the merged tokens.
// The result is verified before it is returned.
func (m *merger) build(ctx context.Context, text []byte) ([]byte, error) {
	st, err := manifest.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("the merged file does not parse: %w", err)
	}
	if err := st.CheckStrays(); err != nil {
		return nil, err
	}
	want := map[keyring.Scope]map[envelope.ValueRef]*class{}
	keys := map[keyring.Scope][]byte{}
	for _, s := range st.Secrets {
		if s.Meta == nil {
			for _, v := range s.Values {
				if strings.Contains(v.Text, m.nonce) {
					return nil, fmt.Errorf("%s: %s is encrypted on one side, not on the other", s, v)
				}
			}
			continue
		}
		if !slices.EqualFunc(s.Meta.Recipients, dummy.Recipients, func(a, b keyring.Stanza) bool {
			return a.Type == b.Type && a.ID == b.ID && bytes.Equal(a.Wrapped, b.Wrapped)
		}) {
			return nil, fmt.Errorf("%s: its ksec block did not merge", s)
		}
		if _, dup := want[s.Scope()]; dup {
			return nil, fmt.Errorf("%s: two Secrets with this namespace and name", s)
		}
		p, err := m.plan(ctx, s.Scope())
		if err != nil {
			return nil, &manifest.Error{Secret: s, Err: err}
		}
		key, err := crypto.NewKey(p.dataKey)
		if err != nil {
			return nil, err
		}
		vals := map[envelope.ValueRef]*class{}
		in := crypto.MACInput{Namespace: s.Namespace, Name: s.Name}
		for _, r := range p.stanzas {
			in.Recipients = append(in.Recipients, crypto.MACRecipient{Type: r.Type, ID: r.ID, Wrapped: r.Wrapped})
		}
		for _, v := range s.Values {
			c := m.byPH[v.Text]
			ref := envelope.ValueRef{Field: v.Field, Key: v.Key}
			if c == nil || c.scope != s.Scope() || c.ref != ref {
				// A value moved to another key or Secret by the text
				// merge, or not encrypted: not a merge ksec can vouch for.
				return nil, &manifest.Error{Secret: s, Value: v, Err: errors.New("the value does not come from this key on either side")}
			}
			token, err := m.token(c, p, key)
			if err != nil {
				return nil, err
			}
			st.SetToken(v, token)
			vals[ref] = c
			in.Values = append(in.Values, crypto.MACValue{Field: v.Field, Key: v.Key, Token: token})
		}
		st.SetMetadata(s, manifest.Metadata{Version: crypto.Version, Recipients: p.stanzas, MAC: key.MAC(in)})
		want[s.Scope()] = vals
		keys[s.Scope()] = p.dataKey
	}
	out := st.Bytes()
	if bytes.Contains(out, []byte(m.nonce)) {
		return nil, errors.New("a placeholder is left outside any encrypted Secret's values")
	}
	if err := m.verify(ctx, out, text, want, keys); err != nil {
		return nil, fmt.Errorf("%w: the merged file does not verify (a ksec bug; nothing was written): %v", crypto.ErrIntegrity, err)
	}
	return out, nil
}

// verify reads the merged file back as decrypt does and checks it holds
// exactly what the merge meant: the same encrypted Secrets, each under its
// planned data key with exactly the merged values, and, tokens and ksec
// blocks aside, exactly the merged text.
func (m *merger) verify(ctx context.Context, out, text []byte, want map[keyring.Scope]map[envelope.ValueRef]*class, keys map[keyring.Scope][]byte) error {
	st, err := manifest.Parse(out)
	if err != nil {
		return err
	}
	sess, err := envelope.DecryptSession(ctx, st, m.opts.Keyring)
	if errors.Is(err, keyring.ErrNoIdentity) {
		// The merge dropped the user as a recipient (a side removed
		// them): check it under the planned keys.
		if st, err = manifest.Parse(out); err != nil {
			return err
		}
		sess, err = envelope.DecryptSessionWithKeys(st, func(scope keyring.Scope) []byte { return keys[scope] })
	}
	if err != nil {
		return err
	}
	defer sess.Close()
	got := map[keyring.Scope]*envelope.OpenedSecret{}
	for _, o := range sess.Opened() {
		got[o.Scope] = &o
		vals, ok := want[o.Scope]
		if !ok {
			return fmt.Errorf("an unexpected encrypted Secret %s", o.Scope.Name)
		}
		if !bytes.Equal(o.DataKey, keys[o.Scope]) {
			return fmt.Errorf("the Secret %s: not under the planned data key", o.Scope.Name)
		}
		if len(o.Values) != len(vals) {
			return fmt.Errorf("the Secret %s: %d values, want %d", o.Scope.Name, len(o.Values), len(vals))
		}
		for ref, v := range o.Values {
			c := vals[ref]
			if c == nil || !samePayload(c.payload, v.Payload) {
				return fmt.Errorf("the Secret %s: %s.%s is not the merged value", o.Scope.Name, ref.Field, ref.Key)
			}
		}
	}
	if len(got) != len(want) {
		return errors.New("an encrypted Secret is missing")
	}
	back, err := m.project(out, got, false)
	if err != nil {
		return err
	}
	if !bytes.Equal(back, text) {
		return errors.New("the text around the values is not the merged text")
	}
	return nil
}

func samePayload(a, b crypto.Payload) bool {
	return a.Style == b.Style && a.Form == b.Form && bytes.Equal(a.Value, b.Value)
}

// token returns the token of class c under the plan's data key: a side's
// token when it seals exactly c under that key (ours first), so unchanged
// values keep their token byte for byte; else c sealed afresh, once.
func (m *merger) token(c *class, p *plan, key *crypto.Key) (string, error) {
	if t, ok := m.tokens[c]; ok {
		return t, nil
	}
	if m.tokens == nil {
		m.tokens = map[*class]string{}
	}
	for _, i := range []int{ours, theirs, base} {
		o := m.opened[i][c.scope]
		if o == nil || !bytes.Equal(o.DataKey, p.dataKey) {
			continue
		}
		if v, ok := o.Values[c.ref]; ok && samePayload(v.Payload, c.payload) {
			m.tokens[c] = v.Token
			return v.Token, nil
		}
	}
	loc := crypto.Location{Namespace: c.scope.Namespace, Name: c.scope.Name, Field: c.ref.Field, Key: c.ref.Key}
	t, err := key.Seal(loc, c.payload)
	if err != nil {
		return "", err
	}
	m.tokens[c] = t
	return t, nil
}
