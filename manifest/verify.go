package manifest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// The checks here are independent of how decryption splices text: they
// parse the finished output again, like kubectl will, and compare what it
// says with what was sealed. A gap in the splicing or in CheckPayload can
// then still not make ksec emit a Secret nobody sealed.

// VerifyDecrypted checks out, the decrypted text of st, against st: every
// document is still there and has the same structure (keys, scalars, tags,
// anchors) except that each decrypted Secret (in decrypted) lost its ksec
// block and each of its values reads as exactly the value sealed in its
// token (sealed, keyed by st's values). Nothing may be added, removed or
// moved.
func (st *Stream) VerifyDecrypted(out []byte, decrypted []*Secret, sealed map[*Value]crypto.Payload) error {
	o, err := parseOutput(out, false)
	if err != nil {
		return err
	}
	return st.VerifyDecryptedParsed(o, decrypted, sealed)
}

// VerifyDecryptedParsed is VerifyDecrypted for output already parsed (and
// not edited since).
func (st *Stream) VerifyDecryptedParsed(o *Stream, decrypted []*Secret, sealed map[*Value]crypto.Payload) error {
	want := map[*yaml.Node]*Value{}
	for v := range sealed {
		want[v.node] = v
	}
	meta := map[*yaml.Node]bool{}
	for _, s := range decrypted {
		if s.metaKey != nil {
			meta[s.metaKey] = true
		}
	}
	return st.compareOutput(o, func(in, got *yaml.Node) (bool, error) {
		v, ok := want[in]
		if !ok {
			return false, nil
		}
		if err := sameSealed(got, sealed[v]); err != nil {
			return true, &Error{Value: v, Err: err}
		}
		return true, nil
	}, meta)
}

// VerifyShown checks a decodedView of st (a plaintext stream) the same way:
// the view differs from st only in that data values are shown as the text
// they encode, or as !!binary base64.
func (st *Stream) VerifyShown(view []byte) error {
	data := map[*yaml.Node]*Value{}
	for _, s := range st.Secrets {
		for _, v := range s.Values {
			if v.Field == "data" && !v.IsNull() {
				data[v.node] = v
			}
		}
	}
	o, err := parseOutput(view, true) // data values may be tagged !!binary
	if err != nil {
		return err
	}
	return st.compareOutput(o, func(in, got *yaml.Node) (bool, error) {
		v, ok := data[in]
		if !ok {
			return false, nil
		}
		raw, err := base64.StdEncoding.DecodeString(v.Text)
		shown := []byte(got.Value)
		if got.Tag == binaryTag {
			shown, err = base64.StdEncoding.DecodeString(got.Value)
		}
		if err != nil || got.Kind != yaml.ScalarNode || got.Anchor != "" || got.Tag == "!!null" || !bytes.Equal(raw, shown) {
			return true, &Error{Value: v, Err: fmt.Errorf("%w: the edit view would not show the value as it is", crypto.ErrIntegrity)}
		}
		return true, nil
	}, nil)
}

// compareOutput compares the parsed output o document by document with st.
// special decides (and checks) nodes of st it knows better; mapping entries
// whose key node is in skip are expected to be gone from out.
func parseOutput(out []byte, view bool) (*Stream, error) {
	o, err := parse(out, view)
	if err != nil {
		// The parser's message is not shown: the output holds plaintext.
		return nil, hint.Wrap(fmt.Errorf("%w: the decrypted output would not parse as YAML; the file was forged or the layout around a token was changed", crypto.ErrIntegrity), trustHint)
	}
	return o, nil
}

func (st *Stream) compareOutput(o *Stream, special func(in, got *yaml.Node) (bool, error), skip map[*yaml.Node]bool) error {
	out := o.src
	openEnd := len(out) > 0 && out[len(out)-1] != '\n'
	if len(o.docs) != len(st.docs) {
		return fmt.Errorf("%w: the decrypted output has %d documents, the input %d", crypto.ErrIntegrity, len(o.docs), len(st.docs))
	}
	for doc, in := range st.docs {
		got, ok := o.docs[doc]
		if !ok {
			return fmt.Errorf("%w: document %d is missing from the decrypted output", crypto.ErrIntegrity, doc)
		}
		if err := compareNode(in, got, special, skip, openEnd); err != nil {
			return &Error{Doc: doc, Err: err}
		}
	}
	return nil
}

func compareNode(in, got *yaml.Node, special func(in, got *yaml.Node) (bool, error), skip map[*yaml.Node]bool, openEnd bool) error {
	if done, err := special(in, got); done {
		return err
	}
	differ := func() error {
		return &Error{Line: got.Line, Err: hint.Wrap(fmt.Errorf("%w: decrypting would change the file's structure here; "+
			"the file was forged or the layout around a token was changed", crypto.ErrIntegrity), trustHint)}
	}
	if in.Kind != got.Kind || in.Tag != got.Tag || in.Anchor != got.Anchor || (in.Kind != yaml.MappingNode && in.Kind != yaml.SequenceNode && !sameText(in, got, openEnd)) {
		return differ()
	}
	inContent := in.Content
	if in.Kind == yaml.MappingNode && len(skip) > 0 {
		inContent = nil
		for i := 0; i+1 < len(in.Content); i += 2 {
			if !skip[in.Content[i]] {
				inContent = append(inContent, in.Content[i], in.Content[i+1])
			}
		}
	}
	if len(inContent) != len(got.Content) {
		return differ()
	}
	for i := range inContent {
		if err := compareNode(inContent[i], got.Content[i], special, skip, openEnd); err != nil {
			return err
		}
	}
	return nil
}

// sameSealed checks that a decrypted value node reads as payload p.
// Exactly: a value sealed with its final line break keeps it, and one
// sealed at the end of its file (FormVerbatimAtEnd) reads without it only
// there, whatever the file's last byte says.
func sameSealed(got *yaml.Node, p crypto.Payload) error {
	text, null, err := PayloadText(p)
	ok := err == nil && got.Kind == yaml.ScalarNode && got.Anchor == "" && (got.Tag == "!!null") == null &&
		(null || got.Value == text)
	if !ok {
		return hint.Wrap(fmt.Errorf("%w: the value would not read as the value sealed in its token; "+
			"the file was forged or the layout around the token was changed (e.g. a line indented under it)", crypto.ErrIntegrity), trustHint)
	}
	return nil
}

// VerifyPatched checks out, a patched version of st, against st: every
// document is as it was, except the data and stringData values and the
// ksec block of Secret number index (which the caller checks by opening).
func (st *Stream) VerifyPatched(out []byte, index int) error {
	s := st.Secrets[index]
	none := func(_, _ *yaml.Node) (bool, error) { return false, nil }
	rest := func(m *yaml.Node) []*yaml.Node {
		var kept []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			switch m.Content[i].Value {
			case "data", "stringData", MetadataKey:
			default:
				kept = append(kept, m.Content[i], m.Content[i+1])
			}
		}
		return kept
	}
	o, err := parseOutput(out, false)
	if err != nil {
		return err
	}
	return st.compareOutput(o, func(in, got *yaml.Node) (bool, error) {
		if in != s.mapping {
			return false, nil
		}
		a, b := rest(in), rest(got)
		if got.Kind != yaml.MappingNode || len(a) != len(b) {
			return true, &Error{Secret: s, Err: fmt.Errorf("%w: patching would change more than the Secret's values", crypto.ErrIntegrity)}
		}
		for i := range a {
			if err := compareNode(a[i], b[i], none, nil, len(out) > 0 && out[len(out)-1] != '\n'); err != nil {
				return true, err
			}
		}
		return true, nil
	}, nil)
}

// sameText compares two unsealed scalars' values. A block scalar that ends
// the input without a final line break gains one in the encrypted file,
// where the ksec block follows it, and loses it (or gains trailing blank
// lines that follow the ksec block) when the block is removed. So when the
// output has no final line break (openEnd), a block scalar is compared
// without its trailing spaces and line breaks. Sealed values are compared
// exactly (sameSealed).
func sameText(in, got *yaml.Node, openEnd bool) bool {
	if in.Value == got.Value {
		return true
	}
	if !openEnd || got.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		return false
	}
	return strings.TrimRight(in.Value, " \n") == strings.TrimRight(got.Value, " \n")
}
