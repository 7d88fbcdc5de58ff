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
