package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/ksec-dev/ksec/internal/kubetest"
	"github.com/ksec-dev/ksec/manifest"
)

// These tests apply what ksec writes to a real Kubernetes API server
// (internal/kubetest; one per test binary, a namespace per test) and read
// back what the server stored: `ksec decrypt | kubectl apply -f -` must
// store exactly the values of the manifest that was encrypted.

// kube is one test's view of the shared server: its own namespace, and a
// kubeconfig whose default namespace is that one, so that the manifests'
// Secrets without a namespace land there.
type kube struct {
	*kubetest.Server
	t          *testing.T
	ns         string
	kubeconfig string
}

func newKube(t *testing.T) *kube {
	t.Helper()
	s := kubetest.Shared(t)
	k := &kube{Server: s, t: t, ns: s.Namespace(t)}
	cfg, err := os.ReadFile(s.Kubeconfig)
	must(t, err)
	if !bytes.Contains(cfg, []byte("\n    namespace: default\n")) {
		t.Fatalf("the harness's kubeconfig has no default namespace line:\n%s", cfg)
	}
	cfg = bytes.Replace(cfg, []byte("\n    namespace: default\n"), []byte("\n    namespace: "+k.ns+"\n"), 1)
	k.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	must(t, os.WriteFile(k.kubeconfig, cfg, 0o600))
	return k
}

// kubectl runs kubectl in the test's namespace; a failure fails the test.
func (k *kube) kubectl(stdin []byte, args ...string) []byte {
	k.t.Helper()
	return k.Kubectl(k.t, stdin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
}

// kubectlResult runs kubectl in the test's namespace.
func (k *kube) kubectlResult(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	return k.KubectlResult(stdin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
}

// explicitNamespaces guards the namespaces that fixtures name themselves
// (shared by every test of the binary): created once each.
var explicitNamespaces sync.Map

func (k *kube) ensureNamespace(ns string) {
	k.t.Helper()
	if ns == k.ns {
		return
	}
	once, _ := explicitNamespaces.LoadOrStore(ns, &sync.Once{})
	once.(*sync.Once).Do(func() {
		out, stderr, err := k.kubectlResult(nil, "create", "namespace", ns)
		if err != nil && !bytes.Contains(stderr, []byte("AlreadyExists")) {
			k.t.Fatalf("kubectl create namespace %s: %v\n%s%s", ns, err, out, stderr)
		}
	})
}

// storedSecret is a Secret as the server holds it.
type storedSecret struct {
	Type string
	Data map[string][]byte
}

// get reads Secrets back from the server, keyed "namespace/name".
func (k *kube) get(ids []string) map[string]storedSecret {
	k.t.Helper()
	got := map[string]storedSecret{}
	for _, id := range ids {
		ns, name, _ := strings.Cut(id, "/")
		out := k.kubectl(nil, "get", "secret", "-n", ns, name, "-o", "json")
		var obj struct {
			Type string
			Data map[string][]byte // base64 in JSON, decoded by encoding/json
		}
		must(k.t, json.Unmarshal(out, &obj))
		got[id] = storedSecret{Type: obj.Type, Data: obj.Data}
	}
	return got
}

// wantSecret is a Secret of a manifest as the server will store it:
// data decoded, stringData merged over it.
type wantSecret struct {
	ID   string // namespace/name
	Type string
	Data map[string][]byte
	// Refused says why the API server refuses the Secret, if it does.
	Refused string
}

// expectedSecrets reads a plaintext manifest as kubectl and the API server
// do: documents split at "---" lines, each read as YAML (JSON is YAML),
// List items taken one by one, objects without a namespace put in ns.
func expectedSecrets(t *testing.T, manifest []byte, ns string) []wantSecret {
	t.Helper()
	var want []wantSecret
	var add func(obj map[string]any)
	add = func(obj map[string]any) {
		kind, _ := obj["kind"].(string)
		if items, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
			for _, item := range items {
				m, ok := item.(map[string]any)
				if !ok {
					t.Fatalf("a List item is not an object: %v", item)
				}
				// kubectl gives the items of a typed list (SecretList)
				// without a kind the list's.
				if _, has := m["kind"]; !has && kind != "List" {
					m["kind"] = strings.TrimSuffix(kind, "List")
				}
				add(m)
			}
			return
		}
		if kind != "Secret" {
			return
		}
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		space, _ := meta["namespace"].(string)
		if space == "" {
			space = ns
		}
		w := wantSecret{ID: space + "/" + name, Type: "Opaque", Data: map[string][]byte{}}
		if typ, ok := obj["type"].(string); ok && typ != "" {
			w.Type = typ
		}
		if data, ok := obj["data"].(map[string]any); ok {
			for key, v := range data {
				s, ok := v.(string)
				if v == nil {
					continue // a null value is no value
				}
				if !ok {
					t.Fatalf("%s: data.%s is a %T, not base64 text", w.ID, key, v)
				}
				b, err := base64.StdEncoding.DecodeString(s)
				must(t, err)
				w.Data[key] = b
			}
		}
		if sd, ok := obj["stringData"].(map[string]any); ok {
			for key, v := range sd {
				switch v := v.(type) {
				case nil:
				case string:
					w.Data[key] = []byte(v)
				default:
					w.Refused = fmt.Sprintf("stringData.%s is a %T, not a string", key, v)
				}
			}
		}
		want = append(want, w)
	}
	for _, doc := range kubectlDocuments(t, manifest) {
		j, err := yaml.YAMLToJSON(doc)
		must(t, err)
		var obj map[string]any
		must(t, json.Unmarshal(j, &obj))
		if obj != nil {
			add(obj)
		}
	}
	return want
}

// kubectlDocuments splits a YAML stream as kubectl does: at lines that are
// "---" and nothing else but trailing spaces.
func kubectlDocuments(t *testing.T, manifest []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	r := bufio.NewReader(bytes.NewReader(manifest))
	for {
		line, err := r.ReadBytes('\n')
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok && strings.TrimRightFunc(string(rest), unicode.IsSpace) == "" {
			if cur.Len() > 0 {
				docs = append(docs, bytes.Clone(cur.Bytes()))
				cur.Reset()
			}
		} else {
			cur.Write(line)
		}
		if err == io.EOF {
			break
		}
		must(t, err)
	}
	if cur.Len() > 0 {
		docs = append(docs, cur.Bytes())
	}
	return docs
}

// compare checks that the server holds exactly the wanted Secrets.
func (k *kube) compare(want []wantSecret) {
	k.t.Helper()
	var ids []string
	for _, w := range want {
		ids = append(ids, w.ID)
	}
	got := k.get(ids)
	for _, w := range want {
		g := got[w.ID]
		if g.Type != w.Type {
			k.t.Errorf("%s: type %q, want %q", w.ID, g.Type, w.Type)
		}
		if diff := dataDiff(g.Data, w.Data); diff != "" {
			k.t.Errorf("%s: the server holds other values than the manifest: %s", w.ID, diff)
		}
	}
}

// dataDiff names the keys whose values differ; it never prints a value
// (these are test values, but the habit stays).
func dataDiff(got, want map[string][]byte) string {
	var problems []string
	for key, w := range want {
		g, ok := got[key]
		switch {
		case !ok:
			problems = append(problems, key+" missing")
		case !bytes.Equal(g, w):
			problems = append(problems, fmt.Sprintf("%s differs (%d bytes, want %d)", key, len(g), len(w)))
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			problems = append(problems, key+" extra")
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, ", ")
}

// kubeFixtures are the manifests under testdata that hold Secrets.
func kubeFixtures(t *testing.T) []string {
	var files []string
	for _, pattern := range []string{"testdata/manifests/*.yaml", "testdata/manifests/*.json", "testdata/examples/*.yaml"} {
		m, err := filepath.Glob(pattern)
		must(t, err)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d fixtures found", len(files))
	}
	return files
}

// Every fixture, encrypted, decrypted and applied, is stored with exactly
// the fixture's values; so is the --cleartext form of the same file.
func TestKubeFixtures(t *testing.T) {
	k := newKube(t)
	b := newBinary(t)
	idFile, recipient := b.ageKey("id")
	seen := map[string]string{} // Secret -> fixture: one fixture's apply must not hide another's
	sample := raceSample{}
	for i, file := range kubeFixtures(t) {
		plain, err := os.ReadFile(file)
		must(t, err)
		want := expectedSecrets(t, plain, k.ns)
		for _, w := range want {
			if other, dup := seen[w.ID]; dup {
				t.Fatalf("%s and %s both hold Secret %s", other, file, w.ID)
			}
			seen[w.ID] = file
		}
		if !sample.keep(i, "fixtures") {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			k := &kube{Server: k.Server, t: t, ns: k.ns, kubeconfig: k.kubeconfig}
			if len(want) == 0 {
				// A SecretList whose items have no kind: kubectl cannot
				// apply it, encrypted or not.
				_, stderr, err := k.kubectlResult(plain, "apply", "--dry-run=server", "-f", "-")
				if err == nil {
					t.Fatalf("%s holds no Secret kubectl would apply, yet it applies", file)
				}
				t.Skipf("kubectl cannot apply it as it is: %s", bytes.TrimSpace(stderr))
			}
			for _, w := range want {
				ns, _, _ := strings.Cut(w.ID, "/")
				k.ensureNamespace(ns)
			}
			src := b.file("plain-"+filepath.Base(file), plain)
			encFile := filepath.Join(b.dir, "enc-"+filepath.Base(file))
			if r := b.run(nil, nil, "encrypt", "-k", recipient, "-o", encFile, src); r.code != 0 {
				// ksec refuses what the server refuses (TestKubeVerdicts):
				// the fixture as it is must not be storable either.
				if r.code != 3 {
					t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
				}
				if _, _, err := k.kubectlResult(plain, "apply", "--dry-run=server", "-f", "-"); err == nil {
					t.Fatalf("encrypt refused what the server accepts: %s", r.stderr)
				}
				t.Skipf("refused by ksec and by the server: %s", strings.TrimSpace(r.stderr))
			}

			// Only the documents with Secrets: the fixtures' other objects
			// are not all complete (a Deployment without a spec).
			r := b.run(nil, nil, "decrypt", "--secrets-only", "-I", idFile, encFile)
			if r.code != 0 {
				t.Fatalf("decrypt: exit %d: %s", r.code, r.stderr)
			}
			if full := b.run(nil, nil, "decrypt", "-I", idFile, encFile); full.code != 0 || full.stdout != string(plain) {
				t.Fatalf("decrypt(encrypt(x)) != x: exit %d: %s", full.code, full.stderr)
			}
			for _, w := range want {
				if w.Refused != "" {
					// A value the server cannot take as it is written
					// (an unquoted true under stringData): the decrypted
					// file fails as the plaintext does, with its reason.
					_, stderr, err := k.kubectlResult([]byte(r.stdout), "apply", "-f", "-")
					if err == nil || !bytes.Contains(stderr, []byte("cannot unmarshal")) {
						t.Fatalf("%s (%s) was applied: %v\n%s", w.ID, w.Refused, err, stderr)
					}
					t.Skipf("%s: %s, refused by the server: %s", w.ID, w.Refused, bytes.TrimSpace(stderr))
				}
			}
			k.kubectl([]byte(r.stdout), "apply", "-f", "-")
			k.compare(want)

			// The cleartext form (text data values under stringData)
			// applied over it: the same values.
			r = b.run(nil, nil, "decrypt", "-x", "--secrets-only", "-I", idFile, encFile)
			if r.code != 0 {
				t.Fatalf("decrypt -x: exit %d: %s", r.code, r.stderr)
			}
			k.kubectl([]byte(r.stdout), "apply", "-f", "-")
			k.compare(want)
		})
	}
}

// ksec create, decrypted and applied, stores what kubectl create secret
// stores for the same flags on the same server.
func TestKubeCreate(t *testing.T) {
	k := newKube(t)
	b := newBinary(t)
	idFile, recipient := b.ageKey("id")
	b.file("pw.txt", []byte("hunter2-file\n"))
	b.file("bin.dat", []byte{0, 1, 2, 0xfe, 0xff, '\n', 0x80})
	b.file("app.env", []byte("# a comment\nA=hunter2-env\nB= spaced value \n\nC=\"quoted\"\n"))
	certFile, keyFile := selfSignedPair(t, b.dir)

	cases := []struct{ name, kind string }{
		{"generic", "generic"}, {"env", "generic"}, {"typed", "generic"}, {"tls", "tls"}, {"docker", "docker-registry"},
	}
	args := map[string][]string{
		"generic": {"--from-literal", "user=admin", "--from-literal", "empty=", "--from-literal", "eq=a=b",
			"--from-file", "password=pw.txt", "--from-file", "pw.txt", "--from-file", "bin.dat"},
		"env":    {"--from-env-file", "app.env"},
		"typed":  {"--type", "example.com/config", "--from-literal", "k=hunter2-literal"},
		"tls":    {"--cert", certFile, "--key", keyFile},
		"docker": {"--docker-server", "registry.example.test", "--docker-username", "ci", "--docker-password", "hunter2-docker", "--docker-email", "ci@example.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &kube{Server: k.Server, t: t, ns: k.ns, kubeconfig: k.kubeconfig}
			enc := filepath.Join(b.dir, tc.name+".enc.yaml")
			r := b.run(nil, nil, append([]string{"create", tc.kind, "ksec-" + tc.name, "-n", k.ns, "-k", recipient, "-o", enc}, args[tc.name]...)...)
			if r.code != 0 {
				t.Fatalf("ksec create: exit %d: %s", r.code, r.stderr)
			}
			r = b.run(nil, nil, "decrypt", "-I", idFile, enc)
			if r.code != 0 {
				t.Fatalf("decrypt: exit %d: %s", r.code, r.stderr)
			}
			k.kubectl([]byte(r.stdout), "apply", "-f", "-")

			// kubectl reads the files relative to its working directory.
			_, stderr, err := k.kubectlResult(nil, append([]string{"create", "secret", tc.kind, "kubectl-" + tc.name, "-n", k.ns}, absFiles(b.dir, args[tc.name])...)...)
			if err != nil {
				t.Fatalf("kubectl create secret: %v\n%s", err, stderr)
			}
			got := k.get([]string{k.ns + "/ksec-" + tc.name, k.ns + "/kubectl-" + tc.name})
			ours, theirs := got[k.ns+"/ksec-"+tc.name], got[k.ns+"/kubectl-"+tc.name]
			if ours.Type != theirs.Type {
				t.Errorf("type %q, kubectl's %q", ours.Type, theirs.Type)
			}
			if len(theirs.Data) == 0 {
				t.Fatal("kubectl's Secret is empty")
			}
			if diff := dataDiff(ours.Data, theirs.Data); diff != "" {
				t.Errorf("ksec create's Secret differs from kubectl's: %s", diff)
			}
		})
	}
}

// absFiles makes the file arguments of create flags absolute, for kubectl.
func absFiles(dir string, args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		switch out[i-1] {
		case "--from-file", "--from-env-file", "--cert", "--key":
			key, path, ok := strings.Cut(out[i], "=")
			if !ok {
				path, key = key, ""
			}
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			if key != "" {
				path = key + "=" + path
			}
			out[i] = path
		}
	}
	return out
}

// The results of patch and edit, decrypted and applied, are stored with
// the values they were given.
func TestKubePatchEdit(t *testing.T) {
	k := newKube(t)
	b := newBinary(t)
	idFile, recipient := b.ageKey("id")
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ndata:\n  keep: a2VlcA==\n  gone: Z29uZQ==\nstringData:\n  text: old text\n"
	enc := b.file("app.yaml", nil)
	b.file("app.plain.yaml", []byte(plain))
	if r := b.run(nil, nil, "encrypt", "-k", recipient, "-o", enc, filepath.Join(b.dir, "app.plain.yaml")); r.code != 0 {
		t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
	}
	b.file("cert.pem", []byte("-----BEGIN X-----\nAAAA\n-----END X-----\n"))
	apply := func() {
		t.Helper()
		r := b.run(nil, nil, "decrypt", "-I", idFile, enc)
		if r.code != 0 {
			t.Fatalf("decrypt: exit %d: %s", r.code, r.stderr)
		}
		k.kubectl([]byte(r.stdout), "apply", "-f", "-")
	}
	apply()
	k.compare([]wantSecret{{ID: k.ns + "/app", Type: "Opaque", Data: map[string][]byte{
		"keep": []byte("keep"), "gone": []byte("gone"), "text": []byte("old text"),
	}}})

	r := b.run(nil, nil, "patch", "-I", idFile, "-i", "--set", "new=new value", "--set-file", "cert=cert.pem", "--unset", "gone", enc)
	if r.code != 0 {
		t.Fatalf("patch: exit %d: %s", r.code, r.stderr)
	}
	r = b.run(nil, nil, "patch", "-I", idFile, "-i", "--string-data", "--set", "text=new text", enc)
	if r.code != 0 {
		t.Fatalf("patch --string-data: exit %d: %s", r.code, r.stderr)
	}
	apply()
	k.compare([]wantSecret{{ID: k.ns + "/app", Type: "Opaque", Data: map[string][]byte{
		"keep": []byte("keep"), "text": []byte("new text"), "new": []byte("new value"),
		"cert": []byte("-----BEGIN X-----\nAAAA\n-----END X-----\n"),
	}}})

	// edit with an editor that changes one value and adds a key.
	editor := b.file("editor.sh", []byte("#!/bin/sh\nsed -i -e 's/new text/edited text/' -e 's/^stringData:$/stringData:\\n  added: added value/' \"$1\"\n"))
	must(t, os.Chmod(editor, 0o700))
	r = b.run(nil, []string{"KSEC_EDITOR=" + editor}, "edit", "-I", idFile, enc)
	if r.code != 0 {
		t.Fatalf("edit: exit %d: %s", r.code, r.stderr)
	}
	apply()
	k.compare([]wantSecret{{ID: k.ns + "/app", Type: "Opaque", Data: map[string][]byte{
		"keep": []byte("keep"), "text": []byte("edited text"), "new": []byte("new value"), "added": []byte("added value"),
		"cert": []byte("-----BEGIN X-----\nAAAA\n-----END X-----\n"),
	}}})
}

// decrypt -R of a directory is one stream that kubectl applies in one go.
func TestKubeDecryptDir(t *testing.T) {
	k := newKube(t)
	b := newBinary(t)
	idFile, recipient := b.ageKey("id")
	dir := filepath.Join(b.dir, "deploy")
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o700))
	files := map[string]string{
		"a.yaml":       "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dir-a\nstringData:\n  k: value a\n",
		"sub/b.yaml":   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dir-b\ndata:\n  k: dmFsdWUgYg==\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dir-cm\ndata:\n  k: plain\n",
		"sub/c.json":   `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"dir-c"},"stringData":{"k":"value c"}}` + "\n",
		"d-no-nl.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dir-d\nstringData:\n  k: value d",
	}
	var want []wantSecret
	for name, content := range files {
		plain := b.file("plain-"+strings.ReplaceAll(name, "/", "-"), []byte(content))
		if r := b.run(nil, nil, "encrypt", "-k", recipient, "-o", filepath.Join(dir, name), plain); r.code != 0 {
			t.Fatalf("encrypt %s: exit %d: %s", name, r.code, r.stderr)
		}
		want = append(want, expectedSecrets(t, []byte(content), k.ns)...)
	}
	if len(want) != 4 {
		t.Fatalf("want 4 Secrets, have %d", len(want))
	}
	r := b.run(nil, nil, "decrypt", "-I", idFile, "-R", dir)
	if r.code != 0 {
		t.Fatalf("decrypt -R: exit %d: %s", r.code, r.stderr)
	}
	out := k.kubectl([]byte(r.stdout), "apply", "-f", "-")
	if n := bytes.Count(out, []byte(" created\n")); n != 5 {
		t.Fatalf("kubectl apply created %d objects, want 5:\n%s", n, out)
	}
	k.compare(want)
}

// selfSignedPair writes a throwaway certificate and its key (PEM) into dir.
func selfSignedPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "web.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	certFile = filepath.Join(dir, "tls.crt")
	keyFile = filepath.Join(dir, "tls.key")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// ksec refuses exactly the names, namespaces, keys and sizes the API server
// refuses: the same objects go to both (the server's verdict from a
// server-side dry run).
func TestKubeVerdicts(t *testing.T) {
	k := newKube(t)
	long := strings.Repeat
	type tc struct {
		field string // "name", "namespace", "key" or "size"
		value string
		size  int // for "size": bytes of one stringData value
	}
	var cases []tc
	for _, v := range []string{"db", "db-1.example.com", "0", long("a", 253), long("a", 254), "Db", "-db", "db.", "a..b", "a.-b", "db_1", "db.-x", "x" + long(".a", 126)} {
		cases = append(cases, tc{field: "name", value: v})
	}
	for _, v := range []string{"password", "tls.crt", ".dockerconfigjson", "API_KEY-2", "a..b", "..x", "...", long("k", 253), long("k", 254), ".", "..", "api key!", "a/b", "clé", "-", "_", "1", "a:b"} {
		cases = append(cases, tc{field: "key", value: v})
	}
	for _, v := range []string{"prod-eu", long("n", 63), long("n", 64), "a.b", "Prod", "prod-", "0", "-a", "a_b"} {
		cases = append(cases, tc{field: "namespace", value: v})
	}
	for _, n := range []int{1 << 20, 1<<20 + 1} {
		cases = append(cases, tc{field: "size", size: n})
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, c := range cases {
		name, ns, key, value := "verdict", k.ns, "k", "v"
		switch c.field {
		case "name":
			name = c.value
		case "namespace":
			ns = c.value
		case "key":
			key = c.value
		case "size":
			value = strings.Repeat("x", c.size)
		}
		doc := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + q(name) + "\n  namespace: " + q(ns) + "\nstringData:\n  " + q(key) + ": " + q(value) + "\n"
		label := c.field + "=" + c.value
		if len(label) > 40 {
			label = fmt.Sprintf("%s=%s…(%d)", c.field, c.value[:10], len(c.value))
		}
		if c.field == "size" {
			label = fmt.Sprintf("size=%d", c.size)
		}
		t.Run(label, func(t *testing.T) {
			st, err := manifest.Parse([]byte(doc))
			must(t, err)
			ours := st.CheckNames()

			var serverErr []byte
			var refused error
			if c.field == "namespace" {
				// A Secret in a namespace that cannot exist: the namespace's
				// own name is what the server checks.
				nsDoc := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + q(c.value) + "\n"
				_, serverErr, refused = k.kubectlResult([]byte(nsDoc), "create", "--dry-run=server", "-f", "-")
			} else {
				_, serverErr, refused = k.kubectlResult([]byte(doc), "create", "--dry-run=server", "-f", "-")
			}
			if (ours == nil) != (refused == nil) {
				t.Fatalf("ksec: %v\nserver: %v %s", ours, refused, serverErr)
			}
			if ours == nil {
				return
			}
			// Both name the same thing.
			want := map[string][2]string{
				"name":      {"metadata.name", "metadata.name"},
				"namespace": {"metadata.namespace", "metadata.name"},
				"key":       {"key name for a Secret", "data[" + c.value + "]"},
				"size":      {"1 MiB", "data: Too long"},
			}[c.field]
			if !strings.Contains(ours.Error(), want[0]) {
				t.Errorf("ksec's error does not name %s: %v", want[0], ours)
			}
			if !bytes.Contains(serverErr, []byte(want[1])) {
				t.Errorf("the server's error does not name %s: %s", want[1], serverErr)
			}
		})
	}
}

// Without the admission policy, what happens to an encrypted manifest
// applied by mistake (README and docs/SECURITY.md say the same): a data
// token is refused by the server's decoding (not base64), a stringData
// token by kubectl's default strict field validation (the ksec block) and
// by server-side apply, but with --validate=false or =warn it is stored as
// the value.
func TestKubeForgottenDecrypt(t *testing.T) {
	k := newKube(t)
	b := newBinary(t)
	_, recipient := b.ageKey("id")
	encrypt := func(name, plain string) []byte {
		t.Helper()
		p := b.file(name+".plain.yaml", []byte(plain))
		r := b.run(nil, nil, "encrypt", "-k", recipient, p)
		if r.code != 0 {
			t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
		}
		return []byte(r.stdout)
	}
	stringOnly := encrypt("s", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: forgot-s\nstringData:\n  k: v\n")
	dataOnly := encrypt("d", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: forgot-d\ndata:\n  k: dg==\n")

	refused := func(manifest []byte, wantErr string, args ...string) {
		t.Helper()
		_, stderr, err := k.kubectlResult(manifest, args...)
		if err == nil || !bytes.Contains(stderr, []byte(wantErr)) {
			t.Errorf("kubectl %s: %v\n%s\nwant an error with %q", strings.Join(args, " "), err, stderr, wantErr)
		}
	}
	for _, m := range [][]byte{stringOnly, dataOnly} {
		refused(m, `.ksec: field not declared in schema`, "apply", "--server-side", "-f", "-")
	}
	refused(stringOnly, `unknown field "ksec"`, "apply", "-f", "-")
	refused(stringOnly, `unknown field "ksec"`, "create", "-f", "-")
	// A data token fails the server's decoding before any field check.
	for _, validate := range []string{"--validate=strict", "--validate=false", "--validate=warn"} {
		refused(dataOnly, "illegal base64 data", "apply", validate, "-f", "-")
	}
	refused(dataOnly, "illegal base64 data", "create", "-f", "-")

	// The gap the admission policy closes.
	for _, validate := range []string{"--validate=false", "--validate=warn"} {
		k.kubectl(nil, "delete", "secret", "forgot-s", "--ignore-not-found")
		k.kubectl(stringOnly, "apply", validate, "-f", "-")
		got := k.get([]string{k.ns + "/forgot-s"})[k.ns+"/forgot-s"].Data["k"]
		if !bytes.HasPrefix(got, []byte("ENC[ksec.v1,")) {
			t.Fatalf("with %s the server stored %d bytes that are not the token", validate, len(got))
		}
	}
}
