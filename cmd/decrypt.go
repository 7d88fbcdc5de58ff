package cmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// DecryptOptions are the parsed flags of ksec decrypt.
type DecryptOptions struct {
	ioOptions
	batchOptions
	kubesecOptions
	Files          []string
	SecretsOnly    bool
	Identities     []string
	PassphraseFile string
	Cleartext      bool
	Template       string
	Extract        string
	Secret         string
}

// NewCmdDecrypt builds ksec decrypt; runF replaces the work in tests.
func NewCmdDecrypt(sys *System, runF func(*cobra.Command, *DecryptOptions) error) *cobra.Command {
	opts := &DecryptOptions{}
	c := &cobra.Command{
		Use:     "decrypt [-I FILE]... [-i | -o FILE] [FILE... | - | -R DIR]",
		Aliases: []string{"d"}, // kubesec's
		Short:   "Decrypt the Secrets in a manifest, ready for kubectl apply",
		Long: `Decrypt every encrypted Secret in FILE (or standard input) and remove its
ksec block, so the output can be piped to kubectl apply -f -. Every value and
the whole Secret's MAC are verified before anything is written.

A kubesec file (format v3 or v4; v1 and v2, which have no MAC, only with
--allow-no-mac) is decrypted too, and printed as kubesec decrypt prints it.

Many files (or -R DIR) are decrypted in parallel and written as one YAML
stream, in the order given (files under a directory sorted by path); with
-i each file is decrypted in place. --secrets-only leaves out documents that
hold no encrypted Secret.

The data key is unwrapped with the identity files given with -I/--identity
or KSEC_IDENTITY_FILE (a path list), KSEC_AGE_KEY, the default age identity
file, then where SOPS keeps age keys (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY,
SOPS's keys.txt), then gpg and its agent, then the cloud KMS a recipient
names.

Other output forms (kubesec compatible):
  -x, --cleartext     data values that are text go under stringData, decoded
  --template TEXT     a Go template run for each Secret, e.g. '{{ .data.password | base64decode }}'
                      (functions: base64decode, base64encode); with -x, as in kubesec,
                      data values are decoded: -x --template '{{ .data.password }}'
  --extract KEY       print one value raw, e.g. data.tls.crt or stringData.token
                      (data values decoded), or in SOPS's form '["data"]["tls.crt"]'
                      (printed as SOPS does: data values in base64); --secret
                      picks the Secret in a stream`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if len(args) == 1 {
				opts.Input = args[0]
			}
			if runF != nil {
				return runF(c, opts)
			}
			if opts.many(args) {
				return runDecryptMany(c, sys, opts)
			}
			return runDecrypt(c, sys, opts)
		},
	}
	f := c.Flags()
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the result")
	f.StringVarP(&opts.Output, "output", "o", "", "write the result to this file")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	f.BoolVarP(&opts.Cleartext, "cleartext", "x", false, "write text data values decoded, under stringData")
	f.StringVar(&opts.Template, "template", "", "render this Go template for each Secret instead of the manifest")
	f.StringVar(&opts.Extract, "extract", "", "print the raw value of FIELD.KEY (or KEY) instead of the manifest")
	f.StringVar(&opts.Secret, "secret", "", "with --extract: the Secret, as NAME or NAMESPACE/NAME")
	f.BoolVar(&opts.SecretsOnly, "secrets-only", false, "output only the documents that hold an encrypted Secret")
	opts.batchOptions.bind(f)
	opts.kubesecOptions.bind(f)
	opts.bindForce(f)
	return c
}

func runDecrypt(c *cobra.Command, sys *System, opts *DecryptOptions) error {
	opts.plaintext = true
	if err := opts.validate(sys); err != nil {
		return err
	}
	forms := 0
	// -x with --template is kubesec's way: the template sees data values
	// decoded.
	for _, set := range []bool{opts.Cleartext && opts.Template == "", opts.Template != "", opts.Extract != ""} {
		if set {
			forms++
		}
	}
	switch {
	case forms > 1:
		return usagef("-x/--cleartext, --template and --extract cannot be used together (except -x with --template)")
	case opts.InPlace && (opts.Template != "" || opts.Extract != ""):
		return usagef("-i/--in-place writes a manifest; --template and --extract do not make one")
	case opts.Secret != "" && opts.Extract == "":
		return usagef("--secret goes with --extract")
	}
	if opts.Extract != "" {
		if _, _, _, err := extractPath(opts.Extract); err != nil {
			return err // before any key is asked for
		}
	}
	var tmpl *template.Template
	if opts.Template != "" {
		var err error
		if tmpl, err = template.New("template").Funcs(templateFuncs).Option("missingkey=error").Parse(opts.Template); err != nil {
			return usageError{fmt.Errorf("--template: %w", err)}
		}
	}
	src, err := opts.read(sys)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	kubesec := isKubesec(src)
	if kubesec {
		// Decrypted here, then passed on as a plain manifest.
		if _, src, err = openKubesec(c.Context(), sys, kr, opts.Input, src, opts.kubesecOptions); err != nil {
			return err
		}
	}
	st, err := parseManifest(opts.Input, src)
	if err != nil {
		return err
	}
	warnShadows(sys, "", st)
	out, n := st.Bytes(), 1 // a kubesec file is decrypted already
	if !kubesec {
		if out, n, err = decryptStream(c.Context(), kr, st, opts.SecretsOnly); err != nil {
			return err
		}
	}
	if n == 0 {
		fmt.Fprintf(sys.Err, "ksec: warning: no encrypted Secret in %s; passing it through unchanged\n", opts.inputName())
	}
	if forms == 0 {
		return opts.write(sys, out, !st.Changed() && !kubesec)
	}
	plain, err := manifest.Parse(out)
	if err != nil {
		return err
	}
	switch {
	case opts.Cleartext && tmpl == nil:
		for _, s := range plain.Secrets {
			plain.ShowDataAsStringData(s)
		}
		return opts.write(sys, plain.Bytes(), false)
	case tmpl != nil:
		var buf bytes.Buffer
		for _, s := range plain.Secrets {
			var obj map[string]any
			if err := s.Decode(&obj); err != nil {
				return err
			}
			if opts.Cleartext {
				if err := decodeDataValues(s, obj); err != nil {
					return err
				}
			}
			if err := tmpl.Execute(&buf, obj); err != nil {
				return fmt.Errorf("%s: --template: %w", s, err)
			}
		}
		return opts.write(sys, buf.Bytes(), false)
	default:
		value, err := extract(plain, opts.Secret, opts.Extract)
		if err != nil {
			return explainNoSecrets(err, opts.inputName(), plain)
		}
		return opts.write(sys, value, false)
	}
}

// decryptStream decrypts st and returns the output: every document, or
// with secretsOnly those that held an encrypted Secret.
func decryptStream(ctx context.Context, kr *keyring.Keyring, st *manifest.Stream, secretsOnly bool) ([]byte, int, error) {
	var docs []int
	for _, s := range st.Secrets {
		if s.Meta != nil && !slices.Contains(docs, s.Doc) {
			docs = append(docs, s.Doc)
		}
	}
	n, err := envelope.Decrypt(ctx, st, kr)
	if err != nil || !secretsOnly {
		return st.Bytes(), n, err
	}
	plain, err := manifest.Parse(st.Bytes())
	if err != nil {
		return nil, 0, err
	}
	var parts [][]byte
	for _, d := range docs {
		parts = append(parts, plain.DocumentText(d))
	}
	return bytes.Join(parts, []byte("---\n")), n, nil
}

// runDecryptMany decrypts many files at once.
func runDecryptMany(c *cobra.Command, sys *System, opts *DecryptOptions) error {
	switch {
	case opts.Cleartext || opts.Template != "" || opts.Extract != "":
		return usagef("-x, --template and --extract work on one file at a time")
	case opts.InPlace && opts.Output != "":
		return usagef("-i/--in-place and -o/--output cannot be used together")
	}
	opts.plaintext = true
	if err := checkOutputName(opts.Output); err != nil {
		return err
	}
	if target := opts.target(); target != "" && !opts.InPlace {
		if err := outfile.Check(target, opts.fileOptions(nil)); err != nil {
			return err
		}
	}
	files, err := opts.inputFiles(sys, opts.Files)
	if err != nil {
		return err
	}
	if opts.InPlace {
		files = oncePerFile(sys, files)
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	var kubesec sync.Map // the files that were kubesec files, decrypted already
	opts.kubesec = func(ctx context.Context, file string, src []byte) (*manifest.Stream, error) {
		_, plain, err := openKubesec(ctx, sys, kr, file, src, opts.kubesecOptions)
		if err != nil {
			return nil, err
		}
		kubesec.Store(file, true)
		return manifest.Parse(plain)
	}
	results := opts.runBatch(c.Context(), files, func(ctx context.Context, file string, st *manifest.Stream) ([]byte, bool, error) {
		if _, ok := kubesec.Load(file); ok {
			return st.Bytes(), true, nil
		}
		warnShadows(sys, file, st)
		out, _, err := decryptStream(ctx, kr, st, opts.SecretsOnly)
		return out, st.Changed(), err
	})
	checkDuplicateScopes(sys, results, !opts.InPlace)
	failed := batchErrors(sys, results)
	if failed != nil && !opts.KeepGoing {
		return failed
	}
	if opts.InPlace {
		if err := opts.writeInPlace(sys, results, opts.ioOptions); err != nil {
			return err
		}
	} else if err := opts.write(sys, joinStreams(results), false); err != nil {
		return err
	}
	return failed
}

// decodeDataValues replaces the data values of a Secret decoded for a
// template with their decoded bytes, as kubesec's --cleartext does.
func decodeDataValues(s *manifest.Secret, obj map[string]any) error {
	data, ok := obj["data"].(map[string]any)
	if !ok {
		return nil
	}
	for k, v := range data {
		text, ok := v.(string)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return fmt.Errorf("%w: %s: data.%s is not valid base64", manifest.ErrBadInput, s, k)
		}
		data[k] = string(raw)
	}
	return nil
}

var templateFuncs = template.FuncMap{
	"base64decode": func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err
	},
	"base64encode": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
}

// extract returns one value of a decrypted Secret as raw bytes: data
// values decoded, stringData values as written.
func extract(st *manifest.Stream, secret, what string) ([]byte, error) {
	index, err := pickSecret(st, secret)
	if err != nil {
		return nil, err
	}
	s := st.Secrets[index]
	field, key, asWritten, err := extractPath(what)
	if err != nil {
		return nil, err
	}
	// Without a field, the value Kubernetes applies: stringData wins over
	// data (a key in both is warned about).
	for _, f := range []string{"stringData", "data"} {
		if field != "" && f != field {
			continue
		}
		for _, v := range s.Values {
			if v.Field != f || v.Key != key {
				continue
			}
			if f == "stringData" || asWritten {
				return []byte(v.Text), nil
			}
			raw, err := base64.StdEncoding.DecodeString(v.Text)
			if err != nil {
				return nil, &manifest.Error{Secret: s, Value: v, Err: fmt.Errorf("%w: not valid base64", manifest.ErrBadInput)}
			}
			return raw, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no value %q", manifest.ErrBadInput, s, what)
}
