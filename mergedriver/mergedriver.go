// Package mergedriver is ksec's git merge driver: it merges the three sides
// of an encrypted manifest per Secret and per key, so that two branches
// that change different keys of one Secret merge cleanly.
//
// How it merges:
//
//   - Each side (base, ours, theirs) is decrypted and verified as decrypt
//     does (every token, the MAC, the layout checks); a side that fails is
//     refused, and a side no key opens makes the merge git's plain text
//     merge, left as a conflict.
//   - Each value is compared by what it seals, never by its token: a side
//     that rotated the data key changed every token but not its values.
//     Per Secret (matched by namespace and name) and per key, a value one
//     side changed takes that side; the same key changed on both sides to
//     different values is a conflict.
//   - Everything else (comments, metadata, other documents, keys added or
//     removed) is merged by git merge-file on projections of the sides in
//     which every token is replaced by a placeholder naming its value and
//     every ksec block by one fixed block, so no token, MAC or wrapped key
//     can make lines conflict. The projections hold no plaintext. A
//     conflict made only of value lines of one mapping (keys added or
//     removed next to each other) is settled per key.
//   - The recipients are merged as a set (added on either side: in;
//     removed on either side: out). The merged Secret keeps a data key only
//     if everyone who ever held it stays a recipient and no side rotated it
//     away; else a fresh one is made. Values sealed under the kept key keep
//     their token byte for byte; others are sealed afresh under it.
//   - The result is decrypted and verified again, and checked to hold
//     exactly the merged values and the merged text, before it is returned.
//
// On a conflict the result holds conflict markers around tokens and MAC
// lines only: "ours" is the merge with our side of every conflict, "theirs"
// with theirs, each a valid ksec file, so taking one side of every
// conflict of a Secret, its mac line included, gives a file that decrypts.
package mergedriver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Input is what git hands a merge driver: the three versions (%O, %A, %B)
// and the path in the repository (%P), for messages.
type Input struct {
	Base, Ours, Theirs []byte
	Path               string
}

// Options say how Merge works.
type Options struct {
	// Keyring unwraps the data keys, as for decrypt.
	Keyring *keyring.Keyring
	// Git is the git program; "git" when empty.
	Git string
	// MarkerSize is the length of conflict markers; 7 when 0.
	MarkerSize int
}

// Result is a finished merge.
type Result struct {
	// Merged is the content for %A: the merge, or on a conflict the
	// merge with conflict markers (around tokens, never plaintext).
	Merged []byte
	// Conflict says Merged holds conflicts (git's exit status 1).
	Conflict bool
	// Conflicts names the values changed differently on both sides
	// ("Secret NS/NAME: data.KEY"); other conflicting lines are not listed.
	Conflicts []string
	// Fallback, when not nil, says why the merge is git's plain text merge
	// of the files as they are, unverified and always a conflict.
	Fallback error
}

// ErrNoKey says no key could decrypt a side: the merge is left to git.
var ErrNoKey = errors.New("no key could decrypt")

// side names, in messages.
var sideNames = [3]string{"base", "ours", "theirs"}

const (
	base = iota
	ours
	theirs
)

// Merge merges in. An error means nothing should be written (a side is
// tampered with, or the merge itself failed): %A keeps our side.
func Merge(ctx context.Context, in Input, opts Options) (Result, error) {
	if opts.Git == "" {
		opts.Git = "git"
	}
	if opts.MarkerSize <= 0 {
		opts.MarkerSize = 7
	}
	m := &merger{in: in, opts: opts, merge3: gitMergeFile(opts.Git)}
	defer m.close()
	return m.run(ctx)
}

type merger struct {
	in     Input
	opts   Options
	merge3 mergeText

	srcs     [3][]byte
	sessions [3]*envelope.Session
	opened   [3]map[keyring.Scope]*envelope.OpenedSecret

	nonce   string // in every placeholder, found nowhere in the sides
	classes map[classKey]*class
	byPH    map[string]*class
	resolve map[slotKey]slot

	plans  map[keyring.Scope]*plan
	tokens map[*class]string
}

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

// plan is the merged Secret's data key and recipients.
type plan struct {
	dataKey []byte
	stanzas []keyring.Stanza
	fresh   bool
}

func (m *merger) close() {
	for _, s := range m.sessions {
		if s != nil {
			s.Close()
		}
	}
	for _, p := range m.plans {
		if p.fresh {
			clear(p.dataKey)
		}
	}
}

// shown is how git merge-file writes what the user sees: git's own
// labels would be branch names, which a merge driver is not told.
func (m *merger) shown(style string) textMerge {
	return textMerge{labels: [3]string{"ours", "base", "theirs"}, style: style, markerSize: m.opts.MarkerSize}
}

// projMerge is how the projections are merged: diff3 style, so that a
// conflict of value lines can be settled per key, with long markers
// labelled with the nonce, which no line of a projection starts like.
func (m *merger) projMerge() textMerge {
	return textMerge{labels: [3]string{m.nonce + "-ours", m.nonce + "-base", m.nonce + "-theirs"}, style: "diff3", markerSize: 40}
}

func (m *merger) run(ctx context.Context) (Result, error) {
	m.srcs = [3][]byte{m.in.Base, m.in.Ours, m.in.Theirs}
	ksec := false
	var unreadable error
	for i, src := range m.srcs {
		st, err := manifest.Parse(src)
		if err != nil {
			if errors.Is(err, crypto.ErrIntegrity) {
				return Result{}, fmt.Errorf("%s: %w", sideNames[i], err)
			}
			if unreadable == nil {
				unreadable = fmt.Errorf("cannot read %s: %w", sideNames[i], err)
			}
			ksec = ksec || looksEncrypted(src)
			continue
		}
		for _, s := range st.Secrets {
			if s.Meta != nil {
				ksec = true
			}
		}
		if len(st.Strays) > 0 {
			ksec = true
		}
	}
	if !ksec {
		// No ksec Secret anywhere: exactly git's own merge.
		out, n, err := m.merge3(ctx, m.in.Ours, m.in.Base, m.in.Theirs, m.shown(""))
		if err != nil {
			return Result{}, err
		}
		return Result{Merged: out, Conflict: n > 0}, nil
	}
	if unreadable != nil {
		return m.fallback(ctx, unreadable)
	}
	// A side the user's keys do not open (they were added as a recipient
	// on a branch since) may open with the data key another side kept.
	var noKey [3]error
	for i, src := range m.srcs {
		if err := m.open(ctx, i, src); err != nil {
			if !errors.Is(err, keyring.ErrNoIdentity) {
				return Result{}, fmt.Errorf("%s: %w", sideNames[i], err)
			}
			noKey[i] = err
		}
	}
	for i, err := range noKey {
		if err != nil && !m.openWithSideKeys(i) {
			return m.fallback(ctx, hint.Wrap(fmt.Errorf("%w %s%s", ErrNoKey, sideNames[i], secretOf(err)),
				"the merge needs a key that can decrypt the file: set KSEC_AGE_KEY or KSEC_IDENTITY_FILE, or use gpg, then run git merge again"))
		}
	}
	if err := m.classify(); err != nil {
		return m.fallback(ctx, err)
	}
	var proj [3][]byte
	for i := range m.srcs {
		p, err := m.project(m.srcs[i], m.opened[i], true)
		if err != nil {
			return m.fallback(ctx, fmt.Errorf("%s: %w", sideNames[i], err))
		}
		if hasMarkerLine(p, m.projMerge()) {
			return m.fallback(ctx, fmt.Errorf("%s has a line that looks like a conflict marker", sideNames[i]))
		}
		proj[i] = p
	}
	text, n, err := m.merge3(ctx, proj[ours], proj[base], proj[theirs], m.projMerge())
	if err != nil {
		return Result{}, err
	}
	segs := []segment{{common: splitLines(text)}}
	if n > 0 {
		if segs, err = parseDiff3(text, m.projMerge()); err != nil {
			return m.fallback(ctx, err)
		}
	}
	// Conflicts made only of value lines of one mapping (keys added or
	// removed next to each other on both sides) are settled per key; the
	// others stay. texts are the merge with our side, and with theirs, of
	// every conflict left.
	var texts [2]strings.Builder
	left := 0
	for _, seg := range segs {
		lines := seg.common
		if seg.conflict {
			var ok bool
			if lines, ok = m.settle(seg); !ok {
				left++
				for i, side := range []int{ours, theirs} {
					texts[i].WriteString(strings.Join(seg.sides[side], ""))
				}
				continue
			}
		}
		for i := range texts {
			texts[i].WriteString(strings.Join(lines, ""))
		}
	}
	if left == 0 {
		out, err := m.build(ctx, []byte(texts[0].String()))
		if err != nil {
			return m.fallback(ctx, err)
		}
		return Result{Merged: out}, nil
	}
	// A conflict: build the merge with our side of every conflict and the
	// one with theirs, both valid files, and mark where they differ.
	var sides [2][]byte
	for i := range texts {
		if sides[i], err = m.build(ctx, []byte(texts[i].String())); err != nil {
			return m.fallback(ctx, fmt.Errorf("cannot build the %s side of the conflicts: %w", sideNames[i+1], err))
		}
	}
	out, _, err := m.merge3(ctx, sides[0], nil, sides[1], m.shown("merge"))
	if err != nil {
		return Result{}, err
	}
	if bytes.Contains(out, []byte(m.nonce)) {
		return Result{}, errors.New("a placeholder was left in the conflict file (a ksec bug); nothing was written")
	}
	return Result{Merged: out, Conflict: true, Conflicts: m.conflictNames()}, nil
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

// fallback is git's plain text merge of the files as they are, always
// reported as a conflict: nothing was verified.
func (m *merger) fallback(ctx context.Context, why error) (Result, error) {
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	out, _, err := m.merge3(ctx, m.in.Ours, m.in.Base, m.in.Theirs, m.shown(""))
	if err != nil {
		return Result{}, err
	}
	return Result{Merged: out, Conflict: true, Fallback: why}, nil
}

// open decrypts and verifies side i as decrypt does.
func (m *merger) open(ctx context.Context, i int, src []byte) error {
	st, err := manifest.Parse(src)
	if err != nil {
		return err
	}
	sess, err := envelope.DecryptSession(ctx, st, m.opts.Keyring)
	if err != nil {
		return err
	}
	return m.keep(i, sess)
}

// keep records side i's session.
func (m *merger) keep(i int, sess *envelope.Session) error {
	m.sessions[i] = sess
	m.opened[i] = map[keyring.Scope]*envelope.OpenedSecret{}
	for _, o := range sess.Opened() {
		if _, dup := m.opened[i][o.Scope]; dup {
			// Unnamed Secrets (generateName) share a scope: no telling
			// which continues which.
			return hint.Wrap(fmt.Errorf("%w: two encrypted Secrets named %q in namespace %q", manifest.ErrBadInput, o.Scope.Name, o.Scope.Namespace),
				"the merge driver matches Secrets by namespace and name; give each a name")
		}
		m.opened[i][o.Scope] = &o
	}
	return nil
}

// openWithSideKeys opens side i with the data keys of the sides that
// opened, Secret by Secret: a side that kept another's data key opens and
// verifies under it although the user may not be one of its recipients.
// A key that does not fit fails verification; then the side stays
// unopened and the merge is left to git.
func (m *merger) openWithSideKeys(i int) bool {
	var others []int
	for _, j := range []int{ours, theirs, base} {
		if j != i && m.sessions[j] != nil {
			others = append(others, j)
		}
	}
	for n := range others {
		st, err := manifest.Parse(m.srcs[i])
		if err != nil {
			return false
		}
		// Each try prefers another side's keys.
		order := append(slices.Clone(others[n:]), others[:n]...)
		sess, err := envelope.DecryptSessionWithKeys(st, func(scope keyring.Scope) []byte {
			for _, j := range order {
				if o := m.opened[j][scope]; o != nil {
					return o.DataKey
				}
			}
			return nil
		})
		if err == nil {
			return m.keep(i, sess) == nil
		}
	}
	return false
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

// looksEncrypted reports whether src seems to hold a ksec block.
func looksEncrypted(src []byte) bool {
	return bytes.Contains(src, []byte("\n"+manifest.MetadataKey+":")) ||
		bytes.Contains(src, []byte(" "+manifest.MetadataKey+":")) ||
		bytes.Contains(src, []byte(`"`+manifest.MetadataKey+`"`))
}

// secretOf names the Secret an error is about, as " (Secret NS/NAME)".
func secretOf(err error) string {
	var me *manifest.Error
	if errors.As(err, &me) && me.Secret != nil {
		name := me.Secret.Name
		if me.Secret.Namespace != "" {
			name = me.Secret.Namespace + "/" + name
		}
		return " (Secret " + name + ")"
	}
	return ""
}
