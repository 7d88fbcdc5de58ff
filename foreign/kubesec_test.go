package foreign_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/internal/kubesectest"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
data:
  password: czNjcjN0
  empty: ""
  long: QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
`

// kubesec decrypt prints the Secret re-marshalled by yaml.v2: keys sorted.
const plainSecretOut = `apiVersion: v1
data:
  empty: ""
  long: QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
  password: czNjcjN0
kind: Secret
metadata:
  name: db
  namespace: prod
type: Opaque
`

const stringSecret = `apiVersion: v1
kind: Secret
metadata:
  name: app
stringData:
  token: "tok: en"
  multi: |
    line one
    line two
  blank: ""
data:
  a: YQ==
`

const stringSecretOut = `apiVersion: v1
data:
  a: YQ==
kind: Secret
metadata:
  name: app
stringData:
  blank: ""
  multi: |
    line one
    line two
  token: 'tok: en'
`

// pgpEnv is a GnuPG home holding alice's secret key (the recipient) and a
// home for a signer whose public key the recipient's home lacks.
type pgpEnv struct {
	home, alice            string
	signerHome, signer     string
	aliceSecret, signerPub []byte
}

func newPGPEnv(t *testing.T) pgpEnv {
	t.Helper()
	var e pgpEnv
	e.home = gpgtest.NewHome(t)
	e.alice = gpgtest.GenKey(t, e.home, gpgtest.ECC, "alice@example.test")
	e.aliceSecret = gpgtest.ExportSecret(t, e.home, e.alice)
	e.signerHome = gpgtest.NewHome(t)
	e.signer = gpgtest.GenKey(t, e.signerHome, gpgtest.ECC, "signer@example.test")
	e.signerPub = gpgtest.ExportPublic(t, e.signerHome, e.signer)
	gpgtest.Import(t, e.signerHome, gpgtest.ExportPublic(t, e.home, e.alice))
	return e
}

func (e pgpEnv) keyring() *keyring.Keyring {
	return keyring.New([]keyring.Provider{keyring.NewPGP(keyring.PGPOptions{Env: gpgtest.Env(e.home)})}, nil)
}

// selfSigned wraps for alice, signed by alice (kubesec signs with the
// encrypting user's default key).
func (e pgpEnv) selfSigned(t *testing.T, id string, key []byte) kubesectest.Recipient {
	t.Helper()
	w, err := kubesectest.WrapPGP(gpgtest.Env(e.home), id, key)
	require.NoError(t, err)
	return kubesectest.Recipient{Type: "pgp", ID: id, Wrapped: w}
}

func (e pgpEnv) otherSigned(t *testing.T, key []byte) kubesectest.Recipient {
	t.Helper()
	w, err := kubesectest.WrapPGP(gpgtest.Env(e.signerHome), e.alice, key)
	require.NoError(t, err)
	return kubesectest.Recipient{Type: "pgp", ID: e.alice, Wrapped: w}
}

func write(t *testing.T, manifest string, version int, key []byte, rs ...kubesectest.Recipient) []byte {
	t.Helper()
	out, err := kubesectest.Write([]byte(manifest), kubesectest.Options{Version: version, DataKey: key, Recipients: rs})
	require.NoError(t, err)
	return out
}

func decrypt(t *testing.T, src []byte, u foreign.Unwrapper, opts foreign.KubesecOptions) (*foreign.KubesecPlain, error) {
	t.Helper()
	f, err := foreign.ParseKubesec(src)
	if err != nil {
		return nil, err
	}
	return f.Decrypt(context.Background(), u, opts)
}

func TestKubesecPGP(t *testing.T) {
	e := newPGPEnv(t)
	kr := e.keyring()
	key := kubesectest.NewDataKey()
	src := write(t, plainSecret, 3, key, e.selfSigned(t, e.alice, key))
	require.NotNil(t, foreign.Detect(src))

	p, err := decrypt(t, src, kr, foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Equal(t, plainSecretOut, string(p.Manifest))
	require.Equal(t, []keyring.Signature{{Stanza: e.alice, State: keyring.SignatureGood, Signer: e.alice}}, p.Signatures)

	// Signed by someone whose key the reader lacks: decrypted, the
	// signature reported as not checked.
	src = write(t, plainSecret, 3, key, e.otherSigned(t, key))
	p, err = decrypt(t, src, kr, foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Equal(t, plainSecretOut, string(p.Manifest))
	require.Len(t, p.Signatures, 1)
	require.Equal(t, keyring.SignatureUnchecked, p.Signatures[0].State)
	require.Equal(t, e.signer[24:], p.Signatures[0].Signer)

	// The same with a secret key file (-I), without and with the signer's
	// public key in it.
	id, err := keyring.NewPGPFileIdentity(e.aliceSecret, "alice.asc")
	require.NoError(t, err)
	fileKR := keyring.New(nil, []keyring.Identity{id})
	p, err = decrypt(t, src, fileKR, foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Equal(t, plainSecretOut, string(p.Manifest))
	require.Equal(t, keyring.SignatureUnchecked, p.Signatures[0].State)
	both := append(append([]byte(nil), e.aliceSecret...), e.signerPub...)
	id, err = keyring.NewPGPFileIdentity(both, "keys.asc")
	require.NoError(t, err)
	p, err = decrypt(t, src, keyring.New(nil, []keyring.Identity{id}), foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Equal(t, []keyring.Signature{{Stanza: e.alice, State: keyring.SignatureGood, Signer: e.signer}}, p.Signatures)

	// gpg with the signer's key imported: checked.
	gpgtest.Import(t, e.home, e.signerPub)
	p, err = decrypt(t, src, kr, foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Equal(t, keyring.SignatureGood, p.Signatures[0].State)
	require.Equal(t, e.signer, p.Signatures[0].Signer)
}

func TestKubesecVersions(t *testing.T) {
	e := newPGPEnv(t)
	kr := e.keyring()
	key := kubesectest.NewDataKey()
	r := e.selfSigned(t, e.alice, key)
	// A long key ID, as kubesec users often gave it.
	short := e.selfSigned(t, e.alice[24:], key)
	for _, tc := range []struct {
		name     string
		version  int
		manifest string
		want     string
		r        kubesectest.Recipient
	}{
		{"v1", 1, plainSecret, plainSecretOut, short},
		{"v2", 2, plainSecret, plainSecretOut, r},
		{"v3", 3, plainSecret, plainSecretOut, short},
		{"v4", 4, stringSecret, stringSecretOut, r},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := write(t, tc.manifest, tc.version, key, tc.r)
			p, err := decrypt(t, src, kr, foreign.KubesecOptions{})
			if tc.version < 3 {
				require.ErrorIs(t, err, foreign.ErrNoMAC)
				require.ErrorIs(t, err, crypto.ErrIntegrity)
				require.Contains(t, err.Error(), "format version "+tc.name[1:]+" has none")
				p, err = decrypt(t, src, kr, foreign.KubesecOptions{AllowNoMAC: true})
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(p.Manifest))
		})
	}
}

func TestKubesecKMS(t *testing.T) {
	aws := kmstest.LocalKMSForTest(t)
	aws.Setenv(t)
	gcp := kmstest.GCPKMSForTest(t)
	gcpKey := "projects/p/locations/global/keyRings/r/cryptoKeys/k"
	require.NoError(t, gcp.AddGCPKey(gcpKey))
	ctx := context.Background()
	e := newPGPEnv(t)
	key := kubesectest.NewDataKey()
	aw, err := kubesectest.WrapAWS(ctx, aws.Endpoint, aws.KeyARN, key)
	require.NoError(t, err)
	gw, err := kubesectest.WrapGCP(ctx, gcp.GCPClientOptions(), gcpKey, key)
	require.NoError(t, err)
	rs := []kubesectest.Recipient{
		e.selfSigned(t, e.alice, key),
		{Type: "gcp", ID: gcpKey, Wrapped: gw},
		{Type: "aws", ID: aws.KeyARN, Wrapped: aw},
	}
	src := write(t, stringSecret, 4, key, rs...)
	for _, tc := range []struct {
		name string
		p    keyring.Provider
	}{
		{"aws", keyring.NewAWS(keyring.AWSOptions{})},
		{"gcp", keyring.NewGCP(keyring.GCPOptions{Endpoint: gcp.Addr})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr := keyring.New([]keyring.Provider{tc.p}, nil)
			p, err := decrypt(t, src, kr, foreign.KubesecOptions{})
			require.NoError(t, err)
			require.Equal(t, stringSecretOut, string(p.Manifest))
			require.Empty(t, p.Signatures)
		})
	}
	// A KMS key wrapped with ksec's binding is not a kubesec one.
	r, err := keyring.NewAWS(keyring.AWSOptions{}).ParseRecipient(ctx, aws.KeyARN)
	require.NoError(t, err)
	bound, err := r.Wrap(ctx, key, keyring.Scope{Namespace: "prod", Name: "app"})
	require.NoError(t, err)
	src = write(t, stringSecret, 4, key, kubesectest.Recipient{Type: "aws", ID: aws.KeyARN, Wrapped: bound.Wrapped})
	_, err = decrypt(t, src, keyring.New([]keyring.Provider{keyring.NewAWS(keyring.AWSOptions{})}, nil), foreign.KubesecOptions{})
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
}

// TestKubesecTampered: every change to a value, the MAC, a wrapped key or
// the recipient list is refused.
func TestKubesecTampered(t *testing.T) {
	e := newPGPEnv(t)
	kr := e.keyring()
	key := kubesectest.NewDataKey()
	alice := e.selfSigned(t, e.alice, key)
	gpgtest.Import(t, e.home, gpgtest.ExportPublic(t, e.signerHome, e.signer))
	signer := e.selfSigned(t, e.signer, key) // a second recipient alice cannot open
	src := write(t, plainSecret, 3, key, alice, signer)
	_, err := decrypt(t, src, kr, foreign.KubesecOptions{})
	require.NoError(t, err)

	older := write(t, strings.Replace(plainSecret, "czNjcjN0", "b2xk", 1), 3, key, alice, signer)
	otherKey := kubesectest.NewDataKey()
	foreignFile := write(t, plainSecret, 3, otherKey, e.selfSigned(t, e.alice, otherKey), signer)

	find := func(text []byte, prefix string) string {
		for _, l := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line %q", prefix)
		return ""
	}
	replace := func(old, new string) []byte {
		require.Contains(t, string(src), old)
		return []byte(strings.Replace(string(src), old, new, 1))
	}
	tokenOf := func(text []byte, k string) string {
		return strings.TrimPrefix(find(text, "  "+k+": "), "  "+k+": ")
	}
	flip := func(tok string) string {
		b := []byte(tok)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	macLine := find(src, "# kubesec:mac:")
	aliceLine := find(src, "# kubesec:pgp:"+e.alice)
	signerLine := find(src, "# kubesec:pgp:"+e.signer)

	for _, tc := range []struct {
		name string
		src  []byte
		want string
	}{
		{"value changed", replace(tokenOf(src, "password"), flip(tokenOf(src, "password"))), "data.password does not decrypt"},
		{"value moved to another key", replace("  password: "+tokenOf(src, "password"), "  password: "+tokenOf(src, "long")), "data.password does not decrypt"},
		{"value rolled back to an older token", replace(tokenOf(src, "password"), tokenOf(older, "password")), "MAC does not match"},
		{"value deleted", replace("  password: "+tokenOf(src, "password")+"\n", ""), "MAC does not match"},
		{"value from another file", replace(tokenOf(src, "password"), tokenOf(foreignFile, "password")), "data.password does not decrypt"},
		{"empty value unencrypted", replace(tokenOf(src, "empty"), `""`), "data.empty is not a kubesec-encrypted value"},
		{"mac changed", replace(macLine, "# kubesec:mac:"+flip(strings.TrimPrefix(macLine, "# kubesec:mac:"))), "MAC does not match"},
		{"mac removed", replace(macLine+"\n", ""), "must end with its # kubesec:mac: line"},
		{"mac of an older version", replace(macLine, find(older, "# kubesec:mac:")), "MAC does not match"},
		{"recipient removed", replace(signerLine+"\n", ""), "MAC does not match"},
		{"recipients reordered", replace(aliceLine+"\n"+signerLine, signerLine+"\n"+aliceLine), "MAC does not match"},
		{"recipient listed twice", replace(signerLine, signerLine+"\n"+signerLine), "listed twice"},
		{"wrapped key from another file", replace(aliceLine, find(foreignFile, "# kubesec:pgp:"+e.alice)), "does not decrypt"},
		{"version lowered", replace("# kubesec:v:3", "# kubesec:v:2"), "a # kubesec:mac: line in a v2 footer"},
		{"version raised", replace("# kubesec:v:3", "# kubesec:v:5"), "not one ksec knows"},
		{"footer line in the body", replace("kind: Secret\n", "kind: Secret\n"+signerLine+"\n"), "footer line before the end"},
		{"second document", replace("# kubesec:v:3", "---\nkind: Secret\n# kubesec:v:3"), "one document"},
		{"duplicate key", replace("  password: ", "  password: "+tokenOf(src, "password")+"\n  password: "), "already defined"},
		{"crlf", bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n")), "carriage returns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decrypt(t, tc.src, kr, foreign.KubesecOptions{})
			require.Error(t, err)
			if tc.want != "" {
				require.Contains(t, err.Error(), tc.want)
			}
			if !errors.Is(err, crypto.ErrIntegrity) {
				require.ErrorIs(t, err, manifest.ErrBadInput)
			}
		})
	}

	// An unsigned wrapped key (kubesec signs every one).
	unsigned := gpgtest.Encrypt(t, e.home, e.alice, key, "--armor")
	bad := replace(aliceLine, "# kubesec:pgp:"+e.alice+":"+base64.StdEncoding.EncodeToString(unsigned))
	_, err = decrypt(t, bad, kr, foreign.KubesecOptions{})
	require.ErrorIs(t, err, crypto.ErrIntegrity)
	require.Contains(t, err.Error(), "is not signed")

	// Metadata is not authenticated by kubesec: a renamed Secret still
	// decrypts (documented weakness; ksec's conversion binds the scope).
	renamed := replace("name: db", "name: other")
	p, err := decrypt(t, renamed, kr, foreign.KubesecOptions{})
	require.NoError(t, err)
	require.Contains(t, string(p.Manifest), "name: other")
}
