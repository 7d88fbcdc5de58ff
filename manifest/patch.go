package manifest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
)

// NewPayload is the payload of a value given as bytes rather than read from
// the file: base64 for data, for stringData the plainest YAML style that
// reads back as the same text.
func (st *Stream) NewPayload(s *Secret, field string, value []byte) crypto.Payload {
	flow := s.mapping.Style&yaml.FlowStyle != 0
	if field == "data" {
		style := crypto.StylePlain
		if flow || len(value) == 0 {
			style = crypto.StyleDoubleQuoted // JSON needs quotes; an empty plain value would read as null
		}
		return crypto.Payload{Style: style, Form: crypto.FormBase64, Value: value}
	}
	text := string(value)
	style := crypto.StyleDoubleQuoted
	switch r := renderText(text, 0, flow); {
	case strings.HasPrefix(r, "|"):
		style = crypto.StyleLiteral
	case !strings.HasPrefix(r, `"`):
		style = crypto.StylePlain
	}
	return crypto.Payload{Style: style, Form: crypto.FormText, Value: value}
}

// RemoveField deletes a whole data or stringData field of a block Secret,
// and reports whether it did: a flow (JSON) Secret keeps its fields.
func (st *Stream) RemoveField(s *Secret, name string) bool {
	k, v := s.fieldKey(name), s.fieldNode(name)
	if k == nil || s.mapping.Style&yaml.FlowStyle != 0 {
		return false
	}
	st.edits = append(st.edits, edit{start: st.lineStart(st.nodeStart(k)), end: st.nextLine(st.nodeEnd(v, k.Column-1, false))})
	return true
}

// RemoveValues deletes values' entries (the key line, and the lines of a
// multi-line value) from the file.
func (st *Stream) RemoveValues(s *Secret, values []*Value) {
	for _, field := range []string{"data", "stringData"} {
		fn := s.fieldNode(field)
		if fn == nil || fn.Kind != yaml.MappingNode {
			continue
		}
		gone := map[*yaml.Node]bool{}
		for _, v := range values {
			if v.Field == field {
				gone[v.node] = true
			}
		}
		if fn.Style&yaml.FlowStyle != 0 || s.mapping.Style&yaml.FlowStyle != 0 {
			st.removeFlowEntries(fn, gone)
			continue
		}
		for i := 1; i < len(fn.Content); i += 2 {
			if gone[fn.Content[i]] {
				k := fn.Content[i-1]
				st.edits = append(st.edits, edit{start: st.lineStart(st.nodeStart(k)), end: st.nextLine(st.nodeEnd(fn.Content[i], k.Column-1, false))})
			}
		}
	}
}

// removeFlowEntries deletes entries of a flow mapping with their commas, one
// edit per run of neighbouring entries so that edits never overlap.
func (st *Stream) removeFlowEntries(m *yaml.Node, gone map[*yaml.Node]bool) {
	n := len(m.Content) / 2
	for i := 0; i < n; i++ {
		if !gone[m.Content[2*i+1]] {
			continue
		}
		j := i
		for j+1 < n && gone[m.Content[2*(j+1)+1]] {
			j++
		}
		var start, end int
		switch {
		case j+1 < n: // up to the next entry that stays
			start, end = st.nodeStart(m.Content[2*i]), st.nodeStart(m.Content[2*(j+1)])
		case i > 0: // the run ends the mapping: from the end of the entry before it
			start, end = st.nodeEnd(m.Content[2*i-1], 0, true), st.nodeEnd(m.Content[2*j+1], 0, true)
		default: // every entry
			start, end = st.nodeStart(m.Content[0]), st.nodeEnd(m.Content[2*j+1], 0, true)
		}
		st.edits = append(st.edits, edit{start: start, end: end})
		i = j
	}
}

// AddValue appends key: token to the Secret's field, creating the field
// (before the ksec block) when the Secret has none.
func (st *Stream) AddValue(s *Secret, field, key, token string) {
	st.addEntries(s, field, []newEntry{{key, func(_ int, flow bool) string {
		if flow {
			return `"` + token + `"`
		}
		return token
	}}})
}

type newEntry struct {
	key    string
	render func(keyIndent int, flow bool) string
}

// addEntries appends entries to the Secret's field, creating the field
// (before the ksec block, or at the end) when the Secret has none.
func (st *Stream) addEntries(s *Secret, field string, entries []newEntry) {
	flowSecret := s.mapping.Style&yaml.FlowStyle != 0
	fn := s.fieldNode(field)
	if flowSecret || (fn != nil && fn.Style&yaml.FlowStyle != 0) {
		var parts []string
		for _, e := range entries {
			parts = append(parts, jsonQuote(e.key)+`: `+e.render(0, true))
		}
		switch {
		case fn != nil && fn.Kind == yaml.MappingNode && len(fn.Content) > 0:
			last := fn.Content[len(fn.Content)-1]
			sep := st.flowSeparator(fn)
			st.insert(st.nodeEnd(last, 0, true), sep+strings.Join(parts, sep))
		case fn != nil && fn.Kind == yaml.MappingNode: // {}
			st.insert(st.nodeStart(fn)+1, strings.Join(parts, ", "))
		default:
			st.insert(st.flowInsertPoint(s), st.flowSeparator(s.mapping)+jsonQuote(field)+`: {`+strings.Join(parts, ", ")+`}`)
		}
		return
	}
	lines := func(indent int) string {
		pad := strings.Repeat(" ", indent)
		var out []string
		for _, e := range entries {
			out = append(out, pad+yamlString(e.key)+": "+e.render(indent, false))
		}
		return strings.Join(out, st.newline)
	}
	if fn != nil && fn.Kind == yaml.MappingNode && len(fn.Content) > 0 {
		lastKey, last := fn.Content[len(fn.Content)-2], fn.Content[len(fn.Content)-1]
		st.insertLines(st.nextLine(st.nodeEnd(last, lastKey.Column-1, false)), lines(lastKey.Column-1))
		return
	}
	indent := s.mapping.Content[0].Column - 1
	text := strings.Repeat(" ", indent) + field + ":" + st.newline + lines(indent+2)
	if fn != nil {
		// "data:" with no value, or "data: {}" in a block Secret: replace it.
		keyNode := s.fieldKey(field)
		end := st.nextLine(st.nodeEnd(fn, keyNode.Column-1, false))
		if end < len(st.src) || st.src[end-1] == '\n' {
			text += st.newline
		}
		st.edits = append(st.edits, edit{start: st.lineStart(st.nodeStart(keyNode)), end: end, text: text})
		return
	}
	var at int
	if s.metaKey != nil {
		at = st.lineStart(st.nodeStart(s.metaKey))
	} else {
		n := len(s.mapping.Content)
		at = st.nextLine(st.nodeEnd(s.mapping.Content[n-1], s.mapping.Content[n-2].Column-1, false))
	}
	st.insertLines(at, text)
}

// ShowDataAsStringData moves, in a plaintext stream, the Secret's data
// values that are text to stringData, decoded (kubesec's --cleartext).
// Values that are not text, or whose key stringData already has, stay.
func (st *Stream) ShowDataAsStringData(s *Secret) {
	var moved []*Value
	var entries []newEntry
	dataCount := 0
	for _, v := range s.Values {
		if v.Field != "data" {
			continue
		}
		dataCount++
		raw, err := base64.StdEncoding.DecodeString(v.Text)
		if err != nil || v.IsNull() || !utf8.Valid(raw) || bytes.IndexByte(raw, 0) >= 0 || s.hasValue("stringData", v.Key) {
			continue
		}
		text := string(raw)
		moved = append(moved, v)
		entries = append(entries, newEntry{v.Key, func(keyIndent int, flow bool) string { return renderStringData(text, keyIndent, flow) }})
	}
	if len(moved) == 0 {
		return
	}
	if len(moved) == dataCount && s.mapping.Style&yaml.FlowStyle == 0 && s.fieldNode("data").Style&yaml.FlowStyle == 0 {
		st.RemoveField(s, "data")
	} else {
		st.RemoveValues(s, moved)
	}
	st.addEntries(s, "stringData", entries)
}

// renderStringData renders text as a stringData value that Kubernetes
// reads as that string: plain only when no YAML resolves it to anything but
// a string (kubectl's YAML 1.1 reads yes, on, 0x10 or 1_000 as a bool or a
// number, and the API server then refuses the Secret).
func renderStringData(text string, keyIndent int, flow bool) string {
	r := renderText(text, keyIndent, flow)
	if r != text || plainIsString(text) {
		return r
	}
	if q := doubleQuote(text); readsBack(q, text) {
		return q
	}
	q, _ := jsonString(text)
	return q
}

// plainIsString reports whether the plain scalar s is a string in YAML
// 1.2 and in YAML 1.1: not a null, bool or number word, and not starting
// like a number.
func plainIsString(s string) bool {
	var n yaml.Node
	if yaml.Unmarshal([]byte(s), &n) != nil || len(n.Content) != 1 || n.Content[0].Tag != "!!str" {
		return false
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~":
		return false
	}
	c := strings.TrimLeft(s, "+-")
	return c == "" || !(c[0] == '.' || c[0] >= '0' && c[0] <= '9')
}

func (s *Secret) hasValue(field, key string) bool {
	for _, v := range s.Values {
		if v.Field == field && v.Key == key {
			return true
		}
	}
	return false
}

func (st *Stream) insert(at int, text string) {
	st.edits = append(st.edits, edit{start: at, end: at, text: text})
}

// insertLines inserts whole lines at a line start; at the end of a file
// without a final newline they start on a new line and keep it that way.
func (st *Stream) insertLines(at int, lines string) {
	text := lines + st.newline
	if at == len(st.src) && at > 0 && st.src[at-1] != '\n' {
		text = st.newline + lines
	}
	st.insert(at, text)
}

// flowSeparator is what goes before a new entry of flow mapping m: a comma,
// then a newline and indentation when m spans lines.
func (st *Stream) flowSeparator(m *yaml.Node) string {
	if len(m.Content) == 0 {
		return ""
	}
	first := st.nodeStart(m.Content[0])
	if st.lineStart(first) != st.lineStart(st.nodeStart(m)) {
		return "," + st.newline + strings.Repeat(" ", first-st.lineStart(first))
	}
	if st.compactJSON(m.Content[0]) {
		return ","
	}
	return ", "
}

// flowInsertPoint is where a new top-level entry of a flow Secret goes:
// after the last entry before the ksec block.
func (st *Stream) flowInsertPoint(s *Secret) int {
	last := len(s.mapping.Content) - 1
	if s.metaKey != nil && s.mapping.Content[last-1] == s.metaKey && last >= 3 {
		last -= 2
	}
	return st.nodeEnd(s.mapping.Content[last], 0, true)
}

func (s *Secret) fieldNode(name string) *yaml.Node {
	return field(s.mapping, name)
}

func (s *Secret) fieldKey(field string) *yaml.Node {
	for i := 0; i+1 < len(s.mapping.Content); i += 2 {
		if s.mapping.Content[i].Value == field {
			return s.mapping.Content[i]
		}
	}
	return nil
}

func jsonQuote(s string) string {
	q, _ := jsonString(s)
	return q
}
