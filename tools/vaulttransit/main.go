// Command vaulttransit is a test double of a HashiCorp Vault / OpenBao
// server with transit secrets engines, for ksec's tests. Its keys are
// Vault's own keysutil policies, so its ciphertexts ("vault:v1:…") and its
// associated-data checks are Vault's; around them it serves the HTTP API
// the way Vault does: X-Vault-Token and X-Vault-Namespace headers,
// namespaces in the path, {"errors": [...]} replies, warnings for ignored
// parameters, 503 while sealed, upsert on encrypt for tokens that may
// create.
//
// It listens on 127.0.0.1 only, over HTTPS with a CA it makes at start
// (written to DIR/ca.pem) unless -http is given, and prints
// "addr URL" on stdout once it accepts connections.
//
// Besides the Vault API (keys, rotate, config, encrypt, decrypt,
// sys/seal, sys/unseal, auth/token/lookup-self) it has two test-only
// endpoints, for the root token: POST /v1/ksec-test/token
// {"token": T, "paths": {"transit/encrypt/k": ["update"]}} adds a token
// with exactly those capabilities (paths are full, namespace included), and
// POST /v1/ksec-test/fault {"fault": F} makes every following transit call
// misbehave: "huge" (a 1 MiB reply), "malformed" (a cut-off JSON reply),
// "stall" (no answer until the client gives up), "ignore-aad" (act as a
// Vault older than 1.13: associated_data is an unknown parameter, ignored
// with a warning), "redirect" (a 307 to another host), or "" (behave).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/helper/keysutil"
	"github.com/hashicorp/vault/sdk/logical"
)

func main() {
	dir := flag.String("dir", "", "directory for ca.pem (required unless -http)")
	token := flag.String("token", "", "the root token (required)")
	namespaces := flag.String("namespaces", "", "comma-separated child namespaces besides the root one")
	mounts := flag.String("mounts", "transit", "comma-separated transit mount paths, in every namespace")
	plain := flag.Bool("http", false, "serve plain HTTP instead of HTTPS")
	flag.Parse()
	if *token == "" || (*dir == "" && !*plain) {
		fmt.Fprintln(os.Stderr, "usage: vaulttransit -token ROOT_TOKEN (-dir DIR | -http) [-namespaces a,b/c] [-mounts transit]")
		os.Exit(2)
	}
	s := newServer(*token, splitList(*namespaces), splitList(*mounts))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	scheme := "http"
	if !*plain {
		cert, err := makeCerts(*dir)
		if err != nil {
			fatal(err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	fmt.Printf("addr %s://%s\n", scheme, l.Addr())
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	fatal(srv.Serve(l))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "vaulttransit:", err)
	os.Exit(1)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.Trim(strings.TrimSpace(p), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// makeCerts makes a CA and a server certificate for 127.0.0.1, ::1 and
// localhost, and writes the CA to dir/ca.pem.
func makeCerts(dir string) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vaulttransit test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pemCA, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}, nil
}

type server struct {
	root string

	mu         sync.Mutex
	sealed     bool
	fault      string
	namespaces []string                   // "" and each child, longest first
	mounts     map[string]*mount          // by namespace + "/" + mount path
	tokens     map[string]map[string]bool // token -> "CAP PATH" allowed
}

type mount struct {
	storage logical.Storage
	keys    map[string]*keysutil.Policy
}

func newServer(root string, namespaces, mounts []string) *server {
	s := &server{root: root, mounts: map[string]*mount{}, tokens: map[string]map[string]bool{}}
	s.namespaces = append([]string{""}, namespaces...)
	sort.Slice(s.namespaces, func(i, j int) bool { return len(s.namespaces[i]) > len(s.namespaces[j]) })
	for _, ns := range s.namespaces {
		for _, m := range mounts {
			s.mounts[ns+"/"+m] = &mount{storage: &logical.InmemStorage{}, keys: map[string]*keysutil.Policy{}}
		}
	}
	return s
}

// reply writes a Vault-shaped JSON response.
func reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func replyErr(w http.ResponseWriter, code int, msg string) {
	reply(w, code, map[string]any{"errors": []string{msg}})
}

func replyData(w http.ResponseWriter, data map[string]any, warnings []string) {
	body := map[string]any{
		"request_id": "00000000-0000-0000-0000-000000000000", "lease_id": "", "renewable": false,
		"lease_duration": 0, "data": data, "wrap_info": nil, "warnings": nil, "auth": nil,
	}
	if len(warnings) > 0 {
		body["warnings"] = warnings
	}
	reply(w, http.StatusOK, body)
}

const permissionDenied = "permission denied"

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		replyErr(w, http.StatusNotFound, "404 page not found")
		return
	}
	body := map[string]any{}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			err = json.Unmarshal(b, &body)
		}
		if err != nil {
			replyErr(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
	}
	token := r.Header.Get("X-Vault-Token")
	s.mu.Lock()
	defer s.mu.Unlock()

	switch path {
	case "sys/seal":
		if token != s.root {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		s.sealed = true
		w.WriteHeader(http.StatusNoContent)
		return
	case "sys/unseal":
		s.sealed = false
		reply(w, http.StatusOK, map[string]any{"sealed": false})
		return
	case "sys/seal-status":
		reply(w, http.StatusOK, map[string]any{"sealed": s.sealed, "type": "shamir"})
		return
	}
	if s.sealed {
		replyErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	switch path {
	case "auth/token/lookup-self":
		if token != s.root && s.tokens[token] == nil {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		replyData(w, map[string]any{"policies": []string{"default"}}, nil)
		return
	case "ksec-test/token":
		if token != s.root {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		t, _ := body["token"].(string)
		caps := map[string]bool{}
		paths, _ := body["paths"].(map[string]any)
		for p, list := range paths {
			l, _ := list.([]any)
			for _, c := range l {
				caps[fmt.Sprint(c)+" "+strings.Trim(p, "/")] = true
			}
		}
		s.tokens[t] = caps
		w.WriteHeader(http.StatusNoContent)
		return
	case "ksec-test/fault":
		if token != s.root {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		s.fault, _ = body["fault"].(string)
		w.WriteHeader(http.StatusNoContent)
		return
	}

	// Namespaces: the header's, then any leading path segments.
	full := strings.Trim(strings.Trim(r.Header.Get("X-Vault-Namespace"), "/")+"/"+path, "/")
	ns, rest := "", full
	for _, n := range s.namespaces {
		if n != "" && strings.HasPrefix(full, n+"/") {
			ns, rest = n, strings.TrimPrefix(full, n+"/")
			break
		}
	}
	if token != s.root && s.tokens[token] == nil {
		replyErr(w, http.StatusForbidden, permissionDenied)
		return
	}
	mountPath, sub, _ := strings.Cut(rest, "/")
	m := s.mounts[ns+"/"+mountPath]
	can := func(capability string) bool {
		return token == s.root || s.tokens[token][capability+" "+full]
	}
	if m == nil {
		if token != s.root {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		replyErr(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", rest))
		return
	}
	op, name, _ := strings.Cut(sub, "/")
	name, action, _ := strings.Cut(name, "/")
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	ctx := r.Context()
	switch {
	case (op == "encrypt" || op == "decrypt") && write && action == "" && name != "":
		p := m.keys[name]
		capability := "update"
		if p == nil && op == "encrypt" {
			capability = "create" // Vault's existence check: an unknown key is created
		}
		if !can(capability) {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		s.transit(ctx, w, m, op, name, body)
	case op == "keys" && name != "" && action == "" && write:
		if !can("create") && !can("update") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		if m.keys[name] != nil {
			replyData(w, map[string]any{"name": name}, nil)
			return
		}
		typ, _ := body["type"].(string)
		if typ == "" {
			typ = "aes256-gcm96"
		}
		derived, _ := body["derived"].(bool)
		p, err := createKey(ctx, m.storage, name, typ, derived)
		if err != nil {
			replyErr(w, http.StatusBadRequest, err.Error())
			return
		}
		m.keys[name] = p
		replyData(w, map[string]any{"name": name, "type": typ, "latest_version": p.LatestVersion}, nil)
	case op == "keys" && name != "" && action == "" && r.Method == http.MethodGet:
		p := m.keys[name]
		if !can("read") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		if p == nil {
			reply(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		replyData(w, map[string]any{"name": name, "type": p.Type.String(), "derived": p.Derived,
			"latest_version": p.LatestVersion, "min_decryption_version": p.MinDecryptionVersion}, nil)
	case op == "keys" && name != "" && action == "" && r.Method == http.MethodDelete:
		p := m.keys[name]
		if !can("delete") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		if p != nil && !p.DeletionAllowed {
			replyErr(w, http.StatusBadRequest, "deletion is not allowed for this key")
			return
		}
		delete(m.keys, name)
		w.WriteHeader(http.StatusNoContent)
	case op == "keys" && name != "" && action == "rotate" && write:
		p := m.keys[name]
		if !can("update") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		if p == nil {
			replyErr(w, http.StatusBadRequest, "key not found")
			return
		}
		if err := p.Rotate(ctx, m.storage, rand.Reader); err != nil {
			replyErr(w, http.StatusInternalServerError, err.Error())
			return
		}
		replyData(w, map[string]any{"name": name, "latest_version": p.LatestVersion}, nil)
	case op == "keys" && name != "" && action == "config" && write:
		p := m.keys[name]
		if !can("update") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		if p == nil {
			replyErr(w, http.StatusBadRequest, "no existing key named "+name+" could be found")
			return
		}
		if v, ok := body["min_decryption_version"].(float64); ok {
			if int(v) > p.LatestVersion {
				replyErr(w, http.StatusBadRequest, fmt.Sprintf("cannot set min decryption version of %d, latest key version is %d", int(v), p.LatestVersion))
				return
			}
			p.MinDecryptionVersion = int(v)
		}
		if v, ok := body["deletion_allowed"].(bool); ok {
			p.DeletionAllowed = v
		}
		if err := p.Persist(ctx, m.storage); err != nil {
			replyErr(w, http.StatusInternalServerError, err.Error())
			return
		}
		replyData(w, map[string]any{"name": name}, nil)
	default:
		if !can("update") && !can("read") {
			replyErr(w, http.StatusForbidden, permissionDenied)
			return
		}
		replyErr(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", rest))
	}
}

func createKey(ctx context.Context, storage logical.Storage, name, typ string, derived bool) (*keysutil.Policy, error) {
	var kt keysutil.KeyType
	switch typ {
	case "aes128-gcm96":
		kt = keysutil.KeyType_AES128_GCM96
	case "aes256-gcm96":
		kt = keysutil.KeyType_AES256_GCM96
	case "chacha20-poly1305":
		kt = keysutil.KeyType_ChaCha20_Poly1305
	case "rsa-2048":
		kt = keysutil.KeyType_RSA2048
	default:
		return nil, fmt.Errorf("unknown key type: %v", typ)
	}
	cfg := keysutil.PolicyConfig{Name: name, Type: kt, Derived: derived}
	if derived {
		cfg.KDF = keysutil.Kdf_hkdf_sha256
	}
	p := keysutil.NewPolicy(cfg)
	if err := p.Rotate(ctx, storage, rand.Reader); err != nil {
		return nil, err
	}
	return p, nil
}

// aad hands Vault's policy code the decoded associated data, as Vault's
// transit backend does.
type aad string

func (a aad) GetAssociatedData() ([]byte, error) { return base64.StdEncoding.DecodeString(string(a)) }

// transitParams are the parameters encrypt and decrypt know; Vault warns
// about the others and ignores them.
var transitParams = map[string][]string{
	"encrypt": {"plaintext", "context", "nonce", "key_version", "associated_data", "type", "convergent_encryption", "batch_input", "partial_failure_response_code"},
	"decrypt": {"ciphertext", "context", "nonce", "associated_data", "batch_input", "partial_failure_response_code"},
}

func (s *server) transit(ctx context.Context, w http.ResponseWriter, m *mount, op, name string, body map[string]any) {
	switch s.fault {
	case "stall":
		s.mu.Unlock()
		<-ctx.Done()
		s.mu.Lock()
		return
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"plaintext":"`+strings.Repeat("A", 1<<20)+`"}}`)
		return
	case "malformed":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"cipher`)
		return
	case "redirect":
		w.Header().Set("Location", "https://192.0.2.1:8200/v1/transit/"+op+"/"+name)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	known := transitParams[op]
	if s.fault == "ignore-aad" {
		known = slices.DeleteFunc(slices.Clone(known), func(p string) bool { return p == "associated_data" })
	}
	var ignored []string
	for k := range body {
		if !slices.Contains(known, k) {
			ignored = append(ignored, k)
		}
	}
	sort.Strings(ignored)
	var warnings []string
	if len(ignored) > 0 {
		warnings = append(warnings, "Endpoint ignored these unrecognized parameters: ["+strings.Join(ignored, " ")+"]")
	}
	str := func(k string) string {
		if slices.Contains(ignored, k) {
			return ""
		}
		v, _ := body[k].(string)
		return v
	}
	var decodedContext []byte
	if c := str("context"); c != "" {
		var err error
		if decodedContext, err = base64.StdEncoding.DecodeString(c); err != nil {
			replyErr(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	p := m.keys[name]
	if p == nil && op == "encrypt" {
		// Upsert: a token allowed to create makes the key it names.
		var err error
		if p, err = createKey(ctx, m.storage, name, "aes256-gcm96", decodedContext != nil); err != nil {
			replyErr(w, http.StatusInternalServerError, err.Error())
			return
		}
		m.keys[name] = p
	}
	if p == nil {
		replyErr(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	var factories []any
	if a := str("associated_data"); a != "" {
		if !p.Type.AssociatedDataSupported() {
			replyErr(w, http.StatusBadRequest, fmt.Sprintf("'[%d].associated_data' provided for non-AEAD cipher suite %v", 0, p.Type.String()))
			return
		}
		factories = append(factories, aad(a))
	}
	userError := func(err error) {
		var ue errutil.UserError
		if errors.As(err, &ue) {
			replyErr(w, http.StatusBadRequest, err.Error())
			return
		}
		replyErr(w, http.StatusInternalServerError, "1 error occurred:\n\t* "+err.Error()+"\n\n")
	}
	if op == "encrypt" {
		plaintext := str("plaintext")
		if plaintext == "" {
			replyErr(w, http.StatusBadRequest, "missing plaintext to encrypt")
			return
		}
		if _, err := base64.StdEncoding.DecodeString(plaintext); err != nil {
			replyErr(w, http.StatusBadRequest, err.Error())
			return
		}
		version := 0
		if v, ok := body["key_version"].(float64); ok {
			version = int(v)
		}
		ct, err := p.EncryptWithOptions(keysutil.EncryptionOptions{KeyVersion: version, Context: decodedContext}, plaintext, factories...)
		if err != nil {
			userError(err)
			return
		}
		if version == 0 {
			version = p.LatestVersion
		}
		replyData(w, map[string]any{"ciphertext": ct, "key_version": version}, warnings)
		return
	}
	ciphertext := str("ciphertext")
	if ciphertext == "" {
		replyErr(w, http.StatusBadRequest, "missing ciphertext to decrypt")
		return
	}
	pt, err := p.DecryptWithOptions(keysutil.EncryptionOptions{Context: decodedContext}, ciphertext, factories...)
	if err != nil {
		userError(err)
		return
	}
	replyData(w, map[string]any{"plaintext": pt}, warnings)
}
