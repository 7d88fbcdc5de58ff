package manifest

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// ksec reads a Secret exactly as it is written. Anchors, aliases, merge
// keys (<<) and tags make a YAML parser build something else than the
// text shows: a merge key adds or overrides keys (stringData, namespace)
// that ksec would never see, a tag changes what a value means to
// Kubernetes (!!binary hands the API server the decoded bytes where base64
// is expected). None of them is needed in a Secret, so any of them,
// anywhere in a Secret document, is refused.

const hintYAMLFeatures = "write the Secret out in full: ksec reads Secrets exactly as written, without anchors (&), aliases (*), merge keys (<<) or tags (!)"

// checkFeatures refuses the first anchor, alias, merge key or tag inside
// the Secret mapping n (n included). With view set, a data value tagged
// !!binary is allowed: ksec's edit view writes binary values so.
func (st *Stream) checkFeatures(n *yaml.Node, view bool) *Error {
	var data *yaml.Node
	if view {
		data = field(n, "data")
	}
	var walk func(n *yaml.Node, binaryOK bool) *Error
	walk = func(n *yaml.Node, binaryOK bool) *Error {
		if what := st.feature(n, binaryOK); what != "" {
			return &Error{Line: n.Line, Err: hint.Wrap(badInput("%s is not supported in a Secret", what), hintYAMLFeatures)}
		}
		for i, c := range n.Content {
			if err := walk(c, n == data && n.Kind == yaml.MappingNode && i%2 == 1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(n, false)
}

// feature names the YAML feature node n uses, or "".
func (st *Stream) feature(n *yaml.Node, binaryOK bool) string {
	switch {
	case n.Kind == yaml.AliasNode:
		return fmt.Sprintf("a YAML alias (*%s)", n.Value)
	case n.Anchor != "":
		return fmt.Sprintf("a YAML anchor (&%s)", n.Anchor)
	case n.Kind == yaml.ScalarNode && n.Tag == "!!merge":
		return "a YAML merge key (<<)"
	case binaryOK && n.Kind == yaml.ScalarNode && n.Tag == binaryTag:
		return ""
	}
	// The node starts at its properties. The non-specific tag "!" leaves
	// no trace in the node but its text, so the text is what is checked.
	i := st.nodeStart(n)
	if n.Style&yaml.TaggedStyle == 0 && (i >= len(st.src) || st.src[i] != '!') {
		return ""
	}
	tag := n.Tag
	if i < len(st.src) && st.src[i] == '!' {
		end := i
		for end < len(st.src) && !isSpace(st.src[end]) && end-i < 64 {
			end++
		}
		tag = string(st.src[i:end])
	}
	return fmt.Sprintf("an explicit YAML tag (%s)", tag)
}

// Documents that are not Secrets are not ksec's to judge and pass through
// as they are, YAML features included, unless those features make a
// Secret that ksec would not see: a document or List item whose kind comes
// from a merge key or an alias, or a List whose items are aliases. Only
// kind, apiVersion and items are resolved (never a whole document, which
// may be an alias bomb), as a YAML parser would: an explicit key wins over
// merged ones, earlier merged mappings over later ones.

// checkResolved refuses document doc when resolving its aliases and merge
// keys gives more Secrets than the found ones it holds as written.
func (st *Stream) checkResolved(doc int, root *yaml.Node, found int) error {
	if resolvedSecrets(root) != found {
		return &Error{Doc: doc, Line: root.Line, Err: hint.Wrap(badInput("YAML aliases or merge keys make a Secret here that is not written out"), hintYAMLFeatures)}
	}
	return nil
}

// maxMergeDepth bounds the merge keys followed to find a key.
const maxMergeDepth = 32

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxMergeDepth; i++ {
		n = n.Alias
	}
	return n
}

// effective returns the value key has in mapping n once aliases and merge
// keys are resolved, or nil.
func effective(n *yaml.Node, key string, depth int) *yaml.Node {
	return effectiveSeen(n, key, depth, map[*yaml.Node]bool{})
}

// effectiveSeen is effective that looks into each mapping once: a mapping
// that did not hold key the first time does not the second, and merge keys
// that name the same mappings again and again (an alias bomb, ten merged
// aliases of ten merged aliases of …) would else take exponential time.
func effectiveSeen(n *yaml.Node, key string, depth int, seen map[*yaml.Node]bool) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > maxMergeDepth || seen[n] {
		return nil
	}
	seen[n] = true
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == key && k.Tag != "!!merge" {
			return deref(n.Content[i+1])
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		from := deref(n.Content[i+1])
		sources := []*yaml.Node{from}
		if from != nil && from.Kind == yaml.SequenceNode {
			sources = from.Content
		}
		for _, m := range sources {
			if v := effectiveSeen(m, key, depth+1, seen); v != nil {
				return v
			}
		}
	}
	return nil
}

func effectiveScalar(n *yaml.Node, key string) string {
	if v := effective(n, key, 0); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// resolvedSecrets counts the Secrets in a document once resolved, by the
// rules addDocument applies to the document as written.
func resolvedSecrets(root *yaml.Node) int {
	if isResolvedSecret(root) {
		return 1
	}
	kind := effectiveScalar(root, "kind")
	items := effective(root, "items", 0)
	if !strings.HasSuffix(kind, "List") || items == nil || items.Kind != yaml.SequenceNode {
		return 0
	}
	n := 0
	for _, item := range items.Content {
		item = deref(item)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		if isResolvedSecret(item) || (kind == "SecretList" && effective(item, "kind", 0) == nil) {
			n++
		}
	}
	return n
}

func isResolvedSecret(n *yaml.Node) bool {
	if deref(n) == nil || deref(n).Kind != yaml.MappingNode || effectiveScalar(n, "kind") != "Secret" {
		return false
	}
	api := effective(n, "apiVersion", 0)
	return api == nil || api.Value == "v1"
}

// checkIdentityKeys refuses a document or List item that repeats kind,
// apiVersion or items: ksec reads the first, Kubernetes's decoder the last,
// so the two would disagree on whether it is a Secret.
func checkIdentityKeys(n *yaml.Node) *Error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch k.Value {
		case "kind", "apiVersion", "items":
			if line, ok := seen[k.Value]; ok {
				return &Error{Line: k.Line, Err: badInput("duplicate key %q (first at line %d)", k.Value, line)}
			}
			seen[k.Value] = k.Line
		}
	}
	return nil
}

// Site is where a Secret is defined, for messages about duplicates: the
// file (empty within one stream), the line and the Secret's scope.
type Site struct {
	File            string
	Line            int
	Namespace, Name string
}

func (s Site) String() string {
	if s.File == "" {
		return fmt.Sprintf("line %d", s.Line)
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Sites lists where the stream's Secrets are defined, in order.
func (st *Stream) Sites(file string) []Site {
	out := make([]Site, 0, len(st.Secrets))
	for _, s := range st.Secrets {
		out = append(out, Site{File: file, Line: s.Line, Namespace: s.Namespace, Name: s.Name})
	}
	return out
}

// DuplicateScopeError is one Secret (namespace/name) defined twice in one
// stream or in one run over many files: kubectl applies the last one, so
// an older copy appended to a file rolls the Secret back. It counts as an
// integrity failure, and as bad input (so ksec edit shows it in the editor).
type DuplicateScopeError struct {
	First, Second Site
	At            int // index of Second in the sites checked
}

func (e *DuplicateScopeError) Error() string {
	name := e.First.Name
	if e.First.Namespace != "" {
		name = e.First.Namespace + "/" + name
	}
	return fmt.Sprintf("Secret %s is defined twice, at %s and at %s (kubectl would apply only the last one)", name, e.First, e.Second)
}

func (e *DuplicateScopeError) Unwrap() []error {
	return []error{crypto.ErrIntegrity, ErrBadInput}
}

// CheckScopes refuses the second Secret of sites with a scope an earlier
// one has.
func CheckScopes(sites []Site) error {
	if dups := DuplicateScopes(sites); len(dups) > 0 {
		return hint.Wrap(dups[0], "remove the older copy; two different Secrets need different names or namespaces")
	}
	return nil
}

// DuplicateScopes lists every Secret of sites with a scope an earlier one
// has, with the first. Secrets without a name (generateName) are not
// compared; an absent namespace is a scope of its own, as in the format's
// binding.
func DuplicateScopes(sites []Site) []*DuplicateScopeError {
	var out []*DuplicateScopeError
	seen := map[[2]string]Site{}
	for i, s := range sites {
		if s.Name == "" {
			continue
		}
		key := [2]string{s.Namespace, s.Name}
		if first, ok := seen[key]; ok {
			out = append(out, &DuplicateScopeError{First: first, Second: s, At: i})
			continue
		}
		seen[key] = s
	}
	return out
}

func (st *Stream) checkScopes() error { return CheckScopes(st.Sites("")) }
