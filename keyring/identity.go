package keyring

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/internal/hint"
)

const (
	identityKinds      = "an age secret key, an SSH private key (ssh-ed25519 or ssh-rsa) or an OpenPGP secret key"
	hintIdentityKinds  = "make an age key with ksec keygen (or age-keygen); an SSH key is a file like ~/.ssh/id_ed25519; an OpenPGP key comes from gpg --export-secret-keys --armor FINGERPRINT"
	hintAgeFile        = "an age identity file holds one AGE-SECRET-KEY-1… key per line (or an age plugin's AGE-PLUGIN-NAME-1…); lines starting with # are comments"
	hintSSHPassphrase  = "name the key with -I/--identity, and ksec asks for its passphrase (or reads --passphrase-file); or remove the passphrase from a private copy with ssh-keygen -p -f COPY"
	hintAgeEncrypted   = "name the file with -I/--identity, and ksec asks for its passphrase (or reads --passphrase-file); or pass the decrypted key through the environment, e.g. KSEC_AGE_KEY=\"$(age -d FILE)\""
	hintPublicNotIdent = "identities are secret keys: the public key goes into -k/--key, the matching secret key file into -I/--identity"
)

// ParseIdentityFile reads an identity file, whatever kind of key it holds:
// an OpenPGP secret key (armored or binary), an age identity file
// (AGE-SECRET-KEY-1… lines with # comments) or an unencrypted SSH private
// key. source names the file in messages; errors never quote its content.
func ParseIdentityFile(data []byte, source string) (Identity, error) {
	return parseIdentity(data, source, "identity file "+source)
}

// ParseIdentityString reads a key given as text rather than as a file, such
// as the value of KSEC_AGE_KEY in CI: usually an AGE-SECRET-KEY-1… line,
// though any kind ParseIdentityFile accepts works. source names the setting.
func ParseIdentityString(key string, source string) (Identity, error) {
	id, err := parseIdentity([]byte(key), source, source)
	if err != nil && looksLikePath(key) {
		return nil, hint.Wrap(err, source+" holds the secret key itself, not a file name: name key files with -I/--identity or KSEC_IDENTITY_FILE")
	}
	return id, err
}

func looksLikePath(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && !strings.ContainsAny(s, "\n") && !strings.HasPrefix(s, "AGE-") &&
		(strings.ContainsAny(s, `/\`) || strings.HasPrefix(s, "~") || strings.HasSuffix(s, ".txt"))
}

// parseIdentity routes by content. label starts error messages.
func parseIdentity(data []byte, source, label string) (Identity, error) {
	return parseIdentityWith(data, source, label, IdentityOptions{})
}

func parseIdentityWith(data []byte, source, label string, opts IdentityOptions) (Identity, error) {
	if IsPGPKeyData(data) {
		id, err := NewPGPFileIdentity(data, source)
		if p, ok := id.(*pgpFileIdentity); ok {
			p.label = label
			p.passphrase = opts.Passphrase
		}
		return id, err
	}
	first := firstKeyLine(data)
	pemType := pemBlockType(data)
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, hint.Wrap(fmt.Errorf("%s is empty", label), hintIdentityKinds)
	case (first == "age-encryption.org/v1" || pemType == "AGE ENCRYPTED FILE") && opts.Passphrase != nil:
		return newScryptIdentityFile(data, source, label, opts), nil
	case first == "age-encryption.org/v1" || pemType == "AGE ENCRYPTED FILE":
		return nil, hint.Wrap(fmt.Errorf("%s is encrypted with age (a passphrase-protected key?), which ksec cannot open", label), hintAgeEncrypted)
	case pemType == "ENCRYPTED PRIVATE KEY":
		return nil, hint.Wrap(fmt.Errorf("%s: the private key is protected by a passphrase, which ksec cannot ask for", label),
			"ksec opens protected OpenSSH keys, not encrypted PKCS#8 files: decrypt a private copy (openssl pkcs8 -in FILE -out COPY), or use an age key from ksec keygen")
	case strings.HasSuffix(pemType, "PRIVATE KEY"):
		return parseSSHIdentity(data, source, label, opts)
	case strings.HasSuffix(pemType, "PUBLIC KEY"):
		return nil, hint.Wrap(fmt.Errorf("%s holds a public key, not a secret key", label), hintPublicNotIdent)
	case strings.HasPrefix(first, "AGE-SECRET-KEY-") || strings.HasPrefix(first, "AGE-PLUGIN-"):
		return parseAgeIdentities(data, source, label, opts.Age)
	case strings.HasPrefix(strings.ToLower(first), "age1"):
		return nil, hint.Wrap(fmt.Errorf("%s holds an age public key (age1…), not a secret key", label), hintPublicNotIdent)
	case isSSHPublicKeyLine(first):
		return nil, hint.Wrap(fmt.Errorf("%s holds an SSH public key, not the private key", label),
			hintPublicNotIdent+" (for SSH, the file without .pub)")
	case looksLikeManifest(data):
		return nil, hint.Wrap(fmt.Errorf("%s looks like a Kubernetes manifest, not a key", label),
			"-I/--identity names a secret key file: ksec decrypt -I KEYFILE FILE")
	}
	return nil, hint.Wrap(fmt.Errorf("%s is not a key ksec understands: expected %s", label, identityKinds), hintIdentityKinds)
}

// firstKeyLine returns the first line that is neither blank nor a comment.
func firstKeyLine(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			if !utf8.ValidString(line) {
				return ""
			}
			return line
		}
	}
	return ""
}

// pemBlockType returns TYPE of the first "-----BEGIN TYPE-----" line.
func pemBlockType(data []byte) string {
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if t, ok := strings.CutPrefix(s, "-----BEGIN "); ok {
			if t, ok := strings.CutSuffix(t, "-----"); ok {
				return t
			}
		}
	}
	return ""
}

func isSSHPublicKeyLine(line string) bool {
	for _, p := range []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"} {
		if strings.HasPrefix(line, p) && strings.Contains(line, " ") {
			return true
		}
	}
	return false
}

func parseAgeIdentities(data []byte, source, label string, opts AgeOptions) (Identity, error) {
	runner := &pluginRunner{prompter: opts.Prompter, timeout: opts.PluginTimeout}
	rest, plugins, err := runner.parsePluginLines(data)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: %w", label, err), hintAgeFile)
	}
	var ids []age.Identity
	if len(plugins) == 0 || hasKeyLines(rest) {
		// age's own errors name a line number and never quote the key.
		ids, err = age.ParseIdentities(bytes.NewReader(rest))
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("%s: not a valid age identity file: %w", label, err), hintAgeFile)
		}
	}
	a := NewAgeIdentities(ids, source).(*ageIdentities)
	a.label = label
	a.keys = append(a.keys, plugins...)
	return a, nil
}

// hasKeyLines reports whether data has a line that is neither blank nor a
// comment.
func hasKeyLines(data []byte) bool {
	for line := range bytes.Lines(data) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

func parseSSHIdentity(data []byte, source, label string, opts IdentityOptions) (Identity, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing) && opts.Passphrase != nil:
		return newLockedSSHIdentity(data, missing.PublicKey, source, label, opts), nil
	case errors.As(err, &missing):
		return nil, hint.Wrap(fmt.Errorf("%s: the SSH private key is protected by a passphrase, which ksec cannot ask for", label), hintSSHPassphrase)
	case err != nil:
		return nil, hint.Wrap(fmt.Errorf("%s: not a readable SSH private key: %w", label, err), hintIdentityKinds)
	}
	return sshIdentity(raw, source, label)
}

// sshIdentity makes an age identity of a parsed SSH private key.
func sshIdentity(raw any, source, label string) (Identity, error) {
	var err error
	if p, ok := raw.(*ed25519.PrivateKey); ok { // ParseRawPrivateKey returns either form
		raw = *p
	}
	var id age.Identity
	var pub ssh.PublicKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		if id, err = agessh.NewEd25519Identity(k); err == nil {
			pub, err = ssh.NewPublicKey(k.Public())
		}
	case *rsa.PrivateKey:
		if id, err = agessh.NewRSAIdentity(k); err == nil {
			pub, err = ssh.NewPublicKey(&k.PublicKey)
		}
	default:
		return nil, hint.Wrap(fmt.Errorf("%s: this kind of SSH key (%T) cannot be used with age", label, raw),
			"age supports ssh-ed25519 and ssh-rsa keys; or make an age key with ksec keygen")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: unusable SSH private key: %w", label, err)
	}
	return &ageIdentities{source: source, label: label, keys: []ageKey{{id: sshKeyID(pub), identity: id}}}, nil
}

// NewDefaultAgeIdentity returns an identity for the default identity file
// (DefaultAgeIdentityFile) that reads path only when a Secret has an age
// recipient, so a missing or broken default file never gets in the way of
// other key types. A missing file holds no key; path "" means none.
func NewDefaultAgeIdentity(path string) Identity {
	return &defaultAgeIdentity{path: path}
}

type defaultAgeIdentity struct {
	path string

	once sync.Once
	id   Identity
	err  error
}

func (d *defaultAgeIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	subset := stanzasOfType(stanzas, ageType)
	if len(subset) == 0 || d.path == "" {
		return nil, fmt.Errorf("no default age identity file: %w", ErrIncorrectIdentity)
	}
	d.once.Do(d.load)
	if d.err != nil {
		return nil, d.err
	}
	return d.id.Unwrap(ctx, subset, scope)
}

func (d *defaultAgeIdentity) load() {
	data, err := os.ReadFile(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.err = hint.Wrap(fmt.Errorf("no default age identity file %s: %w", d.path, ErrIncorrectIdentity),
			"create one with ksec keygen --default, or name a key file with -I/--identity")
	case err != nil:
		d.err = fmt.Errorf("default age identity file: %w", err)
	default:
		d.id, d.err = ParseIdentityFile(data, d.path)
	}
}
