// Package crypto holds ksec's cryptography as pure functions: data keys,
// value tokens (AES-256-GCM with padding and location binding) and the MAC
// over a whole Secret. It does no I/O besides reading crypto/rand.
package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the format version this package reads and writes.
const Version = 1

const (
	// DataKeySize is the size of a Secret's data key in bytes.
	DataKeySize = 32
	// NonceSize is the AES-GCM nonce size in bytes.
	NonceSize = 12
	// PadBlock is the granularity, in bytes, of a sealed payload's length.
	PadBlock = 32
	// MACSize is the size of a Secret's MAC in bytes (HMAC-SHA256).
	MACSize = sha256.Size

	tokenPrefix = "ENC[ksec.v"
	tokenV1     = "ENC[ksec.v1,"
	tokenSuffix = "]"

	valueKeyInfo = "ksec v1 value key"
	macKeyInfo   = "ksec v1 mac key"
	valueDomain  = "ksec v1 value"
	macDomain    = "ksec v1 mac"
)

var tokenEncoding = base64.RawURLEncoding

// ErrIntegrity means a token or a MAC did not authenticate: the file was
// changed by someone without the data key, or the value was moved.
var ErrIntegrity = errors.New("integrity check failed")

// ErrMalformedToken means a string looks like a ksec token but cannot be
// one. It is an integrity failure: ksec never writes such a token.
var ErrMalformedToken = fmt.Errorf("%w: malformed ksec token", ErrIntegrity)

// UnsupportedVersionError is returned for a token or metadata block written
// by a format version this build does not know.
type UnsupportedVersionError struct{ Version string }

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("format version %s is not supported (this ksec reads version %d)", e.Version, Version)
}

// Style records how a value was written in YAML, so decrypting restores it.
type Style byte

// The presentation styles of a sealed value.
const (
	StylePlain Style = iota
	StyleSingleQuoted
	StyleDoubleQuoted
	StyleLiteral
	StyleFolded
)

// Form says how Payload.Value relates to the scalar in the manifest.
type Form byte

// The payload forms.
const (
	// FormText: Value is the scalar's string value (stringData, or data
	// written in a style ksec can re-create).
	FormText Form = iota
	// FormBase64: Value is the decoded bytes of a data value; the scalar is
	// their standard padded base64.
	FormBase64
	// FormNull: the scalar was a YAML null; Value is its literal text ("", "~", "null").
	FormNull
	// FormVerbatim: Value is the scalar's exact source text, used when
	// re-rendering from the value would not give back the same bytes.
	FormVerbatim
	// FormVerbatimAtEnd: as FormVerbatim, for a block scalar that ended
	// its file without a final line break, where it reads without the
	// trailing line break it would read with anywhere else. Sealing this
	// apart keeps the file's last byte out of what a value means: removing
	// or adding a final line break cannot change a decrypted value.
	FormVerbatimAtEnd
)

// Payload is what one token seals: the value and how to write it back.
type Payload struct {
	Style Style
	Form  Form
	Value []byte
}

// Location binds a token to one value of one Secret.
type Location struct {
	Namespace string
	Name      string
	Field     string // "data" or "stringData"
	Key       string
}

func (l Location) String() string {
	return l.Field + "." + l.Key
}

// NewDataKey returns a fresh random data key.
func NewDataKey() ([]byte, error) {
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	return k, nil
}

// Key is a data key ready to seal, open and authenticate one Secret.
type Key struct {
	aead   cipher.AEAD
	macKey []byte
}

// NewKey derives the value and MAC subkeys from a data key.
func NewKey(dataKey []byte) (*Key, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), DataKeySize)
	}
	valueKey, err := hkdf.Key(sha256.New, dataKey, nil, valueKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, dataKey, nil, macKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(valueKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead, macKey: macKey}, nil
}

// Seal encrypts a payload for a location under a fresh random nonce.
func (k *Key) Seal(loc Location, p Payload) (string, error) {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("generate nonce: %w", err)
	}
	return k.SealWithNonce(nonce, loc, p), nil
}

// SealWithNonce is Seal with a caller-chosen nonce. Only known-answer tests
// may use it: a nonce must never be reused under one data key.
func (k *Key) SealWithNonce(nonce []byte, loc Location, p Payload) string {
	plain := pad(p)
	out := make([]byte, 0, NonceSize+len(plain)+k.aead.Overhead())
	out = append(out, nonce...)
	out = k.aead.Seal(out, nonce, plain, valueAAD(loc))
	return tokenV1 + tokenEncoding.EncodeToString(out) + tokenSuffix
}

// Open authenticates and decrypts a token sealed for loc.
func (k *Key) Open(loc Location, token string) (Payload, error) {
	raw, err := parseToken(token)
	if err != nil {
		return Payload{}, err
	}
	plain, err := k.aead.Open(nil, raw[:NonceSize], raw[NonceSize:], valueAAD(loc))
	if err != nil {
		return Payload{}, fmt.Errorf("%w: the value does not belong to %s of this Secret, or was altered", ErrIntegrity, loc)
	}
	p, err := unpad(plain)
	if err != nil {
		return Payload{}, fmt.Errorf("%w: %s: %v", ErrIntegrity, loc, err)
	}
	return p, nil
}

// IsToken reports whether s has the shape of a ksec token of any version.
// It is cheap and does not check the ciphertext.
func IsToken(s string) bool {
	return strings.HasPrefix(s, tokenPrefix) && strings.HasSuffix(s, tokenSuffix)
}

// LooksEncrypted reports whether s is a ksec token or another tool's
// ENC[…] value, so callers refuse to treat it as plaintext.
func LooksEncrypted(s string) bool {
	return strings.HasPrefix(s, "ENC[") && strings.HasSuffix(s, tokenSuffix)
}

func parseToken(token string) ([]byte, error) {
	if !IsToken(token) {
		if LooksEncrypted(token) {
			return nil, fmt.Errorf("%w: an ENC[…] value that ksec did not write (a SOPS file?)", ErrMalformedToken)
		}
		return nil, fmt.Errorf("%w: not an ENC[ksec.v…] token", ErrMalformedToken)
	}
	if !strings.HasPrefix(token, tokenV1) {
		v := strings.TrimPrefix(token, tokenPrefix)
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		if len(v) > 16 {
			v = v[:16] + "…"
		}
		return nil, &UnsupportedVersionError{Version: v}
	}
	body := token[len(tokenV1) : len(token)-len(tokenSuffix)]
	// One text per token: only the alphabet, no spare bits (the decoder
	// would otherwise skip newlines and ignore trailing bits).
	for i := 0; i < len(body); i++ {
		if c := body[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("%w: bad base64url body", ErrMalformedToken)
		}
	}
	raw, err := tokenEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url body", ErrMalformedToken)
	}
	// nonce, at least one padded block, tag
	if len(raw) < NonceSize+PadBlock+16 {
		return nil, fmt.Errorf("%w: too short", ErrMalformedToken)
	}
	return raw, nil
}

// pad lays out style, form and value, then 0x80 and zeros up to a multiple
// of PadBlock, so a token reveals only a length bucket.
func pad(p Payload) []byte {
	n := 2 + len(p.Value) + 1
	size := (n + PadBlock - 1) / PadBlock * PadBlock
	b := make([]byte, size)
	b[0] = byte(p.Style)
	b[1] = byte(p.Form)
	copy(b[2:], p.Value)
	b[2+len(p.Value)] = 0x80
	return b
}

func unpad(b []byte) (Payload, error) {
	if len(b)%PadBlock != 0 {
		return Payload{}, errors.New("bad padding")
	}
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 2 || b[i] != 0x80 {
		return Payload{}, errors.New("bad padding")
	}
	// The writer pads to the next multiple of PadBlock only: a whole block
	// of zeros more is not a payload ksec writes.
	if len(b)-(i+1) >= PadBlock {
		return Payload{}, errors.New("padding longer than one block")
	}
	p := Payload{Style: Style(b[0]), Form: Form(b[1]), Value: b[2:i]}
	if p.Style > StyleFolded || p.Form > FormVerbatimAtEnd {
		return Payload{}, errors.New("unknown style or form")
	}
	return p, nil
}

// lengthPrefixed writes each field as a 4-byte big-endian length and the bytes.
type lengthPrefixed struct{ w io.Writer }

func (w lengthPrefixed) field(b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	w.w.Write(n[:])
	w.w.Write(b)
}

func (w lengthPrefixed) str(s string) { w.field([]byte(s)) }

func (w lengthPrefixed) count(c int) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(c))
	w.w.Write(n[:])
}

func valueAAD(loc Location) []byte {
	var b bytes.Buffer
	w := lengthPrefixed{&b}
	w.str(valueDomain)
	w.str(loc.Namespace)
	w.str(loc.Name)
	w.str(loc.Field)
	w.str(loc.Key)
	return b.Bytes()
}

// MACRecipient is one recipient entry as covered by the MAC.
type MACRecipient struct {
	Type    string
	ID      string
	Wrapped []byte
}

// MACValue is one value token with its place, in document order.
type MACValue struct {
	Field string
	Key   string
	Token string
}

// MACInput is everything the MAC of one Secret covers.
type MACInput struct {
	Namespace  string
	Name       string
	Recipients []MACRecipient
	Values     []MACValue
}

// MAC computes HMAC-SHA256 under the MAC subkey over the canonical encoding
// of in (see docs/FORMAT.md).
func (k *Key) MAC(in MACInput) []byte {
	m := hmac.New(sha256.New, k.macKey)
	w := lengthPrefixed{m}
	w.str(macDomain)
	w.str(in.Namespace)
	w.str(in.Name)
	w.count(len(in.Recipients))
	for _, r := range in.Recipients {
		w.str(r.Type)
		w.str(r.ID)
		w.field(r.Wrapped)
	}
	w.count(len(in.Values))
	for _, v := range in.Values {
		w.str(v.Field)
		w.str(v.Key)
		w.str(v.Token)
	}
	return m.Sum(nil)
}

// VerifyMAC checks mac against in in constant time.
func (k *Key) VerifyMAC(in MACInput, mac []byte) error {
	if !hmac.Equal(k.MAC(in), mac) {
		return fmt.Errorf("%w: the MAC does not match: a value, a key or a recipient was added, removed, reordered or altered", ErrIntegrity)
	}
	return nil
}
