package manifest

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
)

// binaryTag marks a data value shown as base64 in the edit view because its
// bytes are not text.
const binaryTag = "!!binary"

// ShowDecoded rewrites a data value, in a plaintext stream, as the text it
// encodes, for editing; bytes that are not UTF-8 text stay base64, tagged
// !!binary. Nulls are left alone.
func (st *Stream) ShowDecoded(v *Value) error {
	if v.Field != "data" || v.IsNull() {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(v.Text)
	if err != nil {
		return &Error{Value: v, Err: badInput("not valid base64")}
	}
	if !utf8.Valid(raw) || strings.ContainsRune(string(raw), 0) {
		st.replace(v.start, v.end, binaryTag+" "+base64.StdEncoding.EncodeToString(raw))
		return nil
	}
	st.replace(v.start, v.end, renderText(string(raw), v.keyIndent, v.flow))
	return nil
}

// EncodeShown undoes ShowDecoded on an edited stream: a data value is text
// to encode, unless tagged !!binary, which is base64 already.
func (st *Stream) EncodeShown(v *Value) error {
	if v.Field != "data" || v.IsNull() {
		return nil
	}
	raw := []byte(v.Text)
	if v.node.Tag == binaryTag {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(v.Text); err != nil {
			return &Error{Value: v, Err: badInput("a !!binary value must be base64")}
		}
	}
	text := base64.StdEncoding.EncodeToString(raw)
	if v.flow {
		text = `"` + text + `"`
	}
	st.replace(v.start, v.end, text)
	return nil
}

// renderText writes any string as a YAML scalar for a key at keyIndent:
// plain when that reads back the same, a literal block for multi-line text,
// else double-quoted.
func renderText(s string, keyIndent int, flow bool) string {
	if !flow {
		if !strings.Contains(s, "\n") && s != "" {
			if readsBack(s, s) {
				return s
			}
		} else if s != "" && readsBack(literalBlock(s, 2), s) {
			return literalBlock(s, keyIndent+2)
		}
	}
	if q := doubleQuote(s); readsBack(q, s) {
		return q
	}
	q, _ := jsonString(s)
	return q
}

// readsBack reports whether rendered, as the value of a top-level key,
// parses to the string want.
func readsBack(rendered, want string) bool {
	var got struct {
		K *string `yaml:"k"`
	}
	if yaml.Unmarshal([]byte("k: "+rendered+"\n"), &got) != nil || got.K == nil {
		return false
	}
	return *got.K == want
}

// PayloadText returns the string a sealed payload stands for, as a YAML
// parser would read the original scalar (for data: its base64 text), and
// whether it was a null.
func PayloadText(p crypto.Payload) (text string, null bool, err error) {
	switch p.Form {
	case crypto.FormNull:
		return "", true, nil
	case crypto.FormBase64:
		return base64.StdEncoding.EncodeToString(p.Value), false, nil
	case crypto.FormText:
		return string(p.Value), false, nil
	}
	if len(p.Value) == 0 {
		return "", false, errors.New("empty verbatim payload")
	}
	doc := "k: " + reindent(string(p.Value[1:]), int(p.Value[0]), 0, "\n")
	if p.Form != crypto.FormVerbatimAtEnd {
		doc += "\n"
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil || len(n.Content) == 0 || len(n.Content[0].Content) != 2 {
		return "", false, errors.New("verbatim payload is not a YAML scalar")
	}
	v := n.Content[0].Content[1]
	return v.Value, v.Tag == "!!null", nil
}
