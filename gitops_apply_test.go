package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/internal/kubetest"
	"github.com/ksec-dev/ksec/internal/tooltest"
)

// applyValues are the values the GitOps apply test seals: text YAML would
// read as something else, lines, trailing spaces and bytes that are not
// text. The API server must end up holding exactly these bytes.
var applyValues = map[string][]byte{
	"bytes":   {0, 1, 2, 0xfe, 0xff, '\n', 'x'},
	"answer":  []byte("yes"),
	"number":  []byte("0x10"),
	"spaces":  []byte("  lead and trail  "),
	"lines":   []byte("line one\nline two\n"),
	"unicode": []byte("grüße ✓"),
}

// applySecret is a plaintext Secret named name holding applyValues: the
// text ones under stringData, the rest under data.
func applySecret(name string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\ndata:\n")
	b.WriteString("  bytes: " + base64.StdEncoding.EncodeToString(applyValues["bytes"]) + "\n")
	b.WriteString("  unicode: " + base64.StdEncoding.EncodeToString(applyValues["unicode"]) + "\n")
	b.WriteString("stringData:\n  answer: \"yes\"\n  number: \"0x10\"\n  spaces: \"  lead and trail  \"\n  lines: |\n    line one\n    line two\n")
	return []byte(b.String())
}

// TestGitOpsApply applies what each integration renders to a real API
// server and reads the Secrets back: kustomize with the generator (and
// namePrefix, namespace), the Argo CD plugin's generate command, and Helm
// with the post-renderer. Each Secret must hold exactly the sealed values.
func TestGitOpsApply(t *testing.T) {
	s := kubetest.Shared(t)
	kustomize := tooltest.Require(t, gitopsTools["kustomize"])
	helm := tooltest.Require(t, gitopsTools["helm"])
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	must(t, err)
	keyFile := filepath.Join(dir, "key.age")
	must(t, os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600))
	bin := filepath.Join(dir, "bin")
	must(t, os.Mkdir(bin, 0o755))
	must(t, os.Symlink(kustomize, filepath.Join(bin, "kustomize")))
	must(t, os.Symlink(helm, filepath.Join(bin, "helm")))
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "KSEC_IDENTITY_FILE="+keyFile, "KSEC_KEYS=", "KSEC_AGE_KEY=")
	run := func(wd string, stdin []byte, name string, args ...string) []byte {
		t.Helper()
		if p, err := exec.LookPath(filepath.Join(bin, name)); err == nil {
			name = p // kustomize and helm; ksec is on the test binary's PATH
		}
		c := exec.Command(name, args...)
		c.Dir, c.Env, c.Stdin = wd, env, bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes()
	}
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
	}
	encrypt := func(name string, plain []byte) {
		t.Helper()
		write(name, run(dir, plain, "ksec", "encrypt", "-k", id.Recipient().String(), "-"))
	}
	ns := s.Namespace(t)

	// kustomize: sealed without a namespace, placed by the kustomization.
	encrypt("app/db.enc.yaml", applySecret("db"))
	write("app/secrets.yaml", []byte("apiVersion: ksec.dev/v1alpha1\nkind: SecretDecryptor\nmetadata:\n  name: s\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksec\n        args: [kustomize]\nfiles: [db.enc.yaml]\n"))
	write("app/kustomization.yaml", []byte("namespace: "+ns+"\nnamePrefix: k-\ngenerators: [secrets.yaml]\n"))
	s.Kubectl(t, run(dir, nil, "kustomize", "build", "--enable-alpha-plugins", "--enable-exec", "app"), "apply", "-f", "-")
	checkApplied(t, s, ns, "k-db")

	// The Argo CD plugin's generate command, in the Application's path.
	encrypt("argo/db.enc.yaml", applySecret("argo-db"))
	write("argo/secrets.yaml", []byte(strings.Replace(mustReadString(t, filepath.Join(dir, "app/secrets.yaml")), "name: s\n", "name: argo\n", 1)))
	write("argo/kustomization.yaml", []byte("namespace: "+ns+"\ngenerators: [secrets.yaml]\n"))
	s.Kubectl(t, run(filepath.Join(dir, "argo"), nil, "ksec", "kustomize", "build", "."), "apply", "-f", "-")
	checkApplied(t, s, ns, "argo-db")

	// Helm with the post-renderer; the release's namespace.
	write("chart/Chart.yaml", []byte("apiVersion: v2\nname: chart\nversion: 0.1.0\n"))
	encrypt("chart/templates/secret.yaml", applySecret("helm-db"))
	s.Kubectl(t, run(dir, nil, "helm", "template", "rel", "chart", "--namespace", ns, "--post-renderer", "ksec", "--post-renderer-args", "post-render"), "apply", "-n", ns, "-f", "-")
	checkApplied(t, s, ns, "helm-db")
}

func mustReadString(t *testing.T, name string) string {
	return string(mustRead(t, name))
}

// checkApplied reads the Secret the API server stores and compares its
// data, key by key and byte by byte, with applyValues.
func checkApplied(t *testing.T, s *kubetest.Server, ns, name string) {
	t.Helper()
	var secret struct {
		Data map[string]string `json:"data"`
	}
	must(t, json.Unmarshal(s.Kubectl(t, nil, "get", "secret", "-n", ns, name, "-o", "json"), &secret))
	if got, want := slices.Sorted(maps.Keys(secret.Data)), slices.Sorted(maps.Keys(applyValues)); !slices.Equal(got, want) {
		t.Fatalf("%s/%s holds the keys %q, want %q", ns, name, got, want)
	}
	for k, want := range applyValues {
		got, err := base64.StdEncoding.DecodeString(secret.Data[k])
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s: %s is %q, want %q", ns, name, k, got, want)
		}
	}
}
