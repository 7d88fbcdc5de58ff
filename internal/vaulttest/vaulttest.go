// Package vaulttest runs the transit test server of tools/vaulttransit (a
// double of HashiCorp Vault / OpenBao built on Vault's own keysutil) for
// keyring tests and end-to-end scripts, and speaks Vault's admin API to
// it, so the same calls also set up a real Vault.
package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

// Tool is the test server's tools module.
var Tool = tooltest.Tool{Dir: "vaulttransit", Package: "."}

// RootToken is the test server's root token.
const RootToken = "ksec-test-root-token"

// Namespace is the child namespace the test server has besides the root one.
const Namespace = "team1"

// Server is a running transit test server, or a real Vault reached with a
// root token.
type Server struct {
	// Addr is the base URL, https://127.0.0.1:PORT (http:// for a plain one).
	Addr string
	// CACert is the file of the CA that signed the server's certificate;
	// "" for a plain-HTTP server or a real one that needs none.
	CACert string
	// Token may do anything.
	Token string

	client *http.Client
	cmd    *exec.Cmd
	stop   sync.Once
}

// Start builds (when needed) and starts a test server on 127.0.0.1 with its
// CA in dir; plain serves HTTP instead of HTTPS. The caller must Stop it.
func Start(dir string, plain bool) (*Server, error) {
	bin, err := tooltest.Binary(Tool)
	if err != nil {
		return nil, err
	}
	args := []string{"-token", RootToken, "-namespaces", Namespace, "-mounts", "transit,secret-transit"}
	if plain {
		args = append(args, "-http")
	} else {
		args = append(args, "-dir", dir)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				addr <- a
			}
		}
	}()
	s := &Server{Token: RootToken, cmd: cmd}
	select {
	case s.Addr = <-addr:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("vaulttransit did not start: %s", stderr.String())
	}
	if !plain {
		s.CACert = filepath.Join(dir, "ca.pem")
	}
	if err := s.makeClient(false); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// ForTest starts a test server (HTTPS) that stops when the test ends.
func ForTest(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), false)
	if err != nil {
		t.Fatalf("starting the transit test server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Real returns a real Vault or OpenBao server named by KSEC_TEST_VAULT_ADDR
// (with KSEC_TEST_VAULT_TOKEN, and VAULT_CACERT/VAULT_SKIP_VERIFY for its
// TLS), or skips the test when that is not set, under CI too: a real
// server is something a developer opts into, never a requirement.
func Real(t testing.TB) *Server {
	t.Helper()
	addr := os.Getenv("KSEC_TEST_VAULT_ADDR")
	if addr == "" {
		t.Skip("KSEC_TEST_VAULT_ADDR is not set: no real Vault to test against (opt-in)")
	}
	s := &Server{Addr: strings.TrimSuffix(addr, "/"), CACert: os.Getenv("VAULT_CACERT"), Token: os.Getenv("KSEC_TEST_VAULT_TOKEN")}
	if s.Token == "" {
		t.Fatal("KSEC_TEST_VAULT_ADDR is set, KSEC_TEST_VAULT_TOKEN is not")
	}
	if err := s.makeClient(os.Getenv("VAULT_SKIP_VERIFY") == "true"); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) makeClient(skipVerify bool) error {
	conf := &tls.Config{InsecureSkipVerify: skipVerify} //nolint:gosec // only when the developer asks
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("no certificate in " + s.CACert)
		}
		conf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = conf
	s.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return nil
}

// Stop ends a test server; it does nothing for a real one.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
}

// KeyURL is the URL of a transit key: PREFIX is the namespace and mount
// path ("transit", "team1/transit").
func (s *Server) KeyURL(prefix, name string) string {
	return s.Addr + "/v1/" + prefix + "/keys/" + name
}

// Env returns the environment that lets ksec reach the server (VAULT_ADDR)
// with the root token and trust its CA.
func (s *Server) Env() []string {
	return []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + s.Token, "VAULT_CACERT=" + s.CACert}
}

// Do sends one request with the root token; body may be nil. It returns
// the status and the reply.
func (s *Server) Do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.Addr+"/v1/"+strings.TrimPrefix(path, "/"), r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", s.Token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// Admin sends one request and fails unless it succeeds (2xx).
func (s *Server) Admin(method, path string, body any) error {
	code, out, err := s.Do(method, path, body)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, code, out)
	}
	return nil
}

// CreateKey creates a transit key of the type ("aes256-gcm96",
// "chacha20-poly1305", "rsa-2048", …) at prefix ("transit", "team1/transit").
func (s *Server) CreateKey(prefix, name, typ string) error {
	return s.Admin(http.MethodPost, prefix+"/keys/"+name, map[string]any{"type": typ})
}

// Rotate adds a key version; new wraps use it.
func (s *Server) Rotate(prefix, name string) error {
	return s.Admin(http.MethodPost, prefix+"/keys/"+name+"/rotate", nil)
}

// Seal seals the server: every transit call answers 503 until Unseal.
func (s *Server) Seal() error { return s.Admin(http.MethodPut, "sys/seal", nil) }

// Unseal unseals a test server (a real one needs its unseal keys).
func (s *Server) Unseal() error {
	return s.Admin(http.MethodPut, "sys/unseal", map[string]any{"key": "test"})
}

// AddToken adds a token with exactly the given capabilities by full path
// ("transit/decrypt/k1": {"update"}). Test server only.
func (s *Server) AddToken(token string, paths map[string][]string) error {
	return s.Admin(http.MethodPost, "ksec-test/token", map[string]any{"token": token, "paths": paths})
}

// SetFault makes the test server misbehave: "huge", "malformed", "stall",
// "ignore-aad", "redirect", or "" for none. Test server only.
func (s *Server) SetFault(fault string) error {
	return s.Admin(http.MethodPost, "ksec-test/fault", map[string]any{"fault": fault})
}
