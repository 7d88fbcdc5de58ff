package foreign

import (
	"os"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		file   string
		format Format
		line   int
		marker string
	}{
		{"sops.yaml", SOPS, 11, "a sops: metadata block"},
		{"sops-all.yaml", SOPS, 8, "a sops: metadata block"},
		{"sops.json", SOPS, 12, "a sops: metadata block"},
		{"kubesec-v1.yaml", Kubesec, 9, "a # kubesec:v: footer"},
		{"kubesec-v3.yaml", Kubesec, 10, "a # kubesec:v: footer"},
		{"kubesec-v4.yaml", Kubesec, 8, "a # kubesec:v: footer"},
	} {
		src, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		f := Detect(src)
		if f == nil || f.Format != tc.format || f.Line != tc.line || f.Marker != tc.marker {
			t.Errorf("%s: got %+v, want %s at line %d", tc.file, f, tc.format, tc.line)
		}
		// Without its sops block a SOPS file is still known by its values.
		if tc.format == SOPS {
			cut := strings.Index(string(src), "sops")
			if f := Detect(src[:cut]); f == nil || f.Format != SOPS || f.Marker != "an ENC[AES256_GCM,…] value" {
				t.Errorf("%s without its sops block: got %+v", tc.file, f)
			}
		}
	}
}

func TestDetectDoesNotMisfire(t *testing.T) {
	src, err := os.ReadFile("testdata/not-foreign.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		string(src),
		"kind: Secret\nstringData:\n  a: ENC[ksec.v1,AAAA]\nksec: {version: 1}\n",
		"# kubesec:v:3\nkind: Secret\n", // a version line alone
		"sops: {mac: x}\n",              // no version
		"x:\n  sops: {mac: x, version: 1}\n",
		"not: [valid: yaml\nsops:\n",
	} {
		if f := Detect([]byte(s)); f != nil {
			t.Errorf("%q: detected %+v", s, f)
		}
	}
}

func TestMessages(t *testing.T) {
	f := &Finding{Format: SOPS, Line: 3, Marker: "a sops: metadata block"}
	if got, want := f.String(), "a SOPS-encrypted file (a sops: metadata block at line 3), not a ksec file"; got != want {
		t.Errorf("got %q", got)
	}
	if h := f.Hints("s.yaml"); len(h) != 1 || !strings.Contains(h[0], "ksec import -i s.yaml") {
		t.Errorf("hints %q", h)
	}
	k := &Finding{Format: Kubesec, Line: 9, Marker: "a # kubesec:v: footer"}
	if h := k.Hints("k.yaml"); len(h) != 1 || !strings.Contains(h[0], "ksec encrypt -i k.yaml") {
		t.Errorf("hints %q", h)
	}
}

// FuzzDetect: Detect never panics, and a finding points at a line of src.
func FuzzDetect(f *testing.F) {
	for _, name := range []string{"sops.yaml", "sops.json", "kubesec-v3.yaml", "not-foreign.yaml"} {
		src, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if d := Detect(src); d != nil && (d.Line < 1 || d.Line > strings.Count(string(src), "\n")+1) {
			t.Fatalf("finding %+v outside the input", d)
		}
	})
}
