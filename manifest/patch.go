package manifest

import (
	"strings"

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
		if flow {
			style = crypto.StyleDoubleQuoted // JSON needs quotes
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

// RemoveValue deletes a value's entry (its key line, and the lines of a
// multi-line value) from the file.
func (st *Stream) RemoveValue(s *Secret, v *Value) {
	if v.flow {
		field := s.fieldNode(v.Field)
		i := indexOfValue(field, v.node)
		start, end := st.nodeStart(field.Content[i-1]), v.end
		if i > 1 {
			start = st.nodeEnd(field.Content[i-2], 0, true)
		} else if i+1 < len(field.Content) {
			end = st.nodeStart(field.Content[i+1])
		}
		st.edits = append(st.edits, edit{start: start, end: end})
		return
	}
	keyStart := st.lineStart(st.nodeStart(s.fieldNode(v.Field).Content[indexOfValue(s.fieldNode(v.Field), v.node)-1]))
	st.edits = append(st.edits, edit{start: keyStart, end: st.nextLine(v.end)})
}

// AddValue appends key: token to the Secret's field, creating the field
// (before the ksec block) when the Secret has none.
func (st *Stream) AddValue(s *Secret, field, key, token string) {
	flowSecret := s.mapping.Style&yaml.FlowStyle != 0
	fn := s.fieldNode(field)
	quotedKey := yamlString(key)
	if flowSecret || (fn != nil && fn.Style&yaml.FlowStyle != 0) {
		entry := jsonQuote(key) + `: "` + token + `"`
		if fn != nil && fn.Kind == yaml.MappingNode && len(fn.Content) > 0 {
			last := fn.Content[len(fn.Content)-1]
			st.insert(st.nodeEnd(last, 0, true), st.flowSeparator(fn)+entry)
			return
		}
		if fn != nil && fn.Kind == yaml.MappingNode { // {}
			open := st.nodeStart(fn)
			st.insert(open+1, entry)
			return
		}
		// No such field: add it after the Secret's last entry before ksec.
		st.insert(st.flowInsertPoint(s), st.flowSeparator(s.mapping)+jsonQuote(field)+`: {`+entry+`}`)
		return
	}
	if fn != nil && fn.Kind == yaml.MappingNode && len(fn.Content) > 0 {
		lastKey, last := fn.Content[len(fn.Content)-2], fn.Content[len(fn.Content)-1]
		pad := strings.Repeat(" ", lastKey.Column-1)
		st.insertLines(st.nextLine(st.nodeEnd(last, lastKey.Column-1, false)), pad+quotedKey+": "+token)
		return
	}
	indent := s.mapping.Content[0].Column - 1
	pad := strings.Repeat(" ", indent)
	text := pad + field + ":" + st.newline + pad + "  " + quotedKey + ": " + token
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
	at := len(st.src)
	if s.metaKey != nil {
		at = st.lineStart(st.nodeStart(s.metaKey))
	} else {
		n := len(s.mapping.Content)
		at = st.nextLine(st.nodeEnd(s.mapping.Content[n-1], s.mapping.Content[n-2].Column-1, false))
	}
	st.insertLines(at, text)
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

func indexOfValue(m *yaml.Node, v *yaml.Node) int {
	for i := 1; i < len(m.Content); i += 2 {
		if m.Content[i] == v {
			return i
		}
	}
	return -1
}

func jsonQuote(s string) string {
	q, _ := jsonString(s)
	return q
}
