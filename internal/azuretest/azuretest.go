// Package azuretest serves the part of the Azure Key Vault REST API that
// ksec uses (wrapkey and unwrapkey with RSA-OAEP-256) from this process,
// over TLS on 127.0.0.1, together with an App Service style managed
// identity token endpoint and a Microsoft Entra ID style OAuth2 token
// endpoint (client secret and federated token), so the real azkeys client
// and ksec's credential chain can be tested without Azure.
//
// The vault behaves like Azure's where ksec depends on it: a request
// without a valid bearer token gets 401 with Key Vault's challenge
// (WWW-Authenticate: Bearer authorization=…, resource=…); keys have
// versions, a request without a version uses the newest, and replies name
// the version in "kid"; errors are Key Vault's error JSON with 400, 403
// and 404. Keys are real RSA keys and wrapping is real RSA-OAEP-256.
package azuretest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Resource is the audience Key Vault names in its challenge.
const Resource = "https://vault.azure.net"

// Tenant is the tenant named in the challenge's authorization URL.
const Tenant = "00000000-0000-4000-8000-00000000c0de"

// Reply modes for misbehaving vaults.
const (
	ReplyNormal    = ""
	ReplyHuge      = "huge"      // a 1 MiB JSON reply
	ReplyMalformed = "malformed" // a 200 reply that is not JSON
	ReplyWrongKID  = "wrong-kid" // a reply naming another key
	// ReplyBadChallenge sends a challenge whose authorization is not a URL.
	ReplyBadChallenge = "bad-challenge"
)

// Vault is an in-process Key Vault and its token endpoint.
type Vault struct {
	TLS      *httptest.Server // the vault, https://127.0.0.1:PORT
	Identity *httptest.Server // the managed identity endpoint, plain HTTP
	// Header is the secret the identity endpoint wants in X-IDENTITY-HEADER.
	Header string
	// ClientID is the user-assigned identity's client ID in Env, and the
	// application's client ID at the OAuth2 endpoint.
	ClientID string
	// Secret is the application's client secret at the OAuth2 endpoint.
	Secret string
	// Assertion is the federated token (workload identity) the OAuth2
	// endpoint accepts as client_assertion.
	Assertion string
	// CAFile holds the vault's self-signed certificate (PEM), for SSL_CERT_FILE.
	CAFile string

	mu     sync.Mutex
	keys   map[string][]*version // by key name, oldest version first
	denied map[string]bool       // key names the caller may not use
	tokens map[string]bool       // bearer tokens handed out
	calls  map[string]int        // by operation: wrapkey, unwrapkey, token, challenge
	reply  string
}

type version struct {
	id  string
	key *rsa.PrivateKey
}

// Start serves a vault with no keys; dir receives the CA file.
func Start(dir string) (*Vault, error) {
	v := &Vault{
		keys:      map[string][]*version{},
		denied:    map[string]bool{},
		tokens:    map[string]bool{},
		calls:     map[string]int{},
		Header:    randomHex(16),
		ClientID:  "azuretest-" + randomHex(8),
		Secret:    "secret-" + randomHex(16),
		Assertion: "eyJhbGciOiJSUzI1NiJ9." + randomHex(24) + "." + randomHex(24),
	}
	v.TLS = httptest.NewTLSServer(http.HandlerFunc(v.serveVault))
	v.Identity = httptest.NewServer(http.HandlerFunc(v.serveIdentity))
	v.CAFile = filepath.Join(dir, "azure-vault-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.TLS.Certificate().Raw})
	if err := os.WriteFile(v.CAFile, pemBytes, 0o644); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// Close stops both servers.
func (v *Vault) Close() {
	v.TLS.Close()
	v.Identity.Close()
}

// URL is the vault's base URL, https://127.0.0.1:PORT.
func (v *Vault) URL() string { return v.TLS.URL }

// KeyURL is the versionless URL of a key.
func (v *Vault) KeyURL(name string) string { return v.TLS.URL + "/keys/" + name }

// AuthorityHost is the OAuth2 endpoint's base URL for AZURE_AUTHORITY_HOST:
// tokens come from AuthorityHost + Tenant + "/oauth2/v2.0/token".
func (v *Vault) AuthorityHost() string { return v.TLS.URL + "/" }

// Env is the environment under which a ksec process reaches this vault:
// the credential chain restricted to the managed identity credential,
// which finds the token endpoint through IDENTITY_ENDPOINT (as on App
// Service), and the vault's certificate as the only trusted root. The
// identity is a user-assigned one with a client ID of this vault's own, so
// a token meant for another test's vault is refused here.
func (v *Vault) Env() []string {
	return []string{
		"AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential",
		"AZURE_CLIENT_ID=" + v.ClientID,
		"KSEC_AZURE_LOOPBACK=1",
		"IDENTITY_ENDPOINT=" + v.Identity.URL + "/msi/token",
		"IDENTITY_HEADER=" + v.Header,
		"SSL_CERT_FILE=" + v.CAFile,
	}
}

// AddKey creates a key with one version and returns that version's ID.
func (v *Vault) AddKey(name string) (string, error) { return v.Rotate(name) }

// Rotate adds a new newest version to a key (creating the key) and
// returns its ID.
func (v *Vault) Rotate(name string) (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	ver := &version{id: randomHex(16), key: k}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[name] = append(v.keys[name], ver)
	return ver.id, nil
}

// Deny makes the vault answer 403 for a key.
func (v *Vault) Deny(name string, denied bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.denied[name] = denied
}

// SetReply makes every later key operation reply in the given mode.
func (v *Vault) SetReply(mode string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reply = mode
}

// Calls returns how many times an operation was served: "wrapkey",
// "unwrapkey" (authenticated calls only), "challenge" (401 answers) or
// "token" (tokens handed out), "imds" (requests to the metadata service,
// probes included) or "body-before-auth" (unauthenticated
// requests that carried a body: a client must not send the data key
// before it has seen the challenge).
func (v *Vault) Calls(op string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls[op]
}

// ResetCalls sets every count to 0.
func (v *Vault) ResetCalls() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = map[string]int{}
}

// IssueToken hands out a bearer token the vault accepts, as a stand-in
// for one the Azure CLI got from Entra ID.
func (v *Vault) IssueToken() string {
	tok := "tok-" + randomHex(16)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens[tok] = true
	return tok
}

// IMDSHost is the base URL of the instance metadata service this vault's
// identity server also plays, for AZURE_POD_IDENTITY_AUTHORITY_HOST (the
// variable that moves the metadata service, as azidentity reads it).
func (v *Vault) IMDSHost() string { return v.Identity.URL }

func (v *Vault) serveIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path == "/metadata/identity/oauth2/token" {
		v.serveIMDS(w, r)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/msi/token" || r.Header.Get("X-IDENTITY-HEADER") != v.Header ||
		q.Get("api-version") != "2019-08-01" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != v.ClientID {
		http.Error(w, `{"error":"invalid_request","error_description":"unknown identity"}`, http.StatusBadRequest)
		return
	}
	if q.Get("resource") != Resource {
		http.Error(w, `{"error":"invalid_resource","error_description":"unexpected resource"}`, http.StatusBadRequest)
		return
	}
	tok := "tok-" + randomHex(16)
	v.mu.Lock()
	v.tokens[tok] = true
	v.calls["token"]++
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	// App Service answers expires_on in seconds since the epoch, as a string.
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": tok,
		"expires_on":   "4102444800", // 2100-01-01
		"resource":     Resource,
		"token_type":   "Bearer",
	})
}

// serveIMDS is the instance metadata service's token endpoint: it wants
// the Metadata header (so that a server-side request forgery, which cannot
// set headers, gets nothing) and answers expires_on as a string.
func (v *Vault) serveIMDS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v.mu.Lock()
	v.calls["imds"]++
	v.mu.Unlock()
	switch {
	case r.Method != http.MethodGet || r.Header.Get("Metadata") != "true":
		http.Error(w, `{"error":"invalid_request","error_description":"Required metadata header not specified"}`, http.StatusBadRequest)
		return
	case q.Get("api-version") != "2018-02-01":
		http.Error(w, `{"error":"invalid_request","error_description":"Invalid API version"}`, http.StatusBadRequest)
		return
	case q.Get("client_id") != v.ClientID:
		http.Error(w, `{"error":"invalid_request","error_description":"Identity not found"}`, http.StatusBadRequest)
		return
	case q.Get("resource") != Resource:
		http.Error(w, `{"error":"invalid_resource","error_description":"unexpected resource"}`, http.StatusBadRequest)
		return
	}
	tok := v.IssueToken()
	v.mu.Lock()
	v.calls["token"]++
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "expires_on": "4102444800", "expires_in": "86399", "resource": Resource, "token_type": "Bearer"})
}

type keyOp struct {
	Alg   string `json:"alg"`
	Value string `json:"value"`
}

// serveOAuth is Microsoft Entra ID's v2.0 token endpoint for the
// client_credentials grant, with a client secret or a federated token.
// Errors are OAuth2's error JSON, with a description that runs on, as
// Entra ID's do.
func (v *Vault) serveOAuth(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc + "\r\nTrace ID: " + randomHex(8), "error_codes": []int{7000215}})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/"+Tenant+"/oauth2/v2.0/token" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: bad request.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: the body is not a form.")
		return
	}
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "client_credentials":
		fail(http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: unsupported grant type.")
		return
	case f.Get("client_id") != v.ClientID:
		fail(http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier was not found in the directory.")
		return
	case f.Get("scope") != Resource+"/.default":
		fail(http.StatusBadRequest, "invalid_scope", "AADSTS70011: The provided value for scope is not valid.")
		return
	}
	switch {
	case f.Has("client_secret") && f.Get("client_secret") == v.Secret && !f.Has("client_assertion"):
	case f.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" &&
		f.Get("client_assertion") == v.Assertion && !f.Has("client_secret"):
	case f.Has("client_assertion"):
		fail(http.StatusUnauthorized, "invalid_client", "AADSTS700211: No matching federated identity record found for presented assertion.")
		return
	default:
		fail(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	tok := "tok-" + randomHex(16)
	v.mu.Lock()
	v.tokens[tok] = true
	v.calls["token"]++
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
}

func (v *Vault) serveVault(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		v.serveOAuth(w, r)
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	v.mu.Lock()
	valid := ok && v.tokens[auth]
	mode := v.reply
	if !valid {
		v.calls["challenge"]++
		var one [1]byte
		if n, _ := r.Body.Read(one[:]); n > 0 {
			v.calls["body-before-auth"]++
		}
	}
	v.mu.Unlock()
	if !valid {
		authz := "https://login.microsoftonline.com/" + Tenant
		if mode == ReplyBadChallenge {
			authz = "x"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s", resource="%s"`, authz, Resource))
		vaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The api-version query parameter is missing.")
		return
	}
	// /keys/NAME/VERSION/OP, /keys/NAME/OP or /keys/NAME//OP (no version: the newest).
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) < 3 || len(parts) > 4 || parts[0] != "keys" {
		vaultError(w, http.StatusNotFound, "NotFound", "No such operation.")
		return
	}
	name, op, ver := parts[1], parts[len(parts)-1], ""
	if len(parts) == 4 {
		ver = parts[2]
	}
	if op != "wrapkey" && op != "unwrapkey" {
		vaultError(w, http.StatusNotFound, "NotFound", "No such operation.")
		return
	}
	var req keyOp
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.")
		return
	}
	v.mu.Lock()
	versions, known := v.keys[name]
	denied := v.denied[name]
	v.calls[op]++
	var key *version
	for _, k := range versions {
		if ver == "" || k.id == ver {
			key = k // without a version, the last one: the newest
		}
	}
	v.mu.Unlock()
	switch {
	case denied:
		vaultError(w, http.StatusForbidden, "Forbidden",
			fmt.Sprintf("The user, group or application does not have keys %s permission on key vault 'test'.", strings.TrimSuffix(op, "key")+"Key"))
		return
	case !known:
		vaultError(w, http.StatusNotFound, "KeyNotFound", fmt.Sprintf("A key with (name/id) %s was not found in this key vault.", name))
		return
	case key == nil:
		vaultError(w, http.StatusNotFound, "KeyNotFound", fmt.Sprintf("A key with (name/id) %s/%s was not found in this key vault.", name, ver))
		return
	case req.Alg != "RSA-OAEP-256":
		vaultError(w, http.StatusBadRequest, "BadParameter", "Unsupported algorithm for this key.")
		return
	}
	in, err := base64.RawURLEncoding.DecodeString(req.Value)
	if err != nil {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The value is not base64url.")
		return
	}
	var out []byte
	if op == "wrapkey" {
		out, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.key.PublicKey, in, nil)
	} else {
		out, err = rsa.DecryptOAEP(sha256.New(), nil, key.key, in, nil)
	}
	if err != nil {
		vaultError(w, http.StatusBadRequest, "BadParameter", "Bad Request")
		return
	}
	kid := "https://" + r.Host + "/keys/" + name + "/" + key.id
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch mode {
	case ReplyHuge:
		_, _ = fmt.Fprintf(w, `{"kid":%q,"value":"%s"}`, kid, strings.Repeat("A", 1<<20))
		return
	case ReplyMalformed:
		_, _ = w.Write([]byte("<html>gateway</html>"))
		return
	case ReplyWrongKID:
		kid = "https://" + r.Host + "/keys/other/" + key.id
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"kid": kid, "value": base64.RawURLEncoding.EncodeToString(out)})
}

func vaultError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
