// Package forge writes encrypted ksec files the way an attacker who holds
// only the recipients' PUBLIC keys can: it makes a data key, wraps it for
// the recipients, seals arbitrary payload bytes with arbitrary style and
// form bytes and computes a correct MAC. The result is a perfectly
// authentic file whose payloads may be hostile — the input the strict
// reader must refuse (or decrypt to exactly what was sealed).
//
// The cryptography is written here again from docs/FORMAT.md, not taken
// from package crypto, so the tests also check that the spec alone is
// enough to write a file ksec reads.
//
// Use:
//
//	r, idFile := forge.AgeKey(t)         // recipient + identity file for -I
//	file := forge.Secret(t, []keyring.Recipient{r}, "ns", "db", []forge.Value{
//		{Field: "stringData", Key: "password", Payload: []byte("x\n---\nkind: X"), Form: 3, Style: 0},
//	})
//
// Secret writes a block-style YAML Secret: apiVersion, kind, metadata
// (name, then namespace when not empty), then one mapping per field in the
// order the fields first appear in values, each holding its keys in the
// order given, then the ksec block. The MAC covers the values in that
// document order. A Value's Raw, when set, is sealed as the exact
// plaintext instead of style||form||payload||padding, to forge bad padding
// or a too-short body. Change the layout afterwards with plain text edits:
// the MAC covers only the scope, the recipients and the tokens with their
// field and key, so edits elsewhere keep the file authentic (a merge key
// or an anchor added, a document appended). Join several Secrets with
// "---\n" for a stream; two Secrets with the same namespace and name are
// both authentic. SecretE and Build serve callers without a testing.TB
// (testscript commands, fuzz targets); Build takes a fixed data key and
// recipient stanzas so a fuzz target wraps the key only once.
package forge

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/keyring"
)

// Value is one sealed entry of a forged Secret.
type Value struct {
	Field   string // "data" or "stringData" (or anything, to forge)
	Key     string
	Payload []byte // the value bytes of the payload
	Form    byte   // 0 text, 1 base64, 2 null, 3 verbatim (indent byte first)
	Style   byte   // 0 plain, 1 single, 2 double, 3 literal, 4 folded
	// Raw, when not nil, is the exact plaintext sealed in the token
	// (Payload, Form and Style are then ignored).
	Raw []byte
}

// Plaintext is what a Value seals: Raw, or style || form || payload ||
// 0x80 || zeros to a multiple of 32 bytes (docs/FORMAT.md, 3.1).
func (v Value) Plaintext() []byte {
	if v.Raw != nil {
		return v.Raw
	}
	b := append([]byte{v.Style, v.Form}, v.Payload...)
	b = append(b, 0x80)
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	return b
}

// AgeKey makes a throwaway age key pair: the recipient (public key) to
// forge for, and an identity file to decrypt with (ksec -I FILE).
func AgeKey(t testing.TB) (keyring.Recipient, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "forge.agekey")
	if err := os.WriteFile(file, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := keyring.NewAge().ParseRecipient(context.Background(), id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return r, file
}

// Secret forges one encrypted Secret document (see the package comment).
func Secret(t testing.TB, recipients []keyring.Recipient, namespace, name string, values []Value) []byte {
	t.Helper()
	out, err := SecretE(recipients, namespace, name, values)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SecretE is Secret returning its error, for callers without a testing.TB
// (fuzz setup, testscript commands).
func SecretE(recipients []keyring.Recipient, namespace, name string, values []Value) ([]byte, error) {
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, err
	}
	var stanzas []keyring.Stanza
	for _, r := range recipients {
		s, err := r.Wrap(context.Background(), dataKey, keyring.Scope{Namespace: namespace, Name: name})
		if err != nil {
			return nil, err
		}
		stanzas = append(stanzas, s)
	}
	return Build(dataKey, stanzas, namespace, name, values)
}

// Build is SecretE with a given data key and recipient stanzas.
func Build(dataKey []byte, stanzas []keyring.Stanza, namespace, name string, values []Value) ([]byte, error) {
	valueKey, err := hkdf.Key(sha256.New, dataKey, nil, "ksec v1 value key", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, dataKey, nil, "ksec v1 mac key", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(valueKey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	// Document order: fields in order of first appearance, keys as given.
	var fields []string
	byField := map[string][]Value{}
	for _, v := range values {
		if _, ok := byField[v.Field]; !ok {
			fields = append(fields, v.Field)
		}
		byField[v.Field] = append(byField[v.Field], v)
	}

	var doc bytes.Buffer
	doc.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + str(name) + "\n")
	if namespace != "" {
		doc.WriteString("  namespace: " + str(namespace) + "\n")
	}
	type placed struct{ field, key, token string }
	var order []placed
	for _, f := range fields {
		doc.WriteString(str(f) + ":\n")
		for _, v := range byField[f] {
			nonce := make([]byte, 12)
			if _, err := rand.Read(nonce); err != nil {
				return nil, err
			}
			aad := lp(nil, "ksec v1 value", namespace, name, v.Field, v.Key)
			sealed := gcm.Seal(append([]byte(nil), nonce...), nonce, v.Plaintext(), aad)
			token := "ENC[ksec.v1," + base64.RawURLEncoding.EncodeToString(sealed) + "]"
			doc.WriteString("  " + str(v.Key) + ": " + token + "\n")
			order = append(order, placed{v.Field, v.Key, token})
		}
	}

	m := hmac.New(sha256.New, macKey)
	m.Write(lp(nil, "ksec v1 mac", namespace, name))
	m.Write(u32(len(stanzas)))
	for _, s := range stanzas {
		m.Write(lp(nil, s.Type, s.ID, string(s.Wrapped)))
	}
	m.Write(u32(len(order)))
	for _, p := range order {
		m.Write(lp(nil, p.field, p.key, p.token))
	}

	doc.WriteString("ksec:\n  version: 1\n  recipients:\n")
	for _, s := range stanzas {
		doc.WriteString("    - type: " + str(s.Type) + "\n      id: " + str(s.ID) +
			"\n      wrapped: " + base64.StdEncoding.EncodeToString(s.Wrapped) + "\n")
	}
	doc.WriteString("  mac: " + base64.StdEncoding.EncodeToString(m.Sum(nil)) + "\n")
	return doc.Bytes(), nil
}

func u32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func lp(b []byte, fields ...string) []byte {
	for _, f := range fields {
		b = append(b, u32(len(f))...)
		b = append(b, f...)
	}
	return b
}

var simple = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._/-]*$`)

// str writes s plain when it is a simple word, else double-quoted.
func str(s string) string {
	if simple.MatchString(s) && s != "null" && s != "true" && s != "false" {
		return s
	}
	return strconv.Quote(s)
}

// Keyring returns a keyring that decrypts with the age identity file
// AgeKey made (and knows the age key type).
func Keyring(identityFile string) *keyring.Keyring {
	return keyring.New([]keyring.Provider{keyring.NewAge()}, []keyring.Identity{keyring.NewDefaultAgeIdentity(identityFile)})
}
