package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// plainRecipient is a unit-test stand-in for a real key type: it "wraps" by
// copying. End-to-end tests use real gpg.
type plainRecipient struct{ id string }

func (r plainRecipient) Type() string { return "test" }
func (r plainRecipient) ID() string   { return r.id }
func (r plainRecipient) Wrap(_ context.Context, key []byte, _ keyring.Scope) (keyring.Stanza, error) {
	return keyring.Stanza{Type: "test", ID: r.id, Wrapped: append([]byte("wrapped:"), key...)}, nil
}

type plainIdentity struct {
	id    string
	calls *int
}

func (i plainIdentity) Unwrap(_ context.Context, stanzas []keyring.Stanza, _ keyring.Scope) ([]byte, error) {
	if i.calls != nil {
		*i.calls++
	}
	for _, s := range stanzas {
		if s.Type == "test" && s.ID == i.id {
			return bytes.TrimPrefix(s.Wrapped, []byte("wrapped:")), nil
		}
	}
	return nil, fmt.Errorf("test identity %s: %w", i.id, keyring.ErrIncorrectIdentity)
}

// plainProvider makes plainRecipients from "test:ID" specs.
type plainProvider struct{}

func (plainProvider) Type() string { return "test" }
func (plainProvider) ParseRecipient(_ context.Context, spec string) (keyring.Recipient, error) {
	return plainRecipient{spec}, nil
}
func (plainProvider) AmbientIdentity() keyring.Identity { return nil }

func testKeyring(ids ...string) *keyring.Keyring {
	var identities []keyring.Identity
	for _, id := range ids {
		identities = append(identities, plainIdentity{id: id})
	}
	return keyring.New([]keyring.Provider{plainProvider{}}, identities)
}

func encrypt(t *testing.T, src []byte, ids ...string) []byte {
	t.Helper()
	st, err := manifest.Parse(src)
	require.NoError(t, err)
	var rs []keyring.Recipient
	for _, id := range ids {
		rs = append(rs, plainRecipient{id})
	}
	require.NoError(t, Encrypt(context.Background(), st, testKeyring(ids...), Recipients{Set: rs}))
	return st.Bytes()
}

func decrypt(src []byte, ids ...string) ([]byte, error) {
	st, err := manifest.Parse(src)
	if err != nil {
		return nil, err
	}
	if _, err := Decrypt(context.Background(), st, testKeyring(ids...)); err != nil {
		return nil, err
	}
	return st.Bytes(), nil
}

var tokenRE = regexp.MustCompile(`ENC\[ksec\.v1,[A-Za-z0-9_-]+\]`)

// mask replaces random parts of an encrypted file so it can be compared with
// a golden file.
func mask(b []byte) string {
	s := tokenRE.ReplaceAllString(string(b), "ENC[…]")
	s = regexp.MustCompile(`(wrapped|mac)("?: ?)"?[A-Za-z0-9+/=]{20,}"?`).ReplaceAllString(s, "$1$2…")
	return s
}

func fixtures(t *testing.T) []string {
	files, err := filepath.Glob("../testdata/manifests/*")
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden") {
			out = append(out, f)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestRoundTripIsByteExact(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			enc := encrypt(t, src, "alice")
			require.NotEqual(t, string(src), string(enc))

			golden := f + ".golden"
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, os.WriteFile(golden, []byte(mask(enc)), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "missing golden file; run with UPDATE_GOLDEN=1 and review it")
			require.Equal(t, string(want), mask(enc))

			dec, err := decrypt(enc, "alice")
			require.NoError(t, err)
			require.Equal(t, string(src), string(dec))

			again := encrypt(t, enc, "alice")
			require.Equal(t, string(enc), string(again), "re-encrypting with the same recipients must be a no-op")
		})
	}
}

func TestEncryptedFileHidesValues(t *testing.T) {
	src, err := os.ReadFile("../testdata/manifests/styles.yaml")
	require.NoError(t, err)
	enc := string(encrypt(t, src, "alice"))
	for _, secret := range []string{"c2VjcmV0", "hello world", "line one", "folded text", "AAEC/f7/gICA", "continues on a second line"} {
		require.NotContains(t, enc, secret)
	}
	// Values must not be applicable by mistake: tokens are not base64.
	require.Contains(t, enc, "\n  plain: ENC[ksec.v1,")
}

func TestEncryptKeepsEveryOtherLine(t *testing.T) {
	src := []byte("apiVersion: v1\nkind: Secret\n# c\nmetadata:\n  name: s # n\ndata:\n  a: YQ== # keep me\n  b: Yg==\n")
	enc := string(encrypt(t, src, "alice"))
	lines := strings.Split(enc, "\n")
	require.Equal(t, []string{"apiVersion: v1", "kind: Secret", "# c", "metadata:", "  name: s # n", "data:"}, lines[:6])
	require.Regexp(t, `^  a: ENC\[ksec\.v1,[^\]]+\] # keep me$`, lines[6])
	require.Equal(t, "ksec:", lines[8])
}

func TestAddingAValueToAnEncryptedSecretKeepsOtherTokens(t *testing.T) {
	src := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: one\n  b: two\n")
	enc := encrypt(t, src, "alice")
	el := strings.Split(string(enc), "\n")
	require.Regexp(t, `^  a: ENC\[`, el[5])
	require.Regexp(t, `^  b: ENC\[`, el[6])
	require.Equal(t, "ksec:", el[7])
	// A plaintext value typed in by hand at the end of stringData.
	edited := bytes.Replace(enc, []byte("\nksec:"), []byte("\n  c: three\nksec:"), 1)
	require.Equal(t, len(enc)+len("\n  c: three"), len(edited))
	again := encrypt(t, edited, "alice")
	al := strings.Split(string(again), "\n")
	require.Equal(t, el[5], al[5], "token of a unchanged")
	require.Equal(t, el[6], al[6], "token of b unchanged")
	require.Regexp(t, `^  c: ENC\[`, al[7])
	dec, err := decrypt(again, "alice")
	require.NoError(t, err)
	require.Equal(t, string(src)+"  c: three\n", string(dec))
}

func TestRecipientChanges(t *testing.T) {
	src := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: one\n")
	enc := encrypt(t, src, "alice")

	// Adding bob keeps the data key: alice's entry and the token stay.
	st, err := manifest.Parse(enc)
	require.NoError(t, err)
	require.NoError(t, Encrypt(context.Background(), st, testKeyring("alice"), Recipients{Set: []keyring.Recipient{plainRecipient{"alice"}, plainRecipient{"bob"}}}))
	both := st.Bytes()
	require.Contains(t, string(both), strings.Split(string(enc), "\n")[5])
	for _, who := range []string{"alice", "bob"} {
		dec, err := decrypt(both, who)
		require.NoError(t, err, who)
		require.Equal(t, string(src), string(dec))
	}

	// Removing alice rotates the data key: every token changes.
	st, err = manifest.Parse(both)
	require.NoError(t, err)
	require.NoError(t, Encrypt(context.Background(), st, testKeyring("bob"), Recipients{Set: []keyring.Recipient{plainRecipient{"bob"}}}))
	bobOnly := st.Bytes()
	require.NotContains(t, string(bobOnly), strings.Split(string(enc), "\n")[5])
	_, err = decrypt(bobOnly, "alice")
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
	dec, err := decrypt(bobOnly, "bob")
	require.NoError(t, err)
	require.Equal(t, string(src), string(dec))
}

func TestTamperingIsDetected(t *testing.T) {
	src := []byte(`apiVersion: v1
kind: Secret
metadata:
  name: one
  namespace: ns
data:
  a: YQ==
  b: Yg==
---
apiVersion: v1
kind: Secret
metadata:
  name: two
  namespace: ns
data:
  a: YQ==
`)
	enc := string(encrypt(t, src, "alice", "bob"))
	tokens := tokenRE.FindAllString(enc, -1)
	require.Len(t, tokens, 3)
	lines := strings.Split(enc, "\n")
	lineOf := func(prefix string, nth int) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				if nth == 0 {
					return i
				}
				nth--
			}
		}
		t.Fatalf("no line %q", prefix)
		return -1
	}
	edit := func(f func(ls []string) []string) string {
		ls := append([]string(nil), lines...)
		return strings.Join(f(ls), "\n")
	}
	flip := func(tok string) string {
		i := len(tok) / 2
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		return tok[:i] + string(c) + tok[i+1:]
	}
	cases := map[string]string{
		"changed character": strings.Replace(enc, tokens[0], flip(tokens[0]), 1),
		"swapped tokens": edit(func(ls []string) []string {
			a, b := lineOf("  a: ", 0), lineOf("  b: ", 0)
			ls[a], ls[b] = "  a: "+tokens[1], "  b: "+tokens[0]
			return ls
		}),
		"token moved to another Secret": strings.Replace(enc, tokens[2], tokens[0], 1),
		"key deleted": edit(func(ls []string) []string {
			i := lineOf("  b: ", 0)
			return append(ls[:i], ls[i+1:]...)
		}),
		"key added with a copied token": edit(func(ls []string) []string {
			i := lineOf("  b: ", 0)
			return append(ls[:i+1], append([]string{"  c: " + tokens[1]}, ls[i+1:]...)...)
		}),
		"mac changed": edit(func(ls []string) []string {
			i := lineOf("  mac: ", 0)
			ls[i] = "  mac: " + strings.Repeat("A", 43) + "="
			return ls
		}),
		"recipient removed": edit(func(ls []string) []string {
			i := lineOf("    - type: test", 1)
			return append(ls[:i], ls[i+3:]...)
		}),
		"recipient id altered": strings.Replace(enc, "id: bob", "id: bobby", 1),
		"plaintext added": edit(func(ls []string) []string {
			i := lineOf("  b: ", 0)
			return append(ls[:i+1], append([]string{"  c: Yw=="}, ls[i+1:]...)...)
		}),
		"namespace changed":        strings.Replace(enc, "namespace: ns", "namespace: other", 1),
		"invalid token characters": strings.Replace(enc, tokens[0], tokens[0][:20]+"!"+tokens[0][21:], 1),
	}
	for name, tampered := range cases {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, enc, tampered)
			out, err := decrypt([]byte(tampered), "alice")
			require.ErrorIs(t, err, crypto.ErrIntegrity, "%v", err)
			require.Nil(t, out)
		})
	}
}

func TestDecryptErrors(t *testing.T) {
	enc := encrypt(t, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: YQ==\n"), "alice")
	_, err := decrypt(enc, "carol")
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
	require.Contains(t, err.Error(), "document 1 (Secret s)")
	require.Contains(t, err.Error(), "test:alice")

	newer := bytes.Replace(enc, []byte("version: 1"), []byte("version: 2"), 1)
	_, err = decrypt(newer, "alice")
	var v *crypto.UnsupportedVersionError
	require.True(t, errors.As(err, &v), "%v", err)

	newerToken := bytes.Replace(enc, []byte("ENC[ksec.v1,"), []byte("ENC[ksec.v2,"), 1)
	_, err = decrypt(newerToken, "alice")
	require.True(t, errors.As(err, &v), "%v", err)
	require.Contains(t, err.Error(), "data.a (line 6)")
}

func TestEncryptErrors(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"bad base64":         {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: not base64!\n", "document 1 (Secret s): data.a (line 6): bad input: not valid base64"},
		"nested value":       {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a:\n    b: c\n", "stringData.a (line 6): bad input: value is a mapping, want a string"},
		"list value":         {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: [1]\n", "stringData.a (line 6): bad input: value is a list"},
		"duplicate":          {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: YQ==\n  a: Yg==\n", "document 1 (Secret s): bad input: line 7: duplicate key \"a\""},
		"invalid yaml":       {"apiVersion: v1\nkind: Secret\n---\nfoo: [\n", "document 2: bad input: invalid YAML: line 4: did not find expected node content"},
		"no secret":          {"apiVersion: v1\nkind: ConfigMap\n", "no Secret found"},
		"value not indented": {"kind: Secret\nstringData:\n a:\n |\n  x\n", "stringData.a (line 3): bad input: the value starts on line 4, indented no deeper than its key"},
		"sops value":         {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: ENC[AES256_GCM,data:abc,type:str]\n", "data.a (line 6): integrity check failed: the value is ENC[…] but the Secret has no ksec block"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := manifest.Parse([]byte(c.src))
			if err == nil {
				err = Encrypt(context.Background(), st, testKeyring("alice"), Recipients{Set: []keyring.Recipient{plainRecipient{"alice"}}})
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestAddAndRemoveRecipients(t *testing.T) {
	src := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: one\n  b: two\n")
	enc := encrypt(t, src, "alice")
	tokens := tokenRE.FindAllString(string(enc), -1)
	change := func(in []byte, kr *keyring.Keyring, rs Recipients) ([]byte, error) {
		st, err := manifest.Parse(in)
		require.NoError(t, err)
		if err := Encrypt(context.Background(), st, kr, rs); err != nil {
			return nil, err
		}
		return st.Bytes(), nil
	}

	// +bob: every token stays, alice's entry stays, bob can decrypt.
	both, err := change(enc, testKeyring("alice"), Recipients{Add: []keyring.Recipient{plainRecipient{"bob"}}})
	require.NoError(t, err)
	require.Equal(t, tokens, tokenRE.FindAllString(string(both), -1))
	require.Contains(t, string(both), "wrapped: "+strings.SplitN(strings.SplitN(string(enc), "wrapped: ", 2)[1], "\n", 2)[0])
	_, err = decrypt(both, "bob")
	require.NoError(t, err)

	// Adding someone already there changes nothing.
	same, err := change(both, testKeyring("alice"), Recipients{Add: []keyring.Recipient{plainRecipient{"bob"}}})
	require.NoError(t, err)
	require.Equal(t, string(both), string(same))

	// -alice: a new data key, every token differs, alice cannot decrypt.
	bobOnly, err := change(both, testKeyring("bob"), Recipients{Remove: []keyring.Ref{{Type: "test", ID: "alice"}}})
	require.NoError(t, err)
	for _, tok := range tokenRE.FindAllString(string(bobOnly), -1) {
		require.NotContains(t, tokens, tok)
	}
	_, err = decrypt(bobOnly, "alice")
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
	dec, err := decrypt(bobOnly, "bob")
	require.NoError(t, err)
	require.Equal(t, string(src), string(dec))

	// Removing the last recipient is refused.
	_, err = change(bobOnly, testKeyring("bob"), Recipients{Remove: []keyring.Ref{{Type: "test", ID: "bob"}}})
	require.ErrorContains(t, err, "that would remove the last recipient")

	// Rotate: same recipients, new data key.
	rotated, err := change(both, testKeyring("alice"), Recipients{Rotate: true, Set: []keyring.Recipient{plainRecipient{"alice"}, plainRecipient{"bob"}}})
	require.NoError(t, err)
	for _, tok := range tokenRE.FindAllString(string(rotated), -1) {
		require.NotContains(t, tokens, tok)
	}
	for _, who := range []string{"alice", "bob"} {
		dec, err := decrypt(rotated, who)
		require.NoError(t, err)
		require.Equal(t, string(src), string(dec))
	}
}

// Encrypting a JSON Secret that spans lines changes no line but the
// values': the ksec block goes in as the first member, on lines of its own,
// so no existing line gains a comma (a git diff shows only what changed).
func TestJSONBlockAddsLinesOnly(t *testing.T) {
	src, err := os.ReadFile("../testdata/manifests/kubectl.json")
	require.NoError(t, err)
	enc := string(encrypt(t, src, "alice"))
	start := strings.Index(enc, "\n    \"ksec\": {\n")
	require.Equal(t, len("{"), start, "the block is not the first member:\n%s", enc)
	end := strings.Index(enc[start:], "\n    },\n")
	require.Positive(t, end)
	rest := enc[:start] + enc[start+end+len("\n    },"):]
	srcLines, encLines := strings.Split(string(src), "\n"), strings.Split(rest, "\n")
	require.Equal(t, len(srcLines), len(encLines), "lines were added or removed outside the block:\n%s", rest)
	var changed []string
	for i := range srcLines {
		if srcLines[i] != encLines[i] {
			changed = append(changed, strings.TrimSpace(strings.SplitN(srcLines[i], ":", 2)[0]))
			require.Regexp(t, `^        "(password|user)": "ENC\[ksec\.v1,[A-Za-z0-9_-]+\]",?$`, encLines[i])
		}
	}
	require.Equal(t, []string{`"password"`, `"user"`}, changed)

	dec, err := decrypt([]byte(enc), "alice")
	require.NoError(t, err)
	require.Equal(t, string(src), string(dec))
}
