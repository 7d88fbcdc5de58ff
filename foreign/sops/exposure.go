package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Exposure is what SOPS kept encrypted that a ksec file keeps readable:
// ksec encrypts only the values under a Secret's data and stringData.
type Exposure struct {
	// NotSecrets are documents (or List items) with values SOPS encrypted
	// that are not Secrets: ksec would write their values in the clear.
	NotSecrets []string
	// Fields are values of Secrets outside data and stringData that SOPS
	// encrypted (metadata, type, …): readable in ksec's format, by design.
	// One entry per Secret: "Secret NS/NAME (apiVersion, metadata.name)".
	Fields []string

	fields [][2]string // Secret, its paths joined
	// Comments counts the comments SOPS encrypted; ksec keeps comments as
	// they are, readable.
	Comments int
}

// sopsValue is one value SOPS encrypted, as SOPS writes it.
// Regular expressions here are compiled on first use, not at start-up
// (every ksec run would pay for them: see startup_test.go).
var (
	sopsValue = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:(?:str|int|float|bool|bytes)\]$`)
	})
	sopsComment = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:comment\]`)
	})
)

// Exposed compares a SOPS file with its plaintext (as sops decrypted it)
// and reports what would become readable in ksec's format.
func Exposed(encrypted, plain []byte) (*Exposure, error) {
	encDocs, err := documents(encrypted)
	if err != nil {
		return nil, err
	}
	plainDocs, err := documents(plain)
	if err != nil {
		return nil, fmt.Errorf("the plaintext sops printed: %w", err)
	}
	if len(encDocs) != len(plainDocs) {
		return nil, fmt.Errorf("sops printed %d documents for the file's %d", len(plainDocs), len(encDocs))
	}
	// Only comments hold type:comment tokens.
	e := &Exposure{Comments: len(sopsComment().FindAll(encrypted, -1))}
	for i := range encDocs {
		var paths [][]string
		walk(encDocs[i], nil, &paths)
		for _, p := range paths {
			e.classify(i+1, plainDocs[i], p)
		}
	}
	return e, nil
}

// classify files one encrypted value's path under what it exposes.
func (e *Exposure) classify(doc int, plain *yaml.Node, path []string) {
	where := fmt.Sprintf("document %d", doc)
	obj := plain
	if field(plain, "kind") == "List" && len(path) >= 2 && path[0] == "items" {
		if n, err := strconv.Atoi(path[1]); err == nil {
			if items := child(plain, "items"); items != nil && items.Kind == yaml.SequenceNode && n < len(items.Content) {
				obj, path = items.Content[n], path[2:]
				where = fmt.Sprintf("document %d, item %d", doc, n+1)
			}
		}
	}
	kind := field(obj, "kind")
	if kind != "Secret" {
		if kind == "" {
			kind = "no kind"
		}
		msg := fmt.Sprintf("%s (%s)", where, kind)
		if len(e.NotSecrets) == 0 || e.NotSecrets[len(e.NotSecrets)-1] != msg {
			e.NotSecrets = append(e.NotSecrets, msg)
		}
		return
	}
	if len(path) > 0 && (path[0] == "data" || path[0] == "stringData") {
		return
	}
	name := field(child(obj, "metadata"), "name")
	if ns := field(child(obj, "metadata"), "namespace"); ns != "" {
		name = ns + "/" + name
	}
	p := strings.Join(path, ".")
	if n := len(e.fields); n > 0 && e.fields[n-1][0] == where+name {
		e.fields[n-1][1] += ", " + p
		e.Fields[n-1] = fmt.Sprintf("Secret %s (%s)", name, e.fields[n-1][1])
		return
	}
	e.fields = append(e.fields, [2]string{where + name, p})
	e.Fields = append(e.Fields, fmt.Sprintf("Secret %s (%s)", name, p))
}

// documents decodes a YAML (or JSON) stream into its documents' roots.
func documents(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not YAML or JSON: %w", err)
		}
		if len(root.Content) > 0 {
			docs = append(docs, root.Content[0])
		}
	}
}

// walk collects the paths of SOPS-encrypted scalars, leaving out the sops:
// block itself.
func walk(n *yaml.Node, path []string, out *[][]string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if len(path) == 0 && k == "sops" {
				continue
			}
			walk(n.Content[i+1], append(path[:len(path):len(path)], k), out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walk(c, append(path[:len(path):len(path)], strconv.Itoa(i)), out)
		}
	case yaml.ScalarNode:
		if sopsValue().MatchString(n.Value) {
			*out = append(*out, path)
		}
	}
}

func child(n *yaml.Node, key string) *yaml.Node {
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

func field(n *yaml.Node, key string) string {
	if c := child(n, key); c != nil && c.Kind == yaml.ScalarNode {
		return c.Value
	}
	return ""
}
