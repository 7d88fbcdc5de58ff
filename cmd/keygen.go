package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/outfile"
)

// KeygenOptions are the parsed flags of ksec keygen.
type KeygenOptions struct {
	Output  string // file to create; "" or "-" for stdout
	Default bool   // create the default identity file
	PQ      bool   // post-quantum hybrid key instead of X25519
}

// NewCmdKeygen builds ksec keygen; runF replaces the work in tests.
func NewCmdKeygen(sys *System, runF func(*cobra.Command, *KeygenOptions) error) *cobra.Command {
	opts := &KeygenOptions{}
	c := &cobra.Command{
		Use:   "keygen [-o FILE | --default] [--pq]",
		Short: "Generate an age key",
		Long: `Generate an age key pair, like age-keygen. The secret key file is written
to standard output, to FILE with -o, or with --default to the file ksec reads
by default: $XDG_CONFIG_HOME/ksec/identities, else ~/.config/ksec/identities
(on every system). A file is created with mode 0600 and never overwritten.

The public key (age1…) is printed to standard error and is also on the
file's "# public key:" line; encrypt for it with -k age1…

  ksec keygen --default
  ksec keygen -o team-ci.key`,
		Args: maxArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c, opts)
			}
			return runKeygen(sys, opts)
		},
	}
	f := c.Flags()
	f.StringVarP(&opts.Output, "output", "o", "", "write the secret key to this new file")
	f.BoolVar(&opts.Default, "default", false, "write the secret key to the default identity file")
	f.BoolVar(&opts.PQ, "pq", false, "generate a post-quantum hybrid key (age1pq1…; needs age 1.3 or later to use with the age CLI)")
	return c
}

func runKeygen(sys *System, opts *KeygenOptions) error {
	if err := checkOutputName(opts.Output); err != nil {
		return err
	}
	target := opts.Output
	if opts.Default {
		if target != "" {
			return usagef("-o/--output and --default cannot be used together")
		}
		target = keyring.DefaultAgeIdentityFile(sys.Getenv)
		if target == "" {
			return hint.Wrap(errors.New("no default identity file: neither XDG_CONFIG_HOME nor HOME is set"),
				"name the file with -o FILE")
		}
	}
	public, secret, err := generateAgeKey(opts.PQ)
	if err != nil {
		return err
	}
	content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().Format(time.RFC3339), public, secret)
	if target == "" || target == "-" {
		if _, err := sys.Out.Write([]byte(content)); err != nil {
			return err
		}
	} else if err := createKeyFile(sys, target, []byte(content)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(sys.Err, "Public key: %s\n", public)
	return err
}

func generateAgeKey(pq bool) (public, secret string, err error) {
	if pq {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", "", fmt.Errorf("generate key: %w", err)
		}
		return id.Recipient().String(), id.String(), nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	return id.Recipient().String(), id.String(), nil
}

// createKeyFile writes a new private file; an existing file is an error, so
// a key that may already protect Secrets is never lost. A FIFO, a device or
// a /dev/fd name is written to (ksec keygen -o >(…)).
func createKeyFile(sys *System, name string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	err := writeFile(sys, name, content, outfile.Options{Plaintext: true, CreateOnly: true})
	if errors.Is(err, outfile.ErrExists) {
		return hint.Wrap(fmt.Errorf("%s already exists; ksec keygen never overwrites a key file", name),
			"choose another file name, or move the old key away first: Secrets encrypted for it need it to decrypt")
	}
	return err
}
