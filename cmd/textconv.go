package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/textconv"
)

// TextconvOptions are the parsed flags of ksec textconv.
type TextconvOptions struct {
	File           string
	Identities     []string
	PassphraseFile string
}

// NewCmdTextconv builds ksec textconv; runF replaces the work in tests.
func NewCmdTextconv(sys *System, runF func(*cobra.Command, *TextconvOptions) error) *cobra.Command {
	opts := &TextconvOptions{}
	c := &cobra.Command{
		Use:   "textconv [-I FILE]... FILE",
		Short: "Show an encrypted manifest decrypted, for git diff (fails open)",
		Long: `Print FILE decrypted, with data values decoded and each Secret's recipients
in a comment, for git's diff driver:

  echo '*.yaml diff=ksec' >> .gitattributes
  git config diff.ksec.textconv "ksec textconv"

git diff and git log -p then show what changed inside encrypted Secrets.
The keys come from -I, KSEC_IDENTITY_FILE, KSEC_AGE_KEY, the default age
identity file, gpg and its agent, or the cloud KMS, as for decrypt.

It fails open: without a key, or on any other problem, FILE is printed as
it is with one line on standard error, and the exit status is 0, so git
diff keeps working for reviewers without keys. A file that holds no ksec
Secret is printed as it is, silently. Never set diff.ksec.cachetextconv:
git would keep the decrypted text in its notes, on disk.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("textconv takes exactly one FILE (git passes it)")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(c, opts)
			}
			return runTextconv(c, sys, opts)
		},
	}
	c.Flags().StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(c.Flags(), &opts.PassphraseFile)
	return c
}

func runTextconv(c *cobra.Command, sys *System, opts *TextconvOptions) error {
	return textconv.Convert(c.Context(), opts.File, sys.Out, sys.Err, textconv.Options{
		MaxSize: MaxInputSize,
		Decrypter: func() (textconv.Decrypter, error) {
			kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, st *manifest.Stream) error {
				_, err := envelope.Decrypt(ctx, st, kr)
				return err
			}, nil
		},
	})
}
