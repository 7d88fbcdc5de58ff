package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/manifest"
)

// DecryptOptions are the parsed flags of ksec decrypt.
type DecryptOptions struct {
	ioOptions
	Identities []string
}

// NewCmdDecrypt builds ksec decrypt; runF replaces the work in tests.
func NewCmdDecrypt(sys *System, runF func(*cobra.Command, *DecryptOptions) error) *cobra.Command {
	opts := &DecryptOptions{}
	c := &cobra.Command{
		Use:   "decrypt [-I FILE]... [-i | -o FILE] [FILE | -]",
		Short: "Decrypt the Secrets in a manifest, ready for kubectl apply",
		Long: `Decrypt every encrypted Secret in FILE (or standard input) and remove its
ksec block, so the output can be piped to kubectl apply -f -. Every value and
the whole Secret's MAC are verified before anything is written.

The data key is unwrapped with the secret key files given with -I/--identity
or KSEC_IDENTITY_FILE (a path list), then with gpg and its agent.`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Input = args[0]
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runDecrypt(c, sys, opts)
		},
	}
	f := c.Flags()
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the result")
	f.StringVarP(&opts.Output, "output", "o", "", "write the result to this file")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	return c
}

func runDecrypt(c *cobra.Command, sys *System, opts *DecryptOptions) error {
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
	n, err := envelope.Decrypt(c.Context(), st, kr)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(sys.Err, "ksec: warning: no encrypted Secret in %s; passing it through unchanged\n", opts.inputName())
	}
	return opts.write(sys, st.Bytes(), !st.Changed())
}
