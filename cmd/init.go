package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/outfile"
)

// InitOptions are the parsed flags of ksec init.
type InitOptions struct {
	Force bool
	// FromSOPS names a .sops.yaml to convert, "" for the starter file.
	FromSOPS string
}

// NewCmdInit builds ksec init; runF replaces the work in tests.
func NewCmdInit(sys *System, runF func(*cobra.Command, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{}
	c := &cobra.Command{
		Use:   "init [--force] [--from-sops [.sops.yaml]]",
		Short: "Write a starter .ksec.yaml team configuration",
		Long: `Write a commented .ksec.yaml in the current directory (usually the root of
the repository). Its rules say which keys the Secret manifests below it are
encrypted for, so teammates run ksec encrypt -i FILE without naming keys,
and ksec updatekeys FILE... after the rules change.

The example rule is for your age key when the default identity file
($XDG_CONFIG_HOME/ksec/identities or ~/.config/ksec/identities, see
ksec keygen --default) has one, else for a placeholder to replace. An
existing .ksec.yaml is kept unless --force is given.

--from-sops converts a SOPS configuration instead (.sops.yaml in the
current directory unless named): its creation_rules become rules, in the
same order, with path_regex kept and age, pgp, kms and gcp_kms keys mapped.
The .ksec.yaml is written next to the .sops.yaml, since both tools match
path_regex against paths relative to their file. What cannot be mapped (key
groups with Shamir, Azure Key Vault, Vault, encrypted_regex and the like)
is listed on standard error and in the file; a rule left without a key
gets a placeholder that makes encrypting fail until it is replaced.`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if !c.Flags().Changed("from-sops") {
					return usagef("init takes no arguments (did you mean --from-sops %s?)", args[0])
				}
				if opts.FromSOPS != sopsConfigName {
					return usagef("--from-sops takes one file")
				}
				opts.FromSOPS = args[0]
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runInit(sys, opts)
		},
	}
	c.Flags().BoolVar(&opts.Force, "force", false, "replace an existing .ksec.yaml")
	c.Flags().StringVar(&opts.FromSOPS, "from-sops", "", "convert this SOPS configuration's creation_rules (default "+sopsConfigName+")")
	c.Flags().Lookup("from-sops").NoOptDefVal = sopsConfigName
	return c
}

// placeholderRecipient is not a valid age recipient, so a starter file
// used as it is fails to encrypt instead of encrypting for nobody's key.
const placeholderRecipient = "age1replace-with-your-age-public-key"

func runInit(sys *System, opts *InitOptions) error {
	if opts.FromSOPS != "" {
		return runInitFromSOPS(sys, opts)
	}
	recipients, note := defaultAgeRecipients(sys)
	content := starterConfig(recipients)
	// Not secret: a new file gets the umask's mode, an existing one keeps its own.
	err := writeFile(sys, config.FileName, content, outfile.Options{BreakLinks: opts.Force, CreateOnly: !opts.Force})
	if errors.Is(err, outfile.ErrExists) {
		return hint.Wrap(fmt.Errorf("%s already exists; it was left as it is", config.FileName),
			"edit it, or pass --force to replace it with a new starter file")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(sys.Err, "Wrote %s %s.\n", config.FileName, note)
	fmt.Fprintln(sys.Err, "Edit its rules, commit it, then encrypt with: ksec encrypt -i FILE")
	return nil
}

// defaultAgeRecipients returns the public keys of the default age identity
// file, or the placeholder, and says which for the user.
func defaultAgeRecipients(sys *System) ([]string, string) {
	placeholder := "with a placeholder key: replace " + placeholderRecipient + " with your team's keys"
	path := keyring.DefaultAgeIdentityFile(sys.Getenv)
	if path == "" {
		return []string{placeholderRecipient}, placeholder
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{placeholderRecipient}, placeholder + " (no age key at " + path + "; make one with ksec keygen --default)"
	}
	if err != nil {
		return []string{placeholderRecipient}, placeholder + " (" + err.Error() + ")"
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's parse errors name a line, never key material.
		return []string{placeholderRecipient}, fmt.Sprintf("%s (%s is not an age identity file ksec can read: %v)", placeholder, path, err)
	}
	var out []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			out = append(out, id.Recipient().String())
		case *age.HybridIdentity:
			out = append(out, id.Recipient().String())
		}
	}
	if len(out) == 0 {
		return []string{placeholderRecipient}, placeholder
	}
	return out, "for your age key " + strings.Join(out, ", ") + " (from " + path + ")"
}

func starterConfig(recipients []string) []byte {
	var keys strings.Builder
	for _, r := range recipients {
		fmt.Fprintf(&keys, "      - age:%s\n", r)
	}
	return []byte(`# ksec team configuration: which keys Secret manifests are encrypted for.
#
# ksec looks for this file in the manifest's directory, then in each parent
# directory up to the root of the git repository. Rules are tried in order;
# the first whose path (and namespace, when given) matches the manifest is
# used. Patterns are relative to this file's directory. The format is in
# docs/CONFIG.md of the ksec sources.
#
#   ksec encrypt -i FILE      encrypts new Secrets for their rule's keys
#   ksec updatekeys FILE...   brings encrypted files in line after a change here
rules:
  # Production Secrets, only for the production keys. Key forms:
  # - path: "prod/**/*.yaml"            # ** is any number of directories
  #   namespace: "prod-*"               # optional: matches metadata.namespace
  #   keys:
  #     - age:age1…                                             # an age public key
  #     - pgp:0123456789ABCDEF0123456789ABCDEF01234567          # an OpenPGP key in gpg
  #     - pgp:keys/alice.asc                                    # an OpenPGP key file, relative to this file
  #     - aws:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
  #     - gcp:projects/my-project/locations/global/keyRings/ksec/cryptoKeys/ksec
  # A regular expression on the path instead of a glob:
  # - path_regex: '^staging/.*\.ya?ml$'
  #   keys: [age:age1…]

  # Every other manifest:
  - path: "**"
    keys:
` + keys.String())
}
