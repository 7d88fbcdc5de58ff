// Package kustomizefn is ksec's kustomize generator: a KRM exec function
// that reads encrypted Secret manifests from the kustomization's directory,
// verifies and decrypts them exactly as ksec decrypt does, and hands the
// plain Secrets to kustomize, which then applies namePrefix, namespace,
// patches and the rest.
//
// Decryption has to happen here, from the files on disk, with the scope
// they were sealed for: a transformer or a pipe after kustomize build sees
// Secrets that kustomize has already re-serialized and renamed, so neither
// the scope binding nor the MAC could be checked there.
package kustomizefn

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// The generator's configuration object: the file a kustomization lists
// under generators:.
const (
	APIVersion = "ksec.dev/v1alpha1"
	Kind       = "SecretDecryptor"
)

// The KRM function protocol's wrapper of input and output.
const (
	resourceListAPIVersion = "config.kubernetes.io/v1"
	resourceListKind       = "ResourceList"
)

// SealedForAnnotation is set on every Secret the generator emits to the
// namespace/name (or name) its values were sealed for, so that Verify can
// find each one in kustomize's output after namePrefix, namespace and the
// hash suffix have renamed it.
const SealedForAnnotation = "ksec.dev/sealed-for"

// maxFiles bounds the files one generator lists.
const maxFiles = 1000

// Config is a SecretDecryptor: the encrypted files to decrypt, relative to
// the kustomization's directory.
type Config struct {
	Name  string
	Files []string
}

var configFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "files": true}

const hintConfig = "a " + Kind + " is:\n" +
	"  apiVersion: " + APIVersion + "\n  kind: " + Kind + "\n  metadata: {name: NAME, annotations: {config.kubernetes.io/function: ...}}\n  files: [secrets/db.yaml]"

// parseConfig reads a SecretDecryptor from its YAML node, strictly: an
// unknown field (a typo such as file:) is an error rather than a Secret
// silently left out.
func parseConfig(n *yaml.Node) (*Config, error) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, configError("the function's configuration is not a mapping")
	}
	api, kind := scalar(n, "apiVersion"), scalar(n, "kind")
	if api != APIVersion || kind != Kind {
		return nil, configError("the function's configuration is apiVersion %q, kind %q; want apiVersion %s, kind %s", api, kind, APIVersion, Kind)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !configFields[k] {
			return nil, configError("%s: unknown field %q (line %d)", Kind, k, n.Content[i].Line)
		}
	}
	c := &Config{}
	if m := field(n, "metadata"); m != nil && m.Kind == yaml.MappingNode {
		c.Name = scalar(m, "name")
	}
	files := field(n, "files")
	if files == nil || files.Kind != yaml.SequenceNode || len(files.Content) == 0 {
		return nil, configError("%s %s lists no files (want files: [FILE, ...])", Kind, c.Name)
	}
	if len(files.Content) > maxFiles {
		return nil, configError("%s %s lists %d files, more than %d", Kind, c.Name, len(files.Content), maxFiles)
	}
	for _, f := range files.Content {
		if f.Kind != yaml.ScalarNode || f.Tag != "!!str" || f.Value == "" {
			return nil, configError("%s %s: files[] must be file names (line %d)", Kind, c.Name, f.Line)
		}
		if err := checkRelPath(f.Value); err != nil {
			return nil, err
		}
		c.Files = append(c.Files, f.Value)
	}
	return c, nil
}

func configError(format string, args ...any) error {
	return hint.Wrap(fmt.Errorf("%w: "+format, append([]any{manifest.ErrBadInput}, args...)...), hintConfig)
}

// checkRelPath refuses a file name that could leave the kustomization's
// directory: an absolute path, or any ".." element. A symlink that leads
// out is refused when the file is opened (see readFile).
func checkRelPath(name string) error {
	slash := strings.ReplaceAll(name, `\`, "/")
	switch {
	case path.IsAbs(slash) || (len(name) > 1 && name[1] == ':'):
		return hint.Wrap(fmt.Errorf("%w: %s: an absolute path; files are read relative to the kustomization's directory", manifest.ErrBadInput, name),
			"keep the encrypted files under the kustomization's directory and name them relative to it")
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%w: %q: a file name with a NUL byte", manifest.ErrBadInput, name)
	}
	for _, el := range strings.Split(slash, "/") {
		if el == ".." {
			return hint.Wrap(fmt.Errorf("%w: %s: \"..\" leads out of the kustomization's directory", manifest.ErrBadInput, name),
				"put the "+Kind+" next to the encrypted files (in the base that holds them) and list it from there")
		}
	}
	return nil
}

// field returns the value node of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node, key string) string {
	if v := field(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

var errNotResourceList = errors.New("standard input is not a KRM ResourceList")
