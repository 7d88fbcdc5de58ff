package manifest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
)

// Payload returns what to seal for a plaintext value: its content and how
// it was written, so that decrypting gives back the same bytes. A value that
// ksec cannot re-create exactly from its content is sealed verbatim.
func (st *Stream) Payload(v *Value) (crypto.Payload, error) {
	source := string(st.src[v.start:v.end])
	style := styleOf(v.node)
	if v.IsNull() {
		return crypto.Payload{Style: style, Form: crypto.FormNull, Value: []byte(source)}, nil
	}
	p := crypto.Payload{Style: style, Form: crypto.FormText, Value: []byte(v.Text)}
	text := v.Text
	if v.Field == "data" {
		decoded, err := base64.StdEncoding.DecodeString(v.Text)
		if err != nil {
			return crypto.Payload{}, badInput("not valid base64 (data values must be base64; put plain text under stringData)")
		}
		p = crypto.Payload{Style: style, Form: crypto.FormBase64, Value: decoded}
		text = base64.StdEncoding.EncodeToString(decoded)
	}
	if r, ok := renderScalar(style, text, v.keyIndent, v.flow); !ok || r != source {
		p.Form = crypto.FormVerbatim
		p.Value = append([]byte{byte(min(v.keyIndent, 255))}, source...)
	}
	return p, nil
}

func styleOf(n *yaml.Node) crypto.Style {
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return crypto.StyleDoubleQuoted
	case n.Style&yaml.SingleQuotedStyle != 0:
		return crypto.StyleSingleQuoted
	case n.Style&yaml.LiteralStyle != 0:
		return crypto.StyleLiteral
	case n.Style&yaml.FoldedStyle != 0:
		return crypto.StyleFolded
	}
	return crypto.StylePlain
}

// SetToken replaces the value with a token.
func (st *Stream) SetToken(v *Value, token string) {
	text := token
	if v.flow {
		text = `"` + token + `"`
	}
	if v.start == v.end && v.start > 0 && st.src[v.start-1] == ':' {
		text = " " + text // an empty null right after "key:"
	}
	st.replace(v.start, v.end, text)
}

// SetPlain writes the decrypted payload back in place of the value's token.
func (st *Stream) SetPlain(v *Value, p crypto.Payload) error {
	start := v.start
	var text string
	switch p.Form {
	case crypto.FormVerbatim:
		if len(p.Value) == 0 {
			return badInput("empty verbatim payload")
		}
		text = reindent(string(p.Value[1:]), int(p.Value[0]), v.keyIndent, st.newline)
	case crypto.FormNull:
		text = string(p.Value)
	case crypto.FormBase64:
		if v.Field != "data" {
			return badInput("a data value's token was found under %s", v.Field)
		}
		var ok bool
		if text, ok = renderScalar(p.Style, base64.StdEncoding.EncodeToString(p.Value), v.keyIndent, v.flow); !ok {
			return badInput("cannot write the value back in its style")
		}
	default:
		var ok bool
		if text, ok = renderScalar(p.Style, string(p.Value), v.keyIndent, v.flow); !ok {
			return badInput("cannot write the value back in its style")
		}
	}
	if text == "" && start > 0 && st.src[start-1] == ' ' && !v.flow {
		start-- // undo the space SetToken put after "key:"
	}
	st.replace(start, v.end, text)
	return nil
}

// reindent moves the continuation lines of a verbatim scalar from the key
// column it was sealed at to the key's current column.
func reindent(source string, from, to int, newline string) string {
	if from == to || !strings.Contains(source, "\n") {
		return source
	}
	lines := strings.Split(source, "\n")
	for i := 1; i < len(lines); i++ {
		l := lines[i]
		if len(l)-len(strings.TrimLeft(l, " ")) < from {
			continue
		}
		lines[i] = strings.Repeat(" ", to) + l[from:]
	}
	return strings.Join(lines, "\n")
}

// renderScalar writes s in the given style as the value of a key at column
// keyIndent. It reports false when the style cannot be produced from the
// content alone (folded scalars, multi-line quoted ones).
func renderScalar(style crypto.Style, s string, keyIndent int, flow bool) (string, bool) {
	switch style {
	case crypto.StylePlain:
		return s, !strings.Contains(s, "\n")
	case crypto.StyleSingleQuoted:
		return "'" + strings.ReplaceAll(s, "'", "''") + "'", !strings.Contains(s, "\n")
	case crypto.StyleDoubleQuoted:
		return doubleQuote(s), true
	case crypto.StyleLiteral:
		if flow || s == "" {
			return "", false
		}
		return literalBlock(s, keyIndent+2), true
	}
	return "", false
}

func doubleQuote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// literalBlock renders a "|" block scalar with the chomping indicator that
// gives back s exactly, content indented by indent spaces.
func literalBlock(s string, indent int) string {
	header := "|"
	switch {
	case !strings.HasSuffix(s, "\n"):
		header = "|-"
	case strings.HasSuffix(s, "\n\n"):
		header = "|+"
	}
	body := strings.TrimSuffix(s, "\n")
	if strings.HasPrefix(body, " ") || strings.HasPrefix(body, "\n") {
		header = header[:1] + "2" + header[1:]
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	b.WriteString(header)
	for _, line := range strings.Split(body, "\n") {
		b.WriteByte('\n')
		if line != "" {
			b.WriteString(pad + line)
		}
	}
	return b.String()
}
