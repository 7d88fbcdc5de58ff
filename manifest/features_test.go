package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

const secretHead = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n"

func TestYAMLFeaturesInSecretsAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"top-level merge", secretHead + "data:\n  password: ENC[ksec.v1,AAAA]\n<<: {stringData: {password: x}}\n", "line 8: bad input: a YAML merge key (<<) is not supported"},
		{"merge in metadata", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  <<: {namespace: kube-system}\nstringData:\n  a: b\n", "document 1 (Secret db): line 5: bad input: a YAML merge key (<<)"},
		{"tagged merge", secretHead + "stringData:\n  a: b\n!!merge <<: {type: x}\n", "line 8: bad input: a YAML merge key"},
		{"anchor on metadata", "apiVersion: v1\nkind: Secret\nmetadata: &m\n  name: db\n", "line 3: bad input: a YAML anchor (&m)"},
		{"anchor on a value", secretHead + "stringData:\n  a: &v b\n", "document 1 (Secret prod/db): line 7: bad input: a YAML anchor (&v)"},
		{"alias to a value", secretHead + "stringData:\n  a: &v b\n  c: *v\n", "YAML anchor (&v)"},
		{"alias in labels", "apiVersion: v1\nkind: List\nitems:\n- &s {kind: ConfigMap}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a, labels: *s}\n", "document 1, item 2 (Secret a): line 7: bad input: a YAML alias (*s)"},
		{"str tag", secretHead + "stringData:\n  a: !!str b\n", "line 7: bad input: an explicit YAML tag (!!str)"},
		{"custom tag", secretHead + "stringData:\n  a: !foo b\n", "an explicit YAML tag (!foo)"},
		{"non-specific tag", secretHead + "stringData:\n  a: ! b\n", "an explicit YAML tag (!)"},
		{"tag on a key", secretHead + "stringData:\n  !!str a: b\n", "line 7: bad input: an explicit YAML tag (!!str)"},
		{"tag on the document", "--- !!map\nkind: Secret\nmetadata: {name: a}\n", "an explicit YAML tag (!!map)"},
		{"tag on kind", "apiVersion: v1\nkind: !!str Secret\nmetadata: {name: a}\n", "line 2: bad input: an explicit YAML tag (!!str)"},
		{"binary outside the edit view", secretHead + "data:\n  a: !!binary AAEC\n", "an explicit YAML tag (!!binary)"},
		{"kind by merge", "<<: {kind: Secret}\napiVersion: v1\nmetadata: {name: db}\nstringData: {password: x}\n", "document 1: line 1: bad input: YAML aliases or merge keys make a Secret here"},
		{"List item by alias", "apiVersion: v1\nkind: List\nmetadata:\n  x: &s {apiVersion: v1, kind: Secret, metadata: {name: db}}\nitems:\n- *s\n", "YAML aliases or merge keys make a Secret"},
		{"kind by alias", "x: &k Secret\napiVersion: v1\nkind: *k\nmetadata: {name: db}\n", "YAML aliases or merge keys make a Secret"},
		{"List item by merged sequence", "kind: List\nx: &s {kind: Secret}\nitems:\n- {<<: [{apiVersion: v1}, *s], metadata: {name: db}}\n", "YAML aliases or merge keys make a Secret"},
		{"SecretList by merge", "<<: {kind: SecretList}\nitems:\n- metadata: {name: db}\n", "YAML aliases or merge keys make a Secret"},
		{"duplicate kind", "kind: ConfigMap\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n", `document 1: line 3: bad input: duplicate key "kind" (first at line 1)`},
		{"duplicate items", "kind: List\nitems: []\nitems: [{kind: Secret}]\n", `duplicate key "items"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			if err == nil {
				t.Fatal("parsed")
			}
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want bad input containing %q", err, tc.want)
			}
			if len(hint.All(err)) == 0 && !strings.Contains(tc.name, "duplicate") {
				t.Fatalf("no hint for %q", err)
			}
		})
	}
}

func TestYAMLFeaturesOutsideSecretsPassThrough(t *testing.T) {
	for _, src := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a}\ndata:\n  <<: {x: y}\n  z: !!str w\n---\n" + secretHead + "stringData:\n  a: b\n",
		"kind: Deployment\nspec: {template: &t {a: 1}, other: *t}\n",
		"x: &k Secret\nkind: ConfigMap\n<<: {kind: *k}\n",
		"kind: List\nx: &c {kind: ConfigMap}\nitems:\n- *c\n- {<<: *c, y: 1}\n",
		"apiVersion: v1\nkind: List\nmetadata: &m {name: x}\nitems:\n- {kind: ConfigMap, metadata: *m}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n",
		secretHead + "stringData:\n  \"<<\": a quoted key is a key\n  a: \"!!str is text\"\n",
	} {
		if _, err := Parse([]byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestEditViewAllowsBinaryDataOnly(t *testing.T) {
	st, err := ParseView([]byte(secretHead + "data:\n  a: !!binary AAEC\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EncodeShown(st.Secrets[0].Values[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(st.Bytes()); err != nil {
		t.Fatalf("encoded view does not parse: %v\n%s", err, st.Bytes())
	}
	for _, src := range []string{
		secretHead + "stringData:\n  a: !!binary AAEC\n",
		secretHead + "data:\n  a: !!str AAEC\n",
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: !!binary AAEC\n",
	} {
		if _, err := ParseView([]byte(src)); err == nil || !strings.Contains(err.Error(), "explicit YAML tag") {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestDuplicateScopes(t *testing.T) {
	s := func(ns, name string) string {
		out := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n"
		if ns != "" {
			out += "  namespace: " + ns + "\n"
		}
		return out + "stringData: {a: b}\n"
	}
	_, err := Parse([]byte(s("prod", "db") + "---\n" + s("dev", "db") + "---\n" + s("prod", "db")))
	var dup *DuplicateScopeError
	if !errors.As(err, &dup) || !errors.Is(err, crypto.ErrIntegrity) || !errors.Is(err, ErrBadInput) {
		t.Fatalf("got %v", err)
	}
	if want := "Secret prod/db is defined twice, at line 1 and at line 15"; !strings.Contains(err.Error(), want) {
		t.Fatalf("%q does not say %q", err, want)
	}
	list := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: x}\n- kind: Secret\n  metadata: {name: x}\n"
	if _, err := Parse([]byte(list)); !errors.As(err, &dup) || dup.Second.Line != 7 {
		t.Fatalf("List: %v", err)
	}
	// Same name elsewhere, no namespace vs a namespace, unnamed Secrets: fine.
	ok := s("prod", "db") + "---\n" + s("dev", "db") + "---\n" + s("", "db") + "---\n" + s("default", "db") +
		"---\nkind: Secret\nmetadata: {generateName: x-}\n---\nkind: Secret\nmetadata: {generateName: x-}\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}
