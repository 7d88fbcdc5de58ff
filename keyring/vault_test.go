package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/vaulttest"
	"github.com/ksec-dev/ksec/keyring"
)

var vaultScope = keyring.Scope{Namespace: "prod", Name: "db"}

// vaultShared starts a transit test server for the test (it starts in
// milliseconds) with the keys the tests use.
func vaultShared(t *testing.T) *vaulttest.Server {
	t.Helper()
	s := vaulttest.ForTest(t)
	for _, k := range []struct{ prefix, name, typ string }{
		{"transit", "k1", "aes256-gcm96"},
		{"transit", "chacha", "chacha20-poly1305"},
		{"transit", "aes128", "aes128-gcm96"},
		{"transit", "rsa", "rsa-2048"},
		{vaulttest.Namespace + "/transit", "k1", "aes256-gcm96"},
		{"secret-transit", "k1", "aes256-gcm96"},
	} {
		require.NoError(t, s.CreateKey(k.prefix, k.name, k.typ))
	}
	return s
}

// vaultEnv is an environment for the provider: the server's root token and
// CA, a HOME without a token file, plus the overrides ("" removes).
func vaultEnv(t *testing.T, s *vaulttest.Server, overrides ...string) func(string) string {
	env := map[string]string{"VAULT_ADDR": s.Addr, "VAULT_TOKEN": s.Token, "VAULT_CACERT": s.CACert, "HOME": t.TempDir()}
	for _, o := range overrides {
		k, v, _ := strings.Cut(o, "=")
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func vaultProvider(t *testing.T, s *vaulttest.Server, overrides ...string) keyring.Provider {
	return keyring.NewVault(keyring.VaultOptions{Getenv: vaultEnv(t, s, overrides...)})
}

func randomKey(t *testing.T) []byte {
	k := make([]byte, crypto.DataKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func vaultWrap(t *testing.T, p keyring.Provider, spec string, dataKey []byte, scope keyring.Scope) (keyring.Stanza, error) {
	t.Helper()
	r, err := p.ParseRecipient(context.Background(), spec)
	require.NoError(t, err)
	return r.Wrap(context.Background(), dataKey, scope)
}

func vaultUnwrap(p keyring.Provider, s keyring.Stanza, scope keyring.Scope) ([]byte, error) {
	return p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, scope)
}

// errorText is an error with its hints, as ksec prints them.
func errorText(err error) string {
	return strings.Join(append([]string{err.Error()}, hint.All(err)...), "\n")
}

func TestVaultParseRecipient(t *testing.T) {
	p := keyring.NewVault(keyring.VaultOptions{Getenv: func(string) string { return "" }})
	for spec, id := range map[string]string{
		"https://vault.example.com:8200/v1/transit/keys/k1":           "https://vault.example.com:8200/v1/transit/keys/k1",
		"https://Vault.Example.COM/v1/ns1/team/transit/keys/my-key.2": "https://vault.example.com/v1/ns1/team/transit/keys/my-key.2",
		"http://127.0.0.1:8200/v1/transit/keys/dev":                   "http://127.0.0.1:8200/v1/transit/keys/dev",
		"http://localhost:8200/v1/transit/keys/dev":                   "http://localhost:8200/v1/transit/keys/dev",
		"https://[::1]:8200/v1/keys/keys/keys":                        "https://[::1]:8200/v1/keys/keys/keys",
		"https://vault.example.com:443/v1/transit/keys/k":             "https://vault.example.com/v1/transit/keys/k",
		"http://localhost:80/v1/transit/keys/k":                       "http://localhost/v1/transit/keys/k",
	} {
		r, err := p.ParseRecipient(context.Background(), spec)
		require.NoError(t, err, spec)
		require.Equal(t, "vault", r.Type())
		require.Equal(t, id, r.ID(), spec)
		again, err := p.ParseRecipient(context.Background(), r.ID())
		require.NoError(t, err)
		require.Equal(t, r.ID(), again.ID(), "an ID parses to itself")
	}
	for spec, want := range map[string]string{
		"vault.example.com/v1/transit/keys/k":                "it must start with https://",
		"ftp://vault.example.com/v1/transit/keys/k":          "it must start with https://",
		"https://vault.example.com/transit/keys/k":           "its path is not /v1/MOUNT/keys/NAME",
		"https://vault.example.com/v1/keys/k":                "its path is not /v1/MOUNT/keys/NAME",
		"https://vault.example.com/v1/transit/keys/":         `key name "" is not a transit key name`,
		"https://vault.example.com/v1/transit/keys/a/b":      `key name "a/b" is not a transit key name`,
		"https://vault.example.com/v1/transit//x/keys/k":     "has an empty or invalid segment",
		"https://vault.example.com/v1/../transit/keys/k":     "has an empty or invalid segment",
		"https://vault.example.com/v1/transit/keys/k?x=1":    "it has a query or a fragment",
		"https://vault.example.com/v1/transit/keys/k#f":      "it has a query or a fragment",
		"https://vault.example.com/v1/tr%41nsit/keys/k":      "its path has escaped characters",
		"http://vault.example.com/v1/transit/keys/k":         "plain http would send the token and the data key in the clear",
		"https://user:hunter2@vault.example.com/v1/t/keys/k": "must not hold a user name or password",
	} {
		_, err := p.ParseRecipient(context.Background(), spec)
		require.ErrorContains(t, err, want, spec)
		require.NotContains(t, errorText(err), "hunter2")
		require.NotEmpty(t, hint.All(err), spec)
	}
}

// The bare URL SOPS users have in .sops.yaml is a vault key spec; an Azure
// Key Vault URL (no /v1/) is not.
func TestVaultBareSpec(t *testing.T) {
	typ, rest, err := keyring.SplitSpec("https://vault.example.com:8200/v1/transit/keys/k1")
	require.NoError(t, err)
	require.Equal(t, "vault", typ)
	require.Equal(t, "https://vault.example.com:8200/v1/transit/keys/k1", rest)
	require.False(t, keyring.IsVaultURI("https://myvault.vault.azure.net/keys/k1/0123"))

	kr := keyring.New([]keyring.Provider{keyring.NewVault(keyring.VaultOptions{Getenv: func(string) string { return "" }})}, nil)
	r, err := kr.ParseRecipient(context.Background(), "vault:https://vault.example.com:8200/v1/transit/keys/k1")
	require.NoError(t, err)
	require.Equal(t, keyring.Ref{Type: "vault", ID: "https://vault.example.com:8200/v1/transit/keys/k1"}, keyring.RefOf(r))

	_, err = kr.ParseRecipient(context.Background(), "vault:https://u:hunter2@vault.example.com/v1/t/keys/k")
	require.Error(t, err)
	require.NotContains(t, errorText(err), "hunter2")
	require.Contains(t, err.Error(), "(a URL with a user name or password, not shown)")
}

func TestVaultRoundTrip(t *testing.T) {
	s := vaultShared(t)
	p := vaultProvider(t, s)
	for _, key := range []string{
		s.KeyURL("transit", "k1"),
		s.KeyURL("transit", "chacha"),
		s.KeyURL("transit", "aes128"),
		s.KeyURL(vaulttest.Namespace+"/transit", "k1"),
		s.KeyURL("secret-transit", "k1"),
	} {
		dataKey := randomKey(t)
		st, err := vaultWrap(t, p, key, dataKey, vaultScope)
		require.NoError(t, err, key)
		require.Equal(t, "vault", st.Type)
		require.Equal(t, key, st.ID)
		require.True(t, bytes.HasPrefix(st.Wrapped, []byte("vault:v1:")), "%s", st.Wrapped)
		got, err := vaultUnwrap(p, st, vaultScope)
		require.NoError(t, err, key)
		require.Equal(t, dataKey, got)
	}

	// The root namespace's k1 is not team1's k1.
	st, err := vaultWrap(t, p, s.KeyURL("transit", "k1"), randomKey(t), vaultScope)
	require.NoError(t, err)
	st.ID = s.KeyURL(vaulttest.Namespace+"/transit", "k1")
	_, err = vaultUnwrap(p, st, vaultScope)
	require.ErrorIs(t, err, crypto.ErrIntegrity)

	// Not a vault stanza: not this identity's.
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{{Type: "age", ID: "x", Wrapped: []byte("x")}}, vaultScope)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
}

// A data key wrapped under key version 1 still opens after the key was
// rotated; new wraps use version 2.
func TestVaultRotation(t *testing.T) {
	s := vaultShared(t)
	require.NoError(t, s.CreateKey("transit", "rotating", "aes256-gcm96"))
	p := vaultProvider(t, s)
	key := s.KeyURL("transit", "rotating")
	dataKey := randomKey(t)
	v1, err := vaultWrap(t, p, key, dataKey, vaultScope)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(v1.Wrapped, []byte("vault:v1:")))
	require.NoError(t, s.Rotate("transit", "rotating"))
	v2, err := vaultWrap(t, p, key, dataKey, vaultScope)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(v2.Wrapped, []byte("vault:v2:")), "%s", v2.Wrapped)
	for _, st := range []keyring.Stanza{v1, v2} {
		got, err := vaultUnwrap(p, st, vaultScope)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
	}

	// Once version 1 may no longer decrypt, the error says so.
	require.NoError(t, s.Admin(http.MethodPost, "transit/keys/rotating/config", map[string]any{"min_decryption_version": 2}))
	_, err = vaultUnwrap(p, v1, vaultScope)
	require.Equal(t, "vault transit decrypt with "+key+": Vault will not use the key version that wrapped this data key: "+
		"ciphertext or signature version is disallowed by policy (too old)\n"+
		"the key's min_decryption_version is above it, or the version was trimmed: ask the operators of "+s.Addr, errorText(err))
}

// The scope is the associated data: the wrapped key of one Secret does not
// open for another, and the error names the Secret.
func TestVaultScopeBinding(t *testing.T) {
	s := vaultShared(t)
	p := vaultProvider(t, s)
	key := s.KeyURL("transit", "k1")
	st, err := vaultWrap(t, p, key, randomKey(t), vaultScope)
	require.NoError(t, err)
	for _, other := range []keyring.Scope{{Namespace: "prod", Name: "db2"}, {Namespace: "dev", Name: "db"}, {Name: "db"}, {Namespace: "prodd", Name: "b"}} {
		_, err := vaultUnwrap(p, st, other)
		require.ErrorIs(t, err, crypto.ErrIntegrity, "%+v", other)
		require.Contains(t, err.Error(), "the wrapped data key does not belong to Secret "+strings.TrimPrefix(other.Namespace+"/"+other.Name, "/"))
		require.Contains(t, err.Error(), "cipher: message authentication failed")
		require.Contains(t, hint.All(err), "the wrapped data key is bound to the Secret's namespace and name: the Secret was renamed or moved to another namespace, "+
			"or its ksec block was altered or copied from another Secret; restore it, or encrypt the plaintext again")
	}

	// The associated data is ksec's own encoding, and nothing else opens it.
	code, body, err := s.Do(http.MethodPost, "transit/decrypt/k1", map[string]any{"ciphertext": string(st.Wrapped)})
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	aad := "\x00\x00\x00\x0dksec v1 vault\x00\x00\x00\x04prod\x00\x00\x00\x02db"
	code, body, err = s.Do(http.MethodPost, "transit/decrypt/k1", map[string]any{"ciphertext": string(st.Wrapped), "associated_data": base64.StdEncoding.EncodeToString([]byte(aad))})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s", body)
}

// A stanza that is not what ksec writes is refused before any call.
func TestVaultStrictStanza(t *testing.T) {
	s := vaultShared(t)
	p := vaultProvider(t, s)
	good, err := vaultWrap(t, p, s.KeyURL("transit", "k1"), randomKey(t), vaultScope)
	require.NoError(t, err)
	body := strings.TrimPrefix(string(good.Wrapped), "vault:v1:")
	for wrapped, want := range map[string]string{
		"vault:v1:" + body + "=":                "its transit ciphertext is not base64",
		"vault:v01:" + body:                     "it is not a transit ciphertext (vault:vN:…)",
		"vault:v0:" + body:                      "it is not a transit ciphertext (vault:vN:…)",
		"vault:v:" + body:                       "it is not a transit ciphertext (vault:vN:…)",
		"vault:v1" + body:                       "it is not a transit ciphertext (vault:vN:…)",
		"bao:v1:" + body:                        "it is not a transit ciphertext (vault:vN:…)",
		"vault:v1:" + body[:len(body)-4]:        "its transit ciphertext holds 57 bytes, not the 60 of a wrapped data key",
		"vault:v1:" + body + "AAAA":             "its transit ciphertext holds 63 bytes, not the 60 of a wrapped data key",
		"vault:v1:" + strings.ToLower(body)[1:]: "its transit ciphertext is not base64",
	} {
		st := good
		st.Wrapped = []byte(wrapped)
		_, err := vaultUnwrap(p, st, vaultScope)
		require.ErrorIs(t, err, crypto.ErrIntegrity, wrapped)
		require.ErrorContains(t, err, want, wrapped)
	}
	for id, want := range map[string]string{
		strings.Replace(good.ID, "127.0.0.1", "127.0.0.1.", 1) + "x": "", // another key: Vault says
		strings.ToUpper(good.ID[:5]) + good.ID[5:]:                   "the URL is not in the form ksec writes",
		good.ID + "?x": "it has a query or a fragment",
	} {
		if want == "" {
			continue
		}
		st := good
		st.ID = id
		_, err := vaultUnwrap(p, st, vaultScope)
		require.ErrorIs(t, err, crypto.ErrIntegrity, id)
		require.ErrorContains(t, err, want, id)
	}
}

// Tokens, CAs and trusted servers come from the environment's every source.
func TestVaultTokenSources(t *testing.T) {
	s := vaultShared(t)
	key := s.KeyURL("transit", "k1")
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, ".vault-token"), []byte(s.Token+"\n"), 0o600))
	for name, env := range map[string][]string{
		"VAULT_TOKEN":      {"VAULT_TOKEN=" + s.Token},
		"BAO_TOKEN":        {"VAULT_TOKEN=", "BAO_TOKEN=" + s.Token},
		"~/.vault-token":   {"VAULT_TOKEN=", "HOME=" + home},
		"BAO_CACERT":       {"VAULT_CACERT=", "BAO_CACERT=" + s.CACert},
		"VAULT_CAPATH":     {"VAULT_CACERT=", "VAULT_CAPATH=" + filepath.Dir(s.CACert)},
		"BAO_ADDR":         {"VAULT_ADDR=", "BAO_ADDR=" + s.Addr + "/"},
		"KSEC_VAULT_ADDRS": {"VAULT_ADDR=https://vault.example.com", "KSEC_VAULT_ADDRS=https://x.example, " + s.Addr},
	} {
		_, err := vaultWrap(t, vaultProvider(t, s, env...), key, randomKey(t), vaultScope)
		require.NoError(t, err, name)
	}
	// VAULT_TOKEN wins over the file.
	require.NoError(t, os.WriteFile(filepath.Join(home, ".vault-token"), []byte("stale"), 0o600))
	_, err := vaultWrap(t, vaultProvider(t, s, "HOME="+home), key, randomKey(t), vaultScope)
	require.NoError(t, err)
}

// Every failure names the key and the operation, says what happened, and
// hints at what to do; none repeats the token.
func TestVaultErrors(t *testing.T) {
	s := vaultShared(t)
	const token = "hvs.limited-token-value"
	require.NoError(t, s.AddToken(token, map[string][]string{
		"transit/encrypt/k1": {"update"},
		"transit/decrypt/k1": {"update"},
	}))
	key := s.KeyURL("transit", "k1")
	good, err := vaultWrap(t, vaultProvider(t, s), key, randomKey(t), vaultScope)
	require.NoError(t, err)
	code, body, err := s.Do(http.MethodPost, "transit/encrypt/k1", map[string]any{"plaintext": base64.StdEncoding.EncodeToString(randomKey(t))})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var rep struct{ Data struct{ Ciphertext string } }
	require.NoError(t, json.Unmarshal(body, &rep))
	unbound := rep.Data.Ciphertext
	enc := "vault transit encrypt with "
	dec := "vault transit decrypt with "
	replyHint := "is " + s.Addr + " a Vault or OpenBao server? a proxy or another service may have answered"
	tokenHint := "ksec takes the token from VAULT_TOKEN, then BAO_TOKEN, then ~/.vault-token (written by vault login and bao login)"
	keyTypeHint := "ksec binds the wrapped key to its Secret through associated_data, which needs a transit key of type " +
		"aes256-gcm96, aes128-gcm96 or chacha20-poly1305, created without derived=true"

	for _, c := range []struct {
		name    string
		env     []string
		fault   string
		sealed  bool
		decrypt bool   // unwrap good (with key rewritten to spec) instead of wrapping for spec
		unbound bool   // unwrap a key wrapped without associated_data instead of good
		spec    string // default key
		want    string
		is      error
	}{
		{name: "unknown key", decrypt: true, spec: s.KeyURL("transit", "nokey"),
			want: dec + s.KeyURL("transit", "nokey") + `: the key "nokey" does not exist: encryption key not found` + "\n" +
				"check the key name in the URL: vault list transit/keys"},
		{name: "unknown key, namespace env", decrypt: true, spec: s.KeyURL("transit", "nokey"), env: []string{"VAULT_NAMESPACE=team1"},
			want: dec + s.KeyURL("transit", "nokey") + `: the key "nokey" does not exist: encryption key not found` + "\n" +
				"check the key name in the URL: vault list transit/keys\n" +
				`VAULT_NAMESPACE is "team1", but ksec takes the namespace from the key URL only: write ` + s.Addr + "/v1/team1/transit/keys/nokey"},
		{name: "unknown key, limited token", env: []string{"VAULT_TOKEN=" + token}, spec: s.KeyURL("transit", "k9"),
			want: enc + s.KeyURL("transit", "k9") + ": permission denied\n" +
				"the token's policy needs the update capability on transit/encrypt/k9; Vault asks for create instead when the key does not exist, so check the key name too"},
		{name: "denied key", env: []string{"VAULT_TOKEN=" + token}, decrypt: true, spec: s.KeyURL("transit", "chacha"),
			want: dec + s.KeyURL("transit", "chacha") + ": permission denied\n" +
				"the token's policy needs the update capability on transit/decrypt/chacha"},
		{name: "wrong token", env: []string{"VAULT_TOKEN=hvs.wrong"},
			want: enc + key + ": permission denied: Vault refused the token from VAULT_TOKEN (expired, revoked, or made for another server or namespace)\n" +
				"log in again (vault login, bao login) or set VAULT_TOKEN to a current token; " + tokenHint},
		{name: "no token", env: []string{"VAULT_TOKEN="}, decrypt: true,
			want: dec + key + ": permission denied: no Vault token was found\n" + tokenHint + "; set one, or log in"},
		{name: "sealed", sealed: true, decrypt: true,
			want: dec + key + ": Vault at " + strings.TrimPrefix(s.Addr, "https://") + " is unavailable: Vault is sealed\n" +
				"a sealed Vault must be unsealed by its operators (vault operator unseal), then try again"},
		{name: "unreachable", spec: "https://127.0.0.1:1/v1/transit/keys/k1", env: []string{"KSEC_VAULT_ADDRS=https://127.0.0.1:1"},
			want: enc + "https://127.0.0.1:1/v1/transit/keys/k1: cannot reach Vault at 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused\n" +
				"check that Vault runs at https://127.0.0.1:1 and the network path to it (proxy settings HTTPS_PROXY/NO_PROXY, VPN, firewall)"},
		{name: "no such mount", spec: s.KeyURL("transit2", "k1"),
			want: enc + s.KeyURL("transit2", "k1") + `: no transit engine at transit2: no handler for route "transit2/encrypt/k1". route entry not found.` + "\n" +
				"check the mount path (and namespace) in the URL: vault secrets list shows the mounts of " + s.Addr},
		{name: "not an AEAD key", spec: s.KeyURL("transit", "rsa"),
			want: enc + s.KeyURL("transit", "rsa") + ": the key cannot bind associated data: '[0].associated_data' provided for non-AEAD cipher suite rsa-2048\n" + keyTypeHint},
		{name: "old server ignores associated_data", fault: "ignore-aad",
			want: enc + key + ": the server ignored associated_data (Endpoint ignored these unrecognized parameters: [associated_data]), " +
				"so it cannot bind the data key to its Secret; ksec refuses to go on\n" +
				"associated_data needs Vault 1.13 or later, or OpenBao; " + keyTypeHint},
		// An older server cannot open a key bound with associated_data.
		{name: "old server on decrypt", fault: "ignore-aad", decrypt: true, is: crypto.ErrIntegrity,
			want: "integrity check failed: " + dec + key + ": the wrapped data key does not belong to Secret prod/db, or it was altered (cipher: message authentication failed)\n" +
				"the wrapped data key is bound to the Secret's namespace and name: the Secret was renamed or moved to another namespace, " +
				"or its ksec block was altered or copied from another Secret; restore it, or encrypt the plaintext again"},
		// And a key wrapped without it (not by ksec) is refused though it opens.
		{name: "old server ignores associated_data on decrypt", fault: "ignore-aad", decrypt: true, unbound: true,
			want: dec + key + ": the server ignored associated_data (Endpoint ignored these unrecognized parameters: [associated_data]), " +
				"so it cannot bind the data key to its Secret; ksec refuses to go on\n" +
				"associated_data needs Vault 1.13 or later, or OpenBao; " + keyTypeHint},
		{name: "huge reply", fault: "huge", decrypt: true,
			want: dec + key + ": malformed reply: the reply is larger than 64 KiB\n" + replyHint},
		{name: "malformed reply", fault: "malformed",
			want: enc + key + ": malformed reply: it is not JSON: unexpected end of JSON input\n" + replyHint},
		{name: "redirect", fault: "redirect",
			want: enc + key + ": the server answered with a redirect to https://192.0.2.1:8200, which ksec does not follow (the token would go along)\n" +
				"name the active Vault node, or the load balancer in front of it, in the key URL"},
		{name: "untrusted certificate", env: []string{"VAULT_CACERT="},
			want: enc + key + ": the server's TLS certificate is not trusted: tls: failed to verify certificate: x509: certificate signed by unknown authority\n" +
				"set VAULT_CACERT to the file of the CA that signed Vault's certificate (VAULT_SKIP_VERIFY=true turns the check off: only ever for a test server)"},
		{name: "plain http to a TLS server", spec: strings.Replace(key, "https://", "http://", 1), env: []string{"VAULT_ADDR=" + strings.Replace(s.Addr, "https://", "http://", 1)},
			want: enc + strings.Replace(key, "https://", "http://", 1) + ": HTTP 400, and the reply is not Vault's JSON\n" +
				"is " + strings.Replace(s.Addr, "https://", "http://", 1) + " a Vault or OpenBao server? a proxy or another service may have answered"},
		{name: "a server the environment does not name", spec: "https://vault.attacker.example/v1/transit/keys/k1",
			want: enc + "https://vault.attacker.example/v1/transit/keys/k1: ksec contacts only the Vault servers named by " +
				"VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS (here: " + s.Addr + "), not https://vault.attacker.example\n" +
				"if https://vault.attacker.example is your Vault, set VAULT_ADDR to it, or add it to KSEC_VAULT_ADDRS (a comma-separated list); " +
				"a recipient URL changed in a file can be an attempt to collect your Vault token"},
		{name: "another server named", env: []string{"VAULT_ADDR=https://vault.example.com:443/", "BAO_ADDR=https://bao.example.com:8200",
			"KSEC_VAULT_ADDRS=https://a.example.com, not a url,http://127.0.0.1:8200"}, decrypt: true,
			want: dec + key + ": ksec contacts only the Vault servers named by VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS " +
				"(here: https://vault.example.com, https://bao.example.com:8200, https://a.example.com, http://127.0.0.1:8200), not " + s.Addr + "\n" +
				"if " + s.Addr + " is your Vault, set VAULT_ADDR to it, or add it to KSEC_VAULT_ADDRS (a comma-separated list); " +
				"a recipient URL changed in a file can be an attempt to collect your Vault token"},
		{name: "no server named", env: []string{"VAULT_ADDR="}, decrypt: true,
			want: dec + key + ": VAULT_ADDR is not set\n" +
				"to use this key, set VAULT_ADDR=" + s.Addr + " and a token (VAULT_TOKEN); ksec contacts only the Vault servers that VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS name"},
		{name: "bad VAULT_SKIP_VERIFY", env: []string{"VAULT_SKIP_VERIFY=maybe"},
			want: `vault: VAULT_SKIP_VERIFY="maybe" is not true or false`},
		{name: "token with a newline", env: []string{"VAULT_TOKEN=abc\ndef"},
			want: "vault: the token in VAULT_TOKEN holds characters a Vault token never has\n" + tokenHint},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.fault != "" {
				require.NoError(t, s.SetFault(c.fault))
				defer func() { require.NoError(t, s.SetFault("")) }()
			}
			if c.sealed {
				require.NoError(t, s.Seal())
				defer func() { require.NoError(t, s.Unseal()) }()
			}
			spec := c.spec
			if spec == "" {
				spec = key
			}
			p := vaultProvider(t, s, c.env...)
			if c.decrypt {
				st := good
				st.ID = spec
				if c.unbound {
					st.Wrapped = []byte(unbound)
				}
				_, err = vaultUnwrap(p, st, vaultScope)
			} else {
				_, err = vaultWrap(t, p, spec, randomKey(t), vaultScope)
			}
			require.Error(t, err)
			text := errorText(err)
			require.Equal(t, c.want, text)
			require.NotContains(t, text, token)
			require.NotContains(t, text, s.Token)
			if c.is != nil {
				require.ErrorIs(t, err, c.is)
			}
		})
	}
}

// A server that does not answer is given up on at the timeout; a caller
// that cancels is obeyed at once.
func TestVaultTimeout(t *testing.T) {
	s := vaultShared(t)
	require.NoError(t, s.SetFault("stall"))
	defer func() { require.NoError(t, s.SetFault("")) }()
	key := s.KeyURL("transit", "k1")
	p := keyring.NewVault(keyring.VaultOptions{Getenv: vaultEnv(t, s), Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := vaultWrap(t, p, key, randomKey(t), vaultScope)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, "vault transit encrypt with "+key+": no answer within 200ms\n"+
		"check that Vault runs at "+s.Addr+" and the network path to it (proxy settings HTTPS_PROXY/NO_PROXY, VPN, firewall)", errorText(err))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p = vaultProvider(t, s)
	r, err := p.ParseRecipient(ctx, key)
	require.NoError(t, err)
	_, err = r.Wrap(ctx, randomKey(t), vaultScope)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Equal(t, "vault transit encrypt with "+key+": context deadline exceeded", err.Error())
}

// A plain-HTTP Vault on this machine (a dev server) works over http://.
func TestVaultPlainHTTPLoopback(t *testing.T) {
	s, err := vaulttest.Start(t.TempDir(), true)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	require.NoError(t, s.CreateKey("transit", "dev", "aes256-gcm96"))
	p := vaultProvider(t, s)
	dataKey := randomKey(t)
	st, err := vaultWrap(t, p, s.KeyURL("transit", "dev"), dataKey, vaultScope)
	require.NoError(t, err)
	got, err := vaultUnwrap(p, st, vaultScope)
	require.NoError(t, err)
	require.Equal(t, dataKey, got)

	// An https:// URL for it: the server does not speak TLS.
	p = vaultProvider(t, s, "KSEC_VAULT_ADDRS="+strings.Replace(s.Addr, "http://", "https://", 1))
	_, err = vaultWrap(t, p, strings.Replace(s.KeyURL("transit", "dev"), "http://", "https://", 1), dataKey, vaultScope)
	require.ErrorContains(t, err, "the server does not speak TLS")
}

// Against a real Vault or OpenBao, when KSEC_TEST_VAULT_ADDR (and
// KSEC_TEST_VAULT_TOKEN, a token that may manage keys under
// KSEC_TEST_VAULT_MOUNT, default "transit") are set; skipped otherwise, in
// CI too: this is for developers who have a server.
func TestVaultRealServer(t *testing.T) {
	s := vaulttest.Real(t)
	mount := os.Getenv("KSEC_TEST_VAULT_MOUNT")
	if mount == "" {
		mount = "transit"
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "ksec-test-" + base64.RawURLEncoding.EncodeToString(rnd[:])
	require.NoError(t, s.CreateKey(mount, name, "aes256-gcm96"))
	t.Cleanup(func() {
		_ = s.Admin(http.MethodPost, mount+"/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_ = s.Admin(http.MethodDelete, mount+"/keys/"+name, nil)
	})
	p := keyring.NewVault(keyring.VaultOptions{Getenv: func(k string) string {
		if k == "VAULT_TOKEN" {
			return s.Token
		}
		return os.Getenv(k)
	}})
	key := s.KeyURL(mount, name)
	dataKey := randomKey(t)
	v1, err := vaultWrap(t, p, key, dataKey, vaultScope)
	require.NoError(t, err)
	require.NoError(t, s.Rotate(mount, name))
	v2, err := vaultWrap(t, p, key, dataKey, vaultScope)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(v2.Wrapped, []byte("vault:v2:")))
	for _, st := range []keyring.Stanza{v1, v2} {
		got, err := vaultUnwrap(p, st, vaultScope)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
		_, err = vaultUnwrap(p, st, keyring.Scope{Namespace: "prod", Name: "other"})
		require.ErrorIs(t, err, crypto.ErrIntegrity)
	}
	require.NoError(t, s.CreateKey(mount, name+"-rsa", "rsa-2048"))
	t.Cleanup(func() {
		_ = s.Admin(http.MethodPost, mount+"/keys/"+name+"-rsa/config", map[string]any{"deletion_allowed": true})
		_ = s.Admin(http.MethodDelete, mount+"/keys/"+name+"-rsa", nil)
	})
	_, err = vaultWrap(t, p, s.KeyURL(mount, name+"-rsa"), dataKey, vaultScope)
	require.ErrorContains(t, err, "the key cannot bind associated data")
}
