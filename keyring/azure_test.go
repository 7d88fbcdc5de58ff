package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/azuretest"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

var azureScope = keyring.Scope{Namespace: "prod", Name: "db-credentials"}

// azureVault starts the in-process Key Vault with key "k1" and sets the
// environment so the credential chain uses only its managed identity
// endpoint (never Azure CLI, never the instance metadata service). The
// provider's transport trusts the vault's certificate.
func azureVault(t *testing.T) (*azuretest.Vault, keyring.Provider) {
	t.Helper()
	v, err := azuretest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(v.Close)
	_, err = v.AddKey("k1")
	require.NoError(t, err)
	for _, e := range v.Env() {
		k, val, _ := strings.Cut(e, "=")
		if k != "SSL_CERT_FILE" { // read once per process: the transport below trusts the vault instead
			t.Setenv(k, val)
		}
	}
	for _, k := range []string{"AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_AUTHORITY_HOST", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"} {
		t.Setenv(k, "") // restored after the test…
		os.Unsetenv(k)  // …and unset
	}
	// Should a test's chain reach the instance metadata service, it finds
	// a closed loopback port, never 169.254.169.254.
	t.Setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1")
	return v, keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second, Loopback: true})
}

func azureRecipient(t *testing.T, p keyring.Provider, spec string) keyring.Recipient {
	t.Helper()
	r, err := p.ParseRecipient(context.Background(), spec)
	require.NoError(t, err)
	return r
}

func dataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, crypto.DataKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestAzureParseKey(t *testing.T) {
	p := keyring.NewAzure(keyring.AzureOptions{Loopback: true})
	ver := "0123456789abcdef0123456789ABCDEF"
	for spec, want := range map[string]string{
		"https://my-vault.vault.azure.net/keys/k1":         "https://my-vault.vault.azure.net/keys/k1",
		"https://My-Vault.Vault.Azure.Net/keys/k1":         "https://my-vault.vault.azure.net/keys/k1",
		"https://my-vault.vault.azure.net/keys/k1/" + ver:  "https://my-vault.vault.azure.net/keys/k1/" + ver,
		"https://hsm1.managedhsm.azure.net/keys/Key-2":     "https://hsm1.managedhsm.azure.net/keys/Key-2",
		"https://vault-cn.vault.azure.cn/keys/k":           "https://vault-cn.vault.azure.cn/keys/k",
		"https://gov1.vault.usgovcloudapi.net/keys/k":      "https://gov1.vault.usgovcloudapi.net/keys/k",
		"https://gov1.managedhsm.usgovcloudapi.net/keys/k": "https://gov1.managedhsm.usgovcloudapi.net/keys/k",
		"https://127.0.0.1:8443/keys/k":                    "https://127.0.0.1:8443/keys/k",
		"https://[::1]:8443/keys/k/" + ver:                 "https://[::1]:8443/keys/k/" + ver,
	} {
		r, err := p.ParseRecipient(context.Background(), spec)
		require.NoError(t, err, spec)
		require.Equal(t, "azure", r.Type())
		require.Equal(t, want, r.ID(), spec)
	}
	for spec, why := range map[string]string{
		"http://v1x.vault.azure.net/keys/k":                            "https://",
		"https://v1x.vault.azure.net/keys/k?api-version=1":             "query",
		"https://v1x.vault.azure.net/keys/k#x":                         "fragment",
		"https://user@v1x.vault.azure.net/keys/k":                      "user",
		"https://v1x.vault.azure.net/keys/k%2F":                        "escape",
		"https://v1x.vault.azure.net:443/keys/k":                       "no port",
		"https://v1x.vault.azure.net/keys/k/":                          "32 hexadecimal",
		"https://v1x.vault.azure.net/keys/k/v1":                        "32 hexadecimal",
		"https://v1x.vault.azure.net/keys/k/" + ver + "/x":             "/keys/NAME",
		"https://v1x.vault.azure.net/secrets/k":                        "/keys/NAME",
		"https://v1x.vault.azure.net/keys/":                            "key name",
		"https://v1x.vault.azure.net/keys/a_b":                         "key name",
		"https://v1x.vault.azure.net":                                  "/keys/NAME",
		"https://evil.example.com/keys/k":                              "not a Key Vault",
		"https://v1x.vault.azure.net.example.com/keys/k":               "not a Key Vault",
		"https://vault.azure.net/keys/k":                               "not a Key Vault",
		"https://ab.vault.azure.net/keys/k":                            "not a Key Vault",
		"https://1ab.vault.azure.net/keys/k":                           "not a Key Vault",
		"https://a--b.vault.azure.net/keys/k":                          "not a Key Vault",
		"https://ab-.vault.azure.net/keys/k":                           "not a Key Vault",
		"https://127.0.0.1/keys/k":                                     "port",
		"https://v1x.vault.azure.net/keys/" + strings.Repeat("k", 128): "key name",
	} {
		_, err := p.ParseRecipient(context.Background(), spec)
		require.Error(t, err, spec)
		require.Contains(t, err.Error(), why, spec)
		require.Contains(t, strings.Join(hint.All(err), "\n"), "azure:https://VAULT.vault.azure.net/keys/KEY", spec)
	}
}

func TestAzureSplitSpec(t *testing.T) {
	for spec, want := range map[string][2]string{
		"azure:https://127.0.0.1:1/keys/k":           {"azure", "https://127.0.0.1:1/keys/k"},
		"https://v1x.vault.azure.net/keys/k":         {"azure", "https://v1x.vault.azure.net/keys/k"},
		"https://h1x.managedhsm.azure.net/keys/k":    {"azure", "https://h1x.managedhsm.azure.net/keys/k"},
		"azure:https://v1x.vault.azure.net/keys/key": {"azure", "https://v1x.vault.azure.net/keys/key"},
	} {
		typ, rest, err := keyring.SplitSpec(spec)
		require.NoError(t, err, spec)
		require.Equal(t, want, [2]string{typ, rest}, spec)
	}
	// A bare loopback URL is no key spec: it could be anything.
	_, _, err := keyring.SplitSpec("https://127.0.0.1:1/keys/k")
	require.Error(t, err)
}

// A loopback vault is a test server: without the option, neither a key
// spec nor a stanza may name one (the token would go to whatever listens
// there), and nothing is contacted.
func TestAzureLoopbackNeedsOptIn(t *testing.T) {
	v, p := azureVault(t)
	st, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.NoError(t, err)
	v.ResetCalls()
	strict := keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second})
	_, err = strict.ParseRecipient(context.Background(), v.KeyURL("k1"))
	require.ErrorContains(t, err, "accepted only with KSEC_AZURE_LOOPBACK=1")
	_, err = strict.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st}, azureScope)
	require.ErrorContains(t, err, "accepted only with KSEC_AZURE_LOOPBACK=1")
	require.Zero(t, v.Calls("challenge")+v.Calls("unwrapkey")+v.Calls("token"))
}

// The real azkeys client and ksec's credential chain against the vault:
// the first request is refused with Key Vault's challenge, a token comes
// from the managed identity endpoint, and the request is retried with it.
func TestAzureRoundTrip(t *testing.T) {
	v, p := azureVault(t)
	r := azureRecipient(t, p, v.KeyURL("k1"))
	key := dataKey(t)
	st, err := r.Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	require.Equal(t, "azure", st.Type)
	require.Equal(t, v.KeyURL("k1"), st.ID, "the stanza names the key as given, without a version")
	require.GreaterOrEqual(t, v.Calls("challenge"), 1)
	require.Equal(t, 1, v.Calls("token"))
	require.Equal(t, 1, v.Calls("wrapkey"))
	require.NotContains(t, string(st.Wrapped), string(key))
	require.Zero(t, v.Calls("body-before-auth"), "the data key is sent only once the challenge is answered")

	got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st}, azureScope)
	require.NoError(t, err)
	require.Equal(t, key, got)
	require.Equal(t, 1, v.Calls("unwrapkey"))
	require.Equal(t, 1, v.Calls("token"), "the token is reused")

	// Not for this identity: no azure stanza.
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{{Type: "age", ID: "x", Wrapped: []byte("x")}}, azureScope)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
}

// The version Key Vault wrapped under is kept in the stanza: after the key
// is rotated, older files still open, and new wraps use the new version
// unless the URL pins one.
func TestAzureKeyVersions(t *testing.T) {
	v, p := azureVault(t)
	key := dataKey(t)
	st1, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	v1 := string(st1.Wrapped[2:34])

	v2, err := v.Rotate("k1")
	require.NoError(t, err)
	require.NotEqual(t, v1, v2)
	got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st1}, azureScope)
	require.NoError(t, err, "a key wrapped under version 1 opens after rotation")
	require.Equal(t, key, got)

	st2, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	require.Equal(t, v2, string(st2.Wrapped[2:34]), "a versionless URL wraps under the newest version")
	require.Equal(t, st1.ID, st2.ID, "the recipient stays the same across rotations")

	pinned := v.KeyURL("k1") + "/" + v1
	st3, err := azureRecipient(t, p, pinned).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	require.Equal(t, pinned, st3.ID)
	require.Equal(t, v1, string(st3.Wrapped[2:34]))
	got, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st3}, azureScope)
	require.NoError(t, err)
	require.Equal(t, key, got)

	// A pinned stanza whose body names another version is refused before any call.
	v.ResetCalls()
	bad := st3
	bad.Wrapped = bytes.Clone(st2.Wrapped)
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{bad}, azureScope)
	require.ErrorIs(t, err, crypto.ErrIntegrity)
	require.Contains(t, err.Error(), "names key version "+v2)
	require.Zero(t, v.Calls("unwrapkey"))

	// A version that does not exist.
	bad = st1
	bad.Wrapped = bytes.Clone(st1.Wrapped)
	copy(bad.Wrapped[2:34], "ffffffffffffffffffffffffffffffff")
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{bad}, azureScope)
	require.ErrorContains(t, err, "key not found")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "az keyvault key list-versions")
}

// RSA-OAEP has no additional data: the scope is inside the wrapped
// plaintext, and a wrapped key moved to another Secret does not open.
func TestAzureScopeBinding(t *testing.T) {
	v, p := azureVault(t)
	key := dataKey(t)
	st, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	for _, other := range []keyring.Scope{
		{Namespace: "prod", Name: "db-credentials2"},
		{Namespace: "staging", Name: "db-credentials"},
		{Namespace: "prod/db", Name: "-credentials"},
		{Namespace: "", Name: "proddb-credentials"},
	} {
		_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st}, other)
		require.ErrorIs(t, err, crypto.ErrIntegrity, other)
		name := other.Namespace + "/" + other.Name
		if other.Namespace == "" {
			name = other.Name
		}
		require.ErrorContains(t, err, "belongs to another Secret, not to Secret "+name+" (")
	}
	// A key for the same key name in another vault is another recipient.
	require.NotEqual(t, st.ID, strings.Replace(st.ID, "127.0.0.1", "localhost", 1))
}

// Stanza bodies ksec did not write are refused without calling Key Vault.
func TestAzureStanzaStrict(t *testing.T) {
	v, p := azureVault(t)
	st, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.NoError(t, err)
	v.ResetCalls()
	mutate := func(f func([]byte) []byte) keyring.Stanza {
		s := st
		s.Wrapped = f(bytes.Clone(st.Wrapped))
		return s
	}
	for name, tc := range map[string]struct {
		s    keyring.Stanza
		want string
	}{
		"empty":         {mutate(func([]byte) []byte { return nil }), "truncated"},
		"version 2":     {mutate(func(b []byte) []byte { b[0] = 2; return b }), "format version 2"},
		"short":         {mutate(func(b []byte) []byte { return b[:len(b)-1] }), "255 bytes"},
		"long":          {mutate(func(b []byte) []byte { return append(b, 0) }), "257 bytes"},
		"bad version":   {mutate(func(b []byte) []byte { b[2] = 'x'; return b }), "no valid key version"},
		"length lies":   {mutate(func(b []byte) []byte { b[1] = 200; return b }), "no valid key version"},
		"uppercase url": {keyring.Stanza{Type: "azure", ID: strings.ToUpper(st.ID[:8]) + st.ID[8:], Wrapped: st.Wrapped}, "not an Azure Key Vault key URL"},
		"other host":    {keyring.Stanza{Type: "azure", ID: "https://evil.example.com/keys/k1", Wrapped: st.Wrapped}, "not a Key Vault"},
	} {
		_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{tc.s}, azureScope)
		require.ErrorContains(t, err, tc.want, name)
	}
	require.Zero(t, v.Calls("unwrapkey")+v.Calls("challenge"))

	// A ciphertext altered in place: Key Vault cannot unwrap it (400).
	s := mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, azureScope)
	require.ErrorIs(t, err, crypto.ErrIntegrity)
	require.ErrorContains(t, err, "not wrapped with this key version, or it was altered")
}

func TestAzureDeniedAndUnknown(t *testing.T) {
	v, p := azureVault(t)
	key := dataKey(t)
	st, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	v.Deny("k1", true)

	_, err = azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.ErrorContains(t, err, "azure key vault wrapkey with key "+v.KeyURL("k1")+": permission denied: Forbidden: The user, group or application does not have keys wrapKey permission")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "keys/wrapKey on k1")
	require.NotContains(t, err.Error(), "\n")

	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st}, azureScope)
	require.ErrorContains(t, err, "permission denied")
	require.NotErrorIs(t, err, crypto.ErrIntegrity)
	require.Contains(t, strings.Join(hint.All(err), "\n"), "keys/unwrapKey on k1")

	_, err = azureRecipient(t, p, v.KeyURL("nokey")).Wrap(context.Background(), key, azureScope)
	require.ErrorContains(t, err, "key not found: KeyNotFound: A key with (name/id) nokey was not found")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "az keyvault key list")
}

func TestAzureUnreachable(t *testing.T) {
	_, p := azureVault(t)
	start := time.Now()
	_, err := azureRecipient(t, p, "https://127.0.0.1:1/keys/k1").Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "azure key vault wrapkey with key https://127.0.0.1:1/keys/k1: unreachable")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "could not connect to https://127.0.0.1:1")
	require.Less(t, time.Since(start), 5*time.Second)

	// The timeout bounds a vault that never answers.
	slow := keyring.NewAzure(keyring.AzureOptions{Transport: hangingTransport{}, Timeout: 300 * time.Millisecond, Credential: staticToken{}, Loopback: true})
	start = time.Now()
	_, err = azureRecipient(t, slow, "https://127.0.0.1:1/keys/k1").Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "timed out after 300ms")
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestAzureBadReplies(t *testing.T) {
	v, p := azureVault(t)
	key := dataKey(t)
	for mode, want := range map[string]string{
		azuretest.ReplyHuge:      "the reply is larger than the 64 KiB",
		azuretest.ReplyMalformed: "the reply is not Key Vault's JSON",
		azuretest.ReplyWrongKID:  "the key vault reply is about another key",
	} {
		v.SetReply(mode)
		_, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
		require.ErrorContains(t, err, want, mode)
		require.NotContains(t, err.Error(), "\n", mode)
	}
}

// A challenge the SDK cannot parse (its parser indexes the authorization
// URL's path without checking) is an error, not a crash.
func TestAzureBadChallenge(t *testing.T) {
	v, _ := azureVault(t)
	v.SetReply(azuretest.ReplyBadChallenge)
	p := keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second, Loopback: true})
	_, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "the Key Vault client failed on the vault's reply")
	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{{Type: "azure", ID: v.KeyURL("k1"),
		Wrapped: append([]byte{1, 32}, append([]byte(strings.Repeat("a", 32)), make([]byte, 256)...)...)}}, azureScope)
	require.ErrorContains(t, err, "the Key Vault client failed on the vault's reply")
}

func TestAzureCredentialErrors(t *testing.T) {
	v, _ := azureVault(t)
	// The token endpoint refuses: a wrong identity header.
	t.Setenv("IDENTITY_HEADER", "wrong")
	p := keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second, Loopback: true})
	_, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "could not get a token")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "DefaultAzureCredential")
	require.NotContains(t, err.Error(), "\n")
	require.NotContains(t, err.Error(), "wrong", "the identity header is a secret")

	// A token the vault does not accept: 401 after the challenge.
	p = keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second, Credential: staticToken{}, Loopback: true})
	_, err = azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "not authenticated")
	require.NotContains(t, err.Error(), "static-token")
}

// staticToken hands out a token the test vault never issued.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "static-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// hangingTransport never answers until the request's context ends.
type hangingTransport struct{}

func (hangingTransport) Do(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, errors.Join(errors.New("request abandoned"), r.Context().Err())
}
