package keyring_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/azuretest"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

// azureChain starts the vault with the environment of azureVault, then
// clears the managed identity selection so each test sets up the
// credential it is about: the whole chain runs unless the test pins one.
// PATH holds no az, and the metadata service is a closed loopback port.
func azureChain(t *testing.T) *azuretest.Vault {
	t.Helper()
	v, _ := azureVault(t)
	for _, k := range []string{"AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_ID", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("PATH", t.TempDir())
	return v
}

// newAzure is a fresh provider: each has its own token cache.
func newAzure(v *azuretest.Vault) keyring.Provider {
	return keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 5 * time.Second, Loopback: true})
}

// azureRoundTrip wraps and unwraps a data key through the vault.
func azureRoundTrip(t *testing.T, v *azuretest.Vault, p keyring.Provider) {
	t.Helper()
	key := dataKey(t)
	st, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), key, azureScope)
	require.NoError(t, err)
	got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{st}, azureScope)
	require.NoError(t, err)
	require.Equal(t, key, got)
}

// azureTokenError signs in for a wrap and returns the error.
func azureTokenError(t *testing.T, v *azuretest.Vault, p keyring.Provider) error {
	t.Helper()
	before := v.Calls("wrapkey")
	_, err := azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.Error(t, err)
	require.ErrorContains(t, err, "could not get a token: ")
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, strings.Join(hint.All(err), "\n"), "AZURE_TOKEN_CREDENTIALS")
	require.Equal(t, before, v.Calls("wrapkey"), "no key operation without a token")
	return err
}

func setClientSecret(t *testing.T, v *azuretest.Vault, secret string) {
	t.Setenv("AZURE_TENANT_ID", azuretest.Tenant)
	t.Setenv("AZURE_CLIENT_ID", v.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", secret)
	t.Setenv("AZURE_AUTHORITY_HOST", v.AuthorityHost())
}

func TestAzureCredClientSecret(t *testing.T) {
	v := azureChain(t)
	setClientSecret(t, v, v.Secret)
	azureRoundTrip(t, v, newAzure(v))
	require.Equal(t, 1, v.Calls("token"), "one sign-in per run")

	// A wrong secret: Entra ID's refusal in one line, without the secret,
	// and the chain stops there (no managed identity, no az).
	v.ResetCalls()
	setClientSecret(t, v, "wrong-secret-value")
	err := azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "azure sign-in failed: environment: microsoft entra id refused: HTTP 401: invalid_client (AADSTS7000215: Invalid client secret provided.)")
	require.NotContains(t, err.Error(), "wrong-secret-value")
	require.NotContains(t, err.Error(), "Trace ID")
	require.NotContains(t, err.Error(), "managed identity")
	require.Zero(t, v.Calls("imds"))

	// The authority host must be https, but for loopback.
	setClientSecret(t, v, v.Secret)
	t.Setenv("AZURE_AUTHORITY_HOST", "http://login.example.com/")
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "environment: AZURE_AUTHORITY_HOST must be an https URL")
	// A tenant that would change the token URL's path.
	t.Setenv("AZURE_AUTHORITY_HOST", v.AuthorityHost())
	t.Setenv("AZURE_TENANT_ID", "../evil")
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "AZURE_TENANT_ID is not a tenant ID")
	// A certificate is not supported: said so, rather than skipped silently.
	os.Unsetenv("AZURE_CLIENT_SECRET")
	t.Setenv("AZURE_TENANT_ID", azuretest.Tenant)
	t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/cert.pem")
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "environment: AZURE_CLIENT_CERTIFICATE_PATH is set, but ksec signs in with a client secret")
}

func TestAzureCredWorkloadIdentity(t *testing.T) {
	v := azureChain(t)
	t.Setenv("AZURE_TENANT_ID", azuretest.Tenant)
	t.Setenv("AZURE_CLIENT_ID", v.ClientID)
	t.Setenv("AZURE_AUTHORITY_HOST", v.AuthorityHost())
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	require.NoError(t, os.WriteFile(file, []byte(v.Assertion+"\n"), 0o600))
	azureRoundTrip(t, v, newAzure(v))
	require.Equal(t, 1, v.Calls("token"))

	// Another assertion: refused, and the assertion is not printed.
	require.NoError(t, os.WriteFile(file, []byte("eyJhbGciOiJSUzI1NiJ9.other.token"), 0o600))
	err := azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "azure sign-in failed: environment: not set up (AZURE_CLIENT_SECRET unset); workload identity: microsoft entra id refused: HTTP 401: invalid_client (AADSTS700211: No matching federated identity record")
	require.NotContains(t, err.Error(), "other.token")

	for content, want := range map[string]string{
		"":                            "AZURE_FEDERATED_TOKEN_FILE is empty",
		strings.Repeat("a", 16<<10+1): "reading AZURE_FEDERATED_TOKEN_FILE: larger than 16 KiB",
		strings.Repeat("a", 16<<10):   "HTTP 401",
	} {
		require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
		err := azureTokenError(t, v, newAzure(v))
		require.ErrorContains(t, err, want)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(t.TempDir(), "missing"))
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "reading AZURE_FEDERATED_TOKEN_FILE: no such file or directory")
}

// App Service's endpoint, found by the whole chain (no selector), and the
// instance metadata service, played by the test server.
func TestAzureCredManagedIdentity(t *testing.T) {
	v := azureChain(t)
	t.Setenv("AZURE_CLIENT_ID", v.ClientID)
	t.Setenv("IDENTITY_ENDPOINT", v.Identity.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", v.Header)
	azureRoundTrip(t, v, newAzure(v))
	require.Equal(t, 1, v.Calls("token"))
	require.Zero(t, v.Calls("imds"))

	// The identity endpoint must be https unless on loopback.
	t.Setenv("IDENTITY_ENDPOINT", "http://identity.example.com/msi/token")
	err := azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "managed identity: IDENTITY_ENDPOINT must be an https URL")
	require.NotContains(t, err.Error(), v.Header)

	// The metadata service: probed first (any answer will do), then asked
	// with the Metadata header.
	os.Unsetenv("IDENTITY_ENDPOINT")
	os.Unsetenv("IDENTITY_HEADER")
	t.Setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", v.IMDSHost())
	v.ResetCalls()
	azureRoundTrip(t, v, newAzure(v))
	require.Equal(t, 1, v.Calls("token"))
	require.Equal(t, 2, v.Calls("imds"), "one probe, one token request")

	// A VM without that identity: in the chain, the metadata service's
	// refusal means "not here", and az is tried next, as with azidentity.
	t.Setenv("AZURE_CLIENT_ID", "someone-else")
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "no azure credential available: ")
	require.ErrorContains(t, err, "; managed identity: not set up (the instance metadata service has no identity for this machine: HTTP 400: invalid_request (Identity not found)); azure cli: not set up (az is not on PATH)")
	t.Setenv("AZURE_CLIENT_ID", v.ClientID)

	// Pinned to the managed identity: no probe.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
	v.ResetCalls()
	azureRoundTrip(t, v, newAzure(v))
	require.Equal(t, 1, v.Calls("imds"))

	// An unknown user-assigned identity: the service's refusal.
	t.Setenv("AZURE_CLIENT_ID", "someone-else")
	err = azureTokenError(t, v, newAzure(v))
	require.ErrorContains(t, err, "managed identity: the managed identity endpoint refused: HTTP 400: invalid_request (Identity not found)")
}

// AZURE_TOKEN_CREDENTIALS picks credentials as it does for azidentity.
func TestAzureCredSelector(t *testing.T) {
	v := azureChain(t)
	// The environment's secret is wrong, the managed identity works.
	setClientSecret(t, v, "wrong-secret-value")
	t.Setenv("IDENTITY_ENDPOINT", v.Identity.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", v.Header)

	for sel, want := range map[string]string{
		"":                           "azure sign-in failed: environment: microsoft entra id refused: HTTP 401",
		"prod":                       "azure sign-in failed: environment: microsoft entra id refused: HTTP 401",
		"EnvironmentCredential":      "azure sign-in failed: environment: microsoft entra id refused: HTTP 401",
		"dev":                        "no azure credential available: azure cli: not set up (az is not on PATH)",
		"AzureCLICredential":         "no azure credential available: azure cli: not set up (az is not on PATH)",
		"WorkloadIdentityCredential": "no azure credential available: workload identity: not set up (AZURE_FEDERATED_TOKEN_FILE unset)",
		"AzurePowerShellCredential":  `AZURE_TOKEN_CREDENTIALS="AzurePowerShellCredential" is not one ksec supports: use prod, dev, EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential or AzureCLICredential`,
	} {
		t.Setenv("AZURE_TOKEN_CREDENTIALS", sel)
		err := azureTokenError(t, v, newAzure(v))
		require.ErrorContains(t, err, "could not get a token: "+want, sel)
		require.NotContains(t, err.Error(), "wrong-secret-value")
	}
	for _, sel := range []string{"ManagedIdentityCredential", "managedidentitycredential"} {
		t.Setenv("AZURE_TOKEN_CREDENTIALS", sel)
		v.ResetCalls()
		azureRoundTrip(t, v, newAzure(v))
		require.Equal(t, 1, v.Calls("token"), sel)
	}
}

// Nothing set up: one line naming what was tried and why each gave
// nothing, and the hint; the metadata service probe gives up quickly.
func TestAzureCredChainFails(t *testing.T) {
	v := azureChain(t)
	start := time.Now()
	p := newAzure(v)
	err := azureTokenError(t, v, p)
	require.EqualError(t, err, "azure key vault wrapkey with key "+v.KeyURL("k1")+": could not get a token: no azure credential available: "+
		"environment: not set up (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET unset); "+
		"workload identity: not set up (AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID unset); "+
		"managed identity: not set up (no IDENTITY_ENDPOINT, and the instance metadata service did not answer); "+
		"azure cli: not set up (az is not on PATH)")
	require.Equal(t, []string{"ksec signs in like DefaultAzureCredential, trying in turn: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; " +
		"workload identity (AZURE_FEDERATED_TOKEN_FILE); a managed identity; az login. AZURE_TOKEN_CREDENTIALS (prod, dev or a credential's name) narrows the chain"}, hint.All(err))
	require.Less(t, time.Since(start), 10*time.Second)

	// The failure is kept for the run: a second Secret does not sign in again.
	start = time.Now()
	_, err2 := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{{Type: "azure", ID: v.KeyURL("k1"),
		Wrapped: append([]byte{1, 32}, append([]byte(strings.Repeat("a", 32)), make([]byte, 256)...)...)}}, azureScope)
	require.ErrorContains(t, err2, "could not get a token: no azure credential available")
	require.Less(t, time.Since(start), 2*time.Second)
}

// fakeAz puts a shell script named az on PATH. It stands in for the Azure
// CLI, which cannot be installed here: it checks the arguments ksec passes
// and that key material is not in its environment, then prints what
// `az account get-access-token --output json` prints.
func fakeAz(t *testing.T, body string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n" +
		`[ "$*" = "account get-access-token --output json --resource ` + azuretest.Resource + `" ] || { echo "ERROR: unexpected arguments: $*" >&2; exit 2; }` + "\n" +
		`[ -z "$KSEC_AGE_KEY" ] || { echo "ERROR: KSEC_AGE_KEY passed on" >&2; exit 3; }` + "\n" + body + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755))
	t.Setenv("PATH", dir)
}

func TestAzureCredCLI(t *testing.T) {
	head, err := exec.LookPath("head")
	require.NoError(t, err)
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	v := azureChain(t) // PATH: only the fake az from here on
	t.Setenv("KSEC_AGE_KEY", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ")
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "dev")

	// az 2.54 and later: expires_on in seconds.
	fakeAz(t, fmt.Sprintf(`echo '{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800, "subscription": "s", "tenant": "t", "tokenType": "Bearer"}'`, v.IssueToken()))
	azureRoundTrip(t, v, newAzure(v))
	// Older az: expiresOn only, local time.
	fakeAz(t, fmt.Sprintf(`echo '{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "tokenType": "Bearer"}'`, v.IssueToken()))
	azureRoundTrip(t, v, newAzure(v))

	// The whole chain reaches az when nothing else is set up.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "")
	azureRoundTrip(t, v, newAzure(v))
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "dev")

	for body, want := range map[string]string{
		`echo "ERROR: Please run 'az login' to setup account." >&2; exit 1`:     "no azure credential available: azure cli: not set up (not signed in: run az login)",
		`echo "ERROR: AADSTS70043: The refresh token has expired." >&2; exit 1`: "azure sign-in failed: azure cli: az account get-access-token failed: ERROR: AADSTS70043: The refresh token has expired.",
		`echo 'not json'`:                    "az printed no token",
		`echo '{"accessToken": "t-secret"}'`: "az printed a token without a readable expiry",
		head + ` -c 70000 /dev/zero`:         "az printed more than 64 KiB",
	} {
		fakeAz(t, body)
		// A limit no loaded machine meets by chance: each of these fails
		// in its own way, not by the clock.
		p := keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: 20 * time.Second, Loopback: true})
		err := azureTokenError(t, v, p)
		require.ErrorContains(t, err, want, body)
		require.NotContains(t, err.Error(), "t-secret")
	}

	// An az that hangs is stopped within the call's time limit.
	fakeAz(t, `exec `+sleep+` 10`)
	start := time.Now()
	p := keyring.NewAzure(keyring.AzureOptions{Transport: v.TLS.Client(), Timeout: time.Second, Loopback: true})
	_, err = azureRecipient(t, p, v.KeyURL("k1")).Wrap(context.Background(), dataKey(t), azureScope)
	require.ErrorContains(t, err, "timed out after 1s")
	require.Less(t, time.Since(start), 9*time.Second, "stopped by the time limit, not by az's own end")
}
