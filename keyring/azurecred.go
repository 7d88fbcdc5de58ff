package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/ksec-dev/ksec/internal/childenv"
)

// ksec's own Azure credential chain. azidentity's DefaultAzureCredential,
// and the Microsoft Authentication Library behind it, cost every ksec run
// about 1.5–1.8 MiB of memory and 23 package inits, Azure user or not
// (docs/PERFORMANCE.md, "Why a credential chain of ksec's own"). This chain
// covers what DefaultAzureCredential's users have, in its order and with
// its environment variables, so their setups work unchanged:
//
//  1. environment: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET;
//  2. workload identity: AZURE_FEDERATED_TOKEN_FILE (AKS);
//  3. managed identity: IDENTITY_ENDPOINT and IDENTITY_HEADER (App
//     Service, Functions, Container Apps), else the instance metadata
//     service (VMs, scale sets), AZURE_CLIENT_ID naming a user-assigned one;
//  4. Azure CLI: az account get-access-token.
//
// AZURE_TOKEN_CREDENTIALS narrows it as it narrows azidentity's: "prod"
// (1–3), "dev" (4) or one credential's name.

const (
	azureDefaultAuthority = "https://login.microsoftonline.com/"
	azureIMDSHost         = "http://169.254.169.254"
	// azureIMDSProbe bounds the first contact with the metadata service:
	// off Azure, 169.254.169.254 does not answer, and a laptop should not
	// wait the full timeout to learn it.
	azureIMDSProbe = time.Second
	// azureMaxAssertion bounds the federated token file (a JWT, ~1–2 KiB).
	azureMaxAssertion = 16 << 10
	// azureTokenMargin: a cached token this close to its expiry is renewed.
	azureTokenMargin = 2 * time.Minute
)

// The credentials' names, as azidentity spells them in AZURE_TOKEN_CREDENTIALS.
const (
	azureCredEnv      = "EnvironmentCredential"
	azureCredWorkload = "WorkloadIdentityCredential"
	azureCredManaged  = "ManagedIdentityCredential"
	azureCredCLI      = "AzureCLICredential"
)

// azureCredential is the chain. It signs in once per run and scope: the
// token, or the failure, is kept for the process's life (a run is short;
// a token lives an hour or more and is renewed when nearly expired).
type azureCredential struct {
	do      httpDoer
	timeout time.Duration

	mu    sync.Mutex
	cache map[string]azureCachedToken
}

type azureCachedToken struct {
	tok azcore.AccessToken
	err error
}

func newAzureCredential(do httpDoer, timeout time.Duration) *azureCredential {
	return &azureCredential{do: do, timeout: timeout, cache: map[string]azureCachedToken{}}
}

// errAzureUnavailable marks a credential that is not set up here (its
// variables are unset, no endpoint answers, no az): the chain tries the next.
var errAzureUnavailable = errors.New("not set up")

// azureCredError is a chain that gave no token. Its text names each
// credential tried and why it gave none; it never holds a token or secret.
type azureCredError struct{ msg string }

func (e *azureCredError) Error() string { return e.msg }

type azureSource struct {
	name string // as in messages
	get  func(ctx context.Context, scope string, pinned bool) (azcore.AccessToken, error)
}

// GetToken implements azcore.TokenCredential.
func (c *azureCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 || opts.Scopes[0] == "" {
		return azcore.AccessToken{}, &azureCredError{msg: fmt.Sprintf("azure credential: want one scope, got %d", len(opts.Scopes))}
	}
	scope := opts.Scopes[0]
	c.mu.Lock()
	defer c.mu.Unlock() // held while signing in: one sign-in per run, not one per worker
	if t, ok := c.cache[scope]; ok && (t.err != nil || time.Until(t.tok.ExpiresOn) > azureTokenMargin) {
		return t.tok, t.err
	}
	tok, err := c.signIn(ctx, scope)
	if err != nil && ctx.Err() != nil {
		return tok, err // the caller gave up: a later call may try again
	}
	c.cache[scope] = azureCachedToken{tok: tok, err: err}
	return tok, err
}

func (c *azureCredential) signIn(ctx context.Context, scope string) (azcore.AccessToken, error) {
	sources, pinned, err := c.sources(os.Getenv("AZURE_TOKEN_CREDENTIALS"))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	var tried []string
	for _, s := range sources {
		tok, err := s.get(ctx, scope, pinned)
		if err == nil {
			return tok, nil
		}
		tried = append(tried, s.name+": "+oneLine(err.Error(), 200))
		if !errors.Is(err, errAzureUnavailable) {
			// Set up but refused: the next credential would sign in as
			// someone else, which is not what the user configured.
			return azcore.AccessToken{}, &azureCredError{msg: "azure sign-in failed: " + strings.Join(tried, "; ")}
		}
	}
	return azcore.AccessToken{}, &azureCredError{msg: "no azure credential available: " + strings.Join(tried, "; ")}
}

// sources picks the credentials AZURE_TOKEN_CREDENTIALS names, in the
// chain's order; pinned says the user named one, so it gets no probe.
func (c *azureCredential) sources(sel string) ([]azureSource, bool, error) {
	env := azureSource{"environment", c.fromEnvironment}
	workload := azureSource{"workload identity", c.fromWorkloadIdentity}
	managed := azureSource{"managed identity", c.fromManagedIdentity}
	cli := azureSource{"azure cli", c.fromCLI}
	switch strings.ToLower(strings.TrimSpace(sel)) {
	case "":
		return []azureSource{env, workload, managed, cli}, false, nil
	case "prod":
		return []azureSource{env, workload, managed}, false, nil
	case "dev":
		return []azureSource{cli}, false, nil
	case strings.ToLower(azureCredEnv):
		return []azureSource{env}, true, nil
	case strings.ToLower(azureCredWorkload):
		return []azureSource{workload}, true, nil
	case strings.ToLower(azureCredManaged):
		return []azureSource{managed}, true, nil
	case strings.ToLower(azureCredCLI):
		return []azureSource{cli}, true, nil
	}
	return nil, false, &azureCredError{msg: fmt.Sprintf("AZURE_TOKEN_CREDENTIALS=%q is not one ksec supports: use prod, dev, %s, %s, %s or %s",
		oneLine(sel, 60), azureCredEnv, azureCredWorkload, azureCredManaged, azureCredCLI)}
}

// unset names the variables of a credential that are missing.
func azureUnset(names ...string) error {
	var missing []string
	for _, n := range names {
		if os.Getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s unset)", errAzureUnavailable, strings.Join(missing, ", "))
}

func (c *azureCredential) fromEnvironment(ctx context.Context, scope string, _ bool) (azcore.AccessToken, error) {
	if err := azureUnset("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"); err != nil {
		if os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "" {
			return azcore.AccessToken{}, errors.New("AZURE_CLIENT_CERTIFICATE_PATH is set, but ksec signs in with a client secret, workload identity, a managed identity or az, not a certificate")
		}
		return azcore.AccessToken{}, err
	}
	return c.clientCredentials(ctx, scope, url.Values{"client_secret": {os.Getenv("AZURE_CLIENT_SECRET")}})
}

func (c *azureCredential) fromWorkloadIdentity(ctx context.Context, scope string, _ bool) (azcore.AccessToken, error) {
	if err := azureUnset("AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"); err != nil {
		return azcore.AccessToken{}, err
	}
	// Read at each sign-in: the kubelet replaces the file before the token
	// in it expires.
	assertion, err := readBounded(os.Getenv("AZURE_FEDERATED_TOKEN_FILE"), azureMaxAssertion)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("reading AZURE_FEDERATED_TOKEN_FILE: %w", err)
	}
	a := strings.TrimSpace(string(assertion))
	if a == "" {
		return azcore.AccessToken{}, errors.New("AZURE_FEDERATED_TOKEN_FILE is empty")
	}
	return c.clientCredentials(ctx, scope, url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {a},
	})
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err // the variable's name says which file
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d KiB", max>>10)
	}
	return b, nil
}

// clientCredentials asks Microsoft Entra ID for a token as the application
// AZURE_CLIENT_ID of AZURE_TENANT_ID, proving it with extra (a secret or
// a federated token).
func (c *azureCredential) clientCredentials(ctx context.Context, scope string, extra url.Values) (azcore.AccessToken, error) {
	tenant := os.Getenv("AZURE_TENANT_ID")
	if !isAzureTenant(tenant) {
		return azcore.AccessToken{}, errors.New("AZURE_TENANT_ID is not a tenant ID or domain name")
	}
	authority := os.Getenv("AZURE_AUTHORITY_HOST")
	if authority == "" {
		authority = azureDefaultAuthority
	}
	base, err := azureEndpoint("AZURE_AUTHORITY_HOST", authority)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {os.Getenv("AZURE_CLIENT_ID")},
		"scope":      {scope},
	}
	for k, v := range extra {
		form[k] = v
	}
	u := strings.TrimSuffix(base.String(), "/") + "/" + tenant + "/oauth2/v2.0/token"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var reply struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := c.call(req, "microsoft entra id", &reply); err != nil {
		return azcore.AccessToken{}, err
	}
	secs, err := jsonSeconds(reply.ExpiresIn)
	if err != nil || reply.AccessToken == "" {
		return azcore.AccessToken{}, errors.New("microsoft entra id's reply has no token or lifetime")
	}
	return azcore.AccessToken{Token: reply.AccessToken, ExpiresOn: time.Now().Add(time.Duration(secs) * time.Second)}, nil
}

// isAzureTenant accepts a tenant GUID or domain: it becomes a path segment.
func isAzureTenant(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return s != "." && s != ".."
}

// azureEndpoint checks an endpoint from the environment: https, or plain
// http on a loopback host (App Service's identity endpoint, test servers).
func azureEndpoint(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s is not an endpoint URL", name)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackEndpoint(u.Host)) {
		return nil, fmt.Errorf("%s must be an https URL (plain http only on a loopback host)", name)
	}
	return u, nil
}

func (c *azureCredential) fromManagedIdentity(ctx context.Context, scope string, pinned bool) (azcore.AccessToken, error) {
	resource := strings.TrimSuffix(scope, "/.default")
	q := url.Values{"resource": {resource}}
	if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
		q.Set("client_id", id) // a user-assigned identity
	}
	if ep := os.Getenv("IDENTITY_ENDPOINT"); ep != "" {
		// App Service, Functions, Container Apps.
		if os.Getenv("IDENTITY_HEADER") == "" {
			return azcore.AccessToken{}, fmt.Errorf("%w (IDENTITY_ENDPOINT is set, IDENTITY_HEADER is not)", errAzureUnavailable)
		}
		u, err := azureEndpoint("IDENTITY_ENDPOINT", ep)
		if err != nil {
			return azcore.AccessToken{}, err
		}
		q.Set("api-version", "2019-08-01")
		u.RawQuery = q.Encode()
		return c.managedToken(ctx, u.String(), http.Header{"X-Identity-Header": {os.Getenv("IDENTITY_HEADER")}})
	}
	// The instance metadata service. AZURE_POD_IDENTITY_AUTHORITY_HOST
	// (as azidentity reads it) moves it, for AAD pod identity and for tests.
	host := azureIMDSHost
	if h := os.Getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST"); h != "" {
		hu, err := azureEndpoint("AZURE_POD_IDENTITY_AUTHORITY_HOST", h)
		if err != nil {
			return azcore.AccessToken{}, err
		}
		host = strings.TrimSuffix(hu.String(), "/")
	}
	q.Set("api-version", "2018-02-01")
	u := host + "/metadata/identity/oauth2/token?" + q.Encode()
	if !pinned {
		// Off Azure nothing answers at 169.254.169.254: learn it in a second.
		pctx, cancel := context.WithTimeout(ctx, azureIMDSProbe)
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, host+"/metadata/identity/oauth2/token", nil)
		if err != nil {
			cancel()
			return azcore.AccessToken{}, err
		}
		resp, err := c.do.Do(req) // any answer, even an error, means it is there
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return azcore.AccessToken{}, ctx.Err()
			}
			return azcore.AccessToken{}, fmt.Errorf("%w (no IDENTITY_ENDPOINT, and the instance metadata service did not answer)", errAzureUnavailable)
		}
	}
	tok, err := c.managedToken(ctx, u, http.Header{"Metadata": {"true"}})
	var he *azureHTTPError
	if err != nil && !pinned && errors.As(err, &he) && (he.status == http.StatusBadRequest || he.status == http.StatusForbidden) {
		// A VM without a managed identity (400), or a network that only
		// pretends to be the metadata service (Docker Desktop's 403): as in
		// azidentity's chain, not a failure; the Azure CLI comes next.
		return azcore.AccessToken{}, fmt.Errorf("%w (the instance metadata service has no identity for this machine: %s)", errAzureUnavailable, he.detail)
	}
	return tok, err
}

// azureHTTPError is a token endpoint's refusal.
type azureHTTPError struct {
	who    string
	status int
	detail string // HTTP status, OAuth error code and description's first line
}

func (e *azureHTTPError) Error() string { return e.who + " refused: " + e.detail }

func (c *azureCredential) managedToken(ctx context.Context, u string, h http.Header) (azcore.AccessToken, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	var reply struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := c.call(req, "the managed identity endpoint", &reply); err != nil {
		return azcore.AccessToken{}, err
	}
	secs, err := jsonSeconds(reply.ExpiresOn)
	if err != nil || reply.AccessToken == "" {
		return azcore.AccessToken{}, errors.New("the managed identity endpoint's reply has no token or expiry")
	}
	return azcore.AccessToken{Token: reply.AccessToken, ExpiresOn: time.Unix(secs, 0)}, nil
}

// jsonSeconds reads a number of seconds that Azure's endpoints send as a
// JSON number or a string.
func jsonSeconds(raw json.RawMessage) (int64, error) {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("not a number of seconds")
	}
	return n, nil
}

// call sends a token request and decodes a 200 reply into out. An error
// names the endpoint, the HTTP status and the OAuth error code and
// description, never the request's form or headers (they hold the secret).
func (c *azureCredential) call(req *http.Request, who string, out any) error {
	resp, err := c.do.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not answer in %s", who, c.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already, or holds a query
		}
		return fmt.Errorf("%s is unreachable: %s", who, oneLine(err.Error(), 150))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // bounded: c.do is a cappedHTTPClient
	if err != nil {
		return fmt.Errorf("reading the reply of %s: %w", who, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       json.RawMessage `json:"error"`
			Description string          `json:"error_description"`
		}
		detail := ""
		if json.Unmarshal(body, &e) == nil {
			var code string
			if json.Unmarshal(e.Error, &code) == nil && code != "" {
				detail = ": " + oneLine(code, 60)
			}
			if e.Description != "" {
				// Entra ID's descriptions run on with trace IDs after the first line.
				first, _, _ := strings.Cut(e.Description, "\n")
				detail += " (" + oneLine(first, 160) + ")"
			}
		}
		return &azureHTTPError{who: who, status: resp.StatusCode, detail: fmt.Sprintf("HTTP %d%s", resp.StatusCode, detail)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the reply of %s is not its JSON", who)
	}
	return nil
}

// fromCLI asks the Azure CLI for a token of the account the user signed in
// with (az login). The child gets ksec's environment without key material,
// a time limit, and bounded output.
func (c *azureCredential) fromCLI(ctx context.Context, scope string, _ bool) (azcore.AccessToken, error) {
	az, err := exec.LookPath("az")
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%w (az is not on PATH)", errAzureUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, az, "account", "get-access-token", "--output", "json",
		"--resource", strings.TrimSuffix(scope, "/.default"))
	cmd.Env = childenv.Environ()
	cmd.Stdin = nil
	stdout := &limitedBuffer{max: maxReply}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return azcore.AccessToken{}, fmt.Errorf("az did not answer in %s", c.timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.buf.String())
		first, _, _ := strings.Cut(msg, "\n")
		if strings.Contains(msg, "az login") {
			return azcore.AccessToken{}, fmt.Errorf("%w (not signed in: run az login)", errAzureUnavailable)
		}
		if first == "" {
			first = err.Error()
		}
		return azcore.AccessToken{}, fmt.Errorf("az account get-access-token failed: %s", oneLine(first, 200))
	}
	if stdout.over {
		return azcore.AccessToken{}, fmt.Errorf("az printed more than %d KiB", maxReply>>10)
	}
	var reply struct {
		AccessToken string          `json:"accessToken"`
		ExpiresOn   string          `json:"expiresOn"`
		ExpiresUnix json.RawMessage `json:"expires_on"`
	}
	if json.Unmarshal(stdout.buf.Bytes(), &reply) != nil || reply.AccessToken == "" {
		return azcore.AccessToken{}, errors.New("az printed no token (not the JSON of az account get-access-token)")
	}
	// expires_on (seconds since the epoch, az 2.54 and later) is exact;
	// expiresOn is local time without a zone.
	if secs, err := jsonSeconds(reply.ExpiresUnix); err == nil {
		return azcore.AccessToken{Token: reply.AccessToken, ExpiresOn: time.Unix(secs, 0)}, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", reply.ExpiresOn, time.Local)
	if err != nil {
		return azcore.AccessToken{}, errors.New("az printed a token without a readable expiry")
	}
	return azcore.AccessToken{Token: reply.AccessToken, ExpiresOn: t}, nil
}

// limitedBuffer keeps the first max bytes written to it and notes more.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}
