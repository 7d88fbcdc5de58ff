package manifest

import (
	"bytes"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Objects reports whether src holds Kubernetes objects, the files a
// recursive run (-R DIR) works on: every document that is not empty is a
// mapping with apiVersion and kind at its top level, and none is a
// kustomize file. A stream that holds a Secret or a ksec block anywhere
// counts as objects whatever its other documents are, so that a Secret is
// never passed over (left in plaintext, or missing from a decrypt); so does
// a stream that does not parse: the caller's own parse reports it. why
// says what disqualified src.
func Objects(src []byte) (ok bool, why string) {
	secret, why, docs, err := scanObjects(src)
	switch {
	case secret || err != nil:
		return true, ""
	case docs == 0:
		return false, "no document"
	}
	return why == "", why
}

// HoldsSecret reports whether some document of src is a Secret (or a List)
// or has a ksec block. A stream that does not parse holds none.
func HoldsSecret(src []byte) bool {
	secret, _, _, err := scanObjects(src)
	return secret && err == nil
}

// scanObjects reads src's documents until one is a Secret, a List or has
// a ksec block (secret), and says why the first of the others is not a
// Kubernetes object.
func scanObjects(src []byte) (secret bool, why string, docs int, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return false, why, docs, nil
		}
		if err != nil {
			return false, why, docs, err
		}
		if len(root.Content) == 0 {
			continue
		}
		n := root.Content[0]
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" {
			continue // only comments
		}
		docs++
		if n.Kind == yaml.MappingNode && (field(n, MetadataKey) != nil || isSecretKind(n)) {
			return true, "", docs, nil
		}
		switch {
		case why != "":
		case n.Kind != yaml.MappingNode:
			why = "a document is not a mapping"
		case scalarField(n, "apiVersion") == "" || scalarField(n, "kind") == "":
			why = "a document has no apiVersion and kind"
		case strings.HasPrefix(scalarField(n, "apiVersion"), "kustomize.config.k8s.io/"):
			why = "a kustomize file"
		}
	}
}

// isSecretKind reports whether a document is a Secret or a List, which may
// hold Secrets.
func isSecretKind(n *yaml.Node) bool {
	kind := scalarField(n, "kind")
	return kind == "Secret" || strings.HasSuffix(kind, "List")
}
