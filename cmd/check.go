package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/check"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// CheckOptions are the parsed flags of ksec check.
type CheckOptions struct {
	Files     []string
	Recursive []string
	Verbose   bool
	Format    string // "text" or "json"
	Encrypt   bool   // encrypt the plain and partially encrypted files in place first
}

// NewCmdCheck builds ksec check; runF replaces the work in tests.
func NewCmdCheck(sys *System, runF func(*cobra.Command, *CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{}
	c := &cobra.Command{
		Use:   "check [-v] [-o text|json] [FILE... | -R DIR]",
		Short: "Fail when files would put a secret value into git in plaintext (no key needed)",
		Long: `Check FILEs (and every .yaml, .yml and .json file under -R DIR) for what
would put a secret value into git in plaintext, without any key: a Secret
that is plain or partially encrypted (in a stream, a List or JSON), a
kustomize secretGenerator with literals, envs or files, a leftover temporary
file of an interrupted ksec write beside a FILE or under DIR, and a file that
names a Secret but cannot be parsed. Anything else passes: encrypted
Secrets, ConfigMaps and other objects, kustomizations without a
secretGenerator, CI files, Helm values, and SOPS or kubesec files (they are
encrypted; check stops plaintext, it does not judge another tool's format).

Made for pre-commit hooks and CI: quiet on success, one line per problem
("FILE:LINE: Secret NAME: plaintext data.KEY, ..."), never a value.
-v also lists every file that passed.

-o json prints {"files":[{"file","ok","note","problems":[{"kind","line",
"secret","keys","message"}]}]}; kind is "plain", "partial", "generator",
"temp-file", "bad-input" or "read-error"; line is 0 when not known.

--encrypt first runs ksec encrypt -i on the files with plain or partially
encrypted Secrets (and only on them: encrypted files, other tools' files and
files without a Secret are never rewritten), with the keys encrypt would use
(KSEC_KEYS, or .ksec.yaml); sealing a value added to an encrypted file needs
a key that can decrypt it. Then it checks again and reports what is left.

Exit status: 0 when every file passes; 6 when some file holds plaintext
(any kind but bad-input and read-error); else 3 when some file cannot be
parsed, 1 when some file cannot be read; 2 for a wrong command line.`,
		Example: `  ksec check secrets/*.yaml
  ksec check -R deploy/
  ksec check -o json -R . | jq -r '.files[] | select(.ok | not) | .file'`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(c, opts)
			}
			return runCheck(c, sys, opts)
		},
	}
	c.Flags().StringVarP(&opts.Format, "output", "o", "text", "output `FORMAT`: text or json")
	c.Flags().StringArrayVarP(&opts.Recursive, "recursive", "R", nil, "also every .yaml, .yml and .json file under this directory (repeatable)")
	c.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "also list the files that pass, and what -R passes over")
	c.Flags().BoolVar(&opts.Encrypt, "encrypt", false, "first encrypt in place (as ksec encrypt -i) the files whose Secrets are plain or partially encrypted; this needs keys")
	return c
}

func runCheck(c *cobra.Command, sys *System, opts *CheckOptions) error {
	if opts.Format != "text" && opts.Format != "json" {
		return usagef("-o/--output must be text or json, not %q", opts.Format)
	}
	if len(opts.Files) == 0 && len(opts.Recursive) == 0 {
		return usagef("no input: give FILEs, or -R DIR")
	}
	for _, f := range opts.Files {
		if f == "-" {
			return usagef("check reads files, not standard input: give FILEs, or -R DIR")
		}
	}
	co := check.Options{Files: opts.Files, Dirs: opts.Recursive}
	if opts.Verbose {
		co.Skipped = func(path, why string) { fmt.Fprintf(sys.Err, "ksec: skipped %s: %s\n", path, why) }
	}
	report, err := check.Run(co)
	if err != nil {
		return err
	}
	var encryptErr error
	if opts.Encrypt {
		if encryptErr = encryptFlagged(c, sys, report); encryptErr == nil {
			co.Skipped = nil // said once
			if report, err = check.Run(co); err != nil {
				return err
			}
		}
	}
	if opts.Format == "json" {
		err = report.WriteJSON(sys.Out)
	} else {
		err = report.WriteText(sys.Out, opts.Verbose)
	}
	if err != nil {
		return err
	}
	if encryptErr != nil {
		return encryptErr
	}
	if !report.Failed() {
		return nil
	}
	failed := 0
	for _, f := range report.Files {
		if !f.OK {
			failed++
		}
	}
	var hints []string
	if report.Count(check.KindPlain) > 0 {
		hints = append(hints, "encrypt a plain file with: ksec encrypt -i FILE (keys from .ksec.yaml, or -k KEY)")
	}
	if report.Count(check.KindPartial) > 0 {
		hints = append(hints, "seal the plaintext values of an encrypted file with: ksec encrypt -i FILE")
	}
	if report.Count(check.KindBadInput) > 0 {
		hints = append(hints, "a Helm or other template is not a manifest: leave it out (exclude: in .pre-commit-config.yaml)")
	}
	if report.Count(check.KindTempFile) > 0 {
		hints = append(hints, "delete leftover .NAME.ksec-tmp-* files once no ksec is running; never commit them")
	}
	err = fmt.Errorf("%d of %d %s failed the check", failed, len(report.Files), plural(len(report.Files), "file", "files"))
	switch {
	case report.Count(check.KindPlain, check.KindPartial, check.KindGenerator, check.KindTempFile) > 0:
		err = fmt.Errorf("%w: %w", ErrNotEncrypted, err)
	case report.Count(check.KindBadInput) > 0:
		err = fmt.Errorf("%w: %w", manifest.ErrBadInput, err)
	}
	return hint.Wrap(err, hints...)
}

// encryptFlagged encrypts in place the files that hold plain or partially
// encrypted Secrets, and only those, as ksec encrypt -i would.
func encryptFlagged(c *cobra.Command, sys *System, report *check.Report) error {
	var files []string
	for _, f := range report.Files {
		for _, p := range f.Problems {
			if p.Kind == check.KindPlain || p.Kind == check.KindPartial {
				files = append(files, f.File)
				break
			}
		}
	}
	if len(files) == 0 {
		return nil
	}
	eo := &EncryptOptions{Files: files}
	eo.InPlace = true
	if err := runEncryptMany(c, sys, eo); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(sys.Err, "ksec: encrypted %s\n", printable(f))
	}
	return nil
}
