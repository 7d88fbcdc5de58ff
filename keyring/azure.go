package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// azureType is the provider type and the stanza type of Azure Key Vault
// recipients.
const azureType = "azure"

// azureDefaultTimeout bounds each Key Vault call when AzureOptions.Timeout is 0.
const azureDefaultTimeout = 15 * time.Second

// The wrapped plaintext. RSA-OAEP has no additional data, so the Secret's
// scope travels inside what Key Vault wraps:
//
//	"ksec-azure" || 0x01 || 0x20 || data key (32) || 0x20 || SHA-256(scope binding)
//
// where the scope binding is lp("ksec v1 azure scope") || lp(namespace) ||
// lp(name), lp(x) being x's length as 4 bytes big-endian then x. A digest,
// not the names themselves: a Secret's name may be 253 bytes, and a
// 2048-bit RSA key wraps at most 190.
const (
	azurePlainMagic   = "ksec-azure"
	azurePlainVersion = 1
	azureScopeDomain  = "ksec v1 azure scope"
	azurePlainSize    = len(azurePlainMagic) + 1 + 1 + crypto.DataKeySize + 1 + sha256.Size
)

// The stanza body: 0x01 || len(version) || key version || RSA-OAEP-256
// ciphertext (256, 384 or 512 bytes: an RSA key of 2048, 3072 or 4096
// bits). The key version Key Vault used is stored so that rotating the key
// in Azure does not lock out files wrapped before.
const azureStanzaVersion = 1

const (
	hintAzureSpec = "an Azure Key Vault key is written azure:https://VAULT.vault.azure.net/keys/KEY or " +
		"azure:https://VAULT.vault.azure.net/keys/KEY/VERSION (Managed HSM: https://HSM.managedhsm.azure.net/keys/KEY; " +
		"sovereign clouds: .vault.azure.cn, .vault.usgovcloudapi.net)"
	hintAzureCred = "ksec signs in like DefaultAzureCredential, trying in turn: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; " +
		"workload identity (AZURE_FEDERATED_TOKEN_FILE); a managed identity; az login. AZURE_TOKEN_CREDENTIALS (prod, dev or a credential's name) narrows the chain"
	hintAzureRSA = "the key must be an RSA key (RSA or RSA-HSM, 2048 bits or more) whose permitted operations include wrapKey and unwrapKey"
)

// AzureOptions configures the Azure Key Vault provider.
type AzureOptions struct {
	// Credential signs requests; nil means ksec's own chain (azurecred.go),
	// which finds credentials as DefaultAzureCredential does.
	Credential azcore.TokenCredential
	// Transport sends the HTTP requests of the vault client and of the
	// credential chain; nil means Go's default transport, without redirects.
	Transport policy.Transporter
	// Timeout bounds each call to Key Vault; 0 means 15 seconds.
	Timeout time.Duration
	// Loopback accepts key URLs on a loopback host (https://127.0.0.1:PORT/…),
	// a local test server. Off by default: a key URL comes from the file, and
	// the vault's bearer token would go to whatever listens on that port.
	Loopback bool
}

// NewAzure returns the Azure Key Vault provider. Recipients are RSA keys
// named by their URL; its ambient identity unwraps with the credentials
// the environment gives (see azurecred.go). No client is made, and no
// credential looked up, until a key is first used.
func NewAzure(opts AzureOptions) Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = azureDefaultTimeout
	}
	return &azureProvider{opts: opts, clients: map[string]*azkeys.Client{}}
}

type azureProvider struct {
	opts AzureOptions

	mu      sync.Mutex
	cred    azcore.TokenCredential
	clients map[string]*azkeys.Client // by vault URL
}

func (p *azureProvider) Type() string { return azureType }

// BindsScope says the wrapped plaintext carries the Secret's scope, so a
// renamed Secret needs its data key wrapped again.
func (p *azureProvider) BindsScope() bool { return true }

// ParseRecipient checks the shape of a key URL; it does not contact Key
// Vault, so a missing key or permission shows up at the first Wrap.
func (p *azureProvider) ParseRecipient(_ context.Context, spec string) (Recipient, error) {
	k, err := parseAzureKey(spec, p.opts.Loopback)
	if err != nil {
		return nil, err
	}
	return &azureRecipient{p: p, key: k}, nil
}

func (p *azureProvider) AmbientIdentity() Identity { return &azureIdentity{p: p} }

// azureKey is a parsed key URL.
type azureKey struct {
	vault    string // https://HOST or, for a loopback test server, https://HOST:PORT
	name     string
	version  string // "" when the URL names no version
	loopback bool
}

func (k azureKey) String() string {
	s := k.vault + "/keys/" + k.name
	if k.version != "" {
		s += "/" + k.version
	}
	return s
}

// azureHostSuffixes are the DNS suffixes of Key Vault and Managed HSM in
// Azure's public, China and US Government clouds.
var azureHostSuffixes = []string{
	".vault.azure.net", ".managedhsm.azure.net",
	".vault.azure.cn", ".managedhsm.azure.cn",
	".vault.usgovcloudapi.net", ".managedhsm.usgovcloudapi.net",
}

// parseAzureKey accepts https://VAULT.SUFFIX/keys/NAME[/VERSION] for the
// hosts above, and, when loopback is set, a loopback host with a port (a
// local test server). Only these hosts: a key URL comes from a file anyone
// with write access to the repository may edit, and ksec sends a bearer
// token to its host. The host is lower-cased; nothing else is rewritten.
func parseAzureKey(spec string, loopback bool) (azureKey, error) {
	bad := func(why string) (azureKey, error) {
		return azureKey{}, hint.Wrap(fmt.Errorf("%q is not an Azure Key Vault key URL: %s", spec, why), hintAzureSpec)
	}
	if !strings.HasPrefix(spec, "https://") {
		return bad("it does not start with https://")
	}
	if strings.ContainsAny(spec, "%?#@\\ \t") {
		return bad("it has a query, fragment, user, escape or space")
	}
	u, err := url.Parse(spec)
	if err != nil || u.Host == "" {
		return bad("it does not parse as a URL")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	k := azureKey{}
	switch {
	case isLoopbackEndpoint(host):
		if !loopback {
			return bad("a loopback host is a local test server, accepted only with KSEC_AZURE_LOOPBACK=1")
		}
		if port == "" {
			return bad("a loopback test server needs a port")
		}
		k.loopback = true
		k.vault = "https://" + net.JoinHostPort(host, port)
	case port != "" || strings.HasSuffix(u.Host, ":"):
		return bad("a Key Vault URL has no port")
	default:
		if !isAzureVaultHost(host) {
			return bad("the host is not a Key Vault or Managed HSM host (NAME.vault.azure.net, NAME.managedhsm.azure.net, or a sovereign cloud's)")
		}
		k.vault = "https://" + host
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) < 3 || len(parts) > 4 || parts[0] != "" || parts[1] != "keys" {
		return bad("the path is not /keys/NAME or /keys/NAME/VERSION")
	}
	k.name = parts[2]
	if !isAzureKeyName(k.name) {
		return bad("a key name is 1 to 127 letters, digits and hyphens")
	}
	if len(parts) == 4 {
		k.version = parts[3]
		if !isAzureKeyVersion(k.version) {
			return bad("a key version is 32 hexadecimal digits")
		}
	}
	return k, nil
}

func isAzureVaultHost(host string) bool {
	for _, suffix := range azureHostSuffixes {
		if name, ok := strings.CutSuffix(host, suffix); ok {
			// Vault and HSM names: 3 to 24 letters, digits and hyphens,
			// starting with a letter, no hyphen at the end or twice in a row.
			return len(name) >= 3 && len(name) <= 24 && isAlnumHyphen(name) &&
				name[0] >= 'a' && name[0] <= 'z' && name[len(name)-1] != '-' && !strings.Contains(name, "--")
		}
	}
	return false
}

func isAzureKeyName(s string) bool { return len(s) >= 1 && len(s) <= 127 && isAlnumHyphen(s) }

func isAzureKeyVersion(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func isAlnumHyphen(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// azureScopeDigest is what binds a wrapped data key to its Secret.
func azureScopeDigest(scope Scope) [sha256.Size]byte {
	var b []byte
	for _, s := range []string{azureScopeDomain, scope.Namespace, scope.Name} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return sha256.Sum256(b)
}

// azureScopeName names a Secret in a message: "Secret NS/NAME", or
// "Secret NAME" when the manifest gives no namespace.
func azureScopeName(scope Scope) string {
	if scope.Namespace == "" {
		return "Secret " + scope.Name
	}
	return "Secret " + scope.Namespace + "/" + scope.Name
}

func azurePlaintext(dataKey []byte, scope Scope) []byte {
	d := azureScopeDigest(scope)
	b := make([]byte, 0, azurePlainSize)
	b = append(b, azurePlainMagic...)
	b = append(b, azurePlainVersion, crypto.DataKeySize)
	b = append(b, dataKey...)
	b = append(b, sha256.Size)
	return append(b, d[:]...)
}

// openAzurePlaintext checks an unwrapped plaintext strictly and returns its
// data key. It is called only on what Key Vault unwrapped with the
// recipient's private key, so a mismatch means another Secret's key or a
// plaintext ksec did not write.
func openAzurePlaintext(plain []byte, key string, scope Scope) ([]byte, error) {
	rest, ok := bytes.CutPrefix(plain, []byte(azurePlainMagic))
	if !ok || len(plain) != azurePlainSize || rest[0] != azurePlainVersion ||
		rest[1] != crypto.DataKeySize || rest[2+crypto.DataKeySize] != sha256.Size {
		if ok && len(rest) > 0 && rest[0] != azurePlainVersion {
			return nil, fmt.Errorf("%w: azure key %s unwrapped a ksec plaintext of version %d, which this ksec does not know",
				crypto.ErrIntegrity, key, rest[0])
		}
		return nil, fmt.Errorf("%w: azure key %s unwrapped %d bytes that are not a data key wrapped by ksec", crypto.ErrIntegrity, key, len(plain))
	}
	dataKey := rest[2 : 2+crypto.DataKeySize]
	want := azureScopeDigest(scope)
	if subtle.ConstantTimeCompare(rest[3+crypto.DataKeySize:], want[:]) != 1 {
		return nil, fmt.Errorf("%w: the data key wrapped by azure key %s belongs to another Secret, not to %s (a wrapped key was copied from another file or Secret)",
			crypto.ErrIntegrity, key, azureScopeName(scope))
	}
	return bytes.Clone(dataKey), nil
}

func azureStanzaBody(version string, ciphertext []byte) []byte {
	b := []byte{azureStanzaVersion, byte(len(version))}
	b = append(b, version...)
	return append(b, ciphertext...)
}

// parseAzureStanzaBody reads a stanza body strictly: known version, a
// well-formed key version, a ciphertext of an RSA modulus' size.
func parseAzureStanzaBody(b []byte) (version string, ciphertext []byte, err error) {
	if len(b) < 2 || b[0] != azureStanzaVersion {
		if len(b) > 0 && b[0] != azureStanzaVersion {
			return "", nil, fmt.Errorf("the wrapped key has format version %d, which this ksec does not know", b[0])
		}
		return "", nil, errors.New("the wrapped key is truncated")
	}
	n := int(b[1])
	if len(b) < 2+n {
		return "", nil, errors.New("the wrapped key is truncated")
	}
	version, ciphertext = string(b[2:2+n]), b[2+n:]
	if !isAzureKeyVersion(version) {
		return "", nil, errors.New("the wrapped key names no valid key version")
	}
	if !isRSACiphertextSize(len(ciphertext)) {
		return "", nil, fmt.Errorf("the wrapped key's ciphertext is %d bytes, not that of a 2048-, 3072- or 4096-bit RSA key", len(ciphertext))
	}
	return version, ciphertext, nil
}

func isRSACiphertextSize(n int) bool { return n == 256 || n == 384 || n == 512 }

// credential returns ksec's credential chain (or the one given), made once.
func (p *azureProvider) credential() (azcore.TokenCredential, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cred != nil {
		return p.cred, nil
	}
	if p.opts.Credential != nil {
		p.cred = p.opts.Credential
		return p.cred, nil
	}
	p.cred = newAzureCredential(cappedHTTPClient{next: p.transport()}, p.opts.Timeout)
	return p.cred, nil
}

// clientOptions: replies bounded, no telemetry, a few quick retries within
// the provider's timeout instead of the SDK's minutes.
func (p *azureProvider) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: cappedHTTPClient{next: p.transport()},
		Retry: policy.RetryOptions{
			MaxRetries:    2,
			RetryDelay:    200 * time.Millisecond,
			MaxRetryDelay: time.Second,
			TryTimeout:    p.opts.Timeout,
		},
		Telemetry: policy.TelemetryOptions{Disabled: true},
	}
}

// transport is the given transport, or Go's default without redirects: a
// token request redirected elsewhere would carry its secret there.
func (p *azureProvider) transport() httpDoer {
	if p.opts.Transport != nil {
		return p.opts.Transport
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// client returns the vault's client, made on first use.
func (p *azureProvider) client(k azureKey) (*azkeys.Client, error) {
	cred, err := p.credential()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[k.vault]; c != nil {
		return c, nil
	}
	c, err := azkeys.NewClient(k.vault, cred, &azkeys.ClientOptions{
		ClientOptions: p.clientOptions(),
		// Key Vault's challenge names the token's audience; the client checks
		// it belongs to the vault's domain, so a token never goes to another
		// host. A loopback test server cannot be in Azure's domain.
		DisableChallengeResourceVerification: k.loopback,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Key Vault client for %s: %w", k.vault, err)
	}
	p.clients[k.vault] = c
	return c, nil
}

type azureRecipient struct {
	p   *azureProvider
	key azureKey
}

func (r *azureRecipient) Type() string { return azureType }
func (r *azureRecipient) ID() string   { return r.key.String() }

// Wrap has Key Vault wrap the data key and the Secret's scope with
// RSA-OAEP-256, under the version named in the URL or else the newest, and
// records that version in the stanza.
func (r *azureRecipient) Wrap(ctx context.Context, dataKey []byte, scope Scope) (Stanza, error) {
	if len(dataKey) != crypto.DataKeySize {
		return Stanza{}, fmt.Errorf("azure: data key is %d bytes, want %d", len(dataKey), crypto.DataKeySize)
	}
	k := r.key
	c, err := r.p.client(k)
	if err != nil {
		return Stanza{}, fmt.Errorf("wrapping the data key with azure key %s: %w", k, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.p.opts.Timeout)
	defer cancel()
	var resp azkeys.WrapKeyResponse
	err = guardSDK(func() (err error) {
		resp, err = c.WrapKey(ctx, k.name, k.version, azkeys.KeyOperationParameters{
			Algorithm: new(azkeys.EncryptionAlgorithmRSAOAEP256),
			Value:     azurePlaintext(dataKey, scope),
		}, nil)
		return err
	})
	if err != nil {
		return Stanza{}, r.p.callError(ctx, "wrapkey", k, err)
	}
	version, err := checkAzureKID(resp.KID, k)
	if err != nil {
		return Stanza{}, err
	}
	if !isRSACiphertextSize(len(resp.Result)) {
		return Stanza{}, hint.Wrap(fmt.Errorf("azure key %s: key vault wrapped the data key into %d bytes, not the size of an RSA key's ciphertext",
			k, len(resp.Result)), hintAzureRSA)
	}
	return Stanza{Type: azureType, ID: k.String(), Wrapped: azureStanzaBody(version, resp.Result)}, nil
}

// checkAzureKID checks that a reply is about the key asked for and returns
// the key version it names.
func checkAzureKID(kid *azkeys.ID, k azureKey) (string, error) {
	if kid == nil {
		return "", fmt.Errorf("azure key %s: the key vault reply names no key", k)
	}
	got, err := parseAzureKey(string(*kid), k.loopback)
	if err != nil || got.vault != k.vault || !strings.EqualFold(got.name, k.name) || got.version == "" ||
		(k.version != "" && !strings.EqualFold(got.version, k.version)) {
		return "", fmt.Errorf("azure key %s: the key vault reply is about another key (%s)", k, oneLine(string(*kid), 200))
	}
	return got.version, nil
}

// azureIdentity unwraps with the ambient credentials: a Secret's azure
// stanzas name the keys to try.
type azureIdentity struct {
	p *azureProvider
}

func (id *azureIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	return unwrapEach(ctx, stanzas, azureType, func(s Stanza) ([]byte, error) { return id.unwrap(ctx, s, scope) })
}

func (id *azureIdentity) unwrap(ctx context.Context, s Stanza, scope Scope) ([]byte, error) {
	k, err := parseAzureKey(s.ID, id.p.opts.Loopback)
	if err != nil {
		return nil, fmt.Errorf("azure stanza: %w", err)
	}
	if k.String() != s.ID {
		return nil, fmt.Errorf("azure stanza: %q is not written as ksec writes key URLs (%s)", s.ID, k)
	}
	version, ciphertext, err := parseAzureStanzaBody(s.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: azure key %s: %v", crypto.ErrIntegrity, s.ID, err)
	}
	if k.version != "" && version != k.version {
		return nil, fmt.Errorf("%w: azure key %s: the wrapped key names key version %s", crypto.ErrIntegrity, s.ID, version)
	}
	at := k
	at.version = version
	c, err := id.p.client(at)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key with azure key %s: %w", at, err)
	}
	ctx, cancel := context.WithTimeout(ctx, id.p.opts.Timeout)
	defer cancel()
	var resp azkeys.UnwrapKeyResponse
	err = guardSDK(func() (err error) {
		resp, err = c.UnwrapKey(ctx, at.name, at.version, azkeys.KeyOperationParameters{
			Algorithm: new(azkeys.EncryptionAlgorithmRSAOAEP256),
			Value:     ciphertext,
		}, nil)
		return err
	})
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
			return nil, fmt.Errorf("%w: azure key %s could not unwrap the data key of %s: it was not wrapped with this key version, or it was altered (%s)",
				crypto.ErrIntegrity, at, azureScopeName(scope), azureErrorDetail(re))
		}
		return nil, id.p.callError(ctx, "unwrapkey", at, err)
	}
	if _, err := checkAzureKID(resp.KID, at); err != nil {
		return nil, err
	}
	return openAzurePlaintext(resp.Result, at.String(), scope)
}

// errSDKPanic says the SDK panicked on what the vault sent.
var errSDKPanic = errors.New("the Key Vault client failed on the vault's reply")

// guardSDK turns a panic of the SDK into an error. Its challenge parser
// indexes the authorization URL's path unchecked (azkeys v1.5.0), so a
// malformed WWW-Authenticate header would otherwise crash ksec. The call
// runs on this goroutine, so the panic can be caught here.
func guardSDK(call func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errSDKPanic
		}
	}()
	return call()
}

// callError names the key and the operation, says what went wrong in one
// line and adds advice. ctx is the call's own context.
func (p *azureProvider) callError(ctx context.Context, op string, k azureKey, err error) error {
	perm := "keys/wrapKey"
	if op == "unwrapkey" {
		perm = "keys/unwrapKey"
	}
	prefix := fmt.Sprintf("azure key vault %s with key %s", op, k)
	wrap := func(msg string, hints ...string) error {
		return hint.Wrap(&azureCallError{msg: prefix + ": " + msg, err: err}, hints...)
	}
	var re *azcore.ResponseError
	var certErr *x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	var credErr *azureCredError
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != context.DeadlineExceeded:
		return &azureCallError{msg: prefix + ": canceled", err: err}
	case errors.As(err, &re):
		detail := azureErrorDetail(re)
		switch re.StatusCode {
		case http.StatusUnauthorized:
			return wrap("not authenticated: "+detail, "the vault refused the token; "+hintAzureCred)
		case http.StatusForbidden:
			return wrap("permission denied: "+detail,
				fmt.Sprintf("the caller needs %s on %s: the role Key Vault Crypto User (Azure RBAC) or an access policy granting it; a vault firewall that does not let this network in answers the same way", perm, k.name))
		case http.StatusNotFound:
			return wrap("key not found: "+detail,
				"check the vault, key name and version: az keyvault key list --vault-name VAULT, az keyvault key list-versions --vault-name VAULT --name "+k.name)
		case http.StatusBadRequest:
			return wrap("refused: "+detail, hintAzureRSA)
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return wrap(fmt.Sprintf("service unavailable (HTTP %d): %s", re.StatusCode, detail), "Key Vault is busy or down: try again later")
		}
		return wrap(fmt.Sprintf("HTTP %d: %s", re.StatusCode, detail))
	case errors.As(err, &credErr):
		return wrap("could not get a token: "+credErr.Error(), hintAzureCred)
	case errors.Is(err, errSDKPanic):
		return wrap(err.Error(), "something between ksec and Key Vault (a proxy, a captive portal) answered instead of Key Vault")
	case errors.Is(err, errReplyTooLarge):
		return wrap("the reply is larger than the "+fmt.Sprint(maxReply>>10)+" KiB any answer about a data key needs",
			"something between ksec and Key Vault (a proxy, a captive portal) answered instead of Key Vault")
	case errors.As(err, &certErr), errors.As(err, &hostErr), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return wrap("TLS handshake failed: "+oneLine(err.Error(), 300),
			"ksec checks Key Vault's certificate against the system's trusted roots (SSL_CERT_FILE, SSL_CERT_DIR): check any TLS-inspecting proxy")
	case ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		return wrap("timed out after "+p.opts.Timeout.String(), "Key Vault did not answer in time: check the network, proxy settings (HTTPS_PROXY) and the vault's firewall")
	case errors.As(err, &netErr):
		return wrap("unreachable: "+oneLine(err.Error(), 300),
			"could not connect to "+k.vault+": check the vault name, the network and proxy settings (HTTPS_PROXY)")
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || strings.Contains(err.Error(), "unmarshalling") || strings.Contains(err.Error(), "invalid character") {
		return wrap("the reply is not Key Vault's JSON", "something between ksec and Key Vault (a proxy, a captive portal) answered instead of Key Vault")
	}
	return wrap(oneLine(err.Error(), 300))
}

// azureErrorDetail is Key Vault's error code and message, from its error
// JSON, cleaned for a one-line message.
func azureErrorDetail(re *azcore.ResponseError) string {
	detail := fmt.Sprintf("HTTP %d", re.StatusCode)
	if re.ErrorCode != "" {
		detail = re.ErrorCode
	}
	if re.RawResponse == nil {
		return detail
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return detail
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		detail += ": " + oneLine(e.Error.Message, 200)
	}
	return detail
}

// oneLine turns text from elsewhere (a server, an SDK) into at most max
// printable characters on one line.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		if c == ' ' && space {
			continue
		}
		space = c == ' '
		b.WriteRune(c)
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
	}
	return strings.TrimSpace(b.String())
}

// azureCallError says briefly what failed and keeps the SDK's error for
// errors.As (its own text spans many lines).
type azureCallError struct {
	msg string
	err error
}

func (e *azureCallError) Error() string { return e.msg }
func (e *azureCallError) Unwrap() error { return e.err }

// isAzureKeyURL reports whether a bare key spec is a Key Vault key URL on
// one of Azure's hosts (a loopback URL needs the azure: prefix).
func isAzureKeyURL(spec string) bool {
	_, err := parseAzureKey(spec, false)
	return err == nil
}
