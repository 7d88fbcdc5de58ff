package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
)

func shownView(t *testing.T, plain string) (*Stream, []byte) {
	t.Helper()
	st, err := Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	view, err := Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range view.Secrets {
		for _, v := range s.Values {
			if err := view.ShowDecoded(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st, view.Bytes()
}

// The edit view is read back: it must show exactly the decrypted values.
func TestVerifyShown(t *testing.T) {
	st, view := shownView(t, "kind: Secret\ndata:\n  a: aGk=\n  b: AAE=\nstringData:\n  c: x\n")
	if err := st.VerifyShown(view); err != nil {
		t.Fatalf("%v\n%s", err, view)
	}
	for _, bad := range []string{
		strings.Replace(string(view), "a: hi", "a: ho", 1),
		strings.Replace(string(view), "c: x", "c: y", 1),
		strings.Replace(string(view), "c: x", "c: x\n  d: y", 1),
		string(view) + "---\nkind: Evil\n",
	} {
		if err := st.VerifyShown([]byte(bad)); !errors.Is(err, crypto.ErrIntegrity) {
			t.Errorf("VerifyShown(%q) = %v, want an integrity failure", bad, err)
		}
	}
	// A comment indented under a data value would join the literal block
	// the view writes for multi-line text: caught, not shown changed.
	st, view = shownView(t, "kind: Secret\ndata:\n  a: YQpiCg==\n      # note\n  b: AAE=\n")
	if err := st.VerifyShown(view); !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "data.a") {
		t.Errorf("VerifyShown = %v, want an integrity failure naming data.a; view:\n%s", err, view)
	}
}

// The ksec block is read as strictly as docs/FORMAT.md section 4 says.
func TestMetadataStrictness(t *testing.T) {
	mac := "5Zq1Dv3fVhJ0l1H8y8Ck0bS1Z2l8q9j3m0b7b1mG3sE="
	block := func(version, wrapped, mac string) string {
		return "kind: Secret\nksec:\n  version: " + version + "\n  recipients:\n    - type: age\n      id: age1x\n      wrapped: " + wrapped + "\n  mac: " + mac + "\n"
	}
	if _, err := Parse([]byte(block("1", "AAEC", mac))); err != nil {
		t.Fatalf("valid block: %v", err)
	}
	for name, c := range map[string]struct {
		src  string
		want string
	}{
		"version string":       {block(`"1"`, "AAEC", mac), `version must be an integer`},
		"version other":        {block("2", "AAEC", mac), `format version 2 is not supported`},
		"version hex":          {block("0x1", "AAEC", mac), `format version 0x1 is not supported`},
		"wrapped unpadded":     {block("1", "AAE", mac), `needs type, id and base64 wrapped key`},
		"wrapped stray bits":   {block("1", "AAF=", mac), `needs type, id and base64 wrapped key`},
		"wrapped url alphabet": {block("1", "AA-_", mac), `needs type, id and base64 wrapped key`},
		"wrapped line break":   {block("1", `"AA\nEC"`, mac), `needs type, id and base64 wrapped key`},
		"mac short":            {block("1", "AAEC", "AAEC"), `no valid mac`},
		"mac space":            {block("1", "AAEC", `"`+mac[:8]+" "+mac[8:]+`"`), `no valid mac`},
	} {
		_, err := Parse([]byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

// The payloads CheckPayload accepts without parsing pass the parsing check
// too, in block and flow context.
func TestObviousPayloadsParse(t *testing.T) {
	block, err := Parse([]byte("kind: Secret\ndata:\n  d: x\nstringData:\n  s: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	flow, err := Parse([]byte(`{"kind": "Secret", "data": {"d": "x"}, "stringData": {"s": "x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var payloads []crypto.Payload
	for _, b := range []string{"", "a", "true", "\x00\xff", "12345", "\xfb\xff"} {
		for _, style := range []crypto.Style{crypto.StylePlain, crypto.StyleSingleQuoted, crypto.StyleDoubleQuoted} {
			payloads = append(payloads, crypto.Payload{Style: style, Form: crypto.FormBase64, Value: []byte(b)})
		}
	}
	for _, w := range []string{"~", "null", "Null", "NULL"} {
		payloads = append(payloads, crypto.Payload{Form: crypto.FormNull, Value: []byte(w)})
	}
	for _, s := range []string{"a", "0", "1e3", "0x1F", "true", "no", "a.b-c_d/e", "ü", "a\"b\\c", "tab\tnl\ncr\r", "\x00\x1f\x7f\u0085\u009f", "\u2028\u2029\ufeff", "😀", "\ue000\ufffd", " lead", "trail "} {
		for _, style := range []crypto.Style{crypto.StylePlain, crypto.StyleDoubleQuoted} {
			payloads = append(payloads, crypto.Payload{Style: style, Form: crypto.FormText, Value: []byte(s)})
		}
	}
	n := 0
	for _, st := range []*Stream{block, flow} {
		for _, v := range st.Secrets[0].Values {
			for _, p := range payloads {
				if !obviouslyOne(v, p) {
					continue
				}
				n++
				text, err := st.render(v, p)
				if err == nil {
					err = st.checkParsed(v, p, text)
				}
				if err != nil {
					t.Errorf("%s, flow %v: %+v passes without parsing but not parsed: %v", v.Field, v.flow, p, err)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d payloads took the fast path", n)
	}
}
