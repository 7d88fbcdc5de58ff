package envelope

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/forge"
	"github.com/ksec-dev/ksec/manifest"
)

// indentLines indents every line of src by pad, the first by first.
func indentLines(src []byte, first, pad string) string {
	var b strings.Builder
	for i, l := range strings.SplitAfter(strings.TrimSuffix(string(src), "\n"), "\n") {
		if i == 0 {
			b.WriteString(first)
		} else {
			b.WriteString(pad)
		}
		b.WriteString(l)
	}
	return b.String() + "\n"
}

// An encrypted Secret whose kind was changed so that ksec no longer sees it
// as a Secret must not pass through as ciphertext with success: a ksec
// block anywhere outside a Secret is refused, wherever a layout change put
// it (found by an outside review: only the top level of documents and of
// List items was looked at).
func TestStrayKsecBlocksAreRefused(t *testing.T) {
	src, kr := forgeOne(t, forge.Value{Field: "stringData", Key: "password", Payload: []byte("hunter2")})
	for name, file := range map[string]string{
		// A List header put above the Secret, whose first line became the
		// only item: the ksec block is now a key of the List itself.
		"ksec block of a List": "apiVersion: v1\nkind: List\nitems:\n- kind: Secret\n" +
			strings.Replace(string(src), "apiVersion: v1\nkind: Secret\n", "", 1),
		// The Secret as an item of a List inside a List.
		"Secret in a nested List": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n" +
			indentLines(src, "  - ", "    "),
		// The Secret as a mapping under another object's key.
		"Secret under a key": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n" + indentLines(src, "  ", "  "),
		// The Secret in a List item that is not a Secret.
		"Secret under a List item's key": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  spec:\n" +
			indentLines(src, "    ", "    "),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := decryptBytes([]byte(file), kr)
			if !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "a ksec block in a document that is not a v1 Secret") {
				t.Fatalf("decrypt: err = %v, want a stray ksec block refused; output:\n%s", err, out)
			}
			st, err := manifest.Parse([]byte(file))
			if err != nil {
				t.Fatal(err)
			}
			if err := Encrypt(context.Background(), st, kr, Recipients{Rotate: true}); !errors.Is(err, crypto.ErrIntegrity) {
				t.Errorf("encrypt --rotate: err = %v, want an integrity failure", err)
			}
		})
	}
	// A key named ksec that is no ksec block (no mac) stays readable.
	plain := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  nested:\n    ksec: x\n"
	out, err := decryptBytes([]byte(plain), kr)
	if err != nil || string(out) != plain {
		t.Fatalf("decrypt of a ConfigMap with a ksec key: err = %v, out:\n%s", err, out)
	}
}
