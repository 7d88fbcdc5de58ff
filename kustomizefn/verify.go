package kustomizefn

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/manifest"
)

// Expected is a Secret that a SecretDecryptor of the kustomization tree
// generates: what Verify looks for in the build output.
type Expected struct {
	Generator string // the SecretDecryptor's file, relative to the root kustomization
	File      string // the encrypted file, relative to the root kustomization
	Namespace string // as sealed
	Name      string // as sealed
}

// SealedFor is the annotation value the generator gives this Secret.
func (e Expected) SealedFor() string {
	if e.Namespace == "" {
		return e.Name
	}
	return e.Namespace + "/" + e.Name
}

// Problem is one way the build output differs from what the kustomization's
// SecretDecryptors promise. It never holds a value.
type Problem struct {
	Message string
}

// maxKustomizations bounds the walk of a kustomization tree.
const maxKustomizations = 1000

// kustomizationNames are the file names kustomize reads, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Walk lists the Secrets the SecretDecryptors of the kustomization in dir
// generate, following its local resources, components and generators
// (bases such as ../base included; remote ones are not followed). It needs
// no key: names and namespaces are readable in the encrypted files. Paths
// in the result start with dir.
func Walk(dir string, maxSize int64) ([]Expected, error) {
	w := &walker{max: maxSize, seen: map[string]bool{}}
	if err := w.kustomization(filepath.Clean(dir)); err != nil {
		return nil, err
	}
	return w.found, nil
}

type walker struct {
	max   int64
	seen  map[string]bool
	found []Expected
}

func (w *walker) kustomization(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if w.seen[abs] {
		return nil
	}
	w.seen[abs] = true
	if len(w.seen) > maxKustomizations {
		return fmt.Errorf("%w: more than %d kustomizations", manifest.ErrBadInput, maxKustomizations)
	}
	var src []byte
	var name string
	for _, n := range kustomizationNames {
		p := filepath.Join(dir, n)
		data, err := w.read(p)
		if err == nil {
			src, name = data, p
			break
		}
	}
	if name == "" {
		return fmt.Errorf("%w: %s: no kustomization.yaml", manifest.ErrBadInput, dir)
	}
	var k struct {
		Resources  []string `yaml:"resources"`
		Bases      []string `yaml:"bases"`
		Components []string `yaml:"components"`
		Generators []string `yaml:"generators"`
	}
	if err := yaml.Unmarshal(src, &k); err != nil {
		return fmt.Errorf("%w: %s: %v", manifest.ErrBadInput, name, err)
	}
	for _, entry := range slices.Concat(k.Resources, k.Bases, k.Components, k.Generators) {
		if remote(entry) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(entry))
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if err := w.kustomization(p); err != nil {
				return err
			}
			continue
		}
		if err := w.object(dir, p, slices.Contains(k.Generators, entry)); err != nil {
			return err
		}
	}
	return nil
}

// object reads a file a kustomization lists and notes the SecretDecryptors
// in it. One listed under resources: is an error: kustomize would emit
// the configuration itself and no Secret.
func (w *walker) object(dir, p string, generator bool) error {
	src, err := w.read(p)
	if err != nil {
		return nil // kustomize reports files it cannot read
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return nil
		}
		if len(doc.Content) == 0 {
			continue
		}
		n := doc.Content[0]
		if scalar(n, "kind") != Kind || scalar(n, "apiVersion") != APIVersion {
			continue
		}
		if !generator {
			return fmt.Errorf("%w: %s: a %s listed under resources: (or components:), where kustomize emits it as it is and generates nothing (list it under generators)", manifest.ErrBadInput, p, Kind)
		}
		cfg, err := parseConfig(n)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, f := range cfg.Files {
			fp := filepath.Join(dir, filepath.FromSlash(f))
			data, err := w.read(fp)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", p, f, err)
			}
			st, err := manifest.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", fp, err)
			}
			for _, s := range st.Secrets {
				w.found = append(w.found, Expected{Generator: p, File: fp, Namespace: s.Namespace, Name: s.Name})
			}
		}
	}
}

func (w *walker) read(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", manifest.ErrBadInput, p)
	}
	return readAll(f, w.max, p)
}

// remote reports whether a kustomization entry names something kustomize
// fetches (a git repository or URL) rather than a local path.
func remote(entry string) bool {
	return strings.Contains(entry, "://") || strings.HasPrefix(entry, "git@") || strings.Contains(entry, "?ref=") ||
		strings.HasPrefix(entry, "github.com/") || strings.HasPrefix(entry, "gitlab.com/")
}

// Verify checks the output of kustomize build against the Secrets the
// kustomization's SecretDecryptors generate (see Walk): each must be in the
// output exactly once, in the namespace it was sealed for when it was
// sealed with one; nothing may still be encrypted; no SecretDecryptor may be
// left in the output. It catches the build that silently generated
// nothing (kustomize build --enable-alpha-plugins without --enable-exec),
// a generator listed under resources:, and an overlay that moves a Secret
// sealed for one namespace into another.
func Verify(output []byte, expected []Expected) ([]Problem, error) {
	type got struct{ namespace, name string }
	found := map[string][]got{}
	var problems []Problem
	add := func(format string, args ...any) {
		problems = append(problems, Problem{Message: fmt.Sprintf(format, args...)})
	}
	dec := yaml.NewDecoder(bytes.NewReader(output))
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the build output is not YAML (document %d)", manifest.ErrBadInput, doc)
		}
		if len(root.Content) == 0 {
			continue
		}
		n := root.Content[0]
		kind, name := scalar(n, "kind"), scalar(field(n, "metadata"), "name")
		if field(n, manifest.MetadataKey) != nil {
			add("document %d (%s %s) still holds a %s block: an encrypted manifest listed under resources:; list it in a %s under generators:", doc, kind, name, manifest.MetadataKey, Kind)
		}
		if kind == Kind && scalar(n, "apiVersion") == APIVersion {
			add("document %d is the %s %s itself: it was listed under resources:, not generators:", doc, Kind, name)
		}
		if kind != "Secret" {
			continue
		}
		if sealed := scalar(field(field(n, "metadata"), "annotations"), SealedForAnnotation); sealed != "" {
			found[sealed] = append(found[sealed], got{namespace: scalar(field(n, "metadata"), "namespace"), name: name})
		}
	}
	done := map[string]bool{}
	for _, e := range expected {
		if done[e.SealedFor()] {
			continue // the same generator reached twice
		}
		done[e.SealedFor()] = true
		gs := found[e.SealedFor()]
		switch {
		case len(gs) == 0:
			add("Secret %s from %s (%s) is missing from the build output: was kustomize run with both --enable-alpha-plugins and --enable-exec?", e.SealedFor(), e.File, e.Generator)
		case len(gs) > 1:
			add("Secret %s from %s (%s) is in the build output %d times", e.SealedFor(), e.File, e.Generator, len(gs))
		case e.Namespace != "" && gs[0].namespace != e.Namespace:
			add("Secret %s from %s (%s) was sealed for namespace %s but is built into namespace %q as %s: an overlay moved it", e.SealedFor(), e.File, e.Generator, e.Namespace, gs[0].namespace, gs[0].name)
		}
	}
	return problems, nil
}
