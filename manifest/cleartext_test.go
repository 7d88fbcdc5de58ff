package manifest

import (
	"encoding/base64"
	"testing"
)

// decrypt -x moves text data values to stringData. It must neither crash
// when stringData comes before data (two edits at one offset) nor write a
// value plain that Kubernetes' YAML reads as a bool or a number (the API
// server would refuse the Secret).
func TestShowDataAsStringData(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for name, c := range map[string]struct{ in, want string }{
		"stringData before data": {
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: b\ndata:\n  k: " + b64("x") + "\n",
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: b\n  k: x\n",
		},
		"words and numbers quoted": {
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  a: " + b64("yes") + "\n  b: " + b64("0x10") + "\n  c: " + b64("On") +
				"\n  d: " + b64("1_000") + "\n  e: " + b64(".5") + "\n  f: " + b64("true") + "\n  g: " + b64("-1") + "\n  h: " + b64("plain-text") + "\n",
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: \"yes\"\n  b: \"0x10\"\n  c: \"On\"\n  d: \"1_000\"\n  e: \".5\"\n  f: \"true\"\n  g: \"-1\"\n  h: plain-text\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			st.ShowDataAsStringData(st.Secrets[0])
			if got := string(st.Bytes()); got != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
