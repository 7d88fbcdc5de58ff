package kustomizefn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Decrypter decrypts every encrypted Secret of st in place, as ksec
// decrypt does (envelope.Decrypt: every value and the MAC verified, the
// output read back).
type Decrypter func(ctx context.Context, st *manifest.Stream) error

// Options say where Generate reads from and how it decrypts.
type Options struct {
	// Dir is the kustomization's directory, kustomize's working directory
	// for the function; the configuration's files are read under it.
	Dir string
	// MaxSize is the most bytes read from standard input and from each file.
	MaxSize int64
	// Decrypter returns the function that decrypts, or an error (no key
	// could be set up). It is called once, when the first file is read.
	Decrypter func() (Decrypter, error)
	// Warn receives warnings (a value shadowed by stringData), one line
	// each, never a value.
	Warn io.Writer
}

// maxTotalFactor bounds all files of one generator together, in units of
// Options.MaxSize.
const maxTotalFactor = 4

// Generate answers one KRM function call: it reads the ResourceList that
// kustomize writes to in, decrypts the files its SecretDecryptor lists and
// writes a ResourceList whose items are the decrypted Secrets to out.
// Nothing is written unless every file decrypts.
func Generate(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	src, err := readAll(in, opts.MaxSize, "standard input")
	if err != nil {
		return err
	}
	cfg, err := readResourceList(src)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return fmt.Errorf("the kustomization's directory: %w", err)
	}
	defer root.Close()
	var decrypt Decrypter
	var items []*yaml.Node
	seen := map[keyring.Scope]string{}
	total := int64(0)
	for _, file := range cfg.Files {
		st, err := readSecrets(root, file, opts.MaxSize)
		if err != nil {
			return err
		}
		// All files together are bounded too: the output holds them all.
		if total += int64(len(st.Source())); total > maxTotalFactor*opts.MaxSize {
			return fmt.Errorf("%w: the files of %s %s hold more than %d MiB together", manifest.ErrBadInput, Kind, cfg.Name, maxTotalFactor*opts.MaxSize>>20)
		}
		for _, s := range st.Secrets {
			if prev, ok := seen[s.Scope()]; ok {
				return fmt.Errorf("%s: %w: %s: the same Secret as in %s; kustomize would refuse the second", file, manifest.ErrBadInput, s, prev)
			}
			seen[s.Scope()] = file
			if opts.Warn != nil {
				for _, sh := range s.Shadows() {
					fmt.Fprintf(opts.Warn, "ksec: warning: %s: %s: %s; Kubernetes keeps only the stringData value\n", file, s, sh.Problem())
				}
			}
		}
		if decrypt == nil {
			if decrypt, err = opts.Decrypter(); err != nil {
				return err
			}
		}
		if err := decrypt(ctx, st); err != nil {
			return fileError(file, err)
		}
		got, err := secretNodes(st.Bytes())
		if err != nil {
			return fileError(file, err)
		}
		if len(got) != len(st.Secrets) {
			return fileError(file, fmt.Errorf("%w: decrypting gave %d Secrets, the file holds %d", manifest.ErrBadInput, len(got), len(st.Secrets)))
		}
		for i, n := range got {
			setAnnotation(n, SealedForAnnotation, scopeString(st.Secrets[i].Scope()))
		}
		items = append(items, got...)
	}
	doc, err := resourceList(items)
	if err != nil {
		return err
	}
	_, err = out.Write(doc)
	return err
}

// readAll reads at most max bytes of r, refusing more.
func readAll(r io.Reader, max int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB, the most ksec reads", manifest.ErrBadInput, name, max>>20)
	}
	return data, nil
}

// readResourceList finds the function's configuration in kustomize's
// ResourceList. Its items hold only a copy of that configuration when
// kustomize runs a generator; any other item means the configuration was
// listed under transformers:, where the Secrets kustomize hands over were
// already renamed and re-serialized.
func readResourceList(src []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil, hint.Wrap(fmt.Errorf("%w: %w", manifest.ErrBadInput, errNotResourceList),
			"ksec kustomize is run by kustomize build --enable-alpha-plugins --enable-exec, from a "+Kind+" listed under generators:")
	}
	rl := doc.Content[0]
	if scalar(rl, "kind") != resourceListKind {
		return nil, hint.Wrap(fmt.Errorf("%w: %w", manifest.ErrBadInput, errNotResourceList),
			"ksec kustomize is run by kustomize build --enable-alpha-plugins --enable-exec, from a "+Kind+" listed under generators:")
	}
	cfg, err := parseConfig(field(rl, "functionConfig"))
	if err != nil {
		return nil, err
	}
	if items := field(rl, "items"); items != nil {
		for _, it := range items.Content {
			if scalar(it, "kind") != Kind || scalar(it, "apiVersion") != APIVersion {
				return nil, hint.Wrap(fmt.Errorf("%w: %s %s was run as a transformer (kustomize passed it a %s)", manifest.ErrBadInput, Kind, cfg.Name, scalar(it, "kind")),
					"list the "+Kind+" under generators:, not transformers:; kustomize renames Secrets before a transformer sees them, so they could not be verified")
			}
		}
	}
	return cfg, nil
}

// readSecrets reads one listed file through root (so neither ".." nor a
// symlink can lead out of the kustomization's directory) and parses it. The
// file must hold encrypted Secrets and nothing else: a plain Secret is
// plaintext in git, and other objects belong under resources:.
func readSecrets(root *os.Root, name string, max int64) (*manifest.Stream, error) {
	f, err := root.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, hint.Wrap(fmt.Errorf("%w: %s: %v (a symlink that leads out of the kustomization's directory?)", manifest.ErrBadInput, name, pe.Err),
				"the encrypted files must be inside the kustomization's directory")
		}
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", manifest.ErrBadInput, name)
	}
	if info.Size() > max {
		return nil, fmt.Errorf("%w: %s is larger than %d MiB, the most ksec reads", manifest.ErrBadInput, name, max>>20)
	}
	src, err := readAll(f, max, name)
	if err != nil {
		return nil, err
	}
	if fd := foreign.Detect(src); fd != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: %w: %s", name, manifest.ErrBadInput, fd), fd.Hints(name)...)
	}
	if err := onlySecrets(src); err != nil {
		return nil, fileError(name, err)
	}
	st, err := manifest.Parse(src)
	if err != nil {
		return nil, fileError(name, err)
	}
	if len(st.Secrets) == 0 {
		return nil, fmt.Errorf("%s: %w: no Secret in the file", name, manifest.ErrBadInput)
	}
	for _, s := range st.Secrets {
		if s.Meta == nil {
			return nil, hint.Wrap(fileError(name, &manifest.Error{Secret: s, Err: fmt.Errorf("%w: not encrypted", manifest.ErrBadInput)}),
				"encrypt it first (ksec encrypt -i "+name+"), or list a plain manifest under resources:")
		}
	}
	return st, nil
}

// onlySecrets refuses a document that is not a v1 Secret or a List of them.
func onlySecrets(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // manifest.Parse explains it
		}
		if len(root.Content) == 0 {
			continue
		}
		n := root.Content[0]
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue // only comments
		}
		objs := []*yaml.Node{n}
		if n.Kind == yaml.MappingNode && strings.HasSuffix(scalar(n, "kind"), "List") {
			objs = nil
			if items := field(n, "items"); items != nil {
				objs = items.Content
			}
		}
		for _, o := range objs {
			if o.Kind != yaml.MappingNode || scalar(o, "kind") != "Secret" || scalar(o, "apiVersion") != "v1" {
				what := "something that is not a Kubernetes object"
				if k := scalar(o, "kind"); k != "" {
					what = "a " + k
				}
				return hint.Wrap(&manifest.Error{Doc: doc, Line: o.Line, Err: fmt.Errorf("%w: holds %s, not an apiVersion: v1 Secret", manifest.ErrBadInput, what)},
					"a "+Kind+" lists files of encrypted Secrets only; list other objects under resources:")
			}
		}
	}
}

// fileError names the file in front of err, keeping its hints.
func fileError(name string, err error) error {
	return &prefixed{prefix: name, err: err}
}

type prefixed struct {
	prefix string
	err    error
}

func (p *prefixed) Error() string { return p.prefix + ": " + p.err.Error() }
func (p *prefixed) Unwrap() error { return p.err }

// secretNodes parses decrypted text and returns each Secret as a node of
// its own (a List's items one by one), without comments: kustomize drops
// them anyway, and the ResourceList is easier to read back without.
func secretNodes(plain []byte) ([]*yaml.Node, error) {
	var out []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(plain))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the decrypted text does not parse", manifest.ErrBadInput)
		}
		if len(root.Content) == 0 {
			continue
		}
		n := root.Content[0]
		if n.Kind != yaml.MappingNode {
			continue
		}
		objs := []*yaml.Node{n}
		if scalar(n, "kind") != "Secret" {
			objs = nil
			if items := field(n, "items"); items != nil {
				objs = items.Content
			}
		}
		for _, o := range objs {
			stripComments(o)
			out = append(out, o)
		}
	}
}

func stripComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripComments(c)
	}
}

func scopeString(s keyring.Scope) string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// setAnnotation sets metadata.annotations[key] = value on an object node.
func setAnnotation(obj *yaml.Node, key, value string) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	meta := field(obj, "metadata")
	if meta == nil || meta.Kind != yaml.MappingNode {
		meta = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		obj.Content = append(obj.Content, str("metadata"), meta)
	}
	ann := field(meta, "annotations")
	if ann == nil || ann.Kind != yaml.MappingNode {
		// annotations: null (or absent) becomes a mapping.
		for i := 0; i+1 < len(meta.Content); i += 2 {
			if meta.Content[i].Value == "annotations" {
				meta.Content = append(meta.Content[:i], meta.Content[i+2:]...)
				break
			}
		}
		ann = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		meta.Content = append(meta.Content, str("annotations"), ann)
	}
	for i := 0; i+1 < len(ann.Content); i += 2 {
		if ann.Content[i].Value == key {
			ann.Content[i+1] = str(value)
			return
		}
	}
	ann.Content = append(ann.Content, str(key), str(value))
}

// resourceList writes the items as a ResourceList and reads it back: each
// item, as kustomize will read it, must be exactly the Secret as decrypted
// (and annotated), whatever the encoder did with quoting and layout.
func resourceList(items []*yaml.Node) ([]byte, error) {
	want := make([]any, len(items))
	for i, n := range items {
		if err := n.Decode(&want[i]); err != nil {
			return nil, fmt.Errorf("%w: a decrypted Secret does not decode: %v", manifest.ErrBadInput, err)
		}
	}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	rl := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		str("apiVersion"), str(resourceListAPIVersion),
		str("kind"), str(resourceListKind),
		str("items"), seq,
	}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(rl); err != nil {
		return nil, fmt.Errorf("writing the ResourceList: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing the ResourceList: %w", err)
	}
	var back struct {
		Items []any `yaml:"items"`
	}
	if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil || !reflect.DeepEqual(back.Items, want) {
		// Never the text: it holds the plaintext.
		return nil, errors.New("the ResourceList would not read back as the decrypted Secrets (a ksec bug: please report it)")
	}
	return buf.Bytes(), nil
}
