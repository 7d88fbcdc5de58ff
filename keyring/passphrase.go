package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/internal/hint"
)

// IdentityOptions say how to open identities that need more than their
// file: passphrase-protected keys and age plugin identities.
type IdentityOptions struct {
	// Passphrase returns the passphrase of the protected key that what
	// names (e.g. "identity file key.age"). It is called at most once per
	// key, and only when a Secret has a recipient that key may be. nil
	// means protected keys are refused when read, as before ksec asked.
	Passphrase func(what string) ([]byte, error)
	// Age configures the plugins of AGE-PLUGIN-… identities.
	Age AgeOptions
}

// ParseIdentityFileWith is ParseIdentityFile for protected keys and age
// plugin identities, as opts say.
func ParseIdentityFileWith(data []byte, source string, opts IdentityOptions) (Identity, error) {
	return parseIdentityWith(data, source, "identity file "+source, opts)
}

// ParseIdentityStringWith is ParseIdentityString with opts.
func ParseIdentityStringWith(key, source string, opts IdentityOptions) (Identity, error) {
	id, err := parseIdentityWith([]byte(key), source, source, opts)
	if err != nil && looksLikePath(key) {
		return nil, hint.Wrap(err, source+" holds the secret key itself, not a file name: name key files with -I/--identity or KSEC_IDENTITY_FILE")
	}
	return id, err
}

// ErrWrongPassphrase says a passphrase did not open its key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

const hintWrongPassphrase = "check the passphrase (a passphrase file's last newline is ignored, nothing else is)"

// lockedIdentity is a protected key opened the first time a Secret needs
// it: one passphrase request per key and run, whatever the number of
// Secrets.
type lockedIdentity struct {
	label string
	// fits reports whether the key may be the recipient of one of the
	// stanzas: otherwise nobody is asked for a passphrase.
	fits   func(stanzas []Stanza) bool
	unlock func(pass []byte) (Identity, error)
	pass   func(what string) ([]byte, error)

	once sync.Once
	id   Identity
	err  error
}

func (l *lockedIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	if !l.fits(stanzas) {
		return nil, fmt.Errorf("%s holds no key for these recipients: %w", l.label, ErrIncorrectIdentity)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.once.Do(func() {
		pass, err := l.pass(l.label)
		if err != nil {
			l.err = fmt.Errorf("%s is protected by a passphrase: %w", l.label, err)
			return
		}
		defer clear(pass)
		l.id, l.err = l.unlock(pass)
	})
	if l.err != nil {
		return nil, l.err
	}
	return l.id.Unwrap(ctx, stanzas, scope)
}

// newScryptIdentityFile opens an identity file that age -p encrypted with
// a passphrase (as the age CLI accepts it with -i). What keys it holds is
// only known once it is open, so any age stanza makes ksec ask.
func newScryptIdentityFile(data []byte, source, label string, opts IdentityOptions) Identity {
	data = bytes.Clone(data)
	return &lockedIdentity{
		label: label,
		fits:  func(stanzas []Stanza) bool { return len(stanzasOfType(stanzas, ageType)) > 0 },
		pass:  opts.Passphrase,
		unlock: func(pass []byte) (Identity, error) {
			id, err := age.NewScryptIdentity(string(pass))
			if err != nil {
				return nil, err
			}
			// Our files are a few lines; a larger one is not an identity file.
			id.SetMaxWorkFactor(22)
			r, err := age.Decrypt(armorReader(data), id)
			var noMatch *age.NoIdentityMatchError
			switch {
			case errors.As(err, &noMatch), errors.Is(err, age.ErrIncorrectIdentity):
				return nil, hint.Wrap(fmt.Errorf("%s: %w", label, ErrWrongPassphrase), hintWrongPassphrase)
			case err != nil:
				return nil, hint.Wrap(fmt.Errorf("%s: cannot decrypt it with a passphrase: %w", label, err),
					"ksec opens identity files encrypted with age -p (a passphrase); files encrypted to a key are not identity files")
			}
			plain, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
			defer clear(plain)
			if len(plain) > 1<<20 {
				return nil, fmt.Errorf("%s: the decrypted identity file is larger than 1 MiB", label)
			}
			inner := opts
			inner.Passphrase = nil // an encrypted file inside is not a thing
			return parseIdentityWith(plain, source, label, inner)
		},
	}
}

// armorReader reads an age file in binary or armored (age -a) form.
func armorReader(data []byte) io.Reader {
	if pemBlockType(data) == "AGE ENCRYPTED FILE" {
		return armor.NewReader(bytes.NewReader(data))
	}
	return bytes.NewReader(data)
}

// newLockedSSHIdentity opens a passphrase-protected SSH private key. The
// public key of an OpenSSH key file is readable without the passphrase, so
// ksec asks only for Secrets that have it as a recipient; for an old PEM
// file (pub nil), for any Secret with an age recipient.
func newLockedSSHIdentity(data []byte, pub ssh.PublicKey, source, label string, opts IdentityOptions) Identity {
	data = bytes.Clone(data)
	id := ""
	if pub != nil {
		id = sshKeyID(pub)
	}
	return &lockedIdentity{
		label: label,
		fits: func(stanzas []Stanza) bool {
			for _, s := range stanzas {
				if s.Type == ageType && (id == "" || s.ID == id) {
					return true
				}
			}
			return false
		},
		pass: opts.Passphrase,
		unlock: func(pass []byte) (Identity, error) {
			raw, err := ssh.ParseRawPrivateKeyWithPassphrase(data, pass)
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, hint.Wrap(fmt.Errorf("%s: %w", label, ErrWrongPassphrase), hintWrongPassphrase)
			}
			if err != nil {
				return nil, hint.Wrap(fmt.Errorf("%s: not a readable SSH private key: %w", label, err), hintIdentityKinds)
			}
			return sshIdentity(raw, source, label)
		},
	}
}
