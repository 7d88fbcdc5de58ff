package manifest

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/k8s"
)

// CheckNames checks every Secret's name, namespace and keys against the
// API server's rules (package k8s). Commands that write a Secret call it
// before anything is sealed: the name, namespace and keys are bound into
// every value, so a manifest the API server refuses, or a Helm template
// that was never rendered, must not be encrypted. Reading is not checked:
// decrypt opens whatever was written.
func (st *Stream) CheckNames() error {
	for _, s := range st.Secrets {
		if err := st.checkSecretNames(s); err != nil {
			return err
		}
	}
	return nil
}

func (st *Stream) checkSecretNames(s *Secret) error {
	if md := field(s.mapping, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		for _, c := range []struct {
			key   string
			check func(string) error
		}{{"name", k8s.SecretName}, {"namespace", k8s.Namespace}} {
			n := field(md, c.key)
			if n == nil || n.Tag == "!!null" {
				continue // no name: generateName, or unnamed
			}
			if n.Kind != yaml.ScalarNode {
				// An unquoted {{ … }} parses as a mapping.
				err := badInput("metadata.%s is a %s, want a string", c.key, kindName(n.Kind))
				if bytes.HasPrefix(st.src[st.nodeStart(n):], []byte("{{")) {
					err = hint.Wrap(badInput("metadata.%s looks like a Helm/Go template: encrypt the rendered manifest", c.key), k8s.TemplateHint)
				}
				return &Error{Secret: s, Line: n.Line, Err: err}
			}
			if err := c.check(n.Value); err != nil {
				return &Error{Secret: s, Line: n.Line, Err: fmt.Errorf("%w: metadata.%s: %w", ErrBadInput, c.key, err)}
			}
		}
	}
	for _, v := range s.Values {
		if err := k8s.SecretKey(v.Key); err != nil {
			return &Error{Secret: s, Value: v, Err: fmt.Errorf("%w: %w", ErrBadInput, err)}
		}
	}
	if err := k8s.SecretSize(plainSize(s)); err != nil {
		return &Error{Secret: s, Err: fmt.Errorf("%w: %w", ErrBadInput, err)}
	}
	return nil
}

// plainSize adds up the sizes of the Secret's plaintext values as the API
// server will hold them: data decoded, a stringData value in place of a
// data value under the same key. Encrypted values were checked when they
// were sealed and count for nothing; a data value that is not base64 is
// refused elsewhere.
func plainSize(s *Secret) int {
	size := map[string]int{}
	for _, v := range s.Values {
		if v.IsNull() || v.IsEncrypted() {
			continue
		}
		switch v.Field {
		case "data":
			if _, set := size[v.Key]; !set {
				size[v.Key] = base64Size(v.Text)
			}
		case "stringData":
			size[v.Key] = len(v.Text)
		}
	}
	total := 0
	for _, n := range size {
		total += n
	}
	return total
}

// base64Size is the decoded size of base64 text, line breaks and spaces
// (wrapped values) and padding not counted: 6 bits per character.
func base64Size(text string) int {
	n := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case ' ', '\t', '\r', '\n', '=':
		default:
			n++
		}
	}
	return n * 6 / 8
}
