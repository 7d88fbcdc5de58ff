package envelope

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Change sets or removes one value of a Secret.
type Change struct {
	// Field is "data" or "stringData" for a set: a key held by the other
	// field moves there. "" changes the key where it is, and puts a new
	// key under data.
	Field string
	Key   string
	Value []byte
	Unset bool // remove Key from whichever field holds it
}

// Patch applies changes to the encrypted Secret number index of st and
// returns the new file. It unwraps the data key once and checks the whole
// Secret first; a value set to what it already holds keeps its token, and
// every line the changes do not touch stays as it was.
func Patch(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, index int, changes []Change) ([]byte, error) {
	s := st.Secrets[index]
	fail := func(err error) ([]byte, error) { return nil, &manifest.Error{Secret: s, Err: err} }
	if s.Meta == nil {
		return fail(fmt.Errorf("%w: the Secret is not encrypted; encrypt it first", manifest.ErrBadInput))
	}
	dataKey, opened, err := open(ctx, kr, st, s, false)
	if err != nil {
		return fail(err)
	}
	key, err := crypto.NewKey(dataKey)
	if err != nil {
		return fail(err)
	}
	find := func(field, k string) *manifest.Value {
		i := slices.IndexFunc(s.Values, func(v *manifest.Value) bool { return v.Key == k && (field == "" || v.Field == field) })
		if i < 0 {
			return nil
		}
		return s.Values[i]
	}
	// want is what the Secret must hold afterwards, checked on the result.
	want := map[valueKey]crypto.Payload{}
	for _, v := range s.Values {
		want[valueKey{v.Field, v.Key}] = opened[v]
	}
	removed := map[*manifest.Value]bool{}
	resealed := map[*manifest.Value]bool{}
	added := map[string]bool{} // fields that get a new key
	remove := func(v *manifest.Value) { removed[v] = true }
	for _, c := range changes {
		delete(want, valueKey{"data", c.Key})
		delete(want, valueKey{"stringData", c.Key})
		if c.Unset {
			found := false
			for _, v := range s.Values {
				if v.Key == c.Key && !removed[v] {
					remove(v)
					found = true
				}
			}
			if !found {
				return fail(fmt.Errorf("%w: there is no key %q to unset", manifest.ErrBadInput, c.Key))
			}
			continue
		}
		if c.Field == "" {
			c.Field = "data"
			if find("data", c.Key) == nil && find("stringData", c.Key) != nil {
				c.Field = "stringData"
			}
		}
		want[valueKey{c.Field, c.Key}] = st.NewPayload(s, c.Field, c.Value)
		if other := find(otherField(c.Field), c.Key); other != nil {
			remove(other) // the key moves to the other field
		}
		loc := crypto.Location{Namespace: s.Namespace, Name: s.Name, Field: c.Field, Key: c.Key}
		if v := find(c.Field, c.Key); v != nil && !removed[v] {
			if sameValue(c.Field, opened[v], st.NewPayload(s, c.Field, c.Value)) {
				continue
			}
			token, err := key.Seal(loc, st.NewPayload(s, c.Field, c.Value))
			if err != nil {
				return fail(err)
			}
			st.SetToken(v, token)
			resealed[v] = true
			continue
		}
		token, err := key.Seal(loc, st.NewPayload(s, c.Field, c.Value))
		if err != nil {
			return fail(err)
		}
		st.AddValue(s, c.Field, c.Key, token)
		added[c.Field] = true
	}
	if len(added) > 0 {
		// A new key lands after the Secret's last value, which then no
		// longer ends the file: one sealed as read there gets a token that
		// reads the same anywhere.
		for _, v := range s.Values {
			if removed[v] || resealed[v] || opened[v].Form != crypto.FormVerbatimAtEnd {
				continue
			}
			value, err := plainValue(v.Field, opened[v])
			if err != nil {
				return fail(err)
			}
			token, err := key.Seal(v.Location(s), st.NewPayload(s, v.Field, value))
			if err != nil {
				return fail(err)
			}
			st.SetToken(v, token)
		}
	}
	// A field left without keys goes, rather than stay as an empty
	// "stringData:" (null) line.
	var gone []*manifest.Value
	for _, field := range []string{"data", "stringData"} {
		var in []*manifest.Value
		all := true
		for _, v := range s.Values {
			if v.Field == field {
				if removed[v] {
					in = append(in, v)
				} else {
					all = false
				}
			}
		}
		if len(in) > 0 && all && !added[field] && st.RemoveField(s, field) {
			continue
		}
		gone = append(gone, in...)
	}
	st.RemoveValues(s, gone)
	if !st.Changed() {
		return st.Bytes(), nil
	}
	// The values changed: read the result back and write the MAC over it.
	next, err := manifest.Parse(st.Bytes())
	if err != nil {
		return nil, fmt.Errorf("patched file does not parse (a ksec bug): %w", err)
	}
	ns := next.Secrets[index]
	next.SetMetadata(ns, manifest.Metadata{Version: crypto.Version, Recipients: s.Meta.Recipients, MAC: key.MAC(macInput(ns, s.Meta.Recipients))})
	out := next.Bytes()
	if err := verifyPatched(st, index, out, key, want); err != nil {
		return nil, err
	}
	return out, nil
}

// verifyPatched reads the patched file back as decrypt will and checks it
// independently of how it was written: the MAC verifies, every token opens
// to a payload ksec writes at its place, the Secret holds exactly the
// expected values at exactly their keys, decrypting it gives those values,
// and nothing else in the file changed.
func verifyPatched(st *manifest.Stream, index int, out []byte, key *crypto.Key, want map[valueKey]crypto.Payload) error {
	fail := func(err error) error {
		return fmt.Errorf("%w: the patched file does not read back as intended (a ksec bug; nothing was written): %v", crypto.ErrIntegrity, err)
	}
	back, err := manifest.Parse(out)
	if err != nil {
		return fail(err)
	}
	if err := st.VerifyPatched(out, index); err != nil {
		return fail(err)
	}
	s := back.Secrets[index]
	if s.Meta == nil {
		return fail(errors.New("the ksec block is gone"))
	}
	if err := key.VerifyMAC(macInput(s, s.Meta.Recipients), s.Meta.MAC); err != nil {
		return fail(err)
	}
	sealed := map[*manifest.Value]crypto.Payload{}
	for _, v := range s.Values {
		p, err := key.Open(v.Location(s), v.Text)
		if err == nil {
			err = back.CheckPayload(v, p)
		}
		if err != nil {
			return fail(err)
		}
		w, ok := want[valueKey{v.Field, v.Key}]
		if !ok || !sameValue(v.Field, w, p) {
			return fail(fmt.Errorf("%s holds another value than intended", v))
		}
		sealed[v] = p
		if err := back.SetPlain(v, p); err != nil {
			return fail(err)
		}
	}
	if len(sealed) != len(want) {
		return fail(errors.New("a value is missing"))
	}
	back.RemoveMetadata(s)
	return back.VerifyDecrypted(back.Bytes(), []*manifest.Secret{s}, sealed)
}

// RotateSecret gives the encrypted Secret number index of st a new data
// key: every value is sealed afresh (new nonces) and the key wrapped again
// for the same recipients, so whoever knew the old key (the file's author,
// say) cannot read what is sealed from now on. It needs a key that can
// decrypt the Secret and every recipient's public key.
func RotateSecret(ctx context.Context, st *manifest.Stream, kr *keyring.Keyring, index int) error {
	s := st.Secrets[index]
	if s.Meta == nil {
		return &manifest.Error{Secret: s, Err: fmt.Errorf("%w: the Secret is not encrypted; there is no data key to rotate", manifest.ErrBadInput)}
	}
	if _, _, err := encryptSecret(ctx, st, kr, s, Recipients{Rotate: true}); err != nil {
		return &manifest.Error{Secret: s, Err: err}
	}
	return nil
}

func otherField(field string) string {
	if field == "data" {
		return "stringData"
	}
	return "data"
}

// plainValue is the value a payload stands for, as Change.Value holds it:
// a data value's decoded bytes, a stringData value's text.
func plainValue(field string, p crypto.Payload) ([]byte, error) {
	text, _, err := manifest.PayloadText(p)
	if err != nil {
		return nil, err
	}
	if field != "data" {
		return []byte(text), nil
	}
	return base64.StdEncoding.DecodeString(text)
}

// sameValue reports whether two payloads of a field stand for the same
// value: the same bytes for data (however the base64 was written), the same
// string for stringData, or both null.
func sameValue(field string, a, b crypto.Payload) bool {
	at, aNull, errA := manifest.PayloadText(a)
	bt, bNull, errB := manifest.PayloadText(b)
	if errA != nil || errB != nil || aNull || bNull {
		return errA == nil && errB == nil && aNull == bNull
	}
	if field != "data" {
		return at == bt
	}
	ab, errA := base64.StdEncoding.DecodeString(at)
	bb, errB := base64.StdEncoding.DecodeString(bt)
	return errA == nil && errB == nil && bytes.Equal(ab, bb)
}
