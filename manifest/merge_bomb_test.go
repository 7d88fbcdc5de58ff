package manifest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A non-Secret document may use merge keys, but resolving kind, apiVersion
// and items through ten merged aliases of ten merged aliases of … took
// exponential time (the outside review's file hung ksec). Every mapping is
// now looked into once per key.
func TestMergeKeyBombInOtherDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: b\n---\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nanchors:\n  a0: &a0 {x: 1}\n")
	for i := 1; i <= 12; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "  a%d: &a%d {<<: [%s]}\n", i, i, refs)
	}
	b.WriteString("<<: [" + strings.TrimSuffix(strings.Repeat("*a12, ", 10), ", ") + "]\n")
	done := make(chan error, 1)
	go func() {
		st, err := Parse([]byte(b.String()))
		if err == nil && len(st.Secrets) != 1 {
			err = fmt.Errorf("%d Secrets, want 1", len(st.Secrets))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parsing a merge-key bomb in a ConfigMap did not finish in 10s")
	}
}
