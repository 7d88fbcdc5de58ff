package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const token = "ENC[ksec.v1,LVhPGQLnqqtpIsq9F9vmSeC--hRoyxRBSog44h082OLHQvoK91MPdKxKJajIMBnbdcUR3Ktc--mYD2c9]"

func readTestdata(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckSource(t *testing.T) {
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n"
	tests := []struct {
		name, base, src string
		want            []Problem // Message not compared when empty
		note            string
	}{
		{name: "plain", base: "s.yaml", src: secret + "stringData:\n  password: hunter2\n  user: admin\n",
			want: []Problem{{Kind: KindPlain, Line: 7, Secret: "prod/db", Keys: []string{"stringData.password", "stringData.user"},
				Message: "plaintext stringData.password, stringData.user"}}},
		{name: "encrypted", base: "s.yaml", src: readTestdata(t, "encrypted.yaml")},
		{name: "partial", base: "s.yaml", src: readTestdata(t, "partial.yaml"),
			want: []Problem{{Kind: KindPartial, Line: 8, Secret: "prod/db", Keys: []string{"stringData.user", "stringData.extra"},
				Message: "partially encrypted: plaintext stringData.user, stringData.extra"}}},
		{name: "sealed without block", base: "s.yaml", src: secret + "stringData:\n  password: " + token + "\n",
			want: []Problem{{Kind: KindPartial, Line: 1, Secret: "prod/db", Keys: []string{}}}},
		{name: "null value and no values", base: "s.yaml", src: secret + "data:\n  a:\n---\n" + strings.Replace(secret, "db", "other", 1)},
		{name: "second document of a stream", base: "s.yaml",
			src:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\n" + secret + "data:\n  k: aHVudGVyMg==\n",
			want: []Problem{{Kind: KindPlain, Line: 12, Secret: "prod/db", Keys: []string{"data.k"}}}},
		{name: "list in JSON", base: "l.json",
			src:  `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"data":{"k":"aHVudGVyMg=="}}]}`,
			want: []Problem{{Kind: KindPlain, Line: 1, Secret: "j", Keys: []string{"data.k"}}}},
		{name: "configmap", base: "c.yaml", src: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {password: hunter2}\n"},
		{name: "CI file", base: "ci.yml", src: "on: push\njobs:\n  x:\n    steps: [{run: make}]\n"},
		{name: "helm values", base: "values.yaml", src: "image: nginx\npassword: \"\"\n"},
		{name: "not YAML, no Secret", base: "x.json", src: "{ // comment\n"},
		{name: "template naming a Secret", base: "t.yaml", src: secret + "stringData:\n  a: {{ .Values.a | quote }}\n",
			want: []Problem{{Kind: KindBadInput, Keys: []string{}}}},
		{name: "kustomization without generator", base: "kustomization.yaml", src: "resources: [a.yaml]\nconfigMapGenerator:\n- name: c\n  literals: [a=b]\n"},
		{name: "kustomization with generator", base: "kustomization.yaml",
			src: "resources: [a.yaml]\nsecretGenerator:\n- name: gen\n  namespace: ns\n  literals:\n  - API_KEY=topsecret\n  - B=x=y\n  envs: [.env]\n  files: [tls.key, cert=tls.crt]\n- name: ok\n  behavior: merge\n",
			want: []Problem{{Kind: KindGenerator, Line: 3, Secret: "ns/gen",
				Keys:    []string{"literals.API_KEY", "literals.B", "envs..env", "files.tls.key", "files.cert=tls.crt"},
				Message: "literals API_KEY, B are plaintext in git; envs .env read plaintext files; files tls.key, cert=tls.crt read plaintext files (generate the Secret with ksec instead)"}}},
		{name: "kustomize component elsewhere", base: "comp.yaml",
			src:  "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nsecretGenerator:\n- name: g\n  literals: [K=v]\n",
			want: []Problem{{Kind: KindGenerator, Line: 4, Secret: "g", Keys: []string{"literals.K"}}}},
		{name: "secretGenerator key in a values file", base: "values.yaml", src: "secretGenerator:\n- name: g\n  literals: [K=v]\n"},
		{name: "sops file", base: "s.yaml", src: secret + "data:\n  a: ENC[AES256_GCM,data:abcd,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops:\n  version: 3.8.1\n",
			note: "encrypted by another tool (sops), not checked further"},
		{name: "control characters in a key", base: "s.yaml", src: secret + "stringData:\n  \"a\\e[2J\": v\n",
			want: []Problem{{Kind: KindPlain, Line: 7, Secret: "prod/db", Keys: []string{`stringData.a\x1b[2J`}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, note := checkSource(tt.base, []byte(tt.src))
			if note != tt.note {
				t.Errorf("note = %q, want %q", note, tt.note)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if w.Message == "" {
					g.Message = ""
				}
				if g.Kind != w.Kind || g.Line != w.Line || g.Secret != w.Secret || !slices.Equal(g.Keys, w.Keys) || g.Message != w.Message {
					t.Errorf("problem %d = %+v, want %+v", i, g, w)
				}
			}
			for _, p := range got {
				for _, v := range []string{"hunter2", "aHVudGVyMg==", "topsecret", "admin", "plainvalue", "x=y"} {
					if strings.Contains(p.Message, v) || slices.Contains(p.Keys, v) {
						t.Errorf("problem shows the value %q: %+v", v, p)
					}
				}
			}
		})
	}
}

func TestRunFilesDirsAndTempFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: hunter2}\n"
	ok := write("ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
	write(".ok.yaml.ksec-tmp-abc123", plain)
	second := write("second.yaml", plain)
	write(".second.yaml.ksec-tmp-xyz789", plain)
	write(".other.yaml.ksec-tmp-abc123", plain) // not beside a named file
	write(".ok.yaml.ksec-tmp-ABC123", plain)    // not ksec's pattern
	write("sub/p.yml", plain)
	write(".git/p.yaml", plain) // hidden directory: passed over
	write("sub/README.md", plain)

	r, err := Run(Options{Files: []string{ok, ok}})
	if err != nil {
		t.Fatal(err)
	}
	if got := files(r); !slices.Equal(got, []string{ok, filepath.Join(dir, ".ok.yaml.ksec-tmp-abc123")}) {
		t.Errorf("files: got %q", got)
	}
	if !r.Failed() || r.Count(KindTempFile) != 1 || r.Count() != 1 {
		t.Errorf("report: %+v", r)
	}
	// Two files of one directory: the temporary files of both.
	r, err = Run(Options{Files: []string{ok, second}})
	if err != nil {
		t.Fatal(err)
	}
	if got := files(r); !slices.Equal(got, []string{ok, second, filepath.Join(dir, ".ok.yaml.ksec-tmp-abc123"), filepath.Join(dir, ".second.yaml.ksec-tmp-xyz789")}) {
		t.Errorf("files: got %q", got)
	}
	if r.Count(KindTempFile) != 2 || r.Count(KindPlain) != 1 {
		t.Errorf("report: %+v", r)
	}

	var skipped []string
	r, err = Run(Options{Dirs: []string{dir}, Skipped: func(p, why string) { skipped = append(skipped, p+": "+why) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, ".ok.yaml.ksec-tmp-abc123"),
		filepath.Join(dir, ".other.yaml.ksec-tmp-abc123"),
		filepath.Join(dir, ".second.yaml.ksec-tmp-xyz789"),
		ok,
		second,
		filepath.Join(dir, "sub/p.yml"),
	}
	if got := files(r); !slices.Equal(got, want) {
		t.Errorf("-R files: got %q, want %q", got, want)
	}
	if r.Count(KindTempFile) != 3 || r.Count(KindPlain) != 2 {
		t.Errorf("-R report: %+v", r)
	}
	if want := []string{filepath.Join(dir, ".git") + string(filepath.Separator) + ": hidden directory"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}

	var text, js bytes.Buffer
	if err := r.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	wantText := filepath.Join(dir, ".ok.yaml.ksec-tmp-abc123") + ": a temporary file left by an interrupted ksec write; it may hold plaintext: check it and delete it\n" +
		filepath.Join(dir, ".other.yaml.ksec-tmp-abc123") + ": a temporary file left by an interrupted ksec write; it may hold plaintext: check it and delete it\n" +
		filepath.Join(dir, ".second.yaml.ksec-tmp-xyz789") + ": a temporary file left by an interrupted ksec write; it may hold plaintext: check it and delete it\n" +
		second + ":4: Secret s: plaintext stringData.a\n" +
		filepath.Join(dir, "sub/p.yml") + ":4: Secret s: plaintext stringData.a\n"
	if text.String() != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), wantText)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Files) != 6 || !back.Files[3].OK || back.Files[4].OK {
		t.Errorf("JSON: %v %s", err, js.String())
	}
	if strings.Contains(text.String()+js.String(), "hunter2") {
		t.Error("output shows a value")
	}

	if _, err := Run(Options{Dirs: []string{filepath.Join(dir, "missing")}}); err == nil || !strings.HasPrefix(err.Error(), "-R "+filepath.Join(dir, "missing")+": ") {
		t.Errorf("missing dir: %v", err)
	}
}

func files(r *Report) []string {
	var out []string
	for _, f := range r.Files {
		out = append(out, f.File)
	}
	return out
}
