package mergedriver

// This file merges the recipients and picks the merged data key.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

// plan is the merged Secret's data key and recipients.
type plan struct {
	dataKey []byte
	stanzas []keyring.Stanza
	fresh   bool
}

// plan merges the recipients of the Secret scope and picks its data key.
func (m *merger) plan(ctx context.Context, scope keyring.Scope) (*plan, error) {
	if p, ok := m.plans[scope]; ok {
		return p, nil
	}
	if m.plans == nil {
		m.plans = map[keyring.Scope]*plan{}
	}
	var sides [3]*envelope.OpenedSecret
	for i := range m.opened {
		sides[i] = m.opened[i][scope]
	}
	refs := mergeRecipients(sides)
	if len(refs) == 0 {
		return nil, hint.Wrap(errors.New("the two sides removed every recipient between them"),
			"merge by hand: take one side, then add the recipients back with ksec updatekeys or encrypt -k +KEY")
	}
	keep := map[keyring.Ref]bool{}
	for _, r := range refs {
		keep[r] = true
	}
	// A data key may stay only if everyone who held it on any side stays
	// a recipient; the base's key also not when a side rotated it away.
	rotated := sides[base] != nil &&
		(sides[ours] != nil && !bytes.Equal(sides[ours].DataKey, sides[base].DataKey) ||
			sides[theirs] != nil && !bytes.Equal(sides[theirs].DataKey, sides[base].DataKey))
	usable := func(key []byte) bool {
		for _, o := range sides {
			if o == nil || !bytes.Equal(o.DataKey, key) {
				continue
			}
			for _, stz := range o.Stanzas {
				if !keep[keyring.Ref{Type: stz.Type, ID: stz.ID}] {
					return false
				}
			}
		}
		return true
	}
	p := &plan{}
	for _, i := range []int{ours, theirs, base} {
		o := sides[i]
		if o == nil || (rotated && bytes.Equal(o.DataKey, sides[base].DataKey)) || !usable(o.DataKey) {
			continue
		}
		p.dataKey = o.DataKey
		break
	}
	if p.dataKey == nil {
		k, err := crypto.NewDataKey()
		if err != nil {
			return nil, err
		}
		p.dataKey, p.fresh = k, true
	}
	m.plans[scope] = p
	for _, r := range refs {
		stz, ok := stanzaFor(sides, r, p.dataKey)
		if !ok {
			rcp, err := m.opts.Keyring.ParseRecipient(ctx, r.Type+":"+r.ID)
			if err != nil {
				return nil, hint.Wrap(fmt.Errorf("cannot wrap the merged data key for %s:%s: %w", r.Type, r.ID, err),
					"the merge needs every recipient's public key when a side rotated the data key; for pgp, import it into gpg")
			}
			if stz, err = rcp.Wrap(ctx, p.dataKey, scope); err != nil {
				return nil, fmt.Errorf("wrap the merged data key for %s:%s: %w", r.Type, r.ID, err)
			}
		}
		p.stanzas = append(p.stanzas, stz)
	}
	return p, nil
}

// stanzaFor finds a side's wrapped key for r that wraps dataKey.
func stanzaFor(sides [3]*envelope.OpenedSecret, r keyring.Ref, dataKey []byte) (keyring.Stanza, bool) {
	for _, i := range []int{ours, theirs, base} {
		o := sides[i]
		if o == nil || !bytes.Equal(o.DataKey, dataKey) {
			continue
		}
		for _, stz := range o.Stanzas {
			if stz.Type == r.Type && stz.ID == r.ID {
				return stz, true
			}
		}
	}
	return keyring.Stanza{}, false
}

// mergeRecipients merges the recipient lists as sets: one that either
// side added is in, one that either side removed is out. Ours come first
// in our order, then theirs' additions. A side without the Secret has no
// say.
func mergeRecipients(sides [3]*envelope.OpenedSecret) []keyring.Ref {
	refs := func(o *envelope.OpenedSecret) []keyring.Ref {
		if o == nil {
			return nil
		}
		var out []keyring.Ref
		for _, s := range o.Stanzas {
			out = append(out, keyring.Ref{Type: s.Type, ID: s.ID})
		}
		return out
	}
	o, a, b := refs(sides[base]), refs(sides[ours]), refs(sides[theirs])
	switch {
	case sides[ours] == nil:
		return b
	case sides[theirs] == nil:
		return a
	}
	in := func(list []keyring.Ref, r keyring.Ref) bool { return slices.Contains(list, r) }
	keep := func(r keyring.Ref) bool {
		if sides[base] == nil {
			return true
		}
		switch {
		case in(a, r) && in(b, r):
			return true
		case in(o, r):
			return false // removed on one side
		}
		return true // added on one side
	}
	var out []keyring.Ref
	for _, r := range append(slices.Clone(a), b...) {
		if !in(out, r) && keep(r) {
			out = append(out, r)
		}
	}
	return out
}
