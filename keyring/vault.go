package keyring

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// vaultType is the provider type and the stanza type of HashiCorp Vault and
// OpenBao transit recipients.
const vaultType = "vault"

// vaultAADDomain starts the associated data of every transit wrap, so a
// ciphertext ksec made cannot pass for another tool's, nor another's for ksec's.
const vaultAADDomain = "ksec v1 vault"

// vaultDefaultTimeout bounds one transit call, connecting included.
const vaultDefaultTimeout = 10 * time.Second

// vaultWrappedSize is the decoded size of a transit ciphertext of a data
// key: a 12-byte nonce, the 32-byte key, a 16-byte tag (AES-GCM and
// ChaCha20-Poly1305 alike, the only AEAD key types transit has).
const vaultWrappedSize = 12 + crypto.DataKeySize + 16

// vaultMaxTokenFile bounds the token file read; a token is under 100 bytes.
const vaultMaxTokenFile = 4 << 10

const (
	hintVaultSpec = "a Vault or OpenBao transit key is written vault:https://HOST:8200/v1/MOUNT/keys/NAME (the URL SOPS uses); " +
		"a namespace goes before the mount: vault:https://HOST:8200/v1/NAMESPACE/MOUNT/keys/NAME"
	hintVaultKeyType = "ksec binds the wrapped key to its Secret through associated_data, which needs a transit key of type " +
		"aes256-gcm96, aes128-gcm96 or chacha20-poly1305, created without derived=true"
	hintVaultIntegrity = "the wrapped data key is bound to the Secret's namespace and name: the Secret was renamed or moved to another namespace, " +
		"or its ksec block was altered or copied from another Secret; restore it, or encrypt the plaintext again"
	hintVaultToken = "ksec takes the token from VAULT_TOKEN, then BAO_TOKEN, then ~/.vault-token (written by vault login and bao login)"
)

// VaultOptions configures the Vault / OpenBao transit provider.
type VaultOptions struct {
	// Getenv reads the environment (VAULT_TOKEN, VAULT_CACERT, …);
	// nil means os.Getenv.
	Getenv func(string) string
	// Timeout bounds each transit call; 0 means 10 seconds.
	Timeout time.Duration
}

// NewVault returns the HashiCorp Vault / OpenBao transit provider.
// Recipients are transit keys named by URL; wrapping and unwrapping are
// transit encrypt and decrypt calls with the Secret's scope as
// associated_data. Its ambient identity is the Vault token of the
// environment. Nothing is read or contacted until a key is used.
func NewVault(opts VaultOptions) Provider {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Timeout <= 0 {
		opts.Timeout = vaultDefaultTimeout
	}
	return &vaultProvider{opts: opts}
}

type vaultProvider struct {
	opts VaultOptions

	once   sync.Once
	client *http.Client
	token  vaultToken
	setup  error // reading the token or the TLS settings failed
}

// vaultToken is the token and where it came from (for hints; never the token).
type vaultToken struct {
	value  string
	source string // "VAULT_TOKEN", "BAO_TOKEN", "~/.vault-token" or ""
}

func (p *vaultProvider) Type() string { return vaultType }

// BindsScope says wrapped keys carry the Secret's scope in their
// associated data, so a renamed Secret needs them wrapped again.
func (p *vaultProvider) BindsScope() bool { return true }

func (p *vaultProvider) AmbientIdentity() Identity { return &vaultIdentity{p: p} }

// ParseRecipient checks the URL's shape only; it contacts nothing.
func (p *vaultProvider) ParseRecipient(_ context.Context, spec string) (Recipient, error) {
	k, err := parseVaultKey(spec)
	if err != nil {
		return nil, err
	}
	return &vaultRecipient{p: p, key: k}, nil
}

// vaultKey is a transit key URL: BASE/v1/PREFIX/keys/NAME, where PREFIX is
// the mount path, after the namespace path if any (Vault and OpenBao route
// /v1/NS/MOUNT/… like X-Vault-Namespace: NS on /v1/MOUNT/…).
type vaultKey struct {
	base   string // scheme://host[:port], host in lower case
	prefix string // namespace and mount path, without slashes around it
	name   string
}

// ID is the canonical URL, the stanza ID: parsing it gives the same key.
func (k vaultKey) ID() string { return k.base + "/v1/" + k.prefix + "/keys/" + k.name }

func (k vaultKey) endpoint(op string) string {
	return k.base + "/v1/" + k.prefix + "/" + op + "/" + k.name
}

func (k vaultKey) host() string {
	_, h, _ := strings.Cut(k.base, "://")
	return h
}

// IsVaultURI reports whether a bare key spec is a transit key URL, the
// form SOPS users have in .sops.yaml (https://HOST/v1/…/keys/NAME).
func IsVaultURI(spec string) bool {
	if !strings.HasPrefix(spec, "https://") && !strings.HasPrefix(spec, "http://") {
		return false
	}
	u, err := url.Parse(spec)
	return err == nil && strings.HasPrefix(u.Path, "/v1/") && strings.Contains(u.Path, "/keys/")
}

func parseVaultKey(spec string) (vaultKey, error) {
	bad := func(format string, a ...any) (vaultKey, error) {
		return vaultKey{}, hint.Wrap(fmt.Errorf("not a transit key URL: "+format, a...), hintVaultSpec)
	}
	u, err := url.Parse(spec)
	if err != nil {
		return bad("it does not parse as a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("it must start with https://")
	case u.User != nil:
		// Not repeated: what is there may be a password.
		return vaultKey{}, hint.Wrap(errors.New("a transit key URL must not hold a user name or password"), hintVaultToken)
	case u.Host == "" || u.Opaque != "":
		return bad("it names no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(spec, "#"):
		return bad("it has a query or a fragment")
	case u.RawPath != "" || strings.Contains(u.Path, "%"):
		return bad("its path has escaped characters")
	}
	host := vaultHost(u)
	if u.Scheme == "http" && !isLoopbackEndpoint(host) {
		return vaultKey{}, hint.Wrap(fmt.Errorf("transit key URL %s: plain http would send the token and the data key in the clear", spec),
			"use https://; plain http is accepted only for a Vault on this machine (127.0.0.1, ::1, localhost), such as a dev server")
	}
	rest, ok := strings.CutPrefix(u.Path, "/v1/")
	i := strings.LastIndex(rest, "/keys/")
	if !ok || i <= 0 {
		return bad("its path is not /v1/MOUNT/keys/NAME")
	}
	prefix, name := rest[:i], rest[i+len("/keys/"):]
	if !vaultName(name) {
		return bad("key name %q is not a transit key name (letters, digits, '_', '-', '.')", name)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if !vaultName(seg) || seg == "." || seg == ".." {
			return bad("mount path %q has an empty or invalid segment", prefix)
		}
	}
	return vaultKey{base: u.Scheme + "://" + host, prefix: prefix, name: name}, nil
}

// vaultHost is a URL's host in lower case, without the scheme's default port.
func vaultHost(u *url.URL) string {
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case u.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// vaultOrigin is the scheme://host[:port] of an address such as VAULT_ADDR,
// in the form vaultKey.base has; "" when it is not a URL.
func vaultOrigin(addr string) string {
	u, err := url.Parse(strings.TrimSpace(addr))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return u.Scheme + "://" + vaultHost(u)
}

// trusted checks that the key's server is one the user named in the
// environment: VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS. A recipient URL is
// read from the file, which anyone with write access to the repository can
// change; without this check, pointing it at their own server would collect
// the token of whoever decrypts next (a CI job, say).
func (p *vaultProvider) trusted(op string, k vaultKey) error {
	var origins []string
	for _, n := range []string{"VAULT_ADDR", "BAO_ADDR", "KSEC_VAULT_ADDRS"} {
		for _, a := range strings.Split(p.opts.Getenv(n), ",") {
			if o := vaultOrigin(a); o != "" {
				origins = append(origins, o)
			}
		}
	}
	if slices.Contains(origins, k.base) {
		return nil
	}
	if len(origins) == 0 {
		return hint.Wrap(fmt.Errorf("vault transit %s with %s: VAULT_ADDR is not set", op, k.ID()),
			fmt.Sprintf("to use this key, set VAULT_ADDR=%s and a token (VAULT_TOKEN); ksec contacts only the Vault servers that VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS name", k.base))
	}
	what := "here: " + strings.Join(origins, ", ")
	return hint.Wrap(fmt.Errorf("vault transit %s with %s: ksec contacts only the Vault servers named by VAULT_ADDR, BAO_ADDR or KSEC_VAULT_ADDRS (%s), not %s", op, k.ID(), what, k.base),
		fmt.Sprintf("if %s is your Vault, set VAULT_ADDR to it, or add it to KSEC_VAULT_ADDRS (a comma-separated list); "+
			"a recipient URL changed in a file can be an attempt to collect your Vault token", k.base))
}

// vaultName reports whether s is one path segment as Vault names mounts,
// namespaces and keys.
func vaultName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// vaultAAD is the associated data binding a wrapped data key to its Secret:
// lp("ksec v1 vault") || lp(namespace) || lp(name), where lp(x) is x's
// length as 4 bytes big-endian followed by x.
func vaultAAD(scope Scope) []byte {
	var b []byte
	for _, s := range []string{vaultAADDomain, scope.Namespace, scope.Name} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// checkVaultCiphertext accepts exactly what transit returns for a data key:
// "vault:v" VERSION ":" standard base64 of nonce, sealed key and tag.
func checkVaultCiphertext(c string) (version int, err error) {
	rest, ok := strings.CutPrefix(c, "vault:v")
	ver, body, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ver == "" || len(ver) > 9 || ver[0] == '0' || strings.Trim(ver, "0123456789") != "" {
		return 0, errors.New("it is not a transit ciphertext (vault:vN:…)")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != body {
		return 0, errors.New("its transit ciphertext is not base64")
	}
	if len(raw) != vaultWrappedSize {
		return 0, fmt.Errorf("its transit ciphertext holds %d bytes, not the %d of a wrapped data key", len(raw), vaultWrappedSize)
	}
	v, _ := strconv.Atoi(ver)
	return v, nil
}

type vaultRecipient struct {
	p   *vaultProvider
	key vaultKey
}

func (r *vaultRecipient) Type() string { return vaultType }
func (r *vaultRecipient) ID() string   { return r.key.ID() }

// Wrap encrypts the data key with the transit key, bound to scope.
func (r *vaultRecipient) Wrap(ctx context.Context, dataKey []byte, scope Scope) (Stanza, error) {
	if len(dataKey) != crypto.DataKeySize {
		return Stanza{}, fmt.Errorf("vault: refusing to wrap a %d-byte data key", len(dataKey))
	}
	plain := base64.StdEncoding.EncodeToString(dataKey)
	var out struct {
		Ciphertext string `json:"ciphertext"`
		KeyVersion *int   `json:"key_version"`
	}
	err := r.p.call(ctx, "encrypt", r.key, map[string]string{
		"plaintext":       plain,
		"associated_data": base64.StdEncoding.EncodeToString(vaultAAD(scope)),
	}, &out, scope, plain)
	if err != nil {
		return Stanza{}, err
	}
	v, err := checkVaultCiphertext(out.Ciphertext)
	if err == nil && out.KeyVersion != nil && *out.KeyVersion != v {
		err = fmt.Errorf("it names key version %d, its ciphertext version %d", *out.KeyVersion, v)
	}
	if err != nil {
		return Stanza{}, r.p.malformed("encrypt", r.key, err)
	}
	return Stanza{Type: vaultType, ID: r.key.ID(), Wrapped: []byte(out.Ciphertext)}, nil
}

type vaultIdentity struct{ p *vaultProvider }

// Unwrap asks transit to decrypt each vault stanza in turn.
func (id *vaultIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	return unwrapEach(ctx, stanzas, vaultType, func(s Stanza) ([]byte, error) { return id.p.decrypt(ctx, s, scope) })
}

func (p *vaultProvider) decrypt(ctx context.Context, s Stanza, scope Scope) ([]byte, error) {
	k, err := parseVaultKey(s.ID)
	if err == nil && k.ID() != s.ID {
		err = fmt.Errorf("the URL is not in the form ksec writes (%s)", k.ID())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: recipient vault:%s: %w", crypto.ErrIntegrity, s.ID, err)
	}
	if _, err := checkVaultCiphertext(string(s.Wrapped)); err != nil {
		return nil, fmt.Errorf("%w: recipient vault:%s: the wrapped data key: %w", crypto.ErrIntegrity, s.ID, err)
	}
	var out struct {
		Plaintext string `json:"plaintext"`
	}
	err = p.call(ctx, "decrypt", k, map[string]string{
		"ciphertext":      string(s.Wrapped),
		"associated_data": base64.StdEncoding.EncodeToString(vaultAAD(scope)),
	}, &out, scope)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.Strict().DecodeString(out.Plaintext)
	if err != nil || len(key) != crypto.DataKeySize {
		// Nothing of the reply is repeated: it may be key material.
		return nil, p.malformed("decrypt", k, fmt.Errorf("its plaintext is not a base64 %d-byte data key", crypto.DataKeySize))
	}
	return key, nil
}

// errVaultRedirect stops the client at a redirect: it would carry the token
// to wherever the redirect points.
type errVaultRedirect struct{ to string }

func (e *errVaultRedirect) Error() string { return "redirected to " + e.to }

// init reads the token and the TLS settings once.
func (p *vaultProvider) init() error {
	p.once.Do(func() {
		p.token, p.setup = p.readToken()
		if p.setup != nil {
			return
		}
		tlsConf, err := p.tlsConfig()
		if err != nil {
			p.setup = err
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConf
		p.client = &http.Client{
			Transport: tr,
			CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				return &errVaultRedirect{to: req.URL.Scheme + "://" + req.URL.Host}
			},
		}
	})
	return p.setup
}

func (p *vaultProvider) env(names ...string) (string, string) {
	for _, n := range names {
		if v := p.opts.Getenv(n); v != "" {
			return v, n
		}
	}
	return "", ""
}

func (p *vaultProvider) readToken() (vaultToken, error) {
	if v, src := p.env("VAULT_TOKEN", "BAO_TOKEN"); v != "" {
		return checkVaultToken(strings.TrimSpace(v), src)
	}
	home := p.opts.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return vaultToken{}, nil
	}
	f, err := os.Open(filepath.Join(home, ".vault-token"))
	if errors.Is(err, os.ErrNotExist) {
		return vaultToken{}, nil
	}
	if err != nil {
		return vaultToken{}, hint.Wrap(fmt.Errorf("vault: reading the token file: %w", err), hintVaultToken)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, vaultMaxTokenFile+1))
	if err != nil {
		return vaultToken{}, hint.Wrap(fmt.Errorf("vault: reading the token file: %w", err), hintVaultToken)
	}
	if len(b) > vaultMaxTokenFile {
		return vaultToken{}, hint.Wrap(fmt.Errorf("vault: the token file ~/.vault-token is larger than %d bytes", vaultMaxTokenFile), hintVaultToken)
	}
	return checkVaultToken(strings.TrimSpace(string(b)), "~/.vault-token")
}

// checkVaultToken refuses a token that could not be a header value,
// without repeating it.
func checkVaultToken(v, src string) (vaultToken, error) {
	for _, c := range v {
		if c <= ' ' || c > '~' {
			return vaultToken{}, hint.Wrap(fmt.Errorf("vault: the token in %s holds characters a Vault token never has", src), hintVaultToken)
		}
	}
	return vaultToken{value: v, source: src}, nil
}

// tlsConfig follows the Vault CLI: VAULT_CACERT (a file) or VAULT_CAPATH
// (a directory) replace the system's CAs; VAULT_SKIP_VERIFY turns the
// check off. BAO_* names are read when the VAULT_* one is not set.
func (p *vaultProvider) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if v, src := p.env("VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("vault: %s=%q is not true or false", src, v)
		}
		conf.InsecureSkipVerify = skip
	}
	var files []string
	caFile, fileSrc := p.env("VAULT_CACERT", "BAO_CACERT")
	caDir, dirSrc := p.env("VAULT_CAPATH", "BAO_CAPATH")
	if caFile != "" {
		files = append(files, caFile)
	} else if caDir != "" {
		entries, err := os.ReadDir(caDir)
		if err != nil {
			return nil, fmt.Errorf("vault: %s: %w", dirSrc, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(caDir, e.Name()))
			}
		}
		fileSrc = dirSrc
	}
	if len(files) == 0 {
		return conf, nil
	}
	pool := x509.NewCertPool()
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("vault: %s: %w", fileSrc, err)
		}
		found = pool.AppendCertsFromPEM(b) || found
	}
	if !found {
		return nil, hint.Wrap(fmt.Errorf("vault: %s names no PEM certificate", fileSrc), "VAULT_CACERT names a PEM file of the CA that signed Vault's certificate")
	}
	conf.RootCAs = pool
	return conf, nil
}

// vaultReply is Vault's response envelope.
type vaultReply struct {
	Data     json.RawMessage `json:"data"`
	Errors   []string        `json:"errors"`
	Warnings []string        `json:"warnings"`
}

// call POSTs one transit operation and decodes the reply's data into out.
// secrets are strings of the request (the plaintext) that must never be
// echoed in an error, should the server put them into its message.
func (p *vaultProvider) call(ctx context.Context, op string, k vaultKey, req map[string]string, out any, scope Scope, secrets ...string) error {
	if err := p.trusted(op, k); err != nil {
		return err
	}
	if err := p.init(); err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(callCtx, http.MethodPost, k.endpoint(op), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("vault transit %s with %s: %w", op, k.ID(), err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Vault-Request", "true")
	if p.token.value != "" {
		hreq.Header.Set("X-Vault-Token", p.token.value)
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return p.transportError(ctx, callCtx, op, k, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(&cappedBody{rc: resp.Body, left: maxReply})
	if errors.Is(err, errReplyTooLarge) {
		return p.malformed(op, k, err)
	}
	if err != nil {
		return p.transportError(ctx, callCtx, op, k, err)
	}
	var rep vaultReply
	jsonErr := json.Unmarshal(raw, &rep)
	if resp.StatusCode != http.StatusOK {
		return p.statusError(ctx, op, k, resp.StatusCode, rep.Errors, jsonErr, scope, secrets)
	}
	if jsonErr != nil {
		return p.malformed(op, k, fmt.Errorf("it is not JSON: %w", jsonErr))
	}
	for _, w := range rep.Warnings {
		if strings.Contains(w, "associated_data") {
			// An older Vault ignored the binding: the wrapped key would
			// open for any Secret. Fail closed.
			return hint.Wrap(fmt.Errorf("vault transit %s with %s: the server ignored associated_data (%s), so it cannot bind the data key to its Secret; ksec refuses to go on",
				op, k.ID(), vaultMessage([]string{w}, secrets, p.token.value)),
				"associated_data needs Vault 1.13 or later, or OpenBao; "+hintVaultKeyType)
		}
	}
	if len(rep.Data) == 0 || string(rep.Data) == "null" {
		return p.malformed(op, k, errors.New("it has no data"))
	}
	if err := json.Unmarshal(rep.Data, out); err != nil {
		return p.malformed(op, k, fmt.Errorf("its data does not decode: %w", err))
	}
	return nil
}

func (p *vaultProvider) malformed(op string, k vaultKey, err error) error {
	return hint.Wrap(fmt.Errorf("vault transit %s with %s: malformed reply: %w", op, k.ID(), err),
		fmt.Sprintf("is %s a Vault or OpenBao server? a proxy or another service may have answered", k.base))
}

// transportError explains a request that got no HTTP answer.
func (p *vaultProvider) transportError(ctx, callCtx context.Context, op string, k vaultKey, err error) error {
	prefix := fmt.Sprintf("vault transit %s with %s: ", op, k.ID())
	netHint := fmt.Sprintf("check that Vault runs at %s and the network path to it (proxy settings HTTPS_PROXY/NO_PROXY, VPN, firewall)", k.base)
	var (
		redirect   *errVaultRedirect
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		recordHead tls.RecordHeaderError
	)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s%w", prefix, ctx.Err())
	case callCtx.Err() != nil:
		return hint.Wrap(&providerError{msg: fmt.Sprintf("%sno answer within %v", prefix, p.opts.Timeout), errs: []error{context.DeadlineExceeded}}, netHint)
	case errors.As(err, &redirect):
		return hint.Wrap(fmt.Errorf("%sthe server answered with a redirect to %s, which ksec does not follow (the token would go along)", prefix, redirect.to),
			"name the active Vault node, or the load balancer in front of it, in the key URL")
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return hint.Wrap(&providerError{msg: prefix + "the server's TLS certificate is not trusted: " + netShort(err), errs: []error{err}},
			"set VAULT_CACERT to the file of the CA that signed Vault's certificate (VAULT_SKIP_VERIFY=true turns the check off: only ever for a test server)")
	case errors.As(err, &recordHead), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return hint.Wrap(&providerError{msg: prefix + "the server does not speak TLS", errs: []error{err}},
			"a Vault dev server on this machine listens on plain http: write the key URL with http://")
	}
	return hint.Wrap(&providerError{msg: prefix + "cannot reach Vault at " + k.host() + ": " + netShort(err), errs: []error{err}}, netHint)
}

// statusError explains a non-200 reply by its status and Vault's message.
func (p *vaultProvider) statusError(ctx context.Context, op string, k vaultKey, code int, msgs []string, jsonErr error, scope Scope, secrets []string) error {
	prefix := fmt.Sprintf("vault transit %s with %s: ", op, k.ID())
	msg := vaultMessage(msgs, secrets, p.token.value)
	if msg == "" {
		msg = "HTTP " + strconv.Itoa(code)
		if jsonErr != nil {
			return hint.Wrap(fmt.Errorf("%s%s, and the reply is not Vault's JSON", prefix, msg),
				fmt.Sprintf("is %s a Vault or OpenBao server? a proxy or another service may have answered", k.base))
		}
	}
	nsHint := p.namespaceHint(k)
	lower := strings.ToLower(msg)
	switch {
	case code == http.StatusForbidden:
		if p.token.value == "" {
			return hint.Wrap(fmt.Errorf("%s%s: no Vault token was found", prefix, msg),
				hintVaultToken+"; set one, or log in")
		}
		if !p.tokenValid(ctx, k) {
			return hint.Wrap(fmt.Errorf("%s%s: Vault refused the token from %s (expired, revoked, or made for another server or namespace)", prefix, msg, p.token.source),
				"log in again (vault login, bao login) or set VAULT_TOKEN to a current token; "+hintVaultToken)
		}
		perm := fmt.Sprintf("the token's policy needs the update capability on %s/%s/%s", k.prefix, op, k.name)
		if op == "encrypt" {
			perm += "; Vault asks for create instead when the key does not exist, so check the key name too"
		}
		return hint.Wrap(fmt.Errorf("%spermission denied", prefix), append([]string{perm}, nsHint...)...)
	case code == http.StatusServiceUnavailable:
		return hint.Wrap(fmt.Errorf("%sVault at %s is unavailable: %s", prefix, k.host(), msg),
			"a sealed Vault must be unsealed by its operators (vault operator unseal), then try again")
	case code == http.StatusNotFound:
		return hint.Wrap(fmt.Errorf("%sno transit engine at %s: %s", prefix, k.prefix, msg),
			append([]string{fmt.Sprintf("check the mount path (and namespace) in the URL: vault secrets list shows the mounts of %s", k.base)}, nsHint...)...)
	case code == http.StatusTooManyRequests:
		return hint.Wrap(fmt.Errorf("%sVault is rate-limiting: %s", prefix, msg), "try again in a moment")
	case strings.Contains(lower, "encryption key not found"), strings.Contains(lower, "key not found"):
		return hint.Wrap(fmt.Errorf("%sthe key %q does not exist: %s", prefix, k.name, msg),
			append([]string{fmt.Sprintf("check the key name in the URL: vault list %s/keys", k.prefix)}, nsHint...)...)
	case strings.Contains(lower, "non-aead") || strings.Contains(lower, "key derivation"):
		return hint.Wrap(fmt.Errorf("%sthe key cannot bind associated data: %s", prefix, msg), hintVaultKeyType)
	case op == "decrypt" && strings.Contains(lower, "message authentication failed"):
		return hint.Wrap(&providerError{
			msg: fmt.Sprintf("%s: %sthe wrapped data key does not belong to Secret %s, or it was altered (%s)",
				crypto.ErrIntegrity, prefix, scopeName(scope), msg),
			errs: []error{crypto.ErrIntegrity},
		}, hintVaultIntegrity)
	case strings.Contains(lower, "too old") || strings.Contains(lower, "too new"):
		return hint.Wrap(fmt.Errorf("%sVault will not use the key version that wrapped this data key: %s", prefix, msg),
			fmt.Sprintf("the key's min_decryption_version is above it, or the version was trimmed: ask the operators of %s", k.base))
	}
	return fmt.Errorf("%sVault answered %d: %s", prefix, code, msg)
}

// tokenValid asks Vault whether the token itself is good, to tell a bad
// token from a policy that denies the key: both answer 403.
func (p *vaultProvider) tokenValid(ctx context.Context, k vaultKey) bool {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.base+"/v1/auth/token/lookup-self", nil)
	if err != nil {
		return true
	}
	req.Header.Set("X-Vault-Request", "true")
	req.Header.Set("X-Vault-Token", p.token.value)
	resp, err := p.client.Do(req)
	if err != nil {
		return true // no better knowledge: report the denial
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, &cappedBody{rc: resp.Body, left: maxReply})
	return resp.StatusCode != http.StatusForbidden
}

// namespaceHint points at VAULT_NAMESPACE when it is set: ksec takes the
// namespace from the key URL alone, so the file names its key completely.
func (p *vaultProvider) namespaceHint(k vaultKey) []string {
	ns, src := p.env("VAULT_NAMESPACE", "BAO_NAMESPACE")
	ns = strings.Trim(ns, "/")
	if ns == "" || strings.HasPrefix(k.prefix+"/", ns+"/") {
		return nil
	}
	return []string{fmt.Sprintf("%s is %q, but ksec takes the namespace from the key URL only: write %s/v1/%s/%s/keys/%s",
		src, ns, k.base, ns, k.prefix, k.name)}
}

func scopeName(s Scope) string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// vaultMessage is Vault's error text made safe to print: one line, short,
// and without the token or the request's secrets should a server or proxy
// have echoed them.
func vaultMessage(msgs []string, secrets []string, token string) string {
	s := strings.Join(msgs, "; ")
	for _, secret := range append(secrets, token) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "(redacted)")
		}
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
