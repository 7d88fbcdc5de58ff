package envelope

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// fuzzAgeKey is a throwaway age key, public on purpose: the checked-in seeds
// in testdata/fuzz/FuzzDecrypt are encrypted for it and for the demo
// OpenPGP key in testdata/keys. Never use either for anything else.
const (
	fuzzAgeKey       = "AGE-SECRET-KEY-1VAAWNN0RQJJ722ZQRULC4ZDXMRFJGERYFJALVFVZDCP4RA4K4CTQZJDLVS"
	fuzzAgeRecipient = "age1qqerrcfqnvwlhmml6d2tk5culkdch5j3x6fn5yls79d6lq3pgddq37qy5w"
	fuzzPGPPublic    = "../testdata/keys/demo.pub.asc"
	fuzzPGPSecret    = "../testdata/keys/demo.sec.asc"
)

// fuzzPlaintexts are the manifests the seeds encrypt. Every Secret has its
// own scope, so a decrypted Secret can be matched to its original by scope.
var fuzzPlaintexts = []string{
	`# a stream: two Secrets and a ConfigMap
apiVersion: v1
kind: Secret
metadata:
  name: one
  namespace: ns
type: Opaque
data:
  password: czNjcjN0  # a comment
  token: 'dG9rZW4='
stringData:
  config.yaml: |
    user: admin
    level: 3
  quoted: "tab\there"
  empty: ""
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  a: not a secret
---
apiVersion: v1
kind: Secret
metadata:
  name: two
  namespace: ns
data:
  password: b3RoZXI=
  nothing:
`,
	`apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: a
      namespace: list
    stringData:
      k: v1
      folded: >
        some folded
        text
  - apiVersion: v1
    kind: Secret
    metadata:
      name: b
      namespace: list
    data:
      k: djI=
`,
	`{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "j", "namespace": "json"},
  "data": {"a": "QUJD", "b": ""},
  "stringData": {"s": "line1\nline2"}
}
`,
	"apiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: crlf\r\nstringData:\r\n  a: x\r\n  b: |\r\n    y\r\n",
}

type fuzzValue struct{ field, key, text string }

// fuzzOriginals maps each Secret's scope to its values in document order.
func fuzzOriginals(t testing.TB) map[keyring.Scope][]fuzzValue {
	out := map[keyring.Scope][]fuzzValue{}
	for _, p := range fuzzPlaintexts {
		st, err := manifest.Parse([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Secrets {
			out[s.Scope()] = valuesOf(s)
		}
	}
	return out
}

func valuesOf(s *manifest.Secret) []fuzzValue {
	var vs []fuzzValue
	for _, v := range s.Values {
		vs = append(vs, fuzzValue{v.Field, v.Key, v.Text})
	}
	return vs
}

// fuzzKeyring holds the age key and the demo OpenPGP key as identities,
// and no provider that could reach gpg or a cloud.
func fuzzKeyring(t testing.TB) *keyring.Keyring {
	ageID, err := keyring.ParseIdentityString(fuzzAgeKey, "fuzz age key")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := os.ReadFile(fuzzPGPSecret)
	if err != nil {
		t.Fatal(err)
	}
	pgpID, err := keyring.ParseIdentityFile(sec, fuzzPGPSecret)
	if err != nil {
		t.Fatal(err)
	}
	return keyring.New([]keyring.Provider{keyring.NewAge()}, []keyring.Identity{ageID, pgpID})
}

func fuzzEncrypt(t testing.TB, plain string) []byte {
	ctx := context.Background()
	kr := keyring.New([]keyring.Provider{keyring.NewAge(), keyring.NewPGP(keyring.PGPOptions{})}, nil)
	rs, err := kr.ParseRecipients(ctx, []string{"age:" + fuzzAgeRecipient, "pgp:" + fuzzPGPPublic})
	if err != nil {
		t.Fatal(err)
	}
	st, err := manifest.Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	if err := Encrypt(ctx, st, kr, Recipients{Set: rs}); err != nil {
		t.Fatal(err)
	}
	return st.Bytes()
}

// FuzzDecrypt decrypts mutations of encrypted files. Nothing may panic;
// failures are integrity, no-key, bad-input or version errors; and when
// decryption succeeds, every Secret that was encrypted comes out with
// exactly the values (keys, order and text) of the original Secret of its
// scope. An unmutated seed decrypts to its plaintext byte for byte.
// Unprotected parts (comments, labels, other documents) may differ.
func FuzzDecrypt(f *testing.F) {
	originals := fuzzOriginals(f)
	for _, p := range fuzzPlaintexts {
		f.Add(fuzzEncrypt(f, p))
	}
	kr := fuzzKeyring(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := manifest.Parse(src)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		encrypted := map[int]bool{}
		for i, s := range st.Secrets {
			encrypted[i] = s.Meta != nil
		}
		if _, err := Decrypt(context.Background(), st, kr); err != nil {
			checkFuzzError(t, err)
			return
		}
		out := st.Bytes()
		if i := slices.Index(fuzzPlaintexts, string(out)); i >= 0 {
			return // exactly an original
		}
		back, err := manifest.Parse(out)
		if err != nil {
			t.Fatalf("decrypt succeeded but its output does not parse: %v\n%q", err, out)
		}
		if len(back.Secrets) != len(st.Secrets) {
			t.Fatalf("decrypt output has %d Secrets, the input %d:\n%q", len(back.Secrets), len(st.Secrets), out)
		}
		for i, s := range back.Secrets {
			if !encrypted[i] {
				continue
			}
			want, ok := originals[s.Scope()]
			if !ok {
				t.Fatalf("%s decrypted, but no original Secret has its scope:\n%q", s, out)
			}
			if got := valuesOf(s); !slices.Equal(got, want) {
				t.Fatalf("%s decrypted to\n%q\nwant\n%q\nfrom\n%q", s, got, want, src)
			}
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	var version *crypto.UnsupportedVersionError
	switch {
	case errors.Is(err, crypto.ErrIntegrity), errors.Is(err, keyring.ErrNoIdentity),
		errors.Is(err, manifest.ErrBadInput), errors.As(err, &version):
	default:
		t.Fatalf("error %q (%T) is not integrity, no key, bad input or version", err, err)
	}
}

// TestFuzzDecryptSeeds checks that the checked-in encrypted seeds still
// decrypt to their plaintexts byte for byte, so the corpus keeps testing
// near misses of valid files (and files written earlier keep opening).
func TestFuzzDecryptSeeds(t *testing.T) {
	kr := fuzzKeyring(t)
	for i, name := range []string{"stream", "list", "json", "crlf"} {
		data, err := os.ReadFile("testdata/fuzz/FuzzDecrypt/encrypted-" + name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := parseCorpusBytes(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, err := manifest.Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n, err := Decrypt(context.Background(), st, kr); err != nil || n == 0 {
			t.Fatalf("%s: decrypted %d Secrets: %v", name, n, err)
		}
		if got := string(st.Bytes()); got != fuzzPlaintexts[i] {
			t.Fatalf("%s decrypts to\n%q\nwant\n%q", name, got, fuzzPlaintexts[i])
		}
	}
}

// parseCorpusBytes reads a one-value corpus file: "go test fuzz v1" and a
// []byte("…") line.
func parseCorpusBytes(data []byte) ([]byte, error) {
	header, rest, ok := strings.Cut(string(data), "\n")
	rest = strings.TrimSpace(rest)
	if !ok || header != "go test fuzz v1" || !strings.HasPrefix(rest, "[]byte(") || !strings.HasSuffix(rest, ")") {
		return nil, errors.New("not a []byte corpus file")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(rest, "[]byte("), ")"))
	return []byte(s), err
}
