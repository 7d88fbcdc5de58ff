package foreign

// The reader of shyiko/kubesec files (format versions 1 to 4), written from
// the format's description in docs/MIGRATING.md, not from kubesec's code.
//
// What a kubesec file authenticates is less than what a ksec file does, and
// the reader is strict about all of it:
//
//   - each value is sealed with AES-GCM under the data key with its bare key
//     name as additional data: it cannot move to another key name, but it is
//     not bound to the Secret, nor to data versus stringData;
//   - the MAC (v3, v4) is a GMAC under the data key over the key names and
//     plaintexts, then the recipient IDs, concatenated without separators:
//     it catches values removed, added, rolled back or changed and
//     recipients listed or removed, but not everything (a key moving from
//     the end of data to the start of stringData keeps the same bytes);
//   - nothing covers the metadata (name, namespace, labels, type);
//   - v1 and v2 files have no MAC at all: anyone can delete or roll back a
//     value; reading them needs the caller's explicit consent;
//   - AWS and GCP wrapped keys carry no binding to the Secret, so a data key
//     is only as private as every file it was wrapped in;
//   - PGP-wrapped keys are signed by whoever encrypted the file; the
//     signature is checked when the signer's public key is at hand.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"go.yaml.in/yaml/v3"
	yaml2 "sigs.k8s.io/yaml/goyaml.v2"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Limits of what the reader accepts. kubesec has none; these are far
// above anything it writes for a Secret (at most 1 MiB in Kubernetes).
const (
	kubesecMaxRecipients = 64
	kubesecMaxID         = 512     // a GCP key name or an AWS ARN
	kubesecMaxValue      = 2 << 20 // sealed bytes of one value
	kubesecMaxArmored    = 4 * keyring.MaxWrapped
	kubesecPad           = 48 // values are padded with NUL to a multiple of this
)

// ErrNoMAC says a kubesec v1/v2 file, which has no MAC, was read without
// the caller's consent.
var ErrNoMAC = errors.New("kubesec file has no MAC")

// KubesecRecipient is one key line of a kubesec footer.
type KubesecRecipient struct {
	Type    string // pgp, gcp or aws
	ID      string // as kubesec wrote it: a PGP key ID or fingerprint, a GCP key name, an AWS ARN
	Wrapped []byte // the wrapped data key; for pgp the binary OpenPGP message (de-armored)
}

// KubesecFile is a parsed kubesec-encrypted Secret.
type KubesecFile struct {
	Version    int
	Recipients []KubesecRecipient // in footer order
	Name       string             // metadata.namespace/name, for messages; may be empty
	HasMAC     bool

	doc        map[any]any
	data       map[string]string // sealed tokens
	stringData map[string]string
	macIV      []byte
	macTag     []byte
}

// KubesecOptions are the reader's choices.
type KubesecOptions struct {
	// AllowNoMAC accepts v1/v2 files, which have no MAC.
	AllowNoMAC bool
}

// KubesecPlain is a decrypted kubesec file.
type KubesecPlain struct {
	// Manifest is the Secret as kubesec decrypt prints it: the document
	// re-marshalled by yaml.v2 with every value in the clear, no footer.
	Manifest []byte
	// Signatures holds what is known of the signature on the PGP-wrapped
	// key that was opened (none when a KMS key opened it).
	Signatures []keyring.Signature
	// PGPOpened is set when a PGP recipient's wrapped key gave the data key.
	PGPOpened bool
}

// Regular expressions here are compiled on first use, not at start-up
// (every ksec run would pay for them: see startup_test.go).
var (
	kubesecFooterLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^# kubesec:`) })
	kubesecPGPID      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`) })
	kubesecB64        = base64.StdEncoding.Strict()
	kubesecPrintable  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\x21-\x7e]+$`) })
	plainName         = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[-._a-zA-Z0-9/]+$`) })
)

// quoteName writes a key or Secret name for a message: as it is when plain,
// else quoted, so that a name cannot carry terminal escapes.
func quoteName(s string) string {
	if plainName().MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// ParseKubesec reads a kubesec file's footer and Secret, checking its form;
// nothing is decrypted.
func ParseKubesec(src []byte) (*KubesecFile, error) {
	if bytes.IndexByte(src, '\r') >= 0 {
		return nil, hint.Wrap(kubesecErr("it has carriage returns (CRLF line ends); kubesec writes none"),
			"convert the line ends back (dos2unix FILE, or git config core.autocrlf false and check the file out again)")
	}
	lines := strings.Split(string(src), "\n")
	// kubesec writes the footer last; printed to a terminal and redirected
	// it gains empty lines after it.
	end := len(lines)
	for end > 0 && lines[end-1] == "" {
		end--
	}
	start := end
	for start > 0 && kubesecFooterLine().MatchString(lines[start-1]) {
		start--
	}
	for i, l := range lines[:start] {
		if kubesecFooterLine().MatchString(l) {
			return nil, kubesecErr(fmt.Sprintf("line %d: a kubesec footer line before the end of the file", i+1))
		}
	}
	f := &KubesecFile{}
	if err := f.parseFooter(lines[start:end], start+1); err != nil {
		return nil, err
	}
	if err := f.parseBody([]byte(strings.Join(lines[:start], "\n"))); err != nil {
		return nil, err
	}
	return f, nil
}

func kubesecErr(msg string) error {
	return fmt.Errorf("%w: not a kubesec file ksec can read: %s", manifest.ErrBadInput, msg)
}

// parseFooter checks the footer's order: the version, the key lines, then
// the MAC for v3 and v4.
func (f *KubesecFile) parseFooter(lines []string, first int) error {
	if len(lines) == 0 {
		return kubesecErr("no # kubesec: footer at the end of the file")
	}
	v, ok := strings.CutPrefix(lines[0], "# kubesec:v:")
	if !ok {
		return kubesecErr(fmt.Sprintf("line %d: the footer must start with # kubesec:v:", first))
	}
	switch v {
	case "1", "2", "3", "4":
		f.Version, _ = strconv.Atoi(v)
	default:
		return hint.Wrap(kubesecErr(fmt.Sprintf("line %d: kubesec format version %.10q is not one ksec knows (1 to 4)", first, v)),
			"decrypt it with the kubesec that wrote it, then encrypt the output with ksec")
	}
	keys := lines[1:]
	f.HasMAC = f.Version >= 3
	if f.HasMAC {
		if len(keys) == 0 {
			return kubesecErr("the footer has no # kubesec:mac: line")
		}
		mac, ok := strings.CutPrefix(keys[len(keys)-1], "# kubesec:mac:")
		if !ok {
			return kubesecErr(fmt.Sprintf("line %d: a v%d footer must end with its # kubesec:mac: line", first+len(lines)-1, f.Version))
		}
		iv, tag, ok := parseSealedParts(mac, 2)
		if !ok || len(iv[0]) != 0 {
			return kubesecErr(fmt.Sprintf("line %d: the MAC is not base64(iv).base64(tag)", first+len(lines)-1))
		}
		f.macIV, f.macTag = iv[1], tag
		keys = keys[:len(keys)-1]
	}
	if len(keys) == 0 {
		return kubesecErr("the footer names no key")
	}
	if len(keys) > kubesecMaxRecipients {
		return kubesecErr(fmt.Sprintf("the footer names %d keys, more than the %d ksec reads", len(keys), kubesecMaxRecipients))
	}
	seen := map[string]bool{}
	for i, l := range keys {
		n := first + 1 + i
		r, err := parseKubesecKey(l, f.Version)
		if err != nil {
			return kubesecErr(fmt.Sprintf("line %d: %v", n, err))
		}
		if seen[r.Type+":"+r.ID] {
			return kubesecErr(fmt.Sprintf("line %d: key %s:%s is listed twice", n, r.Type, r.ID))
		}
		seen[r.Type+":"+r.ID] = true
		f.Recipients = append(f.Recipients, r)
	}
	return nil
}

func parseKubesecKey(line string, version int) (KubesecRecipient, error) {
	rest, ok := strings.CutPrefix(line, "# kubesec:")
	if !ok {
		return KubesecRecipient{}, errors.New("not a # kubesec: line")
	}
	typ, rest, _ := strings.Cut(rest, ":")
	switch typ {
	case "v":
		return KubesecRecipient{}, errors.New("a second # kubesec:v: line")
	case "mac":
		if version < 3 {
			return KubesecRecipient{}, fmt.Errorf("a # kubesec:mac: line in a v%d footer (kubesec writes one from v3 on)", version)
		}
		return KubesecRecipient{}, errors.New("the # kubesec:mac: line must be the last")
	}
	fields := strings.Split(rest, ":")
	if len(fields) < 2 {
		return KubesecRecipient{}, fmt.Errorf("a %.10q key line needs an ID and a wrapped key", typ)
	}
	id, b64 := strings.Join(fields[:len(fields)-1], ":"), fields[len(fields)-1]
	switch typ {
	case "pgp":
		if len(fields) != 2 || !kubesecPGPID().MatchString(id) {
			return KubesecRecipient{}, errors.New("a pgp key line is pgp:ID:WRAPPED with an ID of 16 to 64 letters and digits")
		}
	case "gcp":
		if version < 2 || !strings.HasPrefix(id, "projects/") {
			return KubesecRecipient{}, errors.New("a gcp key line is gcp:projects/…/cryptoKeys/KEY:WRAPPED (format version 2 and later)")
		}
	case "aws":
		if version < 2 || !strings.HasPrefix(id, "arn:") {
			return KubesecRecipient{}, errors.New("an aws key line is aws:arn:…:WRAPPED (format version 2 and later)")
		}
	default:
		return KubesecRecipient{}, fmt.Errorf("unknown key type %.10q", typ)
	}
	if len(id) > kubesecMaxID || !kubesecPrintable().MatchString(id) {
		return KubesecRecipient{}, fmt.Errorf("the %s key ID is not one kubesec writes", typ)
	}
	if len(b64) > kubesecMaxArmored*4/3+4 {
		return KubesecRecipient{}, fmt.Errorf("the wrapped key for %s:%s is larger than any recipient writes", typ, id)
	}
	wrapped, err := kubesecB64.DecodeString(b64)
	if err != nil || len(wrapped) == 0 {
		return KubesecRecipient{}, fmt.Errorf("the wrapped key for %s:%s is not base64", typ, id)
	}
	if typ == "pgp" {
		// kubesec keeps gpg's ASCII armor; ksec's pgp identities read the
		// binary message inside.
		if wrapped, err = dearmorMessage(wrapped); err != nil {
			return KubesecRecipient{}, fmt.Errorf("the wrapped key for pgp:%s: %v", id, err)
		}
	}
	if len(wrapped) > keyring.MaxWrapped {
		return KubesecRecipient{}, fmt.Errorf("the wrapped key for %s:%s is larger than any recipient writes", typ, id)
	}
	return KubesecRecipient{Type: typ, ID: id, Wrapped: wrapped}, nil
}

// dearmorMessage returns the binary OpenPGP message inside one armored
// PGP MESSAGE block, refusing anything after it.
func dearmorMessage(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte("-----BEGIN PGP MESSAGE-----")) {
		return nil, errors.New("not an armored OpenPGP message")
	}
	br := bufio.NewReader(bytes.NewReader(b))
	block, err := armor.Decode(br)
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP message: %v", err)
	}
	if block.Type != "PGP MESSAGE" {
		return nil, fmt.Errorf("holds a %q block, not an OpenPGP message", block.Type)
	}
	msg, err := io.ReadAll(io.LimitReader(block.Body, keyring.MaxWrapped+1))
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP message: %v", err)
	}
	// The decoder stops before the armor's end line: it must be all that
	// is left.
	if rest, _ := io.ReadAll(br); string(bytes.TrimSpace(rest)) != "-----END PGP MESSAGE-----" {
		return nil, errors.New("not one armored OpenPGP message")
	}
	return msg, nil
}

// parseBody reads the Secret with the YAML library kubesec used. The
// document must be one mapping, of kind Secret, without duplicate keys or
// aliases (kubesec's yaml.v2 writes neither), whose data and stringData
// are maps of strings.
func (f *KubesecFile) parseBody(body []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var node yaml.Node
	if err := dec.Decode(&node); err != nil {
		return kubesecErr(fmt.Sprintf("the Secret is not YAML: %v", err))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return kubesecErr("kubesec files hold one document")
	}
	if err := checkPlainYAML(&node); err != nil {
		return kubesecErr(err.Error())
	}
	var check any
	if err := node.Decode(&check); err != nil { // refuses duplicate keys
		return kubesecErr(fmt.Sprintf("the Secret is not valid YAML: %v", err))
	}
	doc := map[any]any{}
	if err := yaml2.Unmarshal(body, &doc); err != nil {
		return kubesecErr(fmt.Sprintf("the Secret is not YAML: %v", err))
	}
	if doc["kind"] != "Secret" {
		return kubesecErr("the document is not of kind Secret")
	}
	if md, ok := doc["metadata"].(map[any]any); ok {
		name, _ := md["name"].(string)
		if ns, _ := md["namespace"].(string); ns != "" {
			name = ns + "/" + name
		}
		f.Name = name
	}
	var err error
	if f.data, err = stringMap(doc, "data"); err != nil {
		return err
	}
	if f.stringData, err = stringMap(doc, "stringData"); err != nil {
		return err
	}
	switch {
	case f.Version < 4 && len(f.stringData) > 0:
		// Before v4 kubesec left stringData as it was: in the clear and
		// outside the MAC.
		return hint.Wrap(kubesecErr(fmt.Sprintf("a v%d file with stringData: kubesec before format 4 did not encrypt stringData, so nothing protects it", f.Version)),
			"move the stringData values into data (base64) with kubesec, or check them by hand and encrypt the decrypted file with ksec")
	case f.Version == 4 && len(f.stringData) == 0:
		return kubesecErr("a v4 file without stringData (kubesec writes v3 then)")
	}
	f.doc = doc
	return nil
}

// checkPlainYAML refuses anchors, aliases and merge keys.
func checkPlainYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("line %d: YAML anchors and aliases are not in files kubesec writes", n.Line)
	}
	for _, c := range n.Content {
		if err := checkPlainYAML(c); err != nil {
			return err
		}
	}
	return nil
}

func stringMap(doc map[any]any, field string) (map[string]string, error) {
	v, ok := doc[field]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[any]any)
	if !ok {
		return nil, kubesecErr(fmt.Sprintf("the Secret's %s is not a mapping", field))
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		ks, ok1 := k.(string)
		vs, ok2 := v.(string)
		if !ok1 || !ok2 {
			return nil, kubesecErr(fmt.Sprintf("the Secret's %s.%s is not a string", field, quoteName(fmt.Sprint(k))))
		}
		out[ks] = vs
	}
	return out, nil
}

// Stanzas are the recipients as keyring stanzas, in footer order.
func (f *KubesecFile) Stanzas() []keyring.Stanza {
	out := make([]keyring.Stanza, 0, len(f.Recipients))
	for _, r := range f.Recipients {
		out = append(out, keyring.Stanza{Type: r.Type, ID: r.ID, Wrapped: r.Wrapped})
	}
	return out
}

// Unwrapper opens a data key; *keyring.Keyring is one.
type Unwrapper interface {
	Unwrap(ctx context.Context, stanzas []keyring.Stanza, scope keyring.Scope) ([]byte, error)
}

// Decrypt unwraps the data key (AWS and GCP keys without binding, as
// kubesec wrapped them), opens every value, checks the MAC and returns the
// Secret as kubesec decrypt prints it.
func (f *KubesecFile) Decrypt(ctx context.Context, u Unwrapper, opts KubesecOptions) (*KubesecPlain, error) {
	if !f.HasMAC && !opts.AllowNoMAC {
		return nil, hint.Wrap(fmt.Errorf("%w: %w: format version %d has none, so a value deleted or rolled back by anyone with write access to the file goes unnoticed",
			crypto.ErrIntegrity, ErrNoMAC, f.Version),
			"if you trust the file as it is, read it with --allow-no-mac and convert it to ksec (ksec encrypt -i --allow-no-mac FILE)")
	}
	ctx, sigs := keyring.WithSignatureLog(ctx)
	stanzas := f.Stanzas()
	key, err := u.Unwrap(ctx, stanzas, keyring.Scope{Unbound: true})
	if err != nil {
		return nil, err
	}
	defer clear(key)
	for _, sig := range sigs.Signatures() {
		if sig.State == keyring.SignatureNone {
			// kubesec signs every key it wraps and refuses unsigned ones:
			// an unsigned one was put there by someone else.
			return nil, fmt.Errorf("%w: the wrapped data key for pgp:%s is not signed; kubesec signs every key it wraps",
				crypto.ErrIntegrity, sig.Stanza)
		}
	}
	if len(key) != crypto.DataKeySize {
		return nil, fmt.Errorf("%w: the unwrapped data key is %d bytes, not %d", crypto.ErrIntegrity, len(key), crypto.DataKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	data, err := f.open(gcm, "data", f.data)
	if err != nil {
		return nil, err
	}
	stringData, err := f.open(gcm, "stringData", f.stringData)
	if err != nil {
		return nil, err
	}
	if f.HasMAC {
		if err := f.checkMAC(gcm, data, stringData); err != nil {
			return nil, err
		}
	}
	doc := make(map[any]any, len(f.doc))
	for k, v := range f.doc {
		doc[k] = v
	}
	if data != nil {
		doc["data"] = data
	}
	if stringData != nil {
		doc["stringData"] = stringData
	}
	out, err := yaml2.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("writing the decrypted kubesec Secret: %w", err)
	}
	plain := &KubesecPlain{Manifest: out, Signatures: sigs.Signatures()}
	plain.PGPOpened = len(plain.Signatures) > 0
	return plain, nil
}

// open decrypts the values of one field. The additional data is the bare
// key name; the plaintext ends at its first NUL (kubesec's padding).
func (f *KubesecFile) open(gcm cipher.AEAD, field string, values map[string]string) (map[string]string, error) {
	if values == nil {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for k, token := range values {
		if token == "" && f.Version < 3 {
			out[k] = "" // v1 and v2 leave empty values as they are
			continue
		}
		parts := 3
		if strings.Count(token, ".") == 1 {
			parts = 2 // an empty plaintext: base64(iv).base64(tag)
		}
		ct, tag, ok := parseSealedParts(token, parts)
		if !ok {
			return nil, fmt.Errorf("%w: %s.%s is not a kubesec-encrypted value", manifest.ErrBadInput, field, quoteName(k))
		}
		nonceCT := ct[1]
		sealed := append(append([]byte(nil), ct[0]...), tag...)
		if f.Version >= 3 && len(ct[0])%kubesecPad != 0 {
			return nil, fmt.Errorf("%w: %s.%s is not padded as kubesec pads values", manifest.ErrBadInput, field, quoteName(k))
		}
		if len(ct[0]) > kubesecMaxValue {
			return nil, fmt.Errorf("%w: %s.%s is larger than a Secret can hold", manifest.ErrBadInput, field, quoteName(k))
		}
		plain, err := gcm.Open(nil, nonceCT, sealed, []byte(k))
		if err != nil {
			return nil, fmt.Errorf("%w: %s.%s does not decrypt: it was altered, or it belongs to another key or file", crypto.ErrIntegrity, field, quoteName(k))
		}
		if i := bytes.IndexByte(plain, 0); i >= 0 {
			plain = plain[:i]
		}
		out[k] = string(plain)
	}
	return out, nil
}

// parseSealedParts splits a kubesec token: with parts 3,
// base64(ct).base64(iv).base64(tag); with 2, base64(iv).base64(tag) and an
// empty ct. It returns [ct, iv] and the tag.
func parseSealedParts(s string, parts int) ([2][]byte, []byte, bool) {
	fields := strings.Split(s, ".")
	if len(fields) != parts {
		return [2][]byte{}, nil, false
	}
	if parts == 2 {
		fields = append([]string{""}, fields...)
	}
	var dec [3][]byte
	for i, p := range fields {
		if i > 0 && p == "" {
			return [2][]byte{}, nil, false
		}
		if i == 0 && parts == 3 && p == "" {
			return [2][]byte{}, nil, false
		}
		b, err := kubesecB64.DecodeString(p)
		if err != nil {
			return [2][]byte{}, nil, false
		}
		dec[i] = b
	}
	if len(dec[1]) != 12 || len(dec[2]) != 16 {
		return [2][]byte{}, nil, false
	}
	return [2][]byte{dec[0], dec[1]}, dec[2], true
}

// checkMAC verifies the GMAC over the values and the recipient IDs, with
// the recipients in footer order and, for 7 to 12 of them, also in the
// order kubesec's sort leaves them.
func (f *KubesecFile) checkMAC(gcm cipher.AEAD, data, stringData map[string]string) error {
	var values bytes.Buffer
	for _, m := range []map[string]string{data, stringData} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			values.WriteString(k)
			values.WriteString(m[k])
		}
	}
	orders := [][]KubesecRecipient{f.Recipients}
	if n := len(f.Recipients); n > 6 && n <= 12 {
		orders = append(orders, kubesecSorted(f.Recipients))
	}
	for _, rs := range orders {
		ad := bytes.Clone(values.Bytes())
		for _, r := range rs {
			ad = append(ad, r.ID...)
		}
		if _, err := gcm.Open(nil, f.macIV, f.macTag, ad); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: the kubesec MAC does not match: a value or a recipient of %s was changed, added or removed since kubesec wrote it",
		crypto.ErrIntegrity, f.describe())
}

func (f *KubesecFile) describe() string {
	if f.Name == "" {
		return "the Secret"
	}
	return "Secret " + quoteName(f.Name)
}

// kubesecSorted is the order kubesec's sort of its era leaves up to 12
// recipients in: a gap-6 pass, then insertion sort, with its comparison
// (type less and ID less; types pgp < gcp < aws).
func kubesecSorted(in []KubesecRecipient) []KubesecRecipient {
	rs := append([]KubesecRecipient(nil), in...)
	rank := map[string]int{"pgp": 0, "gcp": 1, "aws": 2}
	less := func(i, j int) bool {
		return rank[rs[i].Type] < rank[rs[j].Type] && rs[i].ID < rs[j].ID
	}
	for i := 6; i < len(rs); i++ {
		if less(i, i-6) {
			rs[i], rs[i-6] = rs[i-6], rs[i]
		}
	}
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && less(j, j-1); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	return rs
}
