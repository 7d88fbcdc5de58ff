package mergedriver

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

const plain = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  labels:
    app: db
type: Opaque
# the database login
stringData:
  user: admin
  password: hunter2
  host: db.local
data:
  cert: Y2VydC1ieXRlcw==
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
`

// fixture holds two age keys and a keyring that can open both.
type fixture struct {
	t          *testing.T
	ctx        context.Context
	alice, bob string // recipients
	kr         *keyring.Keyring
	aliceOnly  *keyring.Keyring
	bobOnly    *keyring.Keyring
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the merge driver needs git: %v", err)
	}
	f := &fixture{t: t, ctx: context.Background()}
	var ids []keyring.Identity
	for i, name := range []*string{&f.alice, &f.bob} {
		id, err := age.GenerateX25519Identity()
		require.NoError(t, err)
		*name = id.Recipient().String()
		parsed, err := keyring.ParseIdentityString(id.String(), "test")
		require.NoError(t, err)
		ids = append(ids, parsed)
		if i == 0 {
			f.aliceOnly = keyring.New([]keyring.Provider{keyring.NewAge()}, ids[:1])
		}
	}
	f.kr = keyring.New([]keyring.Provider{keyring.NewAge()}, ids)
	f.bobOnly = keyring.New([]keyring.Provider{keyring.NewAge()}, ids[1:])
	return f
}

func (f *fixture) recipients(specs ...string) []keyring.Recipient {
	var out []keyring.Recipient
	for _, s := range specs {
		r, err := f.kr.ParseRecipient(f.ctx, s)
		require.NoError(f.t, err)
		out = append(out, r)
	}
	return out
}

func (f *fixture) encrypt(src string, rs envelope.Recipients) []byte {
	f.t.Helper()
	st, err := manifest.Parse([]byte(src))
	require.NoError(f.t, err)
	require.NoError(f.t, envelope.Encrypt(f.ctx, st, f.kr, rs))
	return st.Bytes()
}

// patch sets stringData/data values (KEY=VALUE) of the first Secret.
func (f *fixture) patch(src []byte, sets ...string) []byte {
	f.t.Helper()
	st, err := manifest.Parse(src)
	require.NoError(f.t, err)
	var changes []envelope.Change
	for _, s := range sets {
		k, v, _ := strings.Cut(s, "=")
		changes = append(changes, envelope.Change{Key: k, Value: []byte(v)})
	}
	out, err := envelope.Patch(f.ctx, st, f.kr, 0, changes)
	require.NoError(f.t, err)
	return out
}

func (f *fixture) decrypt(src []byte) string {
	f.t.Helper()
	st, err := manifest.Parse(src)
	require.NoError(f.t, err)
	_, err = envelope.Decrypt(f.ctx, st, f.kr)
	require.NoError(f.t, err)
	return string(st.Bytes())
}

func (f *fixture) merge(base, ours, theirs []byte) Result {
	f.t.Helper()
	res, err := Merge(f.ctx, Input{Base: base, Ours: ours, Theirs: theirs, Path: "s.yaml"}, Options{Keyring: f.kr})
	require.NoError(f.t, err)
	return res
}

var tokenLine = regexp.MustCompile(`(?m)^  (\w+): (ENC\[[^\]]+\])$`)

func tokens(src []byte) map[string]string {
	out := map[string]string{}
	for _, m := range tokenLine.FindAllSubmatch(src, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}

// noPlaintext fails when a value of the test's plaintexts shows in b.
func noPlaintext(t *testing.T, b []byte) {
	t.Helper()
	for _, v := range []string{"admin", "hunter2", "db.local", "cert-bytes", "Y2VydC1ieXRlcw==", "from-ours", "from-theirs", "new-host", "ours-pw", "theirs-pw"} {
		require.NotContains(t, string(b), v)
	}
}

// Different keys changed on each side (adjacent lines, which a text merge
// would conflict on) merge cleanly; unchanged values keep their tokens.
func TestMergeDifferentKeys(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := f.patch(base, "password=from-ours")
	theirs := f.patch(base, "host=new-host")
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	want := strings.Replace(strings.Replace(plain, "hunter2", "from-ours", 1), "db.local", "new-host", 1)
	require.Equal(t, want, f.decrypt(res.Merged))
	noPlaintext(t, res.Merged)
	got, o, th, b := tokens(res.Merged), tokens(ours), tokens(theirs), tokens(base)
	require.Equal(t, b["user"], got["user"], "unchanged token kept")
	require.Equal(t, b["cert"], got["cert"], "unchanged token kept")
	require.Equal(t, o["password"], got["password"], "ours' token kept")
	require.Equal(t, th["host"], got["host"], "theirs' token kept")
	// Only the mac and the changed values differ from ours.
	require.Equal(t, []string{"host", "mac"}, changedLines(ours, res.Merged))
}

// changedLines names the keys of the lines that differ between a and b
// (files of the same layout).
func changedLines(a, b []byte) []string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var out []string
	for i := range la {
		if i < len(lb) && la[i] != lb[i] {
			k, _, _ := strings.Cut(strings.TrimSpace(la[i]), ":")
			out = append(out, k)
		}
	}
	return out
}

// The same key changed differently on both sides is a conflict: markers
// around tokens and the mac line, no plaintext, and each side of the
// conflicts taken whole is a valid file.
func TestMergeSameKeyConflicts(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := f.patch(base, "password=ours-pw", "user=from-ours")
	theirs := f.patch(base, "password=theirs-pw")
	res := f.merge(base, ours, theirs)
	require.True(t, res.Conflict)
	require.Nil(t, res.Fallback)
	require.Equal(t, []string{"Secret prod/db: stringData.password"}, res.Conflicts)
	noPlaintext(t, res.Merged)
	require.Equal(t, 2, strings.Count(string(res.Merged), "<<<<<<< ours\n"), "%s", res.Merged)
	for _, side := range []struct {
		keep     int
		password string
	}{{0, "ours-pw"}, {1, "theirs-pw"}} {
		text := takeSide(string(res.Merged), side.keep)
		got := f.decrypt([]byte(text))
		require.Contains(t, got, "password: "+side.password+"\n")
		require.Contains(t, got, "user: from-ours\n", "the change only ours made is on both sides of the conflict")
	}
}

// takeSide resolves every conflict of text with one side (0 ours, 1 theirs).
func takeSide(text string, side int) string {
	re := regexp.MustCompile(`(?s)<<<<<<< ours\n(.*?)=======\n(.*?)>>>>>>> theirs\n`)
	return re.ReplaceAllStringFunc(text, func(m string) string {
		return re.FindStringSubmatch(m)[1+side]
	})
}

// A recipient added on one side (same data key, one more wrapped key) and
// a value changed on the other merge cleanly; the new recipient reads the
// other side's change.
func TestMergeAddedRecipient(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := f.patch(base, "password=from-ours")
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Add: f.recipients(f.bob)}))
	theirs := st.Bytes()
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	m, err := manifest.Parse(res.Merged)
	require.NoError(t, err)
	require.Len(t, m.Secrets[0].Meta.Recipients, 2)
	// The wrapped keys are kept byte for byte (nothing was rotated).
	th, err := manifest.Parse(theirs)
	require.NoError(t, err)
	require.Equal(t, th.Secrets[0].Meta.Recipients, m.Secrets[0].Meta.Recipients)
	require.Equal(t, tokens(ours)["password"], tokens(res.Merged)["password"])
	st2, err := manifest.Parse(res.Merged)
	require.NoError(t, err)
	_, err = envelope.Decrypt(f.ctx, st2, f.bobOnly)
	require.NoError(t, err)
	require.Contains(t, string(st2.Bytes()), "password: from-ours\n")
}

// A recipient removed on one side rotated the data key: the other side's
// change is sealed under the new key, the removed recipient cannot read
// the merge, and the base's data key is not used.
func TestMergeRemovedRecipient(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice, f.bob)})
	ours := f.patch(base, "password=from-ours")
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Remove: []keyring.Ref{{Type: "age", ID: f.bob}}}))
	theirs := st.Bytes()
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	want := strings.Replace(plain, "hunter2", "from-ours", 1)
	require.Equal(t, want, f.decrypt(res.Merged))
	m, err := manifest.Parse(res.Merged)
	require.NoError(t, err)
	require.Len(t, m.Secrets[0].Meta.Recipients, 1)
	require.Equal(t, f.alice, m.Secrets[0].Meta.Recipients[0].ID)
	// Unchanged values keep theirs' (rotated) tokens; ours' change is new.
	got, th, o := tokens(res.Merged), tokens(theirs), tokens(ours)
	require.Equal(t, th["user"], got["user"])
	require.NotEqual(t, o["password"], got["password"])
	require.NotEqual(t, th["password"], got["password"])
	// The base's data key opens none of the merged values.
	baseKey := dataKey(t, f, base)
	k, err := crypto.NewKey(baseKey)
	require.NoError(t, err)
	_, err = k.Open(crypto.Location{Namespace: "prod", Name: "db", Field: "stringData", Key: "password"}, got["password"])
	require.Error(t, err)
	require.NotEqual(t, baseKey, dataKey(t, f, res.Merged))
}

func dataKey(t *testing.T, f *fixture, src []byte) []byte {
	st, err := manifest.Parse(src)
	require.NoError(t, err)
	sess, err := envelope.DecryptSession(f.ctx, st, f.kr)
	require.NoError(t, err)
	return bytes.Clone(sess.Opened()[0].DataKey)
}

// Each side removed a different recipient: neither side's data key may
// stay (the other removed party holds it), so a fresh key is made for the
// recipients left.
func TestMergeBothRotate(t *testing.T) {
	f := newFixture(t)
	carol, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice, f.bob, carol.Recipient().String())})
	rm := func(who string) []byte {
		st, err := manifest.Parse(base)
		require.NoError(t, err)
		require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Remove: []keyring.Ref{{Type: "age", ID: who}}}))
		return st.Bytes()
	}
	ours := f.patch(rm(f.bob), "password=from-ours")
	theirs := rm(carol.Recipient().String())
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	require.Equal(t, strings.Replace(plain, "hunter2", "from-ours", 1), f.decrypt(res.Merged))
	k := dataKey(t, f, res.Merged)
	for _, side := range [][]byte{base, ours, theirs} {
		require.NotEqual(t, dataKey(t, f, side), k)
	}
	m, err := manifest.Parse(res.Merged)
	require.NoError(t, err)
	require.Len(t, m.Secrets[0].Meta.Recipients, 1)
}

// Both sides removing all recipients between them cannot merge.
func TestMergeNoRecipientLeft(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice, f.bob)})
	set := func(who string) []byte {
		st, err := manifest.Parse(base)
		require.NoError(t, err)
		require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Set: f.recipients(who)}))
		return st.Bytes()
	}
	res := f.merge(base, set(f.alice), set(f.bob))
	require.True(t, res.Conflict)
	require.ErrorContains(t, res.Fallback, "removed every recipient")
	noPlaintext(t, res.Merged)
}

// Without a key the merge is git's text merge, left as a conflict.
func TestMergeWithoutKey(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.bob)})
	ours := f.patch(base, "password=from-ours")
	theirs := f.patch(base, "host=new-host")
	res, err := Merge(f.ctx, Input{Base: base, Ours: ours, Theirs: theirs}, Options{Keyring: f.aliceOnly})
	require.NoError(t, err)
	require.True(t, res.Conflict)
	require.True(t, errors.Is(res.Fallback, ErrNoKey), "%v", res.Fallback)
	require.Contains(t, res.Fallback.Error(), "(Secret prod/db)")
	require.Contains(t, string(res.Merged), "<<<<<<< ours\n")
	noPlaintext(t, res.Merged)
}

// A tampered side is refused: an integrity error, nothing to write.
func TestMergeTamperedSide(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := f.patch(base, "password=from-ours")
	theirs := f.patch(base, "host=new-host")
	// theirs' host token swapped for base's: a rollback of one value.
	bad := bytes.Replace(theirs, []byte(tokens(theirs)["host"]), []byte(tokens(base)["host"]), 1)
	for i, sides := range [][3][]byte{{base, ours, bad}, {bad, ours, theirs}, {base, bad, theirs}} {
		_, err := Merge(f.ctx, Input{Base: sides[0], Ours: sides[1], Theirs: sides[2]}, Options{Keyring: f.kr})
		require.ErrorIs(t, err, crypto.ErrIntegrity, "case %d", i)
		require.Contains(t, err.Error(), []string{"theirs: ", "base: ", "ours: "}[i])
	}
}

// Files without ksec Secrets merge exactly as git merges them.
func TestMergePlainFiles(t *testing.T) {
	f := newFixture(t)
	base := []byte("a: 1\nb: 2\nc: 3\nd: 4\n")
	res := f.merge(base, []byte("a: 9\nb: 2\nc: 3\nd: 4\n"), []byte("a: 1\nb: 2\nc: 3\nd: 8\n"))
	require.False(t, res.Conflict)
	require.Equal(t, "a: 9\nb: 2\nc: 3\nd: 8\n", string(res.Merged))
	res = f.merge(base, []byte("a: 9\nb: 2\nc: 3\nd: 4\n"), []byte("a: 7\nb: 2\nc: 3\nd: 4\n"))
	require.True(t, res.Conflict)
	require.Nil(t, res.Fallback)
}

// Text outside the values merges as git would; a key removed on one side
// and changed on the other conflicts.
func TestMergeAroundValues(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := bytes.Replace(f.patch(base, "password=from-ours"), []byte("app: db"), []byte("app: database"), 1)
	theirs := bytes.Replace(f.patch(base, "host=new-host"), []byte("mode: fast"), []byte("mode: slow"), 1)
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	got := f.decrypt(res.Merged)
	require.Contains(t, got, "app: database\n")
	require.Contains(t, got, "mode: slow\n")
	require.Contains(t, got, "password: from-ours\n")
	require.Contains(t, got, "host: new-host\n")

	// Removed on one side, changed on the other.
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	removed, err := envelope.Patch(f.ctx, st, f.kr, 0, []envelope.Change{{Key: "password", Unset: true}})
	require.NoError(t, err)
	res = f.merge(base, removed, f.patch(base, "password=theirs-pw"))
	require.True(t, res.Conflict)
	require.Equal(t, []string{"Secret prod/db: stringData.password"}, res.Conflicts)
	noPlaintext(t, res.Merged)
	require.Contains(t, f.decrypt([]byte(takeSide(string(res.Merged), 1))), "password: theirs-pw\n")
	require.NotContains(t, f.decrypt([]byte(takeSide(string(res.Merged), 0))), "password:")
}

// A side that rotated the data key (ksec rotate, same recipients) wanted
// the old key gone: the merge is under the rotated key, never the base's.
func TestMergeRotatedKey(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	ours := f.patch(base, "password=from-ours")
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	require.NoError(t, envelope.RotateSecret(f.ctx, st, f.kr, 0))
	theirs := st.Bytes()
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	require.Equal(t, strings.Replace(plain, "hunter2", "from-ours", 1), f.decrypt(res.Merged))
	require.Equal(t, dataKey(t, f, theirs), dataKey(t, f, res.Merged))
	require.Equal(t, tokens(theirs)["user"], tokens(res.Merged)["user"])
}

// Several Secrets: each merges on its own, a Secret added on one side
// keeps its own data key, and a JSON manifest merges per key too.
func TestMergeSeveralSecretsAndJSON(t *testing.T) {
	f := newFixture(t)
	two := plain + "---\n" + strings.ReplaceAll(strings.ReplaceAll(plain, "name: db", "name: cache"), "kind: ConfigMap", "kind: ConfigMap2")
	base := f.encrypt(two, envelope.Recipients{Set: f.recipients(f.alice)})
	patchAt := func(src []byte, index int, set string) []byte {
		st, err := manifest.Parse(src)
		require.NoError(t, err)
		k, v, _ := strings.Cut(set, "=")
		out, err := envelope.Patch(f.ctx, st, f.kr, index, []envelope.Change{{Key: k, Value: []byte(v)}})
		require.NoError(t, err)
		return out
	}
	ours := patchAt(base, 0, "password=from-ours")
	theirs := patchAt(patchAt(base, 1, "password=from-theirs"), 0, "host=new-host")
	extra := f.encrypt(strings.Split(strings.ReplaceAll(plain, "name: db", "name: extra"), "---\n")[0], envelope.Recipients{Set: f.recipients(f.bob)})
	theirs = append(append(theirs, "---\n"...), extra...)
	res := f.merge(base, ours, theirs)
	require.False(t, res.Conflict, "%v", res.Fallback)
	got := f.decrypt(res.Merged)
	require.Equal(t, 1, strings.Count(got, "password: from-ours\n"))
	require.Equal(t, 1, strings.Count(got, "password: from-theirs\n"))
	require.Equal(t, 1, strings.Count(got, "host: new-host\n"))
	require.Contains(t, got, "name: extra\n")
	require.True(t, bytes.HasSuffix(res.Merged, extra), "the added Secret is kept byte for byte")

	js := `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"}, "stringData": {"a": "1", "b": "2", "c": "3"}}` + "\n"
	base = f.encrypt(js, envelope.Recipients{Set: f.recipients(f.alice)})
	res = f.merge(base, f.patch(base, "a=from-ours"), f.patch(base, "b=from-theirs"))
	require.False(t, res.Conflict, "%v", res.Fallback)
	require.Equal(t, strings.Replace(strings.Replace(js, `"1"`, `"from-ours"`, 1), `"2"`, `"from-theirs"`, 1), f.decrypt(res.Merged))
}

// A user added as a recipient on one branch cannot open the base with
// their own key; the data key ours kept opens it, verified by its MAC.
func TestMergeBaseOpenedWithSideKey(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.bob)})
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Add: f.recipients(f.alice)}))
	ours := st.Bytes()
	theirs := f.patch(base, "host=new-host")
	res, err := Merge(f.ctx, Input{Base: base, Ours: ours, Theirs: theirs}, Options{Keyring: f.aliceOnly})
	require.NoError(t, err)
	require.False(t, res.Conflict, "%v", res.Fallback)
	require.Equal(t, strings.Replace(plain, "db.local", "new-host", 1), f.decrypt(res.Merged))

	// A base that does not verify under that key is not opened: tampered,
	// it is refused only when a key of the user's own opens it; here the
	// merge is left to git.
	bad := bytes.Replace(base, []byte(tokens(base)["host"]), []byte(tokens(base)["user"]), 1)
	res, err = Merge(f.ctx, Input{Base: bad, Ours: ours, Theirs: theirs}, Options{Keyring: f.aliceOnly})
	require.NoError(t, err)
	require.True(t, res.Conflict)
	require.ErrorIs(t, res.Fallback, ErrNoKey)
	// With a key of the user's own, the tampered base is refused.
	_, err = Merge(f.ctx, Input{Base: bad, Ours: ours, Theirs: theirs}, Options{Keyring: f.kr})
	require.ErrorIs(t, err, crypto.ErrIntegrity)
}

// Random value changes and recipient changes (added, removed, rotated) on
// both sides: the merge is clean exactly when no key changed differently
// on both sides, and then decrypts to the per-key merge, for the merged
// recipients, under a key the removed recipients never held.
func TestMergeRandomChanges(t *testing.T) {
	f := newFixture(t)
	carol, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	keys := []string{"user", "password", "host", "x", "y"}
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice, carol.Recipient().String())})
	rng := rand.New(rand.NewPCG(1, 2))
	type side struct {
		src    []byte
		values map[string]string // "" for absent
	}
	baseValues := map[string]string{"user": "admin", "password": "hunter2", "host": "db.local"}
	change := func() side {
		s := side{src: base, values: maps.Clone(baseValues)}
		var changes []envelope.Change
		for _, k := range keys {
			if rng.IntN(3) != 0 {
				continue
			}
			if s.values[k] != "" && k != "user" && rng.IntN(2) == 0 {
				changes = append(changes, envelope.Change{Key: k, Unset: true})
				delete(s.values, k)
				continue
			}
			v := []string{"v1", "v2"}[rng.IntN(2)]
			changes = append(changes, envelope.Change{Field: "stringData", Key: k, Value: []byte(v)})
			s.values[k] = v
		}
		if len(changes) > 0 {
			st, err := manifest.Parse(s.src)
			require.NoError(t, err)
			s.src, err = envelope.Patch(f.ctx, st, f.kr, 0, changes)
			require.NoError(t, err)
		}
		st, err := manifest.Parse(s.src)
		require.NoError(t, err)
		switch rng.IntN(4) {
		case 1:
			require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Add: f.recipients(f.bob)}))
		case 2:
			require.NoError(t, envelope.Encrypt(f.ctx, st, f.kr, envelope.Recipients{Remove: []keyring.Ref{{Type: "age", ID: carol.Recipient().String()}}}))
		case 3:
			require.NoError(t, envelope.RotateSecret(f.ctx, st, f.kr, 0))
		}
		s.src = st.Bytes()
		return s
	}
	for n := 0; n < 60; n++ {
		a, b := change(), change()
		want := map[string]string{}
		conflict := false
		for _, k := range keys {
			switch o, x, y := baseValues[k], a.values[k], b.values[k]; {
			case x == y || y == o:
				want[k] = x
			case x == o:
				want[k] = y
			default:
				conflict = true
			}
		}
		res := f.merge(base, a.src, b.src)
		require.Nil(t, res.Fallback, "case %d", n)
		require.Equal(t, conflict, res.Conflict, "case %d", n)
		noPlaintext(t, res.Merged)
		if conflict {
			continue
		}
		got := f.decrypt(res.Merged)
		for k, v := range want {
			if v == "" {
				require.NotContains(t, got, "  "+k+": ", "case %d", n)
			} else {
				require.Contains(t, got, "  "+k+": "+v+"\n", "case %d", n)
			}
		}
		m, err := manifest.Parse(res.Merged)
		require.NoError(t, err)
		var ids []string
		for _, r := range m.Secrets[0].Meta.Recipients {
			ids = append(ids, r.ID)
		}
		aIDs, bIDs := recipientIDs(t, a.src), recipientIDs(t, b.src)
		wantIDs := []string{f.alice}
		if slices.Contains(aIDs, carol.Recipient().String()) && slices.Contains(bIDs, carol.Recipient().String()) {
			wantIDs = append(wantIDs, carol.Recipient().String())
		}
		if slices.Contains(aIDs, f.bob) || slices.Contains(bIDs, f.bob) {
			wantIDs = append(wantIDs, f.bob)
		}
		require.ElementsMatch(t, wantIDs, ids, "case %d", n)
		k := dataKey(t, f, res.Merged)
		if !slices.Contains(ids, carol.Recipient().String()) || !bytes.Equal(dataKey(t, f, a.src), dataKey(t, f, base)) || !bytes.Equal(dataKey(t, f, b.src), dataKey(t, f, base)) {
			require.NotEqual(t, dataKey(t, f, base), k, "case %d: the base's key stayed", n)
		}
	}
}

func recipientIDs(t *testing.T, src []byte) []string {
	st, err := manifest.Parse(src)
	require.NoError(t, err)
	var out []string
	for _, r := range st.Secrets[0].Meta.Recipients {
		out = append(out, r.ID)
	}
	return out
}

// Secrets inside a List, and a file with CRLF line breaks, merge per key.
func TestMergeListAndCRLF(t *testing.T) {
	f := newFixture(t)
	list := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: one\n  stringData:\n    a: \"1\"\n    b: \"2\"\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: two\n  stringData:\n    a: \"3\"\n"
	for _, src := range []string{list, strings.ReplaceAll(plain, "\n", "\r\n")} {
		base := f.encrypt(src, envelope.Recipients{Set: f.recipients(f.alice)})
		st, err := manifest.Parse(base)
		require.NoError(t, err)
		last := len(st.Secrets) - 1
		patchAt := func(index int, k, v string) []byte {
			st, err := manifest.Parse(base)
			require.NoError(t, err)
			out, err := envelope.Patch(f.ctx, st, f.kr, index, []envelope.Change{{Key: k, Value: []byte(v)}})
			require.NoError(t, err)
			return out
		}
		ours, theirs := patchAt(0, "a", "from-ours"), patchAt(last, "a", "from-theirs")
		if last == 0 {
			ours, theirs = patchAt(0, "password", "from-ours"), patchAt(0, "user", "from-theirs")
		}
		res := f.merge(base, ours, theirs)
		require.False(t, res.Conflict, "%v", res.Fallback)
		got := f.decrypt(res.Merged)
		require.Contains(t, got, "from-ours")
		require.Contains(t, got, "from-theirs")
		require.Equal(t, strings.Contains(src, "\r\n"), strings.Contains(string(res.Merged), "\r\n"))
	}
}

// Keys added or removed next to each other on both sides (lines git's text
// merge conflicts on) merge per key.
func TestMergeKeysAddedAndRemoved(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice)})
	set := func(src []byte, field, k, v string) []byte {
		st, err := manifest.Parse(src)
		require.NoError(t, err)
		out, err := envelope.Patch(f.ctx, st, f.kr, 0, []envelope.Change{{Field: field, Key: k, Value: []byte(v)}})
		require.NoError(t, err)
		return out
	}
	unset := func(src []byte, k string) []byte {
		st, err := manifest.Parse(src)
		require.NoError(t, err)
		out, err := envelope.Patch(f.ctx, st, f.kr, 0, []envelope.Change{{Key: k, Unset: true}})
		require.NoError(t, err)
		return out
	}
	for _, tc := range []struct {
		name         string
		ours, theirs []byte
		want         []string // stringData keys and values, in order
	}{
		{"both add a key", set(base, "stringData", "x", "from-ours"), set(base, "stringData", "y", "from-theirs"),
			[]string{"user: admin", "password: hunter2", "host: db.local", "x: from-ours", "y: from-theirs"}},
		{"both remove neighbours", unset(base, "password"), unset(base, "host"),
			[]string{"user: admin"}},
		{"one adds, one removes the last", set(base, "stringData", "x", "from-ours"), unset(base, "host"),
			[]string{"user: admin", "password: hunter2", "x: from-ours"}},
		{"one removes, the other changes a neighbour", unset(base, "password"), f.patch(base, "host=new-host"),
			[]string{"user: admin", "host: new-host"}},
		{"both add the same key alike", set(base, "stringData", "x", "same"), set(set(base, "stringData", "x", "same"), "stringData", "y", "from-theirs"),
			[]string{"user: admin", "password: hunter2", "host: db.local", "x: same", "y: from-theirs"}},
	} {
		res := f.merge(base, tc.ours, tc.theirs)
		require.False(t, res.Conflict, "%s: %v\n%s", tc.name, res.Fallback, res.Merged)
		got := f.decrypt(res.Merged)
		i, j := strings.Index(got, "stringData:\n")+len("stringData:\n"), strings.Index(got, "data:\n  cert")
		require.Equal(t, "  "+strings.Join(tc.want, "\n  ")+"\n", got[i:j], tc.name)
	}
	// The same new key with different values on both sides conflicts.
	res := f.merge(base, set(base, "stringData", "x", "from-ours"), set(base, "stringData", "x", "from-theirs"))
	require.True(t, res.Conflict)
	require.Equal(t, []string{"Secret prod/db: stringData.x"}, res.Conflicts)
	noPlaintext(t, res.Merged)
	require.Contains(t, f.decrypt([]byte(takeSide(string(res.Merged), 1))), "x: from-theirs\n")
}

// A side that dropped the merging user as a recipient without rotating
// (not what ksec writes, but a valid file): the merge gets a fresh data
// key for the recipients left, is verified under it, and the user can no
// longer read it.
func TestMergeDropsTheUser(t *testing.T) {
	f := newFixture(t)
	base := f.encrypt(plain, envelope.Recipients{Set: f.recipients(f.alice, f.bob)})
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	s := st.Secrets[0]
	key, err := crypto.NewKey(dataKey(t, f, base))
	require.NoError(t, err)
	stanzas := s.Meta.Recipients[1:] // bob's only
	in := crypto.MACInput{Namespace: s.Namespace, Name: s.Name}
	for _, r := range stanzas {
		in.Recipients = append(in.Recipients, crypto.MACRecipient{Type: r.Type, ID: r.ID, Wrapped: r.Wrapped})
	}
	for _, v := range s.Values {
		in.Values = append(in.Values, crypto.MACValue{Field: v.Field, Key: v.Key, Token: v.Text})
	}
	st.SetMetadata(s, manifest.Metadata{Version: crypto.Version, Recipients: stanzas, MAC: key.MAC(in)})
	ours := st.Bytes()
	theirs := f.patch(base, "host=new-host")
	res, err := Merge(f.ctx, Input{Base: base, Ours: ours, Theirs: theirs}, Options{Keyring: f.aliceOnly})
	require.NoError(t, err)
	require.False(t, res.Conflict, "%v", res.Fallback)
	require.Equal(t, []string{f.bob}, recipientIDs(t, res.Merged))
	m, err := manifest.Parse(res.Merged)
	require.NoError(t, err)
	_, err = envelope.Decrypt(f.ctx, m, f.aliceOnly)
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
	m, err = manifest.Parse(res.Merged)
	require.NoError(t, err)
	_, err = envelope.Decrypt(f.ctx, m, f.bobOnly)
	require.NoError(t, err)
	require.Equal(t, strings.Replace(plain, "db.local", "new-host", 1), string(m.Bytes()))
	require.NotEqual(t, dataKey(t, f, base), dataKey(t, f, res.Merged))
}

// A file without a final line break whose last value is a block scalar
// (sealed as form 4, "verbatim at the end"): one side adds a key after it
// (patch re-seals it so it keeps its value), the other changes another
// key. The merge keeps every value as each side meant it.
func TestMergeValueAtTheEnd(t *testing.T) {
	f := newFixture(t)
	const atEnd = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  user: admin\n  cert: |\n    line"
	base := f.encrypt(atEnd, envelope.Recipients{Set: f.recipients(f.alice)})
	require.Equal(t, atEnd, f.decrypt(base))
	ours := f.patch(base, "user=from-ours")
	st, err := manifest.Parse(base)
	require.NoError(t, err)
	theirs, err := envelope.Patch(f.ctx, st, f.kr, 0, []envelope.Change{{Field: "stringData", Key: "host", Value: []byte("new-host")}})
	require.NoError(t, err)
	for name, sides := range map[string][2][]byte{"ours first": {ours, theirs}, "theirs first": {theirs, ours}} {
		res := f.merge(base, sides[0], sides[1])
		require.False(t, res.Conflict, "%s: %v", name, res.Fallback)
		require.Equal(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  user: from-ours\n  cert: line\n  host: new-host", f.decrypt(res.Merged), name)
	}
}
