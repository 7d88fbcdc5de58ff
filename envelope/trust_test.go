package envelope

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/forge"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// forgeOne forges a Secret ns/db holding one value, for a fresh age key,
// and returns the file and a keyring that opens it.
func forgeOne(t testing.TB, v forge.Value) ([]byte, *keyring.Keyring) {
	r, id := forge.AgeKey(t)
	return forge.Secret(t, []keyring.Recipient{r}, "ns", "db", []forge.Value{v}), forge.Keyring(id)
}

func decryptBytes(src []byte, kr *keyring.Keyring) ([]byte, error) {
	st, err := manifest.Parse(src)
	if err != nil {
		return nil, err
	}
	if _, err := Decrypt(context.Background(), st, kr); err != nil {
		return nil, err
	}
	return st.Bytes(), nil
}

func verbatim(source string) []byte { return append([]byte{2}, source...) }

// Payloads that authenticate (forged with the public key only) but are not
// what ksec writes for one value: every one is refused as an integrity
// failure, by decrypt and by every command that opens a Secret.
func TestForgedPayloadsAreRefused(t *testing.T) {
	for name, v := range map[string]forge.Value{
		"verbatim with a second document":  {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: evil")},
		"verbatim with an extra key line":  {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x\n  evil: y")},
		"verbatim with a top-level key":    {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x\nspec: y")},
		"verbatim with a merge key":        {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x\n<<: {a: b}")},
		"verbatim with a comment after":    {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x # hidden")},
		"verbatim literal and a key":       {Field: "stringData", Key: "k", Form: 3, Style: 3, Payload: verbatim("|\n    a\n  evil: y")},
		"verbatim block under wrong style": {Field: "stringData", Key: "k", Form: 3, Style: 0, Payload: verbatim("|\n    a")},
		"verbatim flow mapping":            {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("{a: b}")},
		"verbatim anchor":                  {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("&a x")},
		"verbatim tag":                     {Field: "stringData", Key: "k", Form: 3, Payload: verbatim("!!str x")},
		"verbatim empty":                   {Field: "stringData", Key: "k", Form: 3, Payload: []byte{2}},
		"null that is text":                {Field: "stringData", Key: "k", Form: 2, Payload: []byte("x")},
		"null with a key line":             {Field: "stringData", Key: "k", Form: 2, Payload: []byte("null\n  evil: y")},
		"null in quotes style":             {Field: "stringData", Key: "k", Form: 2, Style: 2, Payload: []byte("null")},
		"plain text that reads as null":    {Field: "stringData", Key: "k", Form: 0, Payload: []byte("null")},
		"plain empty text":                 {Field: "stringData", Key: "k", Form: 0, Payload: []byte("")},
		"plain text with a mapping":        {Field: "stringData", Key: "k", Form: 0, Payload: []byte("a: b")},
		"plain text with a comment":        {Field: "stringData", Key: "k", Form: 0, Payload: []byte("a #b")},
		"plain text with an alias":         {Field: "stringData", Key: "k", Form: 0, Payload: []byte("*a")},
		"plain text with a newline":        {Field: "stringData", Key: "k", Form: 0, Payload: []byte("a\nevil: b")},
		"literal empty":                    {Field: "stringData", Key: "k", Form: 0, Style: 3, Payload: []byte("")},
		"folded text":                      {Field: "stringData", Key: "k", Form: 0, Style: 4, Payload: []byte("a")},
		"text under data":                  {Field: "data", Key: "k", Form: 0, Payload: []byte("YQ==")},
		"base64 under stringData":          {Field: "stringData", Key: "k", Form: 1, Payload: []byte("a")},
		"base64 empty plain":               {Field: "data", Key: "k", Form: 1, Payload: nil},
		"unknown style":                    {Field: "stringData", Key: "k", Form: 0, Style: 5, Payload: []byte("a")},
		"unknown form":                     {Field: "stringData", Key: "k", Form: 5, Payload: []byte("a")},
		"verbatim at end, not at the end":  {Field: "stringData", Key: "k", Form: 4, Style: 3, Payload: verbatim("|\n    a")},
		"verbatim at end, reads the same":  {Field: "stringData", Key: "k", Form: 4, Style: 3, Payload: verbatim("|-\n    a")},
		"verbatim at end, plain":           {Field: "stringData", Key: "k", Form: 4, Payload: verbatim("a")},
		"verbatim at end, empty":           {Field: "stringData", Key: "k", Form: 4, Style: 3, Payload: []byte("a")},
		"padding a block too long":         {Field: "stringData", Key: "k", Raw: append([]byte{0, 0, 'a', 0x80}, make([]byte, 60)...)},
		"no padding marker":                {Field: "stringData", Key: "k", Raw: append([]byte{0, 0, 'a'}, make([]byte, 29)...)},
		"empty plaintext":                  {Field: "stringData", Key: "k", Raw: []byte{}},
		"padding not a block multiple":     {Field: "stringData", Key: "k", Raw: []byte{0, 0, 'a', 0x80}},
	} {
		t.Run(name, func(t *testing.T) {
			src, kr := forgeOne(t, v)
			out, err := decryptBytes(src, kr)
			if !errors.Is(err, crypto.ErrIntegrity) {
				t.Fatalf("decrypt: err = %v, want an integrity failure; output:\n%s", err, out)
			}
			if !strings.Contains(err.Error(), "stringData.k") && !strings.Contains(err.Error(), "data.k") {
				t.Errorf("error %q does not name the value", err)
			}
			// Opening for encrypt (adding a value, rotating) refuses it too.
			st, _ := manifest.Parse(append(src[:len(src):len(src)], []byte("")...))
			if err := Encrypt(context.Background(), st, kr, Recipients{Rotate: true}); !errors.Is(err, crypto.ErrIntegrity) {
				t.Errorf("encrypt --rotate: err = %v, want an integrity failure", err)
			}
		})
	}
}

// Hostile-looking but legitimate values come out exactly as sealed.
func TestForgedWriterPayloadsDecrypt(t *testing.T) {
	for name, c := range map[string]struct {
		v    forge.Value
		want string
	}{
		"plain with a comma":  {forge.Value{Field: "stringData", Key: "k", Payload: []byte("a, b")}, "  k: a, b\n"},
		"double-quoted break": {forge.Value{Field: "stringData", Key: "k", Style: 2, Payload: []byte("x\n---\nkind: Evil")}, `  k: "x\n---\nkind: Evil"` + "\n"},
		"literal with dashes": {forge.Value{Field: "stringData", Key: "k", Style: 3, Payload: []byte("x\n---\nkind: Evil\n")}, "  k: |\n    x\n    ---\n    kind: Evil\n"},
		"verbatim folded":     {forge.Value{Field: "stringData", Key: "k", Form: 3, Style: 4, Payload: verbatim(">\n    a\n    b")}, "  k: >\n    a\n    b\n"},
		"null tilde":          {forge.Value{Field: "stringData", Key: "k", Form: 2, Payload: []byte("~")}, "  k: ~\n"},
		"verbatim plain text": {forge.Value{Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x")}, "  k: x\n"},
		"base64":              {forge.Value{Field: "data", Key: "k", Form: 1, Payload: []byte("hi")}, "  k: aGk=\n"},
	} {
		t.Run(name, func(t *testing.T) {
			src, kr := forgeOne(t, c.v)
			out, err := decryptBytes(src, kr)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(out), ":\n"+c.want) {
				t.Fatalf("got\n%s\nwant it to end with\n%s", out, c.want)
			}
		})
	}
}

// toFlow rewrites the forged block mapping of field into flow style around
// its unchanged tokens.
func toFlow(src []byte, field string) []byte {
	re := regexp.MustCompile(`(?m)^` + field + `:\n((?:  .*\n)+)`)
	return re.ReplaceAllFunc(src, func(m []byte) []byte {
		var entries []string
		for _, l := range strings.Split(strings.TrimSpace(string(re.FindSubmatch(m)[1])), "\n") {
			k, tok, _ := strings.Cut(strings.TrimSpace(l), ": ")
			entries = append(entries, k+`: "`+tok+`"`)
		}
		return []byte(field + ": {" + strings.Join(entries, ", ") + "}\n")
	})
}

// Layout changes around unchanged tokens either decrypt to exactly the
// sealed values or are refused.
func TestLayoutChangesAroundTokens(t *testing.T) {
	r, id := forge.AgeKey(t)
	kr := forge.Keyring(id)
	rs := []keyring.Recipient{r}

	// Block to flow: a plain value that is safe in flow is written back as it is.
	src := toFlow(forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Payload: []byte("safe")}}), "stringData")
	out, err := decryptBytes(src, kr)
	if err != nil || !strings.Contains(string(out), "stringData: {k: safe}\n") {
		t.Fatalf("safe value in flow: %v\n%s", err, out)
	}
	// ... one holding flow indicators would add a key or end the mapping: refused.
	for _, text := range []string{"a, evil: b", "a}", "a, b", "[x]"} {
		src := toFlow(forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Payload: []byte(text)}}), "stringData")
		if out, err := decryptBytes(src, kr); !errors.Is(err, crypto.ErrIntegrity) {
			t.Errorf("%q in flow: err = %v, want integrity failure; output:\n%s", text, err, out)
		}
	}
	// A literal block cannot be written in flow.
	src = toFlow(forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Style: 3, Payload: []byte("a\n")}}), "stringData")
	if _, err := decryptBytes(src, kr); !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("literal in flow: err = %v", err)
	}

	// An indented comment line added under a literal-block token would
	// become part of the value: refused.
	lit := forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Style: 3, Payload: []byte("a\n")}, {Field: "stringData", Key: "z", Payload: []byte("b")}})
	for _, comment := range []string{"    # evil: x", "      # more", "   # between"} {
		src := regexp.MustCompile(`(?m)^(  k: ENC\[[^\]]+\])$`).ReplaceAll(lit, []byte("$1\n"+comment))
		out, err := decryptBytes(src, kr)
		if comment == "   # between" {
			// Less indented than the block's content: a comment, as written.
			if err != nil || !strings.Contains(string(out), "  k: |\n    a\n   # between\n  z: b\n") {
				t.Errorf("comment at column 3: %v\n%s", err, out)
			}
			continue
		}
		if !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "stringData.k") {
			t.Errorf("comment %q under a literal: err = %v, want integrity failure naming stringData.k; output:\n%s", comment, err, out)
		}
	}
	// A comment after a literal-block token on its line would join the value.
	src = regexp.MustCompile(`(?m)^(  k: ENC\[[^\]]+\])$`).ReplaceAll(lit, []byte("$1 # note"))
	if out, err := decryptBytes(src, kr); !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("comment after a literal token: err = %v; output:\n%s", err, out)
	}
	// The file's final line break removed, so the value sealed with a final
	// line break would end the output without one: refused.
	last := forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Style: 3, Payload: []byte("a\n")}})
	if out, err := decryptBytes(last[:len(last)-1], kr); !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("final line break removed: err = %v; output:\n%q", err, out)
	}

	// Blank lines added after a keep-chomping (|+) token would join the value.
	keep := forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "stringData", Key: "k", Style: 3, Payload: []byte("a\n\n")}, {Field: "stringData", Key: "z", Payload: []byte("b")}})
	src = regexp.MustCompile(`(?m)^(  k: ENC\[[^\]]+\])$`).ReplaceAll(keep, []byte("$1\n\n"))
	if out, err := decryptBytes(src, kr); !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("blank lines after |+: err = %v; output:\n%s", err, out)
	}
}

// FuzzForgedPayload forges a one-value Secret with any style, form and
// payload bytes (optionally rewritten into a flow mapping) and decrypts it.
// Property: decrypt either fails, or its output parses to one document with
// exactly the Secret's own keys and exactly the sealed value at its key.
func FuzzForgedPayload(f *testing.F) {
	for _, s := range []struct {
		style, form byte
		payload     string
		flow, data  bool
	}{
		{0, 0, "plain", false, false},
		{0, 0, "a, b", true, false},
		{3, 0, "line\n", false, false},
		{2, 0, "x\n---\nkind: Evil", false, false},
		{0, 1, "bytes", false, true},
		{0, 2, "~", false, false},
		{0, 3, "\x02x\n---\nkind: Evil", false, false},
		{4, 3, "\x02>\n    a\n    b", false, false},
		{0, 3, "\x02x\n  evil: y", false, false},
		{3, 3, "\x02|\n    a\n  evil: y", false, false},
		{0, 2, "null\nevil: x", false, false},
	} {
		f.Add(s.style, s.form, []byte(s.payload), s.flow, s.data)
	}
	r, id := forge.AgeKey(f)
	kr := forge.Keyring(id)
	dataKey := make([]byte, 32)
	stanza, err := r.Wrap(context.Background(), dataKey, keyring.Scope{Namespace: "ns", Name: "db"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, style, form byte, payload []byte, flow, data bool) {
		field := "stringData"
		if data {
			field = "data"
		}
		if form == 3 && len(payload) > 0 {
			payload[0] = 2 // the forged key's column, so the oracle below needs no re-indenting
		}
		src, err := forge.Build(dataKey, []keyring.Stanza{stanza}, "ns", "db", []forge.Value{{Field: field, Key: "k", Payload: payload, Form: form, Style: style}})
		if err != nil {
			t.Fatal(err)
		}
		if flow {
			src = toFlow(src, field)
		}
		out, err := decryptBytes(src, kr)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		// The sealed value, as the payload's form defines it.
		var wantNull bool
		var want string
		switch form {
		case 0:
			want = string(payload)
		case 1:
			want = base64.StdEncoding.EncodeToString(payload)
		case 2:
			wantNull = true
		case 3:
			var n yaml.Node
			if yaml.Unmarshal([]byte("x:\n  k: "+string(payload[1:])+"\n"), &n) != nil || len(n.Content) != 1 ||
				len(n.Content[0].Content) != 2 || len(n.Content[0].Content[1].Content) != 2 || n.Content[0].Content[1].Content[1].Kind != yaml.ScalarNode {
				t.Fatalf("decrypt accepted a verbatim source that is not one scalar: %q\n%s", payload, out)
			}
			v := n.Content[0].Content[1].Content[1]
			want, wantNull = v.Value, v.Tag == "!!null"
		default:
			t.Fatalf("decrypt accepted form %d", form)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(out)))
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			t.Fatalf("output has a second document:\n%s", out)
		}
		m := doc.Content[0]
		var keys []string
		for i := 0; i < len(m.Content); i += 2 {
			keys = append(keys, m.Content[i].Value)
		}
		if strings.Join(keys, " ") != "apiVersion kind metadata "+field {
			t.Fatalf("output keys %q:\n%s", keys, out)
		}
		vals := m.Content[7]
		if vals.Kind != yaml.MappingNode || len(vals.Content) != 2 || vals.Content[0].Value != "k" {
			t.Fatalf("%s holds more than k:\n%s", field, out)
		}
		got := vals.Content[1]
		if got.Kind != yaml.ScalarNode || (got.Tag == "!!null") != wantNull || (!wantNull && got.Value != want) {
			t.Fatalf("k decrypted to %q (tag %s), sealed %q (null %v); payload %q style %d form %d\n%s", got.Value, got.Tag, want, wantNull, payload, style, form, out)
		}
	})
}

// patch opens the Secret with the strict reader and checks its own output
// by reading it back.
func TestPatchForgedAndReadBack(t *testing.T) {
	ctx := context.Background()
	r, id := forge.AgeKey(t)
	kr := forge.Keyring(id)
	rs := []keyring.Recipient{r}
	hostile := forge.Secret(t, rs, "ns", "db", []forge.Value{
		{Field: "stringData", Key: "a", Payload: []byte("fine")},
		{Field: "stringData", Key: "k", Form: 3, Payload: verbatim("x\n---\nkind: Evil")},
	})
	st, err := manifest.Parse(hostile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Patch(ctx, st, kr, 0, []Change{{Field: "stringData", Key: "b", Value: []byte("new")}}); !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "stringData.k") {
		t.Fatalf("patch of a forged file: err = %v, want an integrity failure naming stringData.k", err)
	}

	good := forge.Secret(t, rs, "ns", "db", []forge.Value{{Field: "data", Key: "a", Form: 1, Payload: []byte("x")}})
	st, err = manifest.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Patch(ctx, st, kr, 0, []Change{{Field: "data", Key: "empty", Value: nil}, {Field: "stringData", Key: "s", Value: []byte("a, b\n")}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decryptBytes(out, kr)
	if err != nil {
		t.Fatal(err)
	}
	if want := "data:\n  a: eA==\n  empty: \"\"\nstringData:\n  s: |\n    a, b\n"; !strings.HasSuffix(string(plain), want) {
		t.Fatalf("patched file decrypts to\n%s\nwant it to end with\n%s", plain, want)
	}
	// A change without a field keeps the key in the field that holds it.
	st, err = manifest.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = Patch(ctx, st, kr, 0, []Change{{Key: "s", Value: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	if plain, err = decryptBytes(out, kr); err != nil || !strings.HasSuffix(string(plain), "stringData:\n  s: new\n") {
		t.Fatalf("%v\n%s", err, plain)
	}
}

// Values with characters YAML reads specially in double quotes (separators,
// C1 controls, a byte order mark) are written escaped, so patch output
// reads back exactly.
func TestPatchSpecialCharactersReadBack(t *testing.T) {
	ctx := context.Background()
	r, id := forge.AgeKey(t)
	kr := forge.Keyring(id)
	for _, value := range []string{"a\u2028b", "a\u2029b", "x\u0085y", "\ufeffbom", "c1\u009f", "del\x7f", "nul\x00", "é ü"} {
		src := forge.Secret(t, []keyring.Recipient{r}, "ns", "db", []forge.Value{{Field: "stringData", Key: "a", Payload: []byte("x")}})
		st, err := manifest.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Patch(ctx, st, kr, 0, []Change{{Field: "stringData", Key: "v", Value: []byte(value)}})
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		plain, err := decryptBytes(out, kr)
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		var got struct {
			StringData map[string]string `yaml:"stringData"`
		}
		if err := yaml.Unmarshal(plain, &got); err != nil || got.StringData["v"] != value {
			t.Fatalf("%q decrypts to %q (%v)", value, got.StringData["v"], err)
		}
	}
}

// The file's last byte is outside the MAC, so it must not decide what a
// value reads as. A block scalar that ends its file without a final line
// break is sealed as FormVerbatimAtEnd and round-trips byte for byte; a
// final line break added to such a file, or removed from a file whose last
// value was sealed with one, is refused instead of changing the value.
func TestFinalLineBreakCannotChangeValues(t *testing.T) {
	kr := fuzzKeyring(t)
	head := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: eof\n"
	for name, tc := range map[string]struct {
		plain string
		form  crypto.Form
	}{
		"literal":           {head + "stringData:\n  a: x\n  b: |\n    y", crypto.FormVerbatimAtEnd},
		"folded":            {head + "stringData:\n  b: >\n    y\n    z", crypto.FormVerbatimAtEnd},
		"keep":              {head + "stringData:\n  b: |+\n    y", crypto.FormVerbatimAtEnd},
		"data":              {head + "data:\n  b: |\n    eQ==", crypto.FormVerbatimAtEnd},
		"crlf":              {strings.ReplaceAll(head+"stringData:\n  b: |\n    y", "\n", "\r\n"), crypto.FormVerbatimAtEnd},
		"strip":             {head + "stringData:\n  b: |-\n    y", crypto.FormText},
		"crlf with break":   {strings.ReplaceAll(head+"stringData:\n  b: |\n    y\n", "\n", "\r\n"), crypto.FormVerbatim},
		"folded with break": {head + "stringData:\n  b: >\n    y\n    z\n", crypto.FormVerbatim},
	} {
		t.Run(name, func(t *testing.T) {
			enc := fuzzEncrypt(t, tc.plain)
			st, err := manifest.Parse([]byte(tc.plain))
			if err != nil {
				t.Fatal(err)
			}
			s := st.Secrets[0]
			if p, err := st.Payload(s.Values[len(s.Values)-1]); err != nil || p.Form != tc.form {
				t.Errorf("last value sealed in form %d (%v), want %d", p.Form, err, tc.form)
			}
			out, err := decryptBytes(enc, kr)
			if err != nil || string(out) != tc.plain {
				t.Fatalf("round trip: %v\n%q\nwant\n%q", err, out, tc.plain)
			}
			// A key added after the last value: it keeps the value it
			// read as at the end of the file.
			last := s.Values[len(s.Values)-1]
			for _, field := range []string{"data", "stringData"} {
				est, err := manifest.Parse(enc)
				if err != nil {
					t.Fatal(err)
				}
				patched, err := Patch(context.Background(), est, kr, 0, []Change{{Field: field, Key: "zz", Value: []byte("new")}})
				if err != nil {
					t.Fatalf("patch adding %s.zz: %v", field, err)
				}
				out, err := decryptBytes(patched, kr)
				if err != nil {
					t.Fatalf("patch adding %s.zz: decrypt: %v", field, err)
				}
				back, err := manifest.Parse(out)
				if err != nil {
					t.Fatal(err)
				}
				got := back.Secrets[0].Values
				if len(got) != len(s.Values)+1 || got[len(s.Values)-1].Key != last.Key || got[len(s.Values)-1].Text != last.Text {
					t.Errorf("patch adding %s.zz: values now\n%q", field, out)
				}
			}
			var changed []byte
			if strings.HasSuffix(string(enc), "\n") {
				changed = []byte(strings.TrimSuffix(strings.TrimSuffix(string(enc), "\n"), "\r"))
			} else {
				nl := "\n"
				if strings.Contains(tc.plain, "\r\n") {
					nl = "\r\n"
				}
				changed = append(append([]byte{}, enc...), nl...)
			}
			out, err = decryptBytes(changed, kr)
			if tc.form == crypto.FormText {
				// |- reads the same either way: nothing to refuse.
				if err != nil {
					t.Errorf("final line break changed on a |- value: %v", err)
				}
				return
			}
			if !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "stringData.b") && !strings.Contains(err.Error(), "data.b") {
				t.Errorf("final line break changed: err = %v, want an integrity failure naming the value; output:\n%q", err, out)
			}
		})
	}
}
