package envelope

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// FuzzRoundTrip checks the fidelity promise on any input: whatever ksec
// agrees to encrypt, it decrypts back to the same bytes, and encrypting the
// result again changes nothing.
func FuzzRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("../testdata/manifests/*")
	for _, file := range files {
		if filepath.Ext(file) == ".golden" {
			continue
		}
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: v1\nkind: Secret\nstringData:\n  a: |\n    x\n\n  b: 'y'\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := manifest.Parse(src)
		if err != nil {
			return
		}
		kr := testKeyring("alice")
		if err := Encrypt(context.Background(), st, kr, Recipients{Set: []keyring.Recipient{plainRecipient{"alice"}}}); err != nil {
			// Refusing a layout is safe: nothing is written. Which layouts
			// must never be refused is TestBlockLayoutsEncrypt's job, on
			// fixed inputs: a fuzzer that keeps finding ever odder refused
			// layouts would fail CI by chance, not by a regression.
			return
		}
		enc := st.Bytes()
		back, err := manifest.Parse(enc)
		if err != nil {
			t.Fatalf("encrypted output does not parse: %v\n%s", err, enc)
		}
		if err := Encrypt(context.Background(), back, kr, Recipients{Set: []keyring.Recipient{plainRecipient{"alice"}}}); err != nil {
			t.Fatalf("re-encrypting: %v", err)
		}
		if again := back.Bytes(); string(again) != string(enc) {
			t.Fatalf("re-encrypting changed the file:\n%s\n---\n%s", enc, again)
		}
		dec, err := decrypt(enc, "alice")
		if err != nil {
			t.Fatalf("decrypt: %v\n%s", err, enc)
		}
		if string(dec) != string(src) {
			t.Fatalf("round trip differs:\n%q\n%q", src, dec)
		}
	})
}

// Block-style layouts that ksec once refused (found by FuzzRoundTrip) now
// encrypt and decrypt back byte for byte.
func TestBlockLayoutsEncrypt(t *testing.T) {
	for name, src := range map[string]string{
		"white space beyond the indentation ends a literal block":   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  a: b\n  lit: |\n   yx\n     \n",
		"the same with CRLF line ends":                              "apiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: crlf\r\nstringData:\r\n  a: b\r\n  lit: |\r\n   yx\r\n     \r\n",
		"a tab after the indentation inside a folded block":         "kind: Secret\nmetadata:\n  name: a\nstringData:\n  f: >\n    x\n    \t\n    y\n",
		"a value on the next line, indented deeper (older finding)": "kind: Secret\nmetadata:\n  name: a\nstringData:\n  k:\n    v\n",
		"a header with a comment and no space (older finding)":      "kind: Secret\nmetadata:\n  name: a\nstringData:\n  k: |#8\n    v\n",
	} {
		st, err := manifest.Parse([]byte(src))
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		kr := testKeyring("alice")
		if err := Encrypt(context.Background(), st, kr, Recipients{Set: []keyring.Recipient{plainRecipient{"alice"}}}); err != nil {
			t.Fatalf("%s: encrypt: %v", name, err)
		}
		dec, err := decrypt(st.Bytes(), "alice")
		if err != nil {
			t.Fatalf("%s: decrypt: %v", name, err)
		}
		if string(dec) != src {
			t.Errorf("%s: round trip differs:\n%q\n%q", name, src, dec)
		}
	}
}
