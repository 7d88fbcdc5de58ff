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
	dec := yaml.NewDecoder(bytes.NewReader(src))
	docs := 0
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			break
		}
		if err != nil {
			return true, ""
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
			return true, ""
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
	if docs == 0 {
		return false, "no document"
	}
	return why == "", why
}

// isSecretKind reports whether a document is a Secret or a List, which may
// hold Secrets.
func isSecretKind(n *yaml.Node) bool {
	kind := scalarField(n, "kind")
	return kind == "Secret" || strings.HasSuffix(kind, "List")
}
