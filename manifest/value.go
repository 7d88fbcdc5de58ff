package manifest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
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
		if read, _, err := PayloadText(p); err == nil && read != v.Text {
			// Followed by a line break, as it is in the encrypted file,
			// the source would read otherwise: it ends the file.
			p.Form = crypto.FormVerbatimAtEnd
		}
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
	text, err := st.render(v, p)
	if err != nil {
		return err
	}
	start := v.start
	if text == "" && start > 0 && st.src[start-1] == ' ' && !v.flow {
		start-- // undo the space SetToken put after "key:"
	}
	st.replace(start, v.end, text)
	return nil
}

// errForeignPayload says a payload authenticated but is not what ksec's
// writer seals for one value at that place. Anyone holding a recipient's
// public key can seal any bytes, so this is refused like tampering.
func errForeignPayload(why string) error {
	return hint.Wrap(fmt.Errorf("%w: the sealed value is not one ksec writes for a single value here (%s); "+
		"the file was forged or the layout around the token was changed", crypto.ErrIntegrity, why), trustHint)
}

// trustHint follows every refusal of a payload or of decrypt's read-back.
const trustHint = "ksec never writes such a file: compare it with its last good version (git log -p FILE); " +
	"restore the layout around the value's token, and if the value itself was replaced, ask who wrote it " +
	"(anyone with a recipient's public key can)"

// render returns the text that replaces v's token for payload p.
func (st *Stream) render(v *Value, p crypto.Payload) (string, error) {
	switch p.Form {
	case crypto.FormVerbatim, crypto.FormVerbatimAtEnd:
		if len(p.Value) < 2 {
			return "", errForeignPayload("an empty verbatim source")
		}
		return reindent(string(p.Value[1:]), int(p.Value[0]), v.keyIndent, st.newline), nil
	case crypto.FormNull:
		return string(p.Value), nil
	case crypto.FormBase64:
		if v.Field != "data" {
			return "", errForeignPayload("base64 form under " + v.Field)
		}
		text, ok := renderScalar(p.Style, base64.StdEncoding.EncodeToString(p.Value), v.keyIndent, v.flow)
		if !ok {
			return "", errForeignPayload("its style cannot be written here")
		}
		return text, nil
	case crypto.FormText:
		text, ok := renderScalar(p.Style, string(p.Value), v.keyIndent, v.flow)
		if !ok {
			return "", errForeignPayload("its style cannot be written here")
		}
		return text, nil
	}
	return "", errForeignPayload("unknown form")
}

// CheckPayload refuses a payload that is not exactly what ksec's writer
// seals for one scalar at v's place (its field, its key's column, block or
// flow context). The payload is written out as decryption would, put into
// a one-value Secret of the same shape, parsed again, and the writer's own
// Payload of the result must be the sealed payload: the same style, form
// and value (for the verbatim form, the same source). So a verbatim source
// must be exactly one scalar with nothing after it (no further line, key,
// comment or document), a null must be a null literal, text and base64
// values must be written in a style that reads back as themselves, and a
// payload ksec would have sealed in another form is refused.
func (st *Stream) CheckPayload(v *Value, p crypto.Payload) error {
	text, err := st.render(v, p)
	if err != nil {
		return err
	}
	if obviouslyOne(v, p) {
		return nil
	}
	if p.Form == crypto.FormVerbatimAtEnd && !st.endsOutput(v) {
		return errForeignPayload("it was sealed as the end of the file, and more follows it")
	}
	return st.checkParsed(v, p, text)
}

// endsOutput reports whether v's value ends the decrypted file: nothing
// follows it, or only a line break and then a ksec block that runs to the
// end of a file without a final line break (RemoveMetadata takes that line
// break away with the block).
func (st *Stream) endsOutput(v *Value) bool {
	n := len(st.src)
	if v.end == n {
		return true
	}
	if st.src[n-1] == '\n' {
		return false
	}
	after := st.nextLine(v.end)
	if eol := strings.TrimSuffix(string(st.src[v.end:after]), "\n"); eol != "" && eol != "\r" {
		return false
	}
	for _, s := range st.Secrets {
		if s.metaKey == nil || s.mapping.Style&yaml.FlowStyle != 0 {
			continue
		}
		if st.lineStart(st.nodeStart(s.metaKey)) == after && st.nextLine(st.nodeEnd(s.metaVal, s.metaKey.Column-1, false)) == n {
			return true
		}
	}
	return false
}

// checkParsed is CheckPayload's parsing check of text, p written back at v.
func (st *Stream) checkParsed(v *Value, p crypto.Payload, text string) error {
	nl := st.newline
	var doc string
	if v.flow {
		doc = `{"kind": "Secret", "` + v.Field + `": {"k": ` + text + "}}" + nl
	} else {
		if v.keyIndent < 1 {
			return errForeignPayload("a key at column 0")
		}
		sep := " "
		if text == "" {
			sep = ""
		}
		doc = "kind: Secret" + nl + v.Field + ":" + nl + strings.Repeat(" ", v.keyIndent) + "k:" + sep + text
		if p.Form != crypto.FormVerbatimAtEnd {
			doc += nl
		}
	}
	syn, err := Parse([]byte(doc))
	if err != nil || len(syn.docs) != 1 || len(syn.Secrets) != 1 || len(syn.Strays) != 0 {
		return errForeignPayload("it is not one YAML scalar")
	}
	s := syn.Secrets[0]
	if len(s.Values) != 1 || len(s.mapping.Content) != 4 || s.Values[0].Key != "k" {
		return errForeignPayload("it adds entries")
	}
	sv := s.Values[0]
	got, err := syn.Payload(sv)
	if err != nil {
		return errForeignPayload("it is not a valid " + v.Field + " value")
	}
	var same bool
	switch p.Form {
	case crypto.FormVerbatim:
		// The scalar must span exactly the source.
		same = got.Style == p.Style && got.Form != crypto.FormVerbatimAtEnd && string(syn.src[sv.start:sv.end]) == text
	case crypto.FormVerbatimAtEnd:
		// Only a block scalar whose reading depends on the line break
		// after it: the writer seals any other source as FormVerbatim.
		same = got.Style == p.Style && got.Form == crypto.FormVerbatimAtEnd && string(syn.src[sv.start:sv.end]) == text
	default:
		same = got.Form == p.Form && got.Style == p.Style && bytes.Equal(got.Value, p.Value)
	}
	if !same {
		return errForeignPayload("its text, style or form does not match what it reads as")
	}
	return nil
}

// obviouslyOne reports, without parsing, the common payloads that written
// back are plainly one scalar reading as the sealed value in any context
// (CheckPayload parses the rest): base64 in a one-line style, a null
// literal, text that double quotes can hold, and simple plain words.
func obviouslyOne(v *Value, p crypto.Payload) bool {
	switch p.Form {
	case crypto.FormBase64:
		return v.Field == "data" && (len(p.Value) > 0 || p.Style != crypto.StylePlain) &&
			(p.Style == crypto.StylePlain || p.Style == crypto.StyleSingleQuoted || p.Style == crypto.StyleDoubleQuoted)
	case crypto.FormNull:
		return p.Style == crypto.StylePlain && isNullWord(string(p.Value))
	case crypto.FormText:
		if v.Field != "stringData" {
			return false
		}
		switch p.Style {
		case crypto.StyleDoubleQuoted:
			return doubleQuotable(p.Value)
		case crypto.StylePlain:
			return plainWord(p.Value)
		}
	}
	return false
}

func isNullWord(s string) bool { return s == "~" || s == "null" || s == "Null" || s == "NULL" }

// doubleQuotable reports whether doubleQuote writes b so that it reads
// back the same: valid UTF-8 whose characters are printable in YAML or
// escaped.
func doubleQuotable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		switch {
		case r < 0xa0, r == 0x2028, r == 0x2029, r == 0xfeff: // printable ASCII or escaped
		case r <= 0xd7ff, 0xe000 <= r && r <= 0xfffd, r >= 0x10000:
		default:
			return false
		}
	}
	return true
}

// plainWord reports whether b is a word that reads back as itself as a
// plain scalar anywhere: letters, digits and _ . - /, not starting with
// - . or /, and not a null.
func plainWord(b []byte) bool {
	if len(b) == 0 || b[0] == '-' || b[0] == '.' || b[0] == '/' || isNullWord(string(b)) {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' || c == '/') {
			return false
		}
	}
	return true
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
			switch {
			case r < 0x20 || 0x7f <= r && r <= 0x9f:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r == 0x2028 || r == 0x2029 || r == 0xfeff:
				// line and paragraph separators read as line breaks, and
				// a byte order mark is dropped, unless escaped
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
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
