package kustomizefn

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

const dbSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  annotations:
    kustomize.config.k8s.io/needs-hash: "true"
# a comment
data:
  password: aHVudGVyMg==
stringData:
  user: "admin"
  multi: |
    line one
    line two
`

const apiSecret = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: api
  stringData:
    token: tok-1234
`

type fixture struct {
	dir string
	id  *age.X25519Identity
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: t.TempDir(), id: id}
}

func (f *fixture) write(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) encrypt(t *testing.T, name, plain string) {
	t.Helper()
	st, err := manifest.Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	r, err := kr.ParseRecipient(context.Background(), f.id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := envelope.Encrypt(context.Background(), st, kr, envelope.Recipients{Set: []keyring.Recipient{r}}); err != nil {
		t.Fatal(err)
	}
	f.write(t, name, string(st.Bytes()))
}

func (f *fixture) options(key *age.X25519Identity) Options {
	return Options{Dir: f.dir, MaxSize: 1 << 20, Warn: &bytes.Buffer{}, Decrypter: func() (Decrypter, error) {
		kr := keyring.New([]keyring.Provider{keyring.NewAge()}, []keyring.Identity{mustIdentity(key)})
		return func(ctx context.Context, st *manifest.Stream) error {
			_, err := envelope.Decrypt(ctx, st, kr)
			return err
		}, nil
	}}
}

func mustIdentity(id *age.X25519Identity) keyring.Identity {
	k, err := keyring.ParseIdentityString(id.String(), "TEST_KEY")
	if err != nil {
		panic(err)
	}
	return k
}

// input is the ResourceList kustomize writes for a generator whose
// configuration lists files.
func input(files ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: ksec.dev/v1alpha1\n  kind: SecretDecryptor\n  metadata:\n    name: secrets\n    annotations:\n      config.kubernetes.io/local-config: \"true\"\n  files:\n")
	for _, f := range files {
		b.WriteString("  - " + f + "\n")
	}
	b.WriteString("functionConfig:\n  apiVersion: ksec.dev/v1alpha1\n  kind: SecretDecryptor\n  metadata:\n    name: secrets\n  files:\n")
	for _, f := range files {
		b.WriteString("  - " + f + "\n")
	}
	return b.String()
}

func generate(t *testing.T, in string, opts Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Generate(context.Background(), strings.NewReader(in), &out, opts)
	if err != nil && out.Len() > 0 {
		t.Errorf("output written despite the error %v", err)
	}
	return out.String(), err
}

func TestGenerate(t *testing.T) {
	f := newFixture(t)
	f.encrypt(t, "secrets/db.yaml", dbSecret)
	f.encrypt(t, "api.yaml", apiSecret)
	out, err := generate(t, input("secrets/db.yaml", "./api.yaml"), f.options(f.id))
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: db
      namespace: prod
      annotations:
        kustomize.config.k8s.io/needs-hash: "true"
        ksec.dev/sealed-for: prod/db
    data:
      password: aHVudGVyMg==
    stringData:
      user: "admin"
      multi: |
        line one
        line two
  - apiVersion: v1
    kind: Secret
    metadata:
      name: api
      annotations:
        ksec.dev/sealed-for: api
    stringData:
      token: tok-1234
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestGenerateRefuses(t *testing.T) {
	f := newFixture(t)
	f.encrypt(t, "db.yaml", dbSecret)
	f.write(t, "plain.yaml", dbSecret)
	f.write(t, "mixed.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n")
	f.write(t, "sops.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]\nsops:\n  mac: abc\n  version: 3.8.1\n")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "x.yaml"), []byte(dbSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "x.yaml"), filepath.Join(f.dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	enc, err := os.ReadFile(filepath.Join(f.dir, "db.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "renamed.yaml", strings.Replace(string(enc), "name: db", "name: db2", 1))
	f.write(t, "dup.yaml", string(enc))
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		in    string
		key   *age.X25519Identity
		is    error
		match string
	}{
		{"absolute path", input("/etc/passwd"), f.id, manifest.ErrBadInput, "/etc/passwd: an absolute path"},
		{"dot-dot", input("a/../../x.yaml"), f.id, manifest.ErrBadInput, `a/../../x.yaml: ".." leads out`},
		{"dot-dot inside", input("secrets/../db.yaml"), f.id, manifest.ErrBadInput, `".." leads out`},
		{"symlink out", input("link.yaml"), f.id, manifest.ErrBadInput, "link.yaml: .*symlink that leads out"},
		{"symlinked directory out", input("linkdir/x.yaml"), f.id, manifest.ErrBadInput, "linkdir/x.yaml: .*symlink that leads out"},
		{"missing file", input("nope.yaml"), f.id, os.ErrNotExist, "^nope.yaml: no such file"},
		{"plain Secret", input("plain.yaml"), f.id, manifest.ErrBadInput, `plain.yaml: document 1 \(Secret prod/db\): bad input: not encrypted`},
		{"other objects", input("mixed.yaml"), f.id, manifest.ErrBadInput, "mixed.yaml: document 1: line 1: bad input: holds a ConfigMap, not an apiVersion: v1 Secret"},
		{"SOPS file", input("sops.yaml"), f.id, manifest.ErrBadInput, "sops.yaml: bad input: .*SOPS"},
		{"wrong key", input("db.yaml"), other, keyring.ErrNoIdentity, "db.yaml: document 1 \\(Secret prod/db\\): "},
		{"renamed Secret", input("renamed.yaml"), f.id, crypto.ErrIntegrity, "renamed.yaml: document 1 \\(Secret prod/db2\\): "},
		{"same Secret twice", input("db.yaml", "dup.yaml"), f.id, manifest.ErrBadInput, "dup.yaml: bad input: document 1 \\(Secret prod/db\\): the same Secret as in db.yaml"},
		{"not a ResourceList", "apiVersion: v1\nkind: Secret\n", f.id, manifest.ErrBadInput, "not a KRM ResourceList"},
		{"no files", strings.Replace(input("db.yaml"), "functionConfig:\n  apiVersion: ksec.dev/v1alpha1\n  kind: SecretDecryptor\n  metadata:\n    name: secrets\n  files:\n  - db.yaml\n", "functionConfig:\n  apiVersion: ksec.dev/v1alpha1\n  kind: SecretDecryptor\n", 1), f.id, manifest.ErrBadInput, "lists no files"},
		{"typo", strings.Replace(input("db.yaml"), "  name: secrets\n  files:\n  - db.yaml\n", "  name: secrets\n  file:\n  - db.yaml\n", 1), f.id, manifest.ErrBadInput, `unknown field "file"`},
		{"transformer", strings.Replace(input("db.yaml"), "items:\n", "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n", 1), f.id, manifest.ErrBadInput, "run as a transformer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := generate(t, tc.in, f.options(tc.key))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			line := OneLine(err).Error()
			if strings.Contains(line, "\n") || !matches(tc.match, line) {
				t.Errorf("error %q does not match %q", line, tc.match)
			}
			if strings.Contains(line, "hunter2") || strings.Contains(line, "aHVudGVyMg") || strings.Contains(line, "admin") {
				t.Errorf("error holds a value: %s", line)
			}
		})
	}
}

func matches(re, s string) bool {
	ok, err := regexpMatch(re, s)
	return err == nil && ok
}

func TestOneLine(t *testing.T) {
	err := hint.Wrap(&manifest.Error{Err: crypto.ErrIntegrity}, "first\nadvice", "second")
	one := OneLine(err)
	if got, want := one.Error(), "integrity check failed (hint: first advice; second)"; !strings.HasSuffix(got, want[strings.Index(want, "("):]) {
		t.Errorf("OneLine: %q", got)
	}
	if !errors.Is(one, crypto.ErrIntegrity) || len(hint.All(one)) != 0 {
		t.Errorf("OneLine lost errors.Is or kept the hints")
	}
	var me *manifest.Error
	if !errors.As(one, &me) {
		t.Errorf("OneLine lost errors.As")
	}
}

func TestWalkAndVerify(t *testing.T) {
	f := newFixture(t)
	f.encrypt(t, "base/db.yaml", dbSecret)
	f.encrypt(t, "base/api.yaml", apiSecret)
	f.write(t, "base/gen.yaml", "apiVersion: ksec.dev/v1alpha1\nkind: SecretDecryptor\nmetadata:\n  name: s\nfiles: [db.yaml, api.yaml]\n")
	f.write(t, "base/kustomization.yaml", "generators: [gen.yaml]\n")
	f.write(t, "overlay/kustomization.yaml", "resources:\n- ../base\n- https://example.invalid/remote?ref=v1\n")
	f.write(t, "kustomization.yaml", "resources: [base]\nnamePrefix: x-\n")
	t.Chdir(f.dir)
	exp, err := Walk(".", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range exp {
		got = append(got, e.Generator+" "+e.File+" "+e.SealedFor())
	}
	if want := "base/gen.yaml base/db.yaml prod/db|base/gen.yaml base/api.yaml api"; strings.Join(got, "|") != want {
		t.Fatalf("Walk: %q, want %q", strings.Join(got, "|"), want)
	}
	secret := func(ns, name, sealed string) string {
		s := "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n"
		if ns != "" {
			s += "  namespace: " + ns + "\n"
		}
		if sealed != "" {
			s += "  annotations:\n    ksec.dev/sealed-for: " + sealed + "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name, out, want string
	}{
		{"complete", secret("prod", "x-db-5h8", "prod/db") + secret("prod", "x-api", "api") + "---\napiVersion: v1\nkind: ConfigMap\n", ""},
		{"generator skipped", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n", "Secret prod/db from base/db.yaml (base/gen.yaml) is missing from the build output: was kustomize run with both --enable-alpha-plugins and --enable-exec?; Secret api from base/api.yaml (base/gen.yaml) is missing"},
		{"moved to another namespace", secret("staging", "x-db", "prod/db") + secret("staging", "x-api", "api"), "Secret prod/db from base/db.yaml (base/gen.yaml) was sealed for namespace prod but is built into namespace \"staging\" as x-db: an overlay moved it"},
		{"twice", secret("prod", "a", "prod/db") + secret("prod", "b", "prod/db") + secret("", "api", "api"), "is in the build output 2 times"},
		{"still encrypted", secret("prod", "x-db", "prod/db") + secret("", "api", "api") + "ksec:\n  version: 1\n", "document 2 (Secret api) still holds a ksec block"},
		{"generator as resource", secret("prod", "x-db", "prod/db") + secret("", "api", "api") + "---\napiVersion: ksec.dev/v1alpha1\nkind: SecretDecryptor\nmetadata:\n  name: s\n", "document 3 is the SecretDecryptor s itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyError([]byte(tc.out), exp)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrVerify)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A generator listed under resources: is refused by the walk itself.
	f.write(t, "bad/kustomization.yaml", "resources: [gen.yaml]\n")
	f.write(t, "bad/gen.yaml", "apiVersion: ksec.dev/v1alpha1\nkind: SecretDecryptor\nmetadata:\n  name: s\nfiles: [x.yaml]\n")
	if _, err := Walk("bad", 1<<20); err == nil || !strings.Contains(err.Error(), "bad/gen.yaml: a SecretDecryptor listed under resources:") {
		t.Errorf("Walk of a generator under resources: %v", err)
	}
}

func TestResourceListReadBack(t *testing.T) {
	// Values YAML could read as something else keep their type through
	// the encoder (the read-back would fail otherwise).
	var n yaml.Node
	src := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: \"yes\"\n  b: \"0x10\"\n  c: \"\"\n  d: \"  lead\"\n  e: \"a: b\"\n  f: \"#x\"\n  g: \"null\"\n"
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	out, err := resourceList([]*yaml.Node{n.Content[0]})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Items []struct {
			StringData map[string]string `yaml:"stringData"`
		} `yaml:"items"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "yes", "b": "0x10", "c": "", "d": "  lead", "e": "a: b", "f": "#x", "g": "null"}
	for k, v := range want {
		if back.Items[0].StringData[k] != v {
			t.Errorf("%s: %q, want %q", k, back.Items[0].StringData[k], v)
		}
	}
}

func regexpMatch(re, s string) (bool, error) { return regexp.MatchString(re, s) }

func TestGenerateTotalSize(t *testing.T) {
	f := newFixture(t)
	var files []string
	size := int64(0)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		f.encrypt(t, n+".yaml", strings.Replace(dbSecret, "name: db", "name: "+n, 1))
		files = append(files, n+".yaml")
		st, err := os.Stat(filepath.Join(f.dir, n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		size = max(size, st.Size())
	}
	opts := f.options(f.id)
	opts.MaxSize = size // each file fits; five of them do not
	_, err := generate(t, input(files...), opts)
	if !errors.Is(err, manifest.ErrBadInput) || !strings.Contains(err.Error(), "hold more than") {
		t.Errorf("five files over the total: %v", err)
	}
	if _, err := generate(t, input(files[:4]...), opts); err != nil {
		t.Errorf("four files within the total: %v", err)
	}
}
