package crypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// vectorFile pins the v1 format: tokens and MACs made from fixed keys and
// nonces must never change, or files written by older ksec stop opening.
const vectorFile = "../testdata/vectors/v1.json"

type tokenVector struct {
	DataKey  string   `json:"data_key"`
	Nonce    string   `json:"nonce"`
	Location Location `json:"location"`
	Style    Style    `json:"style"`
	Form     Form     `json:"form"`
	Value    string   `json:"value_hex"`
	Token    string   `json:"token"`
}

type macVector struct {
	DataKey string   `json:"data_key"`
	Input   MACInput `json:"input"`
	MAC     string   `json:"mac_hex"`
}

type vectors struct {
	Tokens []tokenVector `json:"tokens"`
	MACs   []macVector   `json:"macs"`
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// makeVectors builds the vector set from the implementation; used only to
// write the file the first time (KSEC_WRITE_VECTORS=1).
func makeVectors(t *testing.T) vectors {
	key := seq(32, 0)
	k, err := NewKey(key)
	require.NoError(t, err)
	var v vectors
	add := func(nonce []byte, loc Location, p Payload) {
		v.Tokens = append(v.Tokens, tokenVector{
			DataKey: hex.EncodeToString(key), Nonce: hex.EncodeToString(nonce), Location: loc,
			Style: p.Style, Form: p.Form, Value: hex.EncodeToString(p.Value),
			Token: k.SealWithNonce(nonce, loc, p),
		})
	}
	loc := Location{Namespace: "prod", Name: "db", Field: "data", Key: "password"}
	add(seq(12, 0x10), loc, Payload{Style: StylePlain, Form: FormBase64, Value: []byte("s3cr3t")})
	add(seq(12, 0x20), Location{Name: "no-namespace", Field: "stringData", Key: "config.yaml"}, Payload{Style: StyleLiteral, Form: FormText, Value: []byte("a: 1\nb: 2\n")})
	add(seq(12, 0x30), loc, Payload{Style: StylePlain, Form: FormNull, Value: nil})
	add(seq(12, 0x40), loc, Payload{Style: StyleDoubleQuoted, Form: FormText, Value: bytes.Repeat([]byte("x"), 29)})
	add(seq(12, 0x50), loc, Payload{Style: StyleFolded, Form: FormVerbatim, Value: append([]byte{2}, ">\n    folded\n    text"...)})
	v.MACs = append(v.MACs, macVector{
		DataKey: hex.EncodeToString(key),
		Input: MACInput{Namespace: "prod", Name: "db",
			Recipients: []MACRecipient{{Type: "pgp", ID: "0123456789ABCDEF0123456789ABCDEF01234567", Wrapped: []byte{1, 2, 3}}},
			Values:     []MACValue{{Field: "data", Key: "password", Token: v.Tokens[0].Token}, {Field: "data", Key: "empty", Token: v.Tokens[2].Token}},
		},
	})
	v.MACs[0].MAC = hex.EncodeToString(k.MAC(v.MACs[0].Input))
	return v
}

func TestKnownAnswerVectors(t *testing.T) {
	if os.Getenv("KSEC_WRITE_VECTORS") != "" {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(vectorFile, append(b, '\n'), 0o644))
	}
	raw, err := os.ReadFile(vectorFile)
	require.NoError(t, err)
	var v vectors
	require.NoError(t, json.Unmarshal(raw, &v))
	require.Len(t, v.Tokens, 5)
	for _, tv := range v.Tokens {
		key, _ := hex.DecodeString(tv.DataKey)
		nonce, _ := hex.DecodeString(tv.Nonce)
		value, _ := hex.DecodeString(tv.Value)
		k, err := NewKey(key)
		require.NoError(t, err)
		p := Payload{Style: tv.Style, Form: tv.Form, Value: value}
		require.Equal(t, tv.Token, k.SealWithNonce(nonce, tv.Location, p))
		got, err := k.Open(tv.Location, tv.Token)
		require.NoError(t, err)
		require.Equal(t, p.Style, got.Style)
		require.Equal(t, p.Form, got.Form)
		require.Equal(t, string(p.Value), string(got.Value))
	}
	require.Len(t, v.MACs, 1)
	for _, mv := range v.MACs {
		key, _ := hex.DecodeString(mv.DataKey)
		k, err := NewKey(key)
		require.NoError(t, err)
		want, _ := hex.DecodeString(mv.MAC)
		require.Equal(t, mv.MAC, hex.EncodeToString(k.MAC(mv.Input)))
		require.NoError(t, k.VerifyMAC(mv.Input, want))
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	dk, err := NewDataKey()
	require.NoError(t, err)
	k, err := NewKey(dk)
	require.NoError(t, err)
	loc := Location{Namespace: "n", Name: "s", Field: "data", Key: "k"}
	for _, size := range []int{0, 1, 28, 29, 30, 31, 32, 100, 1 << 16} {
		p := Payload{Style: StyleDoubleQuoted, Form: FormText, Value: bytes.Repeat([]byte{0xff}, size)}
		tok, err := k.Seal(loc, p)
		require.NoError(t, err)
		require.True(t, IsToken(tok))
		got, err := k.Open(loc, tok)
		require.NoError(t, err)
		require.Equal(t, p.Value, got.Value)
		require.Equal(t, p.Style, got.Style)
	}
}

func TestTokensAreNotBase64AndNonceIsFresh(t *testing.T) {
	k, _ := NewKey(seq(32, 1))
	loc := Location{Field: "data", Key: "k"}
	a, _ := k.Seal(loc, Payload{Value: []byte("same")})
	b, _ := k.Seal(loc, Payload{Value: []byte("same")})
	require.NotEqual(t, a, b, "every seal must use a fresh nonce")
	require.True(t, strings.HasPrefix(a, "ENC[ksec.v1,"))
	require.Contains(t, a, "[", "a token must never be valid base64")
}

func TestLengthIsHiddenWithinABucket(t *testing.T) {
	k, _ := NewKey(seq(32, 1))
	loc := Location{Field: "data", Key: "k"}
	short, _ := k.Seal(loc, Payload{Value: []byte("a")})
	longer, _ := k.Seal(loc, Payload{Value: []byte("abcdefghijklmnopqrstuvwxyz0")}) // 27 bytes: same 32-byte bucket
	next, _ := k.Seal(loc, Payload{Value: bytes.Repeat([]byte("a"), 30)})           // spills into the next bucket
	require.Equal(t, len(short), len(longer))
	require.Greater(t, len(next), len(short))
}

func TestOpenRejects(t *testing.T) {
	k, _ := NewKey(seq(32, 1))
	other, _ := NewKey(seq(32, 2))
	loc := Location{Namespace: "n", Name: "s", Field: "data", Key: "k"}
	tok, _ := k.Seal(loc, Payload{Value: []byte("v")})

	for name, l := range map[string]Location{
		"other key":       {Namespace: "n", Name: "s", Field: "data", Key: "k2"},
		"other field":     {Namespace: "n", Name: "s", Field: "stringData", Key: "k"},
		"other name":      {Namespace: "n", Name: "s2", Field: "data", Key: "k"},
		"other namespace": {Namespace: "n2", Name: "s", Field: "data", Key: "k"},
	} {
		_, err := k.Open(l, tok)
		require.ErrorIs(t, err, ErrIntegrity, name)
		require.Contains(t, err.Error(), l.String(), name)
	}
	_, err := other.Open(loc, tok)
	require.ErrorIs(t, err, ErrIntegrity)

	body := []byte(tok[len("ENC[ksec.v1,") : len(tok)-1])
	body[20] = map[bool]byte{true: 'B', false: 'A'}[body[20] == 'A']
	_, err = k.Open(loc, "ENC[ksec.v1,"+string(body)+"]")
	require.ErrorIs(t, err, ErrIntegrity)
	for _, bad := range []string{"ENC[ksec.v1,!!!]", "ENC[ksec.v1,AAAA]", "plain", "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"} {
		_, err = k.Open(loc, bad)
		require.ErrorIs(t, err, ErrMalformedToken, bad)
	}
	_, err = k.Open(loc, "ENC[ksec.v9,AAAA]")
	var v *UnsupportedVersionError
	require.True(t, errors.As(err, &v))
	require.Equal(t, "9", v.Version)
}

func TestMACCoversEverything(t *testing.T) {
	k, _ := NewKey(seq(32, 1))
	base := MACInput{Namespace: "n", Name: "s",
		Recipients: []MACRecipient{{Type: "pgp", ID: "A", Wrapped: []byte("w")}},
		Values:     []MACValue{{Field: "data", Key: "a", Token: "t1"}, {Field: "data", Key: "b", Token: "t2"}},
	}
	mac := k.MAC(base)
	require.NoError(t, k.VerifyMAC(base, mac))
	variants := map[string]func(m *MACInput){
		"namespace":      func(m *MACInput) { m.Namespace = "x" },
		"name":           func(m *MACInput) { m.Name = "x" },
		"recipient id":   func(m *MACInput) { m.Recipients[0].ID = "B" },
		"wrapped key":    func(m *MACInput) { m.Recipients[0].Wrapped = []byte("x") },
		"no recipients":  func(m *MACInput) { m.Recipients = nil },
		"value removed":  func(m *MACInput) { m.Values = m.Values[:1] },
		"value added":    func(m *MACInput) { m.Values = append(m.Values, MACValue{Field: "data", Key: "c", Token: "t3"}) },
		"values swapped": func(m *MACInput) { m.Values[0], m.Values[1] = m.Values[1], m.Values[0] },
		"token changed":  func(m *MACInput) { m.Values[1].Token = "t9" },
		// Length prefixes keep field boundaries unambiguous.
		"boundary shift": func(m *MACInput) { m.Values[0].Key, m.Values[0].Token = "at", "1" },
	}
	for name, change := range variants {
		m := base
		m.Recipients = append([]MACRecipient(nil), base.Recipients...)
		m.Values = append([]MACValue(nil), base.Values...)
		change(&m)
		require.ErrorIs(t, k.VerifyMAC(m, mac), ErrIntegrity, name)
	}
}

func TestNewKeyRejectsWrongSize(t *testing.T) {
	_, err := NewKey(make([]byte, 16))
	require.ErrorContains(t, err, "data key is 16 bytes, want 32")
}
