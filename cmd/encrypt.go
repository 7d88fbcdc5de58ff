package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// EncryptOptions are the parsed flags of ksec encrypt.
type EncryptOptions struct {
	ioOptions
	batchOptions
	kubesecOptions
	Files          []string
	Keys           []string
	Identities     []string
	PassphraseFile string
	Parent         string
	Force          bool
}

// NewCmdEncrypt builds ksec encrypt; runF replaces the work in tests.
func NewCmdEncrypt(sys *System, runF func(*cobra.Command, *EncryptOptions) error) *cobra.Command {
	opts := &EncryptOptions{}
	c := &cobra.Command{
		Use:     "encrypt [-k KEY]... [-i | -o FILE] [FILE... | - | -R DIR]",
		Aliases: []string{"e"}, // kubesec's
		Short:   "Encrypt the values of the Secrets in a manifest",
		Long: `Encrypt the data and stringData values of every Secret in FILE (or standard
input), for every recipient key. Other documents and all other fields are
kept as they are.

Keys come from -k/--key (repeatable, or comma-separated), else from KSEC_KEYS,
else from the first matching rule of the .ksec.yaml found from FILE's
directory upwards (see ksec init). A key is one of:
  age:age1…              an age recipient (a bare age1… works too; see ksec keygen)
  age:ssh-ed25519 AAAA…  an SSH public key, ed25519 or rsa, used the age way
  pgp:FINGERPRINT        an OpenPGP key in your gpg keyring (a bare 40-hex fingerprint works too)
  pgp:PATH               an OpenPGP public-key file, armored or binary (a bare path works too)
  aws:arn:aws:kms:REGION:ACCOUNT:key/ID   an AWS KMS key or alias ARN (+ROLE_ARN to assume a role)
  gcp:projects/P/locations/L/keyRings/R/cryptoKeys/K   a Cloud KMS key
  azure:https://VAULT.vault.azure.net/keys/KEY[/VERSION]   an Azure Key Vault RSA key

On an encrypted file, plain -k KEY... replaces the recipients; -k +KEY adds
one (the data key is wrapped for it, values stay as they are) and -k -KEY
removes one (a new data key is made and every value re-sealed, since the
removed party had the old one). A replacing list (from -k or KSEC_KEYS)
that leaves out a current recipient needs confirming: --force, or an answer
to the prompt on a terminal; otherwise ksec exits with status 2, naming the
recipients that would lose access, and writes nothing. Without -k, an encrypted file keeps its
recipients: encrypting it again changes nothing, and values added to it by
hand are sealed with its data key (which needs a key that can decrypt it).

To re-encrypt an edited plaintext file without churning the diff, name its
earlier encrypted version with --parent: its data key and recipients are
reused and every unchanged value keeps its ciphertext. When -o names an
existing encrypted file for the same Secret, it is used as the parent. A
Secret takes the parent's keys only from the parent Secret with the same
namespace and name; any other needs keys from -k, KSEC_KEYS or .ksec.yaml.

Many files (or -R DIR) are encrypted in place, in parallel: give -i.

A kubesec file is converted: its values are decrypted (v1 and v2 files,
which have no MAC, only with --allow-no-mac) and sealed anew under a new
data key for the same recipients (a PGP key ID becomes the key's
fingerprint, looked up in gpg; AWS and GCP keys are wrapped again, bound to
the Secret), or for those of -k. The result keeps kubesec's layout.
ksec inspect FILE shows what a conversion would do.`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if len(args) == 1 {
				opts.Input = args[0]
			}
			if runF != nil {
				return runF(c, opts)
			}
			if opts.many(args) {
				return runEncryptMany(c, sys, opts)
			}
			return runEncrypt(c, sys, opts)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&opts.Keys, "key", "k", nil, "recipient key spec (repeatable)")
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the result")
	f.StringVarP(&opts.Output, "output", "o", "", "write the result to this file")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file, to re-encrypt an encrypted file (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	opts.batchOptions.bind(f)
	opts.kubesecOptions.bind(f)
	f.StringVarP(&opts.Parent, "parent", "p", "", "an earlier encrypted version: reuse its data key, recipients and unchanged values' ciphertext")
	f.BoolVar(&opts.Force, "force", false, "replace an encrypted file's recipients even when some current ones are left out, and a file that has other hard links")
	return c
}

func runEncrypt(c *cobra.Command, sys *System, opts *EncryptOptions) error {
	opts.ioOptions.Force = opts.Force // one --force: see its help
	if err := opts.validate(sys); err != nil {
		return err
	}
	src, err := opts.read(sys)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	ctx := c.Context()
	if isKubesec(src) {
		if opts.Parent != "" {
			return usagef("--parent re-encrypts a plaintext file, but the input is a kubesec file")
		}
		out, err := convertKubesec(ctx, sys, kr, opts.Input, src, opts.kubesecOptions, flagSpecs(sys, opts.Keys), false)
		if err != nil {
			return err
		}
		return opts.write(sys, out, false)
	}
	st, err := parseManifest(opts.Input, src)
	if err != nil {
		return err
	}
	if err := st.CheckNames(); err != nil {
		return err
	}
	if err := st.CheckShadows(); err != nil {
		return err
	}
	forSecret, rs, err := recipientsFor(ctx, sys, kr, opts.Keys, opts.Input)
	if err != nil {
		return err
	}
	if out, ok, err := encryptFromParent(c, sys, kr, opts, st, forSecret, rs); ok || err != nil {
		if err != nil {
			return err
		}
		warnComments(sys, "", st)
		return opts.write(sys, out, false)
	}
	if err := checkRecipients(st, forSecret); err != nil {
		return err
	}
	if err := confirmRemovals(sys, opts.Force, true, st, forSecret); err != nil {
		return err
	}
	hand, err := envelope.EncryptEachReport(ctx, st, kr, forSecret)
	if err != nil {
		return explainNoSecrets(err, opts.inputName(), st)
	}
	for _, h := range hand {
		fmt.Fprintf(sys.Err, "ksec: note: %s: sealed %s added by hand with the data key the file already had: whoever holds that key (the file's author, every recipient) can read %s\n",
			h.Secret, countOf(h.Count, "value", "values"), plural(h.Count, "it", "them"))
	}
	if len(hand) > 0 {
		fmt.Fprintln(sys.Err, "ksec: hint: if you did not write this file yourself, give it a new data key: ksec rotate -i FILE (or edit/patch --rotate)")
	}
	warnComments(sys, "", st)
	return opts.write(sys, st.Bytes(), !st.Changed())
}

// confirmRemovals makes sure a replacing list of keys (-k KEY…, KSEC_KEYS)
// does not silently lock current recipients out of an encrypted file: it
// needs --force, or a yes on the terminal when canAsk; otherwise it is a
// usage error naming who would lose access.
func confirmRemovals(sys *System, force, canAsk bool, st *manifest.Stream, forSecret func(*manifest.Secret) (envelope.Recipients, error)) error {
	if force {
		return nil
	}
	removals, err := envelope.Removals(st, forSecret)
	if err != nil || len(removals) == 0 {
		return err
	}
	var refs []string
	for _, r := range removals {
		for _, ref := range r.Removed {
			if s := ref.Type + ":" + ref.ID; !slices.Contains(refs, s) {
				refs = append(refs, s)
			}
		}
	}
	what := removals[0].Secret.String()
	if len(removals) > 1 {
		what = countOf(len(removals), "encrypted Secret", "encrypted Secrets")
	}
	msg := fmt.Sprintf("the keys named (-k or KSEC_KEYS) replace the recipients of %s and leave out %s, who could no longer decrypt it",
		what, strings.Join(refs, ", "))
	if canAsk && sys.StdinIsTerminal != nil && sys.StdinIsTerminal() {
		yes, err := askYes(sys, fmt.Sprintf("ksec: %s.\nReplace the recipients?", msg))
		if err != nil || yes {
			return err
		}
		return usagef("not confirmed: nothing was written")
	}
	return hint.Wrap(usagef("%s; nothing was written", msg),
		"to replace them anyway, add --force; to add a recipient use -k +KEY, to remove one -k -KEY")
}

// checkRecipients refuses, before any work, to encrypt a Secret that is
// not encrypted yet when no key was named and no configuration covers it.
func checkRecipients(st *manifest.Stream, forSecret func(*manifest.Secret) (envelope.Recipients, error)) error {
	for _, s := range st.Secrets {
		if s.Meta != nil {
			continue
		}
		rs, err := forSecret(s)
		if err != nil {
			return &manifest.Error{Secret: s, Err: err}
		}
		if rs.Set == nil && len(rs.Add) == 0 {
			return hint.Wrap(usagef("no keys to encrypt for"),
				"name keys with -k/--key (repeatable) or KSEC_KEYS, e.g. -k age1… or -k pgp:FINGERPRINT, or add a rule to .ksec.yaml (ksec init)")
		}
	}
	return nil
}

// encryptFromParent encrypts a plaintext stream reusing an earlier
// encrypted version (--parent, or the existing -o file): same data keys,
// same recipients, unchanged values keep their tokens. ok is false when
// there is no parent to use.
func encryptFromParent(c *cobra.Command, sys *System, kr *keyring.Keyring, opts *EncryptOptions, st *manifest.Stream, forSecret func(*manifest.Secret) (envelope.Recipients, error), rs envelope.Recipients) (out []byte, ok bool, err error) {
	parent, explicit := opts.Parent, opts.Parent != ""
	if !explicit && opts.Output != "" && opts.Output != "-" {
		parent = opts.Output
	}
	if parent == "" || slices.ContainsFunc(st.Secrets, func(s *manifest.Secret) bool { return s.Meta != nil }) {
		if explicit {
			return nil, false, usagef("--parent re-encrypts a plaintext file, but the input is encrypted already")
		}
		return nil, false, nil
	}
	src, snap, err := readManifestFileSnap(parent)
	if !explicit {
		// The -o file is read as the parent and then replaced: refuse
		// to replace it if it changes meanwhile.
		opts.outSnap = snap
	}
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("parent: %w", err)
	}
	pst, err := parseManifest(parent, src)
	if err != nil {
		if !explicit {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("parent %s: %w", parent, err)
	}
	if !explicit && !slices.ContainsFunc(pst.Secrets, func(s *manifest.Secret) bool { return s.Meta != nil }) {
		return nil, false, nil
	}
	sess, err := envelope.DecryptSession(c.Context(), pst, kr)
	if err == nil {
		defer sess.Close()
	}
	if err == nil && !explicit && !sess.Matches(st) {
		return nil, false, nil
	}
	if err != nil {
		if explicit {
			return nil, false, fmt.Errorf("parent %s: %w", parent, err)
		}
		fmt.Fprintf(sys.Err, "ksec: note: %s is encrypted but cannot be opened (%v); encrypting afresh, so every value changes\n", parent, err)
		return nil, false, nil
	}
	inherited, err := sess.Reseal(c.Context(), st, kr, forSecret, envelope.ResealOptions{})
	if errors.Is(err, envelope.ErrNoKeysForNew) {
		return nil, false, usageError{err} // keys missing from the command line
	}
	if err != nil {
		return nil, false, err
	}
	for _, in := range inherited {
		fmt.Fprintf(sys.Err, "ksec: note: %s: data key and recipients taken from %s\n", in.Secret, parent)
		if in.Resealed > 0 {
			fmt.Fprintf(sys.Err, "ksec: note: %s: %s sealed with that data key, which whoever wrote %s knows: if that was not you, run ksec rotate -i on the result\n",
				in.Secret, countOf(in.Resealed, "new or changed value", "new or changed values"), parent)
		}
	}
	// The recipients asked for may differ from the parent's.
	next, err := manifest.Parse(st.Bytes())
	if err != nil {
		return nil, false, err
	}
	if err := confirmRemovals(sys, opts.Force, true, next, func(*manifest.Secret) (envelope.Recipients, error) { return rs, nil }); err != nil {
		return nil, false, err
	}
	rs.Rotate = false
	if err := envelope.Encrypt(c.Context(), next, kr, rs); err != nil {
		return nil, false, err
	}
	return next.Bytes(), true, nil
}

// parseRecipientFlags reads key specs: plain ones replace the recipient
// set; "+KEY" adds to and "-KEY" removes from each Secret's own set.
func parseRecipientFlags(ctx context.Context, kr *keyring.Keyring, specs []string) (envelope.Recipients, error) {
	var rs envelope.Recipients
	var plain []string
	for _, spec := range specs {
		switch {
		case strings.HasPrefix(spec, "+"):
			r, err := kr.ParseRecipient(ctx, spec[1:])
			if err != nil {
				return rs, err
			}
			rs.Add = append(rs.Add, r)
		case strings.HasPrefix(spec, "-"):
			ref, err := kr.ParseRef(ctx, spec[1:])
			if err != nil {
				return rs, err
			}
			rs.Remove = append(rs.Remove, ref)
		default:
			plain = append(plain, spec)
		}
	}
	if len(plain) > 0 && (len(rs.Add) > 0 || len(rs.Remove) > 0) {
		return rs, hint.Wrap(usagef("-k KEY (the whole set) cannot be mixed with -k +KEY / -k -KEY (changes to it)"),
			"list every recipient with plain -k KEY, or only the changes with +KEY and -KEY")
	}
	if len(plain) > 0 {
		recipients, err := kr.ParseRecipients(ctx, plain)
		if err != nil {
			return rs, err
		}
		rs.Set = recipients
	}
	return rs, nil
}

// runEncryptMany encrypts many files in place.
func runEncryptMany(c *cobra.Command, sys *System, opts *EncryptOptions) error {
	opts.ioOptions.Force = opts.Force
	switch {
	case !opts.InPlace:
		return hint.Wrap(usagef("encrypting several files needs -i/--in-place"), "or encrypt one file at a time to standard output or -o FILE")
	case opts.Parent != "":
		return usagef("--parent goes with a single file")
	}
	files, err := opts.inputFiles(sys, opts.Files)
	if err != nil {
		return err
	}
	files = oncePerFile(sys, files)
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	var kubesec sync.Map // the files converted from kubesec, encrypted already
	opts.kubesec = func(ctx context.Context, file string, src []byte) (*manifest.Stream, error) {
		out, err := convertKubesec(ctx, sys, kr, file, src, opts.kubesecOptions, flagSpecs(sys, opts.Keys), false)
		if err != nil {
			return nil, err
		}
		kubesec.Store(file, true)
		return manifest.Parse(out)
	}
	results := opts.runBatch(c.Context(), files, func(ctx context.Context, file string, st *manifest.Stream) ([]byte, bool, error) {
		if _, ok := kubesec.Load(file); ok {
			return st.Bytes(), true, nil
		}
		if len(st.Secrets) == 0 {
			return nil, false, nil // not a Secret: left alone
		}
		err := st.CheckNames()
		if err == nil {
			err = st.CheckShadows()
		}
		var forSecret func(*manifest.Secret) (envelope.Recipients, error)
		if err == nil {
			forSecret, _, err = recipientsFor(ctx, sys, kr, opts.Keys, file)
		}
		if err == nil {
			err = checkRecipients(st, forSecret)
		}
		if err == nil {
			// Many files run at once: no prompt, only --force.
			err = confirmRemovals(sys, opts.Force, false, st, forSecret)
		}
		if err == nil {
			err = envelope.EncryptEach(ctx, st, kr, forSecret)
		}
		if err != nil {
			return nil, false, err
		}
		warnComments(sys, file, st)
		return st.Bytes(), st.Changed(), nil
	})
	checkDuplicateScopes(sys, results, false) // each file is written back on its own
	failed := batchErrors(sys, results)
	if failed != nil && !opts.KeepGoing {
		return failed
	}
	if err := opts.writeInPlace(sys, results, opts.ioOptions); err != nil {
		return err
	}
	return failed
}
