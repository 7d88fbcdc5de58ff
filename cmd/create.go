package cmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/k8s"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// Kinds of Secret ksec create makes, named like kubectl create secret's
// subcommands.
const (
	createGeneric        = "generic"
	createTLS            = "tls"
	createDockerRegistry = "docker-registry"
)

// CreateOptions are the parsed flags of ksec create and its subcommands.
type CreateOptions struct {
	Kind      string // createGeneric, createTLS or createDockerRegistry
	Name      string
	Namespace string
	Type      string // generic only; "" leaves type out, as kubectl does

	Literals []string // KEY=VALUE
	Files    []string // [KEY=]PATH, a file or a directory
	EnvFiles []string

	Cert, Key string // tls: PEM certificate and private key files

	DockerServer, DockerUsername, DockerPassword, DockerEmail string

	Labels, Annotations []string // KEY=VALUE, kubesec's -l and -a

	Keys   []string // recipient key specs
	Output string
	Force  bool
}

// NewCmdCreate builds ksec create (a generic Secret) with its subcommands
// generic, tls and docker-registry; runF replaces the work in tests.
func NewCmdCreate(sys *System, runF func(*cobra.Command, *CreateOptions) error) *cobra.Command {
	c := newCreateCmd(sys, runF, createGeneric)
	c.Use = "create [generic] NAME [--from-literal KEY=VALUE]... [--from-file [KEY=]PATH]... [--from-env-file PATH]... [-k KEY]... [-o FILE]"
	c.Short = "Create an encrypted Secret from literals and files, like kubectl create secret"
	c.Aliases = []string{"c"} // kubesec's
	c.AddCommand(
		newCreateCmd(sys, runF, createGeneric),
		newCreateCmd(sys, runF, createTLS),
		newCreateCmd(sys, runF, createDockerRegistry),
	)
	return c
}

const createLongCommon = `
The manifest is what kubectl create secret … --dry-run=client -o yaml prints
for the same flags, byte for byte once decrypted, but with every value
sealed: the plaintext is built in memory and never written to disk. It goes
to standard output, or to -o FILE (an existing FILE is replaced only with
--force).

Keys come from -k (repeatable, or comma-separated), else from KSEC_KEYS, as
for ksec encrypt: age1…, pgp:FINGERPRINT, pgp:PATH, aws:ARN, gcp:projects/….`

func newCreateCmd(sys *System, runF func(*cobra.Command, *CreateOptions) error, kind string) *cobra.Command {
	opts := &CreateOptions{Kind: kind}
	// --recipient fills its own list: two flags cannot share one.
	var recipients, kubesecData []string
	c := &cobra.Command{
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return hint.Wrap(usagef("create needs exactly one NAME, got %d", len(args)),
					"ksec create [generic|tls|docker-registry] NAME [flags]")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.Keys = append(opts.Keys, recipients...)
			for _, d := range kubesecData {
				lit, file := fromKubesecData(d)
				if lit != "" {
					opts.Literals = append(opts.Literals, lit)
				} else {
					opts.Files = append(opts.Files, file)
				}
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runCreate(c.Context(), sys, opts)
		},
	}
	f := c.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "the Secret's `NAMESPACE`")
	f.StringVarP(&opts.Output, "output", "o", "", "write the encrypted manifest to `FILE`")
	f.BoolVar(&opts.Force, "force", false, "replace an existing -o FILE")
	f.StringArrayVarP(&opts.Labels, "label", "l", nil, "add the label `KEY=VALUE` (repeatable)")
	f.StringArrayVarP(&opts.Annotations, "annotation", "a", nil, "add the annotation `KEY=VALUE` (repeatable)")
	switch kind {
	case createGeneric:
		c.Use = "generic NAME [--type TYPE] [--from-literal KEY=VALUE]... [--from-file [KEY=]PATH]... [--from-env-file PATH]... [-k KEY]... [-o FILE]"
		c.Short = "Create an encrypted generic Secret from literals, files and env files"
		c.Long = `Create an encrypted Secret whose data holds the given literals and files,
like kubectl create secret generic.

  --from-literal KEY=VALUE   a value from the command line, split at the
                             first '=' and kept as it is
  --from-file [KEY=]PATH     a file's bytes under KEY (default: the file name);
                             a directory adds each regular file in it
  --from-env-file PATH       KEY=VALUE lines; # comments and blank lines are
                             skipped, and a line with a bare KEY takes KEY's
                             value from the environment

Keys may hold letters, digits, '-', '_' and '.'; a key given twice is an
error. Unlike kubectl, --from-env-file can be combined with the others.
Values typed on the command line stay in your shell history: prefer
--from-file or --from-env-file for real secrets.
` + createLongCommon
		c.Example = `  ksec create db -n prod --from-literal user=admin --from-file password=./pw.txt -k age1… -o db.enc.yaml
  ksec create generic app --from-env-file app.env --type example.com/config -k pgp:FINGERPRINT`
		f.StringArrayVarP(&opts.Keys, "key", "k", nil, "encrypt for the recipient `KEY` (repeatable)")
		recipientFlag(f, &recipients, true)
		f.StringVar(&opts.Type, "type", "", "the Secret's `TYPE`, e.g. Opaque (default: none, which Kubernetes reads as Opaque)")
		f.StringArrayVar(&opts.Literals, "from-literal", nil, "add `KEY=VALUE` (repeatable)")
		f.StringArrayVar(&opts.Files, "from-file", nil, "add the file `[KEY=]PATH`, or each file of a directory (repeatable)")
		f.StringArrayVar(&opts.EnvFiles, "from-env-file", nil, "add the KEY=VALUE lines of the file `PATH` (repeatable)")
		kubesecDataFlag(f, &kubesecData)
	case createTLS:
		c.Use = "tls NAME --cert PATH --key PATH [-k KEY]... [-o FILE]"
		c.Short = "Create an encrypted TLS Secret from a certificate and its private key"
		c.Long = `Create an encrypted Secret of type kubernetes.io/tls with tls.crt and tls.key
from PEM files, like kubectl create secret tls. The key must match the
certificate.

Here --key is the TLS private key, as in kubectl; recipients are given with
-k or --recipient.
` + createLongCommon
		c.Example = `  ksec create tls web -n prod --cert web.crt --key web.key -k age1… -o web-tls.enc.yaml`
		recipientFlag(f, &opts.Keys, false)
		f.StringVar(&opts.Cert, "cert", "", "PEM certificate `FILE` (tls.crt)")
		f.StringVar(&opts.Key, "key", "", "PEM private key `FILE` (tls.key)")
	case createDockerRegistry:
		c.Use = "docker-registry NAME --docker-server SERVER --docker-username USER --docker-password PASSWORD [--docker-email EMAIL] [-k KEY]... [-o FILE]"
		c.Short = "Create an encrypted image pull Secret for a container registry"
		c.Long = `Create an encrypted Secret of type kubernetes.io/dockerconfigjson holding
.dockerconfigjson for one registry, like kubectl create secret
docker-registry: {"auths":{SERVER:{"username","password","email","auth"}}},
where auth is base64 of USER:PASSWORD. Unlike kubectl, --docker-server has no
default.
` + createLongCommon
		c.Example = `  ksec create docker-registry pull -n prod --docker-server registry.example.com \
    --docker-username ci --docker-password "$TOKEN" -k age1… -o pull.enc.yaml`
		f.StringArrayVarP(&opts.Keys, "key", "k", nil, "encrypt for the recipient `KEY` (repeatable)")
		recipientFlag(f, &recipients, true)
		f.StringVar(&opts.DockerServer, "docker-server", "", "registry `SERVER`, e.g. registry.example.com")
		f.StringVar(&opts.DockerUsername, "docker-username", "", "registry `USER` name")
		f.StringVar(&opts.DockerPassword, "docker-password", "", "registry `PASSWORD` or token")
		f.StringVar(&opts.DockerEmail, "docker-email", "", "registry `EMAIL` (optional)")
	}
	return c
}

// recipientFlag adds --recipient: -k's long name where --key means the
// TLS key, a hidden synonym of -k/--key elsewhere.
func recipientFlag(f *pflag.FlagSet, keys *[]string, hidden bool) {
	if hidden {
		f.StringArrayVar(keys, "recipient", nil, "encrypt for the recipient `KEY` (repeatable)")
		_ = f.MarkHidden("recipient")
		return
	}
	f.StringArrayVarP(keys, "recipient", "k", nil, "encrypt for the recipient `KEY` (repeatable)")
}

func runCreate(ctx context.Context, sys *System, opts *CreateOptions) error {
	if err := validateCreate(opts); err != nil {
		return err
	}
	kr, err := newKeyring(sys, nil, "")
	if err != nil {
		return err
	}
	recipientsFor, err := createRecipients(ctx, sys, kr, opts)
	if err != nil {
		return err
	}
	data, err := createData(sys, opts)
	if err != nil {
		return err
	}
	typ := opts.Type
	switch opts.Kind {
	case createTLS:
		typ = "kubernetes.io/tls"
	case createDockerRegistry:
		typ = "kubernetes.io/dockerconfigjson"
	}
	labels, err := keyValues("--label", opts.Labels)
	if err != nil {
		return err
	}
	annotations, err := keyValues("--annotation", opts.Annotations)
	if err != nil {
		return err
	}
	plain, err := secretYAML(secretMeta{Name: opts.Name, Namespace: opts.Namespace, Labels: labels, Annotations: annotations}, typ, data)
	for _, v := range data {
		clear(v)
	}
	if err != nil {
		return err
	}
	defer clear(plain)
	st, err := manifest.Parse(plain)
	if err == nil {
		err = st.CheckNames() // checked before, as flags: a ksec bug if not
	}
	if err != nil {
		return fmt.Errorf("the manifest ksec made does not pass: %w", err)
	}
	if err := envelope.EncryptEach(ctx, st, kr, recipientsFor); err != nil {
		return err
	}
	out := ioOptions{Output: opts.Output, Force: opts.Force}
	if !opts.Force {
		// Checked at the start, and again as the file is written.
		out.outSnap = outfile.Absent()
	}
	return out.write(sys, st.Bytes(), false)
}

var (
	envVarName = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

// validateCreate checks the command line before anything is read. Names
// are checked as the API server would (kubectl does not), since the
// Secret's name and namespace are sealed into every value.
func validateCreate(opts *CreateOptions) error {
	if err := k8s.SecretName(opts.Name); err != nil {
		return usagef("NAME %w", err)
	}
	if opts.Namespace != "" {
		if err := k8s.Namespace(opts.Namespace); err != nil {
			return usagef("namespace %w", err)
		}
	}
	switch opts.Kind {
	case createTLS:
		if opts.Cert == "" || opts.Key == "" {
			return usagef("create tls needs --cert and --key")
		}
	case createDockerRegistry:
		if opts.DockerServer == "" || opts.DockerUsername == "" || opts.DockerPassword == "" {
			return usagef("create docker-registry needs --docker-server, --docker-username and --docker-password")
		}
	}
	if _, err := keyValues("--label", opts.Labels); err != nil {
		return err
	}
	if _, err := keyValues("--annotation", opts.Annotations); err != nil {
		return err
	}
	if err := checkOutputName(opts.Output); err != nil {
		return err
	}
	if opts.Output != "" && opts.Output != "-" {
		// A file is not overwritten by mistake; a device, a FIFO or
		// /dev/fd/N is written to.
		if fi, err := os.Stat(opts.Output); err == nil && fi.Mode().IsRegular() && !opts.Force {
			return hint.Wrap(fmt.Errorf("%s already exists", opts.Output),
				"pass --force to replace it, or change its values with ksec edit or ksec patch")
		}
		return outfile.Check(opts.Output, outfile.Options{BreakLinks: opts.Force})
	}
	return nil
}

// createRecipients decides who the new Secret is encrypted for: the keys
// named with -k, else in KSEC_KEYS. It returns an envelope.EncryptEach
// callback, so that recipients can depend on the Secret (a team
// configuration's per-namespace rules, looked up from opts.Output's
// directory). It runs before any source file is read.
func createRecipients(ctx context.Context, sys *System, kr *keyring.Keyring, opts *CreateOptions) (func(*manifest.Secret) (envelope.Recipients, error), error) {
	specs := keySpecs(sys, opts.Keys)
	for _, s := range specs {
		if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
			return nil, hint.Wrap(usagef("-k %s: +KEY and -KEY change an encrypted file's recipients", keyring.QuoteSpec(s)),
				"a new Secret takes its whole recipient list: -k KEY (repeatable)")
		}
	}
	if len(specs) == 0 && opts.Output != "" && opts.Output != "-" {
		// No keys named: the team configuration covering the output file.
		team, err := findTeamKeys(kr, opts.Output)
		if err != nil {
			return nil, err
		}
		if team != nil {
			return team.forEncrypt(ctx), nil
		}
	}
	if len(specs) == 0 {
		return nil, hint.Wrap(usagef("no keys to encrypt for"),
			"name keys with -k (repeatable) or KSEC_KEYS, e.g. -k age1… or -k pgp:FINGERPRINT, or add a rule to .ksec.yaml for the -o file")
	}
	recipients, err := kr.ParseRecipients(ctx, specs)
	if err != nil {
		return nil, err
	}
	return func(*manifest.Secret) (envelope.Recipients, error) {
		return envelope.Recipients{Set: recipients}, nil
	}, nil
}

// createData gathers the Secret's data: for generic, files first, then
// literals, then env files, in kubectl's order (which decides which of two
// equal keys the error names).
func createData(sys *System, opts *CreateOptions) (map[string][]byte, error) {
	data := map[string][]byte{}
	switch opts.Kind {
	case createTLS:
		cert, err := readSourceFile("--cert", opts.Cert)
		if err != nil {
			return nil, err
		}
		key, err := readSourceFile("--key", opts.Key)
		if err != nil {
			return nil, err
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return nil, fmt.Errorf("%w: --cert %s and --key %s: %v", manifest.ErrBadInput, opts.Cert, opts.Key, err)
		}
		data["tls.crt"], data["tls.key"] = cert, key
	case createDockerRegistry:
		cfg, err := dockerConfigJSON(opts.DockerServer, opts.DockerUsername, opts.DockerPassword, opts.DockerEmail)
		if err != nil {
			return nil, err
		}
		data[".dockerconfigjson"] = cfg
	default:
		for _, src := range opts.Files {
			if err := addFileSource(data, src); err != nil {
				return nil, err
			}
		}
		for i, src := range opts.Literals {
			if err := addLiteralSource(data, i+1, src); err != nil {
				return nil, err
			}
		}
		for _, path := range opts.EnvFiles {
			if err := addEnvFile(sys, data, path); err != nil {
				return nil, err
			}
		}
	}
	return data, nil
}

// addKey adds one value under a key checked like Kubernetes'
// IsConfigMapKey.
func addKey(data map[string][]byte, key string, value []byte) error {
	if err := checkKeyName(key); err != nil {
		return err
	}
	if _, dup := data[key]; dup {
		return usagef("key %q is given twice", key)
	}
	data[key] = value
	return nil
}

// addLiteralSource parses KEY=VALUE as kubectl does: split at the first
// '=', the value kept as it is. Errors never show the value.
func addLiteralSource(data map[string][]byte, n int, src string) error {
	key, value, ok := strings.Cut(src, "=")
	switch {
	case !ok:
		return usagef("--from-literal number %d: want KEY=VALUE (it is not shown, in case it is a secret)", n)
	case key == "":
		return usagef("--from-literal number %d: the KEY before '=' is missing", n)
	}
	return addKey(data, key, []byte(value))
}

// addFileSource adds PATH under its base name, KEY=PATH under KEY, or each
// regular file of a directory PATH under its name (symbolic links and
// subdirectories are skipped, as kubectl does). Each file is read once.
func addFileSource(data map[string][]byte, src string) error {
	key, path := filepath.Base(src), src
	switch strings.Count(src, "=") {
	case 0:
	case 1:
		key, path, _ = strings.Cut(src, "=")
		if key == "" || path == "" {
			return usagef("--from-file %q: want [KEY=]PATH", src)
		}
	default:
		return usagef("--from-file %q: key names and file paths cannot contain '='", src)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--from-file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--from-file: %w", err)
	}
	if !st.IsDir() {
		value, err := readSource("--from-file", path, f)
		if err != nil {
			return err
		}
		if err := addKey(data, key, value); err != nil && !strings.Contains(src, "=") {
			return hint.Wrap(err, "name the key: --from-file KEY=PATH")
		} else if err != nil {
			return err
		}
		return nil
	}
	if strings.Contains(src, "=") {
		return usagef("--from-file %q: a directory takes no KEY= (each file's name is its key)", src)
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("--from-file: %w", err)
	}
	// ReadDir on an open file does not sort; kubectl's os.ReadDir does,
	// which decides which error comes first.
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		value, err := readSourceFile("--from-file", filepath.Join(path, e.Name()))
		if err != nil {
			return err
		}
		if err := addKey(data, e.Name(), value); err != nil {
			return err
		}
	}
	return nil
}

func readSourceFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	return readSource(flag, path, f)
}

// readSource reads a source to its end, refusing more than MaxInputSize
// bytes: a Secret holds at most 1 MiB, and a device such as /dev/zero
// never ends.
func readSource(flag, path string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if len(data) > MaxInputSize {
		clear(data)
		return nil, hint.Wrap(fmt.Errorf("%w: %s %s is larger than %d MiB", manifest.ErrBadInput, flag, path, MaxInputSize>>20),
			"a Kubernetes Secret holds at most 1 MiB in all")
	}
	return data, nil
}

// addEnvFile reads KEY=VALUE lines as kubectl does: a UTF-8 byte order mark
// on the first line is dropped, leading white space is skipped, empty lines
// and lines starting with # are ignored, VALUE is kept as it is (no quotes
// removed, trailing spaces kept), and a bare KEY takes its value from the
// environment ("" when unset). Errors name the line, never its value.
func addEnvFile(sys *System, data map[string][]byte, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--from-env-file: %w", err)
	}
	if st.IsDir() {
		return usagef("--from-env-file %s: is a directory, want a file of KEY=VALUE lines", path)
	}
	content, err := readSourceFile("--from-env-file", path)
	if err != nil {
		return err
	}
	defer clear(content)
	n := 0
	for line := range bytes.Lines(content) {
		n++
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		where := fmt.Sprintf("--from-env-file %s, line %d", path, n)
		if !utf8.Valid(line) {
			return fmt.Errorf("%w: %s: not valid UTF-8", manifest.ErrBadInput, where)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		line = bytes.TrimLeftFunc(line, unicode.IsSpace)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, value, hasValue := strings.Cut(string(line), "=")
		if !envVarName.MatchString(key) || key == "." || key == ".." || strings.HasPrefix(key, "..") {
			what := "the name before '='"
			if hasValue {
				what = fmt.Sprintf("%q", key)
			}
			return hint.Wrap(fmt.Errorf("%w: %s: %s is not a valid variable name", manifest.ErrBadInput, where, what),
				"lines are KEY=VALUE, # comments or blank; KEY is letters, digits, '-', '_' and '.', not starting with a digit")
		}
		if !hasValue {
			value = sys.Getenv(key)
		}
		if err := addKey(data, key, []byte(value)); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// dockerConfigJSON builds .dockerconfigjson the way kubectl does, with
// encoding/json (so <, > and & are \u-escaped as in kubectl's output).
func dockerConfigJSON(server, user, password, email string) ([]byte, error) {
	type entry struct {
		Username string `json:"username,omitempty"`
		Password string `json:"password,omitempty"`
		Email    string `json:"email,omitempty"`
		Auth     string `json:"auth,omitempty"`
	}
	cfg := struct {
		Auths map[string]entry `json:"auths"`
	}{Auths: map[string]entry{server: {
		Username: user, Password: password, Email: email,
		Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
	}}}
	return json.Marshal(cfg)
}

// secretYAML renders the Secret the way kubectl create secret …
// --dry-run=client -o yaml does: the object is marshalled to JSON and
// converted with sigs.k8s.io/yaml, which sorts keys, quotes and folds
// scalars as kubectl's output does.
// secretMeta is the metadata ksec create writes.
type secretMeta struct {
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp *string           `json:"creationTimestamp"` // always null, as kubectl prints it
	Labels            map[string]string `json:"labels,omitempty"`
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
}

// keyValues reads repeated KEY=VALUE flags into a map.
func keyValues(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return nil, usagef("%s %q: want KEY=VALUE", flag, kv)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("%s: key %q is given twice", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

func secretYAML(meta secretMeta, typ string, data map[string][]byte) ([]byte, error) {
	obj := struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   secretMeta        `json:"metadata"`
		Data       map[string][]byte `json:"data,omitempty"`
		Type       string            `json:"type,omitempty"`
	}{APIVersion: "v1", Kind: "Secret", Metadata: meta, Data: data, Type: typ}
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	defer clear(j)
	out, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, errors.New("rendering the Secret as YAML failed")
	}
	return out, nil
}

// checkKeyName checks a Secret key named on the command line as the API
// server does (package k8s).
func checkKeyName(key string) error {
	if err := k8s.SecretKey(key); err != nil {
		return usageError{err}
	}
	return nil
}
