package mergedriver

// This file holds the per-value side of a merge: classes of values, the
// per-key merge, the projections and the settling of conflicts of value lines.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// A class is one value at one place: a Secret's field and key holding one
// payload. Two sides hold the same value when they hold the same class,
// whatever their tokens.
type class struct {
	ph      string
	scope   keyring.Scope
	ref     envelope.ValueRef
	payload crypto.Payload
}

type classKey struct {
	scope keyring.Scope
	ref   envelope.ValueRef
	sum   [sha256.Size]byte
}

// A slot is one key of one Secret; its per-key merge is a class, nothing
// (the key goes), or a conflict.
type slotKey struct {
	scope keyring.Scope
	ref   envelope.ValueRef
}

type slot struct {
	class    *class // nil: absent
	conflict bool
}

// settle merges a conflict made only of value lines ("KEY: PLACEHOLDER")
// of one field of one Secret, at one indentation, per key: a key is kept
// or dropped as the sides agree (one side's removal wins over the other
// side leaving it as it was), in our order, then the keys only theirs
// added. Anything else, or a key whose value itself conflicts, is left a
// conflict.
func (m *merger) settle(seg segment) ([]string, bool) {
	type entry struct {
		ref  envelope.ValueRef
		line string
	}
	var where *class
	var indent string
	var entries [3][]entry
	lineOf := map[envelope.ValueRef]string{}
	for i, lines := range seg.sides {
		seen := map[envelope.ValueRef]bool{}
		for _, line := range lines {
			bare := strings.TrimRight(line, "\r\n")
			j := strings.LastIndex(bare, ": ")
			if j < 0 {
				return nil, false
			}
			c := m.byPH[bare[j+2:]]
			ind := bare[:len(bare)-len(strings.TrimLeft(bare, " "))]
			if c == nil || ind == "" || seen[c.ref] {
				return nil, false
			}
			if where == nil {
				where, indent = c, ind
			}
			if c.scope != where.scope || c.ref.Field != where.ref.Field || ind != indent {
				return nil, false
			}
			if r := m.resolve[slotKey{c.scope, c.ref}]; r.conflict {
				return nil, false
			}
			if prev, ok := lineOf[c.ref]; ok && prev != line {
				return nil, false
			}
			seen[c.ref] = true
			lineOf[c.ref] = line
			entries[i] = append(entries[i], entry{c.ref, line})
		}
	}
	has := func(i int, ref envelope.ValueRef) bool {
		return slices.ContainsFunc(entries[i], func(e entry) bool { return e.ref == ref })
	}
	keep := func(ref envelope.ValueRef) bool {
		o, a, b := has(base, ref), has(ours, ref), has(theirs, ref)
		if a == b || a == o {
			return b
		}
		return a
	}
	var out []string
	for _, e := range entries[ours] {
		if keep(e.ref) {
			out = append(out, e.line)
		}
	}
	for _, e := range entries[theirs] {
		if !has(ours, e.ref) && keep(e.ref) {
			out = append(out, e.line)
		}
	}
	return out, true
}

// classify finds every value's class and merges each key of each Secret.
func (m *merger) classify() error {
	nonce := make([]byte, 8)
	for {
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		m.nonce = "ksec-merge-" + hex.EncodeToString(nonce)
		if !bytes.Contains(m.in.Base, []byte(m.nonce)) && !bytes.Contains(m.in.Ours, []byte(m.nonce)) && !bytes.Contains(m.in.Theirs, []byte(m.nonce)) {
			break
		}
	}
	m.classes = map[classKey]*class{}
	m.byPH = map[string]*class{}
	m.resolve = map[slotKey]slot{}
	var slots []slotKey
	seen := map[slotKey]bool{}
	for i := range m.opened {
		for scope, o := range m.opened[i] {
			for ref, v := range o.Values {
				m.classOf(scope, ref, v.Payload)
				if k := (slotKey{scope, ref}); !seen[k] {
					seen[k] = true
					slots = append(slots, k)
				}
			}
		}
	}
	for _, k := range slots {
		var c [3]*class
		for i := range m.opened {
			if o := m.opened[i][k.scope]; o != nil {
				if v, ok := o.Values[k.ref]; ok {
					c[i] = m.classOf(k.scope, k.ref, v.Payload)
				}
			}
		}
		switch {
		case c[ours] == c[theirs]:
			m.resolve[k] = slot{class: c[ours]}
		case c[ours] == c[base]:
			m.resolve[k] = slot{class: c[theirs]}
		case c[theirs] == c[base]:
			m.resolve[k] = slot{class: c[ours]}
		default:
			m.resolve[k] = slot{conflict: true}
		}
	}
	return nil
}

func (m *merger) classOf(scope keyring.Scope, ref envelope.ValueRef, p crypto.Payload) *class {
	h := sha256.New()
	h.Write([]byte{byte(p.Style), byte(p.Form)})
	h.Write(p.Value)
	k := classKey{scope: scope, ref: ref}
	h.Sum(k.sum[:0])
	if c, ok := m.classes[k]; ok {
		return c
	}
	c := &class{ph: fmt.Sprintf("%s-%d", m.nonce, len(m.classes)+1), scope: scope, ref: ref, payload: p}
	m.classes[k] = c
	m.byPH[c.ph] = c
	return c
}

// conflictNames lists the keys changed differently on both sides.
func (m *merger) conflictNames() []string {
	var out []string
	for k, s := range m.resolve {
		if s.conflict {
			name := k.scope.Name
			if k.scope.Namespace != "" {
				name = k.scope.Namespace + "/" + name
			}
			out = append(out, fmt.Sprintf("Secret %s: %s.%s", name, k.ref.Field, k.ref.Key))
		}
	}
	slices.Sort(out)
	return out
}

// dummy is the ksec block of every encrypted Secret in a projection: the
// same on every side, so recipients, wrapped keys and MACs never make the
// text merge conflict (they are merged per Secret instead).
var dummy = manifest.Metadata{
	Version:    crypto.Version,
	Recipients: []keyring.Stanza{{Type: "merge", ID: "placeholder", Wrapped: []byte{0}}},
	MAC:        make([]byte, crypto.MACSize),
}

// project replaces, in src, every token of an encrypted Secret with its
// class's placeholder and every ksec block with the dummy one. With
// resolved, a key whose per-key merge is settled shows the settled class
// on every side that has it, so that only keys changed on both sides can
// make lines conflict.
func (m *merger) project(src []byte, opened map[keyring.Scope]*envelope.OpenedSecret, resolved bool) ([]byte, error) {
	st, err := manifest.Parse(src)
	if err != nil {
		return nil, err
	}
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		o := opened[s.Scope()]
		if o == nil {
			return nil, fmt.Errorf("%s was not decrypted (a ksec bug)", s)
		}
		for _, v := range s.Values {
			ref := envelope.ValueRef{Field: v.Field, Key: v.Key}
			ov, ok := o.Values[ref]
			if !ok {
				return nil, fmt.Errorf("%s: %s was not decrypted (a ksec bug)", s, v)
			}
			c := m.classOf(s.Scope(), ref, ov.Payload)
			if r, ok := m.resolve[slotKey{s.Scope(), ref}]; resolved && ok && !r.conflict && r.class != nil {
				c = r.class
			}
			st.SetToken(v, c.ph)
		}
		st.SetMetadata(s, dummy)
	}
	return st.Bytes(), nil
}
