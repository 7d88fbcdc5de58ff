package manifest

import (
	"encoding/base64"
	"strings"
	"testing"
)

// A Secret's values may hold 1 MiB in all, counted as the API server
// counts: data decoded (line breaks of wrapped base64 not counted),
// stringData in place of data under the same key, encrypted values not at
// all (checked when sealed).
func TestCheckNamesSize(t *testing.T) {
	const mib = 1 << 20
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", n))) }
	wrapped := func(s string) string {
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString("    " + s[:76] + "\n")
			s = s[76:]
		}
		b.WriteString("    " + s + "\n")
		return b.String()
	}
	head := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n"
	for _, c := range []struct {
		name, src string
		ok        bool
	}{
		{"stringData 1 MiB", head + "stringData:\n  a: " + strings.Repeat("x", mib) + "\n", true},
		{"stringData 1 MiB + 1", head + "stringData:\n  a: " + strings.Repeat("x", mib+1) + "\n", false},
		{"data and stringData add up", head + "data:\n  a: " + b64(mib/2) + "\nstringData:\n  b: " + strings.Repeat("x", mib/2+1) + "\n", false},
		{"data 1 MiB, padded", head + "data:\n  a: " + b64(mib-2) + "\n  b: " + b64(2) + "\n", true},
		{"data 1 MiB + 1", head + "data:\n  a: " + b64(mib-2) + "\n  b: " + b64(3) + "\n", false},
		{"wrapped data 1 MiB", head + "data:\n  a: |\n" + wrapped(b64(mib)), true},
		{"wrapped data 1 MiB + 1", head + "data:\n  a: |\n" + wrapped(b64(mib+1)), false},
		// The server keeps the stringData value of a key in both.
		{"stringData replaces data", head + "data:\n  a: " + b64(mib) + "\nstringData:\n  a: small\n", true},
		{"stringData replaces data, first", head + "stringData:\n  a: small\ndata:\n  a: " + b64(mib) + "\n", true},
		{"encrypted values not counted", head + "stringData:\n  a: ENC[ksec.v1," + strings.Repeat("A", mib+10) + "]\n  b: x\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := Parse([]byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			err = st.CheckNames()
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "the API server refuses more than 1048576 bytes (1 MiB)") {
				t.Fatalf("error: %v", err)
			}
		})
	}
}
