package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzKey and fuzzLoc are fixed, so seed tokens made with them (see
// testdata/fuzz/FuzzOpenToken) open, and mutations of them are near misses.
var fuzzLoc = Location{Namespace: "prod", Name: "db", Field: "data", Key: "password"}

func fuzzKey(t testing.TB) *Key {
	k, err := NewKey(seq(32, 0))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzOpenToken feeds arbitrary strings to Open. It must never panic; an
// error must be an integrity failure or an unsupported version; and a
// token that opens must hold ciphertext that this key really sealed for
// this place, i.e. sealing its payload again under its nonce gives the
// same bytes.
func FuzzOpenToken(f *testing.F) {
	k := fuzzKey(f)
	for i, p := range []Payload{
		{Style: StylePlain, Form: FormBase64, Value: []byte("s3cr3t")},
		{Style: StyleLiteral, Form: FormText, Value: []byte("a: 1\nb: 2\n")},
		{Style: StylePlain, Form: FormNull},
		{Style: StyleDoubleQuoted, Form: FormVerbatim, Value: bytes.Repeat([]byte{0xff}, 70)},
	} {
		f.Add(k.SealWithNonce(seq(NonceSize, byte(16*i)), fuzzLoc, p))
	}
	f.Add("ENC[ksec.v2,AAAA]")
	f.Add("ENC[ksec.v1,]")
	f.Add("ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]")
	f.Add("ENC[ksec.v")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := k.Open(fuzzLoc, token)
		if err != nil {
			var version *UnsupportedVersionError
			if !errors.Is(err, ErrIntegrity) && !errors.As(err, &version) {
				t.Fatalf("Open(%q) = %v, want an integrity or version error", token, err)
			}
			return
		}
		raw, err := parseToken(token)
		if err != nil {
			t.Fatalf("Open accepted %q that parseToken refuses: %v", token, err)
		}
		again := k.SealWithNonce(raw[:NonceSize], fuzzLoc, p)
		back, err := parseToken(again)
		if err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("Open accepted %q, but its payload seals to %q", token, again)
		}
	})
}

// FuzzUnpad checks the padding reader on arbitrary plaintexts: no panic,
// and whatever it accepts is exactly a padded payload followed by zeros.
func FuzzUnpad(f *testing.F) {
	f.Add(pad(Payload{Style: StylePlain, Form: FormText, Value: []byte("x")}))
	f.Add(pad(Payload{Style: StyleFolded, Form: FormVerbatim, Value: bytes.Repeat([]byte{0x80}, 29)}))
	f.Add(make([]byte, 32))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unpad(b)
		if err != nil {
			return
		}
		if p.Style > StyleFolded || p.Form > FormVerbatimAtEnd {
			t.Fatalf("unpad accepted style %d form %d", p.Style, p.Form)
		}
		again := pad(p)
		if len(again) > len(b) || !bytes.Equal(again, b[:len(again)]) || len(bytes.Trim(b[len(again):], "\x00")) != 0 {
			t.Fatalf("unpad(%x) = %+v, which pads to %x", b, p, again)
		}
	})
}
