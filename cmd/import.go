package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/foreign/sops"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// ImportOptions are the parsed flags of ksec import.
type ImportOptions struct {
	ioOptions
	Files     []string
	Keys      []string
	KeepGoing bool
}

// NewCmdImport builds ksec import; runF replaces the work in tests.
func NewCmdImport(sys *System, runF func(*cobra.Command, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{}
	c := &cobra.Command{
		Use:   "import [-k KEY]... [-i | -o FILE] FILE...",
		Short: "Convert SOPS-encrypted Secret files to ksec files",
		Long: `Convert a SOPS-encrypted Kubernetes Secret file to a ksec file. The file is
decrypted by the sops program (it must be installed, v3.9 or later, with
access to a key that decrypts the file, as for sops decrypt), then encrypted
with ksec for the recipients of its sops: block:
  age RECIPIENT -> age:RECIPIENT    pgp FP -> pgp:FP
  kms ARN(+role) -> aws:ARN(+ROLE)  gcp_kms RESOURCE -> gcp:RESOURCE
Azure Key Vault and HashiCorp Vault recipients and SOPS key groups (Shamir)
cannot be mapped: the file is refused, naming them; give the recipients
yourself with -k/--key (or KSEC_KEYS) to convert it anyway.

The plaintext goes from sops to ksec through a pipe, never to disk. The
result is checked to decrypt to exactly what sops printed before it is
written; on any failure nothing is written. The ksec file is SOPS's
plaintext (SOPS's indentation, comments kept) with the values sealed and a
ksec: block in place of the sops: block. ksec encrypts only data and
stringData: what else SOPS had encrypted (metadata, comments) is named on
standard error, and a document that is not a Secret is refused.

The result goes to standard output, -o FILE, or with -i over FILE; many
files are converted in place (-i) and written only when all converted
(--keep-going writes those that did).`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return hint.Wrap(usagef("no input: name the SOPS files to convert"), "ksec import -i FILE...")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			opts.Input = args[0]
			if runF != nil {
				return runF(c, opts)
			}
			return runImport(c, sys, opts)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&opts.Keys, "key", "k", nil, "recipient key spec, instead of those of the sops: block (repeatable)")
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the ksec file")
	f.StringVarP(&opts.Output, "output", "o", "", "write the ksec file to this file")
	f.BoolVar(&opts.KeepGoing, "keep-going", false, "with many files, write those that converted; exit non-zero at the end")
	opts.bindForce(f)
	return c
}

func runImport(c *cobra.Command, sys *System, opts *ImportOptions) error {
	if len(opts.Files) > 1 && !opts.InPlace {
		return hint.Wrap(usagef("converting several files needs -i/--in-place"), "or convert one file at a time to standard output or -o FILE")
	}
	if slices.Contains(opts.Files, "-") {
		return hint.Wrap(usagef("ksec import reads SOPS files by name, not standard input"), "save it to a file first: it is encrypted")
	}
	if err := opts.validate(sys); err != nil {
		return err
	}
	bin, err := sops.Find()
	if err != nil {
		return hint.Wrap(err,
			"install sops (v3.9 or later) where it can decrypt the file, then run ksec import again",
			"or convert by hand: sops decrypt FILE | ksec encrypt -k KEY - > NEW.yaml")
	}
	runner := &sops.Runner{Path: bin, Env: os.Environ(), MaxOutput: MaxInputSize}
	kr, err := newKeyring(sys, nil, "")
	if err != nil {
		return err
	}
	files := opts.Files
	if opts.InPlace {
		files = oncePerFile(sys, files)
	}
	results := make([]batchResult, len(files))
	failed := false
	for i, file := range files {
		if c.Context().Err() != nil {
			results[i] = batchResult{file: file, err: errSkipped}
			continue
		}
		if failed && !opts.KeepGoing {
			results[i] = batchResult{file: file, err: errSkipped}
			continue
		}
		out, snap, err := importFile(c.Context(), sys, kr, runner, opts.Keys, file)
		results[i] = batchResult{file: file, out: out, changed: true, err: err, snap: snap}
		failed = failed || err != nil
	}
	if len(files) == 1 {
		if results[0].err != nil {
			return results[0].err
		}
		opts.snap = results[0].snap
		return opts.write(sys, results[0].out, false)
	}
	failedErr := batchErrors(sys, results)
	if failedErr != nil && !opts.KeepGoing {
		return failedErr
	}
	batch := batchOptions{}
	if err := batch.writeInPlace(sys, results, opts.ioOptions); err != nil {
		return err
	}
	return failedErr
}

// importFile converts one SOPS file and returns the ksec file.
func importFile(ctx context.Context, sys *System, kr *keyring.Keyring, runner *sops.Runner, keyFlags []string, file string) ([]byte, *outfile.Snapshot, error) {
	src, snap, err := readManifestFileSnap(file)
	if err != nil {
		return nil, nil, err
	}
	if f := foreign.Detect(src); f == nil || f.Format != foreign.SOPS {
		what := "not a SOPS-encrypted file"
		h := "ksec import converts files that sops encrypted; to encrypt a plain manifest: ksec encrypt -i " + file
		if f != nil {
			what, h = "a kubesec file, not a SOPS file", "ksec reads kubesec files directly: ksec decrypt "+file
		} else if st, err := manifest.Parse(src); err == nil && slices.ContainsFunc(st.Secrets, func(s *manifest.Secret) bool { return s.Meta != nil }) {
			what, h = "already a ksec file", "nothing to convert"
		}
		return nil, nil, hint.Wrap(fmt.Errorf("%w: %s is %s", manifest.ErrBadInput, file, what), h)
	}
	meta, err := sops.ReadMetadata(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", manifest.ErrBadInput, err)
	}
	specs := keySpecs(sys, keyFlags)
	named := len(specs) > 0
	if !named {
		if err := mappable(meta, file); err != nil {
			return nil, nil, err
		}
		specs = meta.Specs
	}
	recipients, err := kr.ParseRecipients(ctx, specs)
	if err != nil {
		if !named {
			return nil, nil, hint.Wrap(fmt.Errorf("a recipient of the sops: block: %w", err), "give the recipients yourself with -k KEY...")
		}
		return nil, nil, err
	}
	json := isJSON(src)
	plain, err := runner.Decrypt(ctx, src, json)
	defer clear(plain)
	if err != nil {
		var run *sops.RunError
		switch {
		case errors.As(err, &run) && run.Integrity():
			err = fmt.Errorf("%w: %w", crypto.ErrIntegrity, err)
		case errors.As(err, &run) && run.NoKey():
			err = hint.Wrap(fmt.Errorf("%w: %w", keyring.ErrNoIdentity, err),
				"sops needs a key for the file, as for sops decrypt: SOPS_AGE_KEY_FILE or SOPS_AGE_KEY for age, gpg's keyring for pgp, cloud credentials for kms and gcp_kms")
		}
		return nil, nil, err
	}
	exposed, err := sops.Exposed(src, plain)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", manifest.ErrBadInput, err)
	}
	if len(exposed.NotSecrets) > 0 {
		return nil, nil, hint.Wrap(fmt.Errorf("%w: %s: SOPS encrypted values of %s, which is not a Secret: ksec encrypts only Secrets, so they would be written in the clear",
			manifest.ErrBadInput, file, strings.Join(exposed.NotSecrets, ", ")),
			"move that document to a file of its own and keep it in SOPS, or make its secret values a Secret")
	}
	st, err := manifest.Parse(plain)
	if err != nil {
		return nil, nil, fmt.Errorf("the plaintext sops printed: %w", err)
	}
	if slices.ContainsFunc(st.Secrets, func(s *manifest.Secret) bool { return s.Meta != nil }) {
		return nil, nil, fmt.Errorf("%w: %s: the plaintext holds a ksec: block already; convert it by hand", manifest.ErrBadInput, file)
	}
	if err := st.CheckNames(); err != nil {
		return nil, nil, err
	}
	// Encrypting from plaintext checks that the result decrypts, with the
	// new data keys, to the plaintext byte for byte (envelope's round trip):
	// so the ksec file gives exactly what sops gave.
	if err := envelope.Encrypt(ctx, st, kr, envelope.Recipients{Set: recipients}); err != nil {
		return nil, nil, err
	}
	out := bytes.Clone(st.Bytes()) // plain, which st may share, is wiped on return
	prefix := filePrefix(file)
	for _, n := range meta.Notes {
		fmt.Fprintf(sys.Err, "ksec: note: %s%s\n", prefix, n)
	}
	if len(exposed.Fields) > 0 {
		fmt.Fprintf(sys.Err, "ksec: note: %sSOPS had encrypted values outside data and stringData, which ksec keeps readable: %s\n",
			prefix, strings.Join(exposed.Fields, "; "))
	}
	if exposed.Comments > 0 {
		fmt.Fprintf(sys.Err, "ksec: warning: %sSOPS had encrypted %s; ksec keeps comments readable: check them before you commit\n",
			prefix, countOf(exposed.Comments, "comment", "comments"))
	}
	fmt.Fprintf(sys.Err, "ksec: %sconverted from SOPS for %s\n", prefix, strings.Join(specs, ", "))
	return out, snap, nil
}

// mappable refuses a SOPS file whose recipients ksec cannot all take over:
// someone who can decrypt it now would lose access, or a Shamir split
// would become "any one key".
func mappable(meta *sops.Metadata, file string) error {
	keep := "to convert it for other keys, name them: ksec import -k KEY... " + file
	if len(meta.Specs) > 0 && meta.Groups == 0 {
		keep = "to convert it for the others only: ksec import -k " + strings.Join(meta.Specs, ",") + " " + file
	}
	switch {
	case meta.Groups > 0:
		return hint.Wrap(fmt.Errorf("%w: %s is split into %d SOPS key groups (Shamir, %d needed to decrypt); any one ksec recipient can decrypt, so the split cannot be kept",
			manifest.ErrBadInput, file, meta.Groups, meta.Threshold), "to convert it for keys you choose: ksec import -k KEY... "+file)
	case len(meta.Unmapped) > 0:
		return hint.Wrap(fmt.Errorf("%w: %s: ksec cannot encrypt for %s", manifest.ErrBadInput, file, strings.Join(meta.Unmapped, ", ")), keep)
	case len(meta.Specs) == 0:
		return hint.Wrap(fmt.Errorf("%w: %s: the sops: block names no recipient", manifest.ErrBadInput, file), keep)
	}
	return nil
}

// isJSON reports whether a file is JSON (it starts with '{'), for sops,
// which otherwise goes by the file name's extension.
func isJSON(src []byte) bool {
	for _, b := range src {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}
