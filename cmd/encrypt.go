package cmd

import (
	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// EncryptOptions are the parsed flags of ksec encrypt.
type EncryptOptions struct {
	ioOptions
	Keys       []string
	Identities []string
}

// NewCmdEncrypt builds ksec encrypt; runF replaces the work in tests.
func NewCmdEncrypt(sys *System, runF func(*cobra.Command, *EncryptOptions) error) *cobra.Command {
	opts := &EncryptOptions{}
	c := &cobra.Command{
		Use:   "encrypt [-k KEY]... [-i | -o FILE] [FILE | -]",
		Short: "Encrypt the values of the Secrets in a manifest",
		Long: `Encrypt the data and stringData values of every Secret in FILE (or standard
input), for every recipient key. Other documents and all other fields are
kept as they are.

Keys come from -k/--key (repeatable, or comma-separated), else from KSEC_KEYS:
  pgp:FINGERPRINT   an OpenPGP key in your gpg keyring (a bare 40-hex fingerprint works too)
  pgp:PATH          an OpenPGP public-key file, armored or binary (a bare path works too)

Encrypting a file that is already encrypted for the same keys changes
nothing. Values added by hand to an encrypted file are sealed with its data
key (which needs a key that can decrypt it); a different key set re-wraps the
data key, and rotates it when a recipient is removed.`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Input = args[0]
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runEncrypt(c, sys, opts)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&opts.Keys, "key", "k", nil, "recipient key spec (repeatable)")
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the result")
	f.StringVarP(&opts.Output, "output", "o", "", "write the result to this file")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file, to re-encrypt an encrypted file (repeatable)")
	return c
}

func runEncrypt(c *cobra.Command, sys *System, opts *EncryptOptions) error {
	if err := opts.validate(sys); err != nil {
		return err
	}
	src, err := opts.read(sys)
	if err != nil {
		return err
	}
	st, err := manifest.Parse(src)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities)
	if err != nil {
		return err
	}
	ctx := c.Context()
	recipients, err := kr.ParseRecipients(ctx, keySpecs(sys, opts.Keys))
	if err != nil {
		return err
	}
	if len(recipients) == 0 && needsRecipients(st) {
		return hint.Wrap(usagef("no keys to encrypt for"),
			"name keys with -k/--key (repeatable) or KSEC_KEYS, e.g. -k pgp:FINGERPRINT or -k ./team.pub.asc")
	}
	if err := envelope.Encrypt(ctx, st, kr, recipients); err != nil {
		return err
	}
	return opts.write(sys, st.Bytes(), !st.Changed())
}

// needsRecipients reports whether some Secret is not encrypted yet, so
// keys must be named; encrypted Secrets keep their own recipients.
func needsRecipients(st *manifest.Stream) bool {
	for _, s := range st.Secrets {
		if s.Meta == nil {
			return true
		}
	}
	return len(st.Secrets) == 0
}
