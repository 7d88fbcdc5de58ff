package forge_test

import (
	"context"
	"testing"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/forge"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// A file forged with benign payloads is one ksec reads: the spec in
// docs/FORMAT.md is enough to write it.
func TestForgedBenignFileDecrypts(t *testing.T) {
	r, idFile := forge.AgeKey(t)
	file := forge.Secret(t, []keyring.Recipient{r}, "ns", "db", []forge.Value{
		{Field: "data", Key: "user", Payload: []byte("admin"), Form: 1},
		{Field: "stringData", Key: "password", Payload: []byte("it's a secret"), Form: 0, Style: 1},
		{Field: "stringData", Key: "script", Payload: []byte("#!/bin/sh\necho hi\n"), Form: 0, Style: 3},
		{Field: "stringData", Key: "empty", Payload: []byte("~"), Form: 2},
	})
	st, err := manifest.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.Decrypt(context.Background(), st, forge.Keyring(idFile)); err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: ns
data:
  user: YWRtaW4=
stringData:
  password: 'it''s a secret'
  script: |
    #!/bin/sh
    echo hi
  empty: ~
`
	if got := string(st.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
