package manifest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
)

// Metadata is the content of a Secret's ksec block.
type Metadata struct {
	Version    int
	Recipients []keyring.Stanza
	MAC        []byte
}

var metaFields = map[string]bool{"version": true, "recipients": true, "mac": true}
var recipientFields = map[string]bool{"type": true, "id": true, "wrapped": true}

func parseMetadata(n *yaml.Node) (*Metadata, error) {
	if n.Kind != yaml.MappingNode {
		return nil, badInput("the %s block must be a mapping", MetadataKey)
	}
	// The version decides how to read the rest, so it is checked first.
	vn := field(n, "version")
	if vn == nil || vn.Kind != yaml.ScalarNode {
		return nil, badInput("the %s block has no version", MetadataKey)
	}
	if vn.Tag != "!!int" {
		return nil, badInput("line %d: the %s block's version must be an integer, not %q", vn.Line, MetadataKey, vn.Value)
	}
	if vn.Value != strconv.Itoa(crypto.Version) {
		return nil, &crypto.UnsupportedVersionError{Version: vn.Value}
	}
	if err := knownFields(n, metaFields, MetadataKey); err != nil {
		return nil, err
	}
	m := &Metadata{Version: crypto.Version}
	rs := field(n, "recipients")
	if rs == nil || rs.Kind != yaml.SequenceNode || len(rs.Content) == 0 {
		return nil, badInput("the %s block lists no recipients", MetadataKey)
	}
	for i, r := range rs.Content {
		where := fmt.Sprintf("%s.recipients[%d]", MetadataKey, i)
		if r.Kind != yaml.MappingNode {
			return nil, badInput("line %d: %s must be a mapping", r.Line, where)
		}
		if err := knownFields(r, recipientFields, where); err != nil {
			return nil, err
		}
		st := keyring.Stanza{Type: scalarField(r, "type"), ID: scalarField(r, "id")}
		wrapped, err := strictBase64(scalarField(r, "wrapped"))
		if st.Type == "" || st.ID == "" || err != nil || len(wrapped) == 0 {
			return nil, badInput("line %d: %s needs type, id and base64 wrapped key", r.Line, where)
		}
		st.Wrapped = wrapped
		m.Recipients = append(m.Recipients, st)
	}
	mac, err := strictBase64(scalarField(n, "mac"))
	if err != nil || len(mac) != crypto.MACSize {
		return nil, badInput("line %d: the %s block has no valid mac", n.Line, MetadataKey)
	}
	m.MAC = mac
	return m, nil
}

// strictBase64 decodes the one standard, padded base64 text of some bytes:
// only the alphabet and "=" (no line breaks or spaces, which the decoder
// would skip) and no stray bits in the last character.
func strictBase64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, errors.New("not standard base64")
		}
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

func knownFields(n *yaml.Node, known map[string]bool, where string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return badInput("line %d: unknown field %q in %s", k.Line, k.Value, where)
		}
	}
	return nil
}

// SetMetadata writes m as the Secret's ksec block: in place of the existing
// block, else before the first entry of a JSON object that spans lines, or
// after the Secret's last entry.
func (st *Stream) SetMetadata(s *Secret, m Metadata) {
	flow := s.mapping.Style&yaml.FlowStyle != 0
	if s.metaKey != nil {
		start := st.nodeStart(s.metaKey)
		end := st.nodeEnd(s.metaVal, s.metaKey.Column-1, flow)
		if flow {
			st.replace(start, end, st.renderJSONMeta(s, m, start))
		} else {
			start = st.lineStart(start)
			st.replace(start, end, strings.TrimSuffix(st.renderYAMLMeta(m, s.metaKey.Column-1), st.newline))
		}
		return
	}
	if flow {
		first := st.nodeStart(s.mapping.Content[0])
		indent := string(st.src[st.lineStart(first):first])
		if st.lineStart(first) != st.lineStart(st.nodeStart(s.mapping)) && strings.Trim(indent, " \t") == "" {
			// An object that spans lines gets the block as its first member,
			// on lines of its own: appended, it would add a comma to the
			// last line, and a diff would show a line that did not change.
			st.insert(first, st.renderJSONMeta(s, m, first)+","+st.newline+indent)
			return
		}
	}
	n := len(s.mapping.Content)
	lastKey, lastVal := s.mapping.Content[n-2], s.mapping.Content[n-1]
	end := st.nodeEnd(lastVal, lastKey.Column-1, flow)
	if flow {
		text := st.renderJSONMeta(s, m, st.nodeStart(s.mapping.Content[0]))
		sep := st.flowSeparator(s.mapping)
		if sep == "," {
			text = strings.Replace(text, `": `, `":`, 1) // compact JSON
		}
		st.insert(end, sep+text)
		return
	}
	at := st.nextLine(end)
	text := st.renderYAMLMeta(m, s.mapping.Content[0].Column-1)
	if at == len(st.src) && (at == 0 || st.src[at-1] != '\n') {
		// Keep the file's lack of a final newline, so decrypt can restore it.
		text = st.newline + strings.TrimSuffix(text, st.newline)
	}
	st.edits = append(st.edits, edit{start: at, end: at, text: text})
}

// RemoveMetadata deletes the Secret's ksec block, if any.
func (st *Stream) RemoveMetadata(s *Secret) {
	if s.metaKey == nil {
		return
	}
	start := st.nodeStart(s.metaKey)
	if s.mapping.Style&yaml.FlowStyle != 0 {
		end := st.nodeEnd(s.metaVal, 0, true)
		if i := metaIndex(s); i > 0 {
			prev := s.mapping.Content[i-1]
			start = st.nodeEnd(prev, 0, true)
		} else if len(s.mapping.Content) > 2 {
			end = st.nodeStart(s.mapping.Content[2])
		}
		st.edits = append(st.edits, edit{start: start, end: end})
		return
	}
	end := st.nextLine(st.nodeEnd(s.metaVal, s.metaKey.Column-1, false))
	start = st.lineStart(start)
	if end == len(st.src) && st.src[end-1] != '\n' && start > 0 {
		start-- // the block ends the file without a final newline: take the one before it
		if start > 0 && st.src[start-1] == '\r' {
			start--
		}
	}
	st.edits = append(st.edits, edit{start: start, end: end})
}

func metaIndex(s *Secret) int {
	for i := 0; i < len(s.mapping.Content); i += 2 {
		if s.mapping.Content[i] == s.metaKey {
			return i
		}
	}
	return -1
}

func (st *Stream) renderYAMLMeta(m Metadata, indent int) string {
	pad := strings.Repeat(" ", indent)
	nl := st.newline
	var b strings.Builder
	b.WriteString(pad + MetadataKey + ":" + nl)
	b.WriteString(pad + "  version: " + strconv.Itoa(m.Version) + nl)
	b.WriteString(pad + "  recipients:" + nl)
	for _, r := range m.Recipients {
		b.WriteString(pad + "    - type: " + yamlString(r.Type) + nl)
		b.WriteString(pad + "      id: " + yamlString(r.ID) + nl)
		b.WriteString(pad + "      wrapped: " + base64.StdEncoding.EncodeToString(r.Wrapped) + nl)
	}
	b.WriteString(pad + "  mac: " + base64.StdEncoding.EncodeToString(m.MAC) + nl)
	return b.String()
}

// yamlString writes s plain when that reads back as the same string, else
// double-quoted (JSON string syntax is valid YAML).
func yamlString(s string) string {
	var back string
	if strings.TrimSpace(s) == s && s != "" && !strings.ContainsAny(s, "\n\"'#") &&
		yaml.Unmarshal([]byte("k: "+s), &struct {
			K *string `yaml:"k"`
		}{&back}) == nil && back == s {
		return s
	}
	q, _ := jsonString(s)
	return q
}

// jsonString quotes s as a JSON string, which is valid YAML double-quoted.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// compactJSON reports whether the object writes "key":value without a space.
func (st *Stream) compactJSON(firstKey *yaml.Node) bool {
	end := st.scalarEnd(firstKey, 0, true)
	return end+1 < len(st.src) && st.src[end] == ':' && st.src[end+1] != ' '
}

type jsonRecipient struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Wrapped []byte `json:"wrapped"`
}

type jsonMeta struct {
	Version    int             `json:"version"`
	Recipients []jsonRecipient `json:"recipients"`
	MAC        []byte          `json:"mac"`
}

// renderJSONMeta renders `"ksec": {…}` for a flow-style (JSON) Secret,
// indented like the surrounding object when it spans lines.
func (st *Stream) renderJSONMeta(s *Secret, m Metadata, keyOff int) string {
	jm := jsonMeta{Version: m.Version, MAC: m.MAC}
	for _, r := range m.Recipients {
		jm.Recipients = append(jm.Recipients, jsonRecipient{Type: r.Type, ID: r.ID, Wrapped: r.Wrapped})
	}
	keyCol := keyOff - st.lineStart(keyOff)
	unit := keyCol - (s.mapping.Column - 1)
	var out []byte
	if st.lineStart(st.nodeStart(s.mapping)) == st.lineStart(keyOff) || unit <= 0 {
		out, _ = json.Marshal(jm)
	} else {
		out, _ = json.MarshalIndent(jm, strings.Repeat(" ", keyCol), strings.Repeat(" ", unit))
		out = []byte(strings.ReplaceAll(string(out), "\n", st.newline))
	}
	return `"` + MetadataKey + `": ` + string(out)
}
