package cmd

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/manifest"
)

// RotateOptions are the parsed flags of ksec rotate.
type RotateOptions struct {
	dirOptions
	Files          []string
	InPlace        bool
	Force          bool
	Identities     []string
	PassphraseFile string
}

// NewCmdRotate builds ksec rotate; runF replaces the work in tests.
func NewCmdRotate(sys *System, runF func(*cobra.Command, *RotateOptions) error) *cobra.Command {
	opts := &RotateOptions{}
	c := &cobra.Command{
		Use:   "rotate [-I FILE]... [-i] FILE... | -R DIR",
		Short: "Give encrypted Secrets a new data key",
		Long: `Make a new data key for every encrypted Secret in each FILE, re-seal every
value with it and wrap it for the same recipients. Do this when a data key
may have leaked (a decrypted copy, a removed teammate). It needs a key that
can decrypt the files, and every recipient's public key: for pgp recipients
their keys must be in your gpg keyring.

With one FILE the result goes to standard output unless -i is given; with
several, or -R, -i is required. Files under -R DIR without an encrypted
Secret are passed over.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && len(opts.Recursive) == 0 {
				return usagef("rotate needs at least one FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(c, opts)
			}
			return runRotate(c, sys, opts)
		},
	}
	f := c.Flags()
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace each FILE with the result")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	opts.dirOptions.bind(f)
	f.BoolVar(&opts.Force, "force", false, "replace a file that has other hard links (they keep the old content)")
	return c
}

func runRotate(c *cobra.Command, sys *System, opts *RotateOptions) error {
	if opts.many(opts.Files) && !opts.InPlace {
		return usagef("rotating several files needs -i/--in-place")
	}
	found, err := opts.walk(sys)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	// Every file is rotated before any is written, so a failure leaves all as they were.
	var ios []*ioOptions
	var outputs [][]byte
	files := append(slices.Clone(opts.Files), found...)
	if opts.InPlace {
		files = oncePerFile(sys, files)
	}
	for _, file := range files {
		io := &ioOptions{Input: file, InPlace: opts.InPlace, Force: opts.Force}
		if err := io.validate(sys); err != nil {
			return err
		}
		src, err := io.read(sys)
		if err != nil {
			return err
		}
		st, err := parseManifest(file, src)
		if err != nil {
			return fileError(file, err)
		}
		if !slices.ContainsFunc(st.Secrets, func(s *manifest.Secret) bool { return s.Meta != nil }) {
			if !slices.Contains(opts.Files, file) { // found by -R
				if opts.Verbose {
					fmt.Fprintf(sys.Err, "ksec: skipped %s: no encrypted Secret\n", file)
				}
				continue
			}
			return fileError(file, fmt.Errorf("%w: no encrypted Secret to rotate", manifest.ErrBadInput))
		}
		if err := envelope.Encrypt(c.Context(), st, kr, envelope.Recipients{Rotate: true}); err != nil {
			return fileError(file, err)
		}
		ios = append(ios, io)
		outputs = append(outputs, st.Bytes())
	}
	// A write that fails (the file changed meanwhile) does not stop the
	// others: each failure is named.
	errs := make([]error, len(ios))
	for i, io := range ios {
		errs[i] = io.write(sys, outputs[i], false)
	}
	return firstWriteError(sys, errs, len(ios))
}
