package vaulttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// call sends one request with a token and an optional namespace header.
func call(t *testing.T, s *Server, token, ns, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.Addr+"/v1/"+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if ns != "" {
		req.Header.Set("X-Vault-Namespace", ns)
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

// The double answers as Vault does where ksec depends on it.
func TestServerSpeaksVault(t *testing.T) {
	s := ForTest(t)
	require.NoError(t, s.CreateKey(Namespace+"/transit", "k", "aes256-gcm96"))
	pt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ad := base64.StdEncoding.EncodeToString([]byte("scope"))

	// The namespace in the path and in the header are the same thing.
	code, body := call(t, s, RootToken, "", http.MethodPost, Namespace+"/transit/encrypt/k", `{"plaintext":"`+pt+`","associated_data":"`+ad+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	var rep struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
			KeyVersion int    `json:"key_version"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.True(t, strings.HasPrefix(rep.Data.Ciphertext, "vault:v1:"), body)
	require.Equal(t, 1, rep.Data.KeyVersion)
	require.Nil(t, rep.Warnings)
	code, body = call(t, s, RootToken, Namespace, http.MethodPut, "transit/decrypt/k", `{"ciphertext":"`+rep.Data.Ciphertext+`","associated_data":"`+ad+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"plaintext":"`+pt+`"`)
	code, body = call(t, s, RootToken, "", http.MethodPost, "transit/decrypt/k", `{"ciphertext":"`+rep.Data.Ciphertext+`"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, `{"errors":["encryption key not found"]}`, body)

	// Unknown parameters are ignored with a warning.
	code, body = call(t, s, RootToken, Namespace, http.MethodPost, "transit/encrypt/k", `{"plaintext":"`+pt+`","colour":"blue"}`)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"warnings":["Endpoint ignored these unrecognized parameters: [colour]"]`)

	// Tokens: none or a wrong one is 403; lookup-self tells a good one.
	for _, tok := range []string{"", "wrong"} {
		code, body = call(t, s, tok, "", http.MethodPost, "transit/encrypt/k", `{"plaintext":"`+pt+`"}`)
		require.Equal(t, http.StatusForbidden, code)
		require.Equal(t, `{"errors":["permission denied"]}`, body)
		code, _ = call(t, s, tok, "", http.MethodGet, "auth/token/lookup-self", "")
		require.Equal(t, http.StatusForbidden, code)
	}
	code, _ = call(t, s, RootToken, "", http.MethodGet, "auth/token/lookup-self", "")
	require.Equal(t, http.StatusOK, code)

	// Upsert: a token that may create makes the key it names on encrypt;
	// one with update only is refused.
	require.NoError(t, s.AddToken("upd", map[string][]string{"transit/encrypt/new": {"update"}}))
	code, _ = call(t, s, "upd", "", http.MethodPost, "transit/encrypt/new", `{"plaintext":"`+pt+`"}`)
	require.Equal(t, http.StatusForbidden, code)
	code, body = call(t, s, RootToken, "", http.MethodPost, "transit/encrypt/new", `{"plaintext":"`+pt+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, _ = call(t, s, "upd", "", http.MethodPost, "transit/encrypt/new", `{"plaintext":"`+pt+`"}`)
	require.Equal(t, http.StatusOK, code)

	// Sealed: 503 for everything but the seal endpoints.
	require.NoError(t, s.Seal())
	code, body = call(t, s, RootToken, "", http.MethodPost, "transit/encrypt/new", `{"plaintext":"`+pt+`"}`)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, `{"errors":["Vault is sealed"]}`, body)
	require.NoError(t, s.Unseal())
	code, _ = call(t, s, RootToken, "", http.MethodPost, "transit/encrypt/new", `{"plaintext":"`+pt+`"}`)
	require.Equal(t, http.StatusOK, code)
}
