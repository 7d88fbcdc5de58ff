// Package manifest finds the Kubernetes Secrets in a YAML or JSON stream and
// edits only their values and their ksec metadata block. Everything else
// (comments, key order, indentation, separators, other documents) is kept
// byte for byte: edits are splices into the original source, located with
// the YAML parser's node positions.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
)

// MetadataKey is the top-level key of the ksec block inside a Secret.
const MetadataKey = "ksec"

// ErrBadInput marks errors caused by the input manifest itself.
var ErrBadInput = errors.New("bad input")

// Stream is a parsed manifest stream and the edits made to it so far.
type Stream struct {
	docs    map[int]*yaml.Node // root node of each non-empty document
	src     []byte
	lines   []int
	newline string
	Secrets []*Secret
	Strays  []Stray
	edits   []edit
	view    bool // the edit view: data values may be tagged !!binary
}

type edit struct {
	start, end int
	text       string
}

// Secret is one kind: Secret document, or one Secret item of a List.
type Secret struct {
	Doc       int // 1-based document number in the stream
	Item      int // 0-based index in a List's items, or -1
	Line      int // line of the Secret's first key
	Namespace string
	Name      string
	Values    []*Value  // data and stringData values in document order
	Meta      *Metadata // nil when the Secret has no ksec block

	mapping *yaml.Node
	metaKey *yaml.Node
	metaVal *yaml.Node
}

// Scope is the Secret's identity that values and wrapped keys are bound to.
func (s *Secret) Scope() keyring.Scope {
	return keyring.Scope{Namespace: s.Namespace, Name: s.Name}
}

func (s *Secret) String() string {
	where := fmt.Sprintf("document %d", s.Doc)
	if s.Item >= 0 {
		where += fmt.Sprintf(", item %d", s.Item+1)
	}
	name := s.Name
	if s.Namespace != "" {
		name = s.Namespace + "/" + s.Name
	}
	if name == "" {
		name = "(unnamed)"
	}
	return where + " (Secret " + name + ")"
}

// Value is one entry under data or stringData.
type Value struct {
	Field string // "data" or "stringData"
	Key   string
	Line  int
	// Text is the scalar's value as parsed: a token when the value is encrypted.
	Text string

	node      *yaml.Node
	keyIndent int // 0-based column of the key
	flow      bool
	start     int
	end       int
}

// IsNull reports whether the value is a YAML null (key with no value, ~, null).
func (v *Value) IsNull() bool { return v.node.Tag == "!!null" }

// IsEncrypted reports whether the value looks like an ENC[…] token.
func (v *Value) IsEncrypted() bool { return !v.IsNull() && crypto.LooksEncrypted(v.Text) }

// Location is where the value's token is bound.
func (v *Value) Location(s *Secret) crypto.Location {
	return crypto.Location{Namespace: s.Namespace, Name: s.Name, Field: v.Field, Key: v.Key}
}

func (v *Value) String() string { return fmt.Sprintf("%s.%s (line %d)", v.Field, v.Key, v.Line) }

// Error is a problem with the input, located as precisely as known.
type Error struct {
	Secret *Secret // may be nil
	Doc    int
	Value  *Value // may be nil
	Line   int
	Err    error
}

func (e *Error) Error() string {
	var parts []string
	switch {
	case e.Secret != nil:
		parts = append(parts, e.Secret.String())
	case e.Doc > 0:
		parts = append(parts, fmt.Sprintf("document %d", e.Doc))
	}
	if e.Value != nil {
		parts = append(parts, e.Value.String())
	} else if e.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", e.Line))
	}
	return strings.Join(append(parts, e.Err.Error()), ": ")
}

func (e *Error) Unwrap() error { return e.Err }

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

// Parse reads a YAML stream (any number of documents) or a JSON document and
// finds its Secrets. Documents that are not Secrets are left alone.
func Parse(src []byte) (*Stream, error) { return parse(src, false) }

// ParseView parses ksec edit's view of a plaintext stream: as Parse, but a
// data value may be tagged !!binary (bytes that are not text, shown as
// base64), as ShowDecoded writes it.
func ParseView(src []byte) (*Stream, error) { return parse(src, true) }

func parse(src []byte, view bool) (*Stream, error) {
	if err := checkEncoding(src); err != nil {
		return nil, err
	}
	st := &Stream{src: src, lines: indexLines(src), newline: "\n", docs: map[int]*yaml.Node{}, view: view}
	if bytes.Contains(src, []byte("\r\n")) {
		st.newline = "\r\n"
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, explainTemplate(src, &Error{Doc: doc, Err: fmt.Errorf("%w: invalid YAML: %s", ErrBadInput, yamlErrorText(err, src))})
		}
		if len(root.Content) == 0 {
			continue
		}
		st.docs[doc] = root.Content[0]
		before := len(st.Secrets)
		if err := st.addDocument(doc, root.Content[0]); err != nil {
			return nil, explainTemplate(src, err)
		}
		if err := st.checkResolved(doc, root.Content[0], len(st.Secrets)-before); err != nil {
			return nil, err
		}
	}
	if err := st.checkScopes(); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *Stream) addDocument(doc int, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if err := checkIdentityKeys(n); err != nil {
		err.Doc = doc
		return err
	}
	if isSecret(n) {
		return st.addSecret(doc, -1, n)
	}
	kind := scalarField(n, "kind")
	items := field(n, "items")
	if !strings.HasSuffix(kind, "List") || items == nil || items.Kind != yaml.SequenceNode {
		st.noteStray(doc, -1, n)
		return nil
	}
	// The List's own keys may hide a ksec block too (only items are
	// Secrets).
	st.noteStray(doc, -1, n, items)
	for i, item := range items.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		if err := checkIdentityKeys(item); err != nil {
			err.Doc = doc
			return err
		}
		if isSecret(item) || (kind == "SecretList" && field(item, "kind") == nil) {
			if err := st.addSecret(doc, i, item); err != nil {
				return err
			}
		} else {
			st.noteStray(doc, i, item)
		}
	}
	return nil
}

// Stray is a ksec block found outside a Secret: a sign that an encrypted
// Secret's kind or apiVersion was changed, so its values would pass
// through undecrypted and unchecked.
type Stray struct {
	Doc  int
	Item int
	Line int
}

// noteStray records the ksec blocks in n, a document or List item that is
// not a Secret (skipping the nodes in skip): a ksec key of n itself, and a
// ksec block (a mapping with a mac) at any depth below it, such as a whole
// encrypted Secret nested in a List inside a List, which decrypt would
// otherwise pass through as ciphertext with success.
func (st *Stream) noteStray(doc, item int, n *yaml.Node, skip ...*yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == MetadataKey {
			st.Strays = append(st.Strays, Stray{Doc: doc, Item: item, Line: n.Content[i].Line})
		}
	}
	var walk func(m *yaml.Node, depth int)
	walk = func(m *yaml.Node, depth int) {
		if depth > 64 {
			return // aliases are refused elsewhere; nesting this deep is no manifest
		}
		for _, s := range skip {
			if m == s {
				return
			}
		}
		if m.Kind == yaml.MappingNode && depth > 0 {
			if b := field(m, MetadataKey); b != nil && b.Kind == yaml.MappingNode && field(b, "mac") != nil {
				st.Strays = append(st.Strays, Stray{Doc: doc, Item: item, Line: b.Line})
				return
			}
		}
		for _, c := range m.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
}

// CheckStrays refuses a stream with a ksec block outside any Secret.
func (st *Stream) CheckStrays() error {
	if len(st.Strays) == 0 {
		return nil
	}
	s := st.Strays[0]
	return &Error{Doc: s.Doc, Line: s.Line, Err: fmt.Errorf("%w: a %s block in a document that is not a v1 Secret (was its kind or apiVersion changed?)", crypto.ErrIntegrity, MetadataKey)}
}

func isSecret(n *yaml.Node) bool {
	if scalarField(n, "kind") != "Secret" {
		return false
	}
	api := field(n, "apiVersion")
	return api == nil || api.Value == "v1"
}

// field returns the value node of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalarField(n *yaml.Node, key string) string {
	if v := field(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func (st *Stream) addSecret(doc, item int, n *yaml.Node) error {
	s := &Secret{Doc: doc, Item: item, Line: n.Line, mapping: n}
	if len(n.Content) > 0 {
		s.Line = n.Content[0].Line
	}
	fail := func(line int, v *Value, err error) error {
		return &Error{Secret: s, Line: line, Value: v, Err: err}
	}
	if md := field(n, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		s.Name = scalarField(md, "name")
		s.Namespace = scalarField(md, "namespace")
	}
	if err := st.checkFeatures(n, st.view); err != nil {
		err.Secret = s
		return err
	}
	if err := checkDuplicates(n); err != nil {
		return fail(0, nil, err)
	}
	flow := n.Style&yaml.FlowStyle != 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "data", "stringData":
		case MetadataKey:
			s.metaKey, s.metaVal = k, val
			m, err := parseMetadata(val)
			if err != nil {
				return fail(k.Line, nil, err)
			}
			s.Meta = m
			continue
		default:
			continue
		}
		if val.Tag == "!!null" {
			continue
		}
		if val.Kind != yaml.MappingNode {
			return fail(val.Line, nil, badInput("%s must be a mapping of keys to values", k.Value))
		}
		fieldFlow := flow || val.Style&yaml.FlowStyle != 0
		for j := 0; j+1 < len(val.Content); j += 2 {
			key, vn := val.Content[j], val.Content[j+1]
			v := &Value{Field: k.Value, Key: key.Value, Line: key.Line, Text: vn.Value, node: vn, keyIndent: key.Column - 1, flow: fieldFlow}
			if key.Kind != yaml.ScalarNode {
				return fail(key.Line, nil, badInput("%s has a key that is not a string", k.Value))
			}
			switch {
			case vn.Kind != yaml.ScalarNode:
				return fail(0, v, badInput("value is a %s, want a string", kindName(vn.Kind)))
			case vn.Tag == "!!null" && vn.Value == "" && !fieldFlow && vn.Line != key.Line:
				// After an explicit key (? KEY) the parser places an empty
				// value at the next token, which ksec would overwrite.
				return fail(key.Line, nil, badInput("%s: an empty value after an explicit key (? KEY) is not supported; write KEY: \"\"", k.Value))
			case !fieldFlow && vn.Line > key.Line && vn.Column <= key.Column && st.startsLine(vn):
				// YAML wants a value on a later line indented deeper than
				// its key; the parser lets this through, but a token put in
				// its place would read as a new key.
				return fail(0, v, badInput("the value starts on line %d, indented no deeper than its key: indent it more, or put it on the key's line", vn.Line))
			}
			v.start = st.nodeStart(vn)
			v.end = st.scalarEnd(vn, v.keyIndent, fieldFlow)
			s.Values = append(s.Values, v)
		}
	}
	st.Secrets = append(st.Secrets, s)
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "non-string"
}

// checkDuplicates rejects a mapping anywhere in the Secret that repeats a key:
// YAML parsers disagree on which one wins, so the file is ambiguous.
func checkDuplicates(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if seen[k] {
				return badInput("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			seen[k] = true
		}
	}
	for _, c := range n.Content {
		if err := checkDuplicates(c); err != nil {
			return err
		}
	}
	return nil
}

// Bytes returns the source with every edit applied.
func (st *Stream) Bytes() []byte {
	edits := slices.Clone(st.edits)
	// An insertion where a replaced span starts goes before it (decrypt -x
	// removes data and adds to a stringData that ends right there).
	slices.SortStableFunc(edits, func(a, b edit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return min(a.end-a.start, 1) - min(b.end-b.start, 1)
	})
	var out bytes.Buffer
	out.Grow(len(st.src))
	pos := 0
	for _, e := range edits {
		out.Write(st.src[pos:e.start])
		out.WriteString(e.text)
		pos = e.end
	}
	out.Write(st.src[pos:])
	return out.Bytes()
}

// Source returns the input the stream was parsed from.
func (st *Stream) Source() []byte { return st.src }

// Changed reports whether any edit was made.
func (st *Stream) Changed() bool { return len(st.edits) > 0 }

func (st *Stream) replace(start, end int, text string) {
	if string(st.src[start:end]) == text {
		return
	}
	st.edits = append(st.edits, edit{start: start, end: end, text: text})
}

// Decode decodes the Secret's YAML into v, as yaml.Node.Decode does.
func (s *Secret) Decode(v any) error { return s.mapping.Decode(v) }

// DocumentText returns the source of document doc (1-based), from its first
// node's line to its end, without the comments before it.
func (st *Stream) DocumentText(doc int) []byte {
	root, ok := st.docs[doc]
	if !ok {
		return nil
	}
	start := st.lineStart(st.nodeStart(root))
	end := st.nextLine(st.nodeEnd(root, -1, false))
	out := append([]byte(nil), st.src[start:end]...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, st.newline...)
	}
	return out
}
