package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
)

// addManifestSeeds adds every fixture manifest, plain and encrypted.
func addManifestSeeds(f *testing.F) {
	files, err := filepath.Glob("../testdata/manifests/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed manifests in ../testdata/manifests: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkParseError requires a parse failure to be a bad-input or version error.
func checkParseError(t *testing.T, err error) {
	var version *crypto.UnsupportedVersionError
	if !errors.Is(err, ErrBadInput) && !errors.As(err, &version) {
		t.Fatalf("Parse error %q (%T) is neither bad input nor an unsupported version", err, err)
	}
}

// FuzzParse feeds arbitrary bytes to Parse, then makes the edits encrypt
// and decrypt make. Nothing may panic; a parse error is bad input; a stream
// without edits gives back its source; every value's span lies inside the
// source. (That decrypt(encrypt(x)) == x is envelope's FuzzRoundTrip.)
func FuzzParse(f *testing.F) {
	addManifestSeeds(f)
	f.Add([]byte("kind: Secret\ndata:\n  a:\n  b: ~\n  c: \"\"\n"))
	f.Add([]byte("{\"kind\":\"Secret\",\"stringData\":{\"a\":\"x\\ty\"}}"))
	f.Add([]byte("\xef\xbb\xbf{\"kind\":\"Secret\",\"data\":{\"a\":\"QQ==\"}}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := Parse(src)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if !bytes.Equal(st.Bytes(), src) {
			t.Fatalf("Bytes() of an unedited stream differs from the source")
		}
		for _, s := range st.Secrets {
			for _, l := range st.CommentLines(s) {
				if l < 1 || l > len(st.lines) {
					t.Fatalf("comment line %d outside 1..%d", l, len(st.lines))
				}
			}
			_ = s.Shadows()
			for _, v := range s.Values {
				if v.start < 0 || v.start > v.end || v.end > len(src) {
					t.Fatalf("%s: span %d..%d outside 0..%d", v, v.start, v.end, len(src))
				}
				if v.IsEncrypted() {
					_ = st.SetPlain(v, crypto.Payload{Style: crypto.StyleLiteral, Form: crypto.FormVerbatim, Value: []byte("\x07x\n  y")})
					continue
				}
				if _, err := st.Payload(v); err != nil && !errors.Is(err, ErrBadInput) {
					t.Fatalf("%s: Payload error %v is not bad input", v, err)
				}
				st.SetToken(v, fuzzToken)
			}
			if s.Meta != nil {
				st.RemoveMetadata(s)
			} else {
				st.SetMetadata(s, Metadata{Version: 1, Recipients: []keyring.Stanza{{Type: "age", ID: "age1x", Wrapped: []byte{1}}}, MAC: []byte{2}})
			}
		}
		st.Bytes()
	})
}

// fuzzToken stands in for a sealed value.
const fuzzToken = "ENC[ksec.v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]"

const metaPrefix = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: ENC[ksec.v1,AAAA]\nksec:\n"

// FuzzMetadata mutates the ksec block of a Secret. Nothing may panic; a
// block that parses has a known version, at least one complete recipient
// and a MAC; and writing it back with SetMetadata reads back the same.
func FuzzMetadata(f *testing.F) {
	f.Add("  version: 1\n  recipients:\n    - type: age\n      id: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n      wrapped: YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n  mac: 5Zq1Zm9v\n")
	f.Add("  version: 1\n  recipients:\n    - type: pgp\n      id: 0C45DA96A77D2DA2BEEF5D0658D1C26CD2B8985B\n      wrapped: hQEMAAAA\n    - type: aws\n      id: arn:aws:kms:eu-west-2:111122223333:alias/testing\n      wrapped: AQID\n  mac: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
	f.Add("  {version: 1, recipients: [{type: gcp, id: \"projects/p/locations/l/keyRings/r/cryptoKeys/k\", wrapped: AQ==}], mac: AQ==}\n")
	f.Add("  version: 2\n")
	f.Add("  version: 1\n  recipients: []\n  mac: AQ==\n")
	f.Fuzz(func(t *testing.T, block string) {
		src := []byte(metaPrefix + block)
		st, err := Parse(src)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if len(st.Secrets) != 1 || st.Secrets[0].Meta == nil {
			return // the mutation ended the Secret or the block
		}
		s := st.Secrets[0]
		m := s.Meta
		if m.Version != crypto.Version || len(m.Recipients) == 0 || len(m.MAC) == 0 {
			t.Fatalf("accepted metadata %+v", m)
		}
		for _, r := range m.Recipients {
			if r.Type == "" || r.ID == "" || len(r.Wrapped) == 0 {
				t.Fatalf("accepted recipient %+v", r)
			}
		}
		st.SetMetadata(s, *m)
		back, err := Parse(st.Bytes())
		if err != nil {
			t.Fatalf("rewritten block does not parse: %v\n%s", err, st.Bytes())
		}
		if len(back.Secrets) != 1 || !reflect.DeepEqual(back.Secrets[0].Meta, m) {
			t.Fatalf("rewritten block reads back differently:\n%s", st.Bytes())
		}
	})
}
