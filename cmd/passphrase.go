package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/prompt"
	"github.com/ksec-dev/ksec/keyring"
)

const hintNoTerminal = "run ksec in a terminal, or give the passphrase with --passphrase-file FILE (or KSEC_PASSPHRASE_FILE, or KSEC_PASSPHRASE)"

// addPassphraseFlag adds --passphrase-file next to -I/--identity.
func addPassphraseFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "passphrase-file", "", "file holding the passphrase of protected -I keys (else KSEC_PASSPHRASE_FILE, KSEC_PASSPHRASE, or a prompt on the terminal)")
}

// identityOptions says how this run opens protected keys and talks to age
// plugins. A passphrase comes from, in order: --passphrase-file,
// KSEC_PASSPHRASE_FILE, KSEC_PASSPHRASE (for CI, where secrets arrive as
// variables; ksec keeps it from every program it starts), else the person
// at the terminal, asked on /dev/tty once per key that a Secret needs.
func identityOptions(sys *System, passphraseFile string) (keyring.IdentityOptions, error) {
	tty := &prompt.Terminal{Messages: sys.Err}
	opts := keyring.IdentityOptions{Age: keyring.AgeOptions{Prompter: ttyPrompter{tty}}}
	source := "--passphrase-file"
	if passphraseFile == "" {
		passphraseFile, source = sys.Getenv("KSEC_PASSPHRASE_FILE"), "KSEC_PASSPHRASE_FILE"
	}
	var fixed []byte
	switch {
	case passphraseFile != "":
		b, err := os.ReadFile(passphraseFile)
		if err != nil {
			return opts, hint.Wrap(fmt.Errorf("%s: %w", source, err), "the passphrase file holds the passphrase of the protected key files given with -I")
		}
		fixed = trimNewline(b)
	case sys.Getenv("KSEC_PASSPHRASE") != "":
		fixed, source = []byte(sys.Getenv("KSEC_PASSPHRASE")), "KSEC_PASSPHRASE"
	}
	if fixed != nil {
		opts.Passphrase = func(string) ([]byte, error) {
			if len(fixed) == 0 {
				return nil, fmt.Errorf("%s is empty", source)
			}
			return bytes.Clone(fixed), nil
		}
		return opts, nil
	}
	opts.Passphrase = func(what string) ([]byte, error) {
		b, err := tty.Secret("Enter the passphrase for " + what + ":")
		if errors.Is(err, prompt.ErrNoTerminal) {
			return nil, hint.Wrap(err, hintNoTerminal)
		}
		return b, err
	}
	return opts, nil
}

// trimNewline drops one line ending: files made with echo have it.
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// ttyPrompter answers age plugins' questions on the terminal.
type ttyPrompter struct{ t *prompt.Terminal }

func (p ttyPrompter) Secret(q string) ([]byte, error) { return p.withHint(p.t.Secret(q)) }
func (p ttyPrompter) Line(q string) (string, error) {
	s, err := p.t.Line(q)
	_, err = p.withHint(nil, err)
	return s, err
}
func (p ttyPrompter) Confirm(q, yes, no string) (bool, error) {
	ok, err := p.t.Confirm(q, yes, no)
	_, err = p.withHint(nil, err)
	return ok, err
}
func (p ttyPrompter) Message(msg string) error { return p.t.Message(msg) }

func (ttyPrompter) withHint(b []byte, err error) ([]byte, error) {
	if errors.Is(err, prompt.ErrNoTerminal) {
		err = hint.Wrap(err, "the age plugin needs someone at a terminal (a PIN, a touch): run ksec in one, or use a key that needs no answer")
	}
	return b, err
}
