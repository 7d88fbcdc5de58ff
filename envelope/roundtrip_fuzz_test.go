package envelope

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
			// Refusing a layout is safe (nothing is written); block-style
			// YAML, what manifests are made of, must never be refused.
			if strings.Contains(err.Error(), "cannot rewrite this file's layout exactly") && !strings.ContainsAny(string(src), "{[") {
				t.Fatalf("%v\ninput: %q", err, src)
			}
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
