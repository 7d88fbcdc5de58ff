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
