package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

// The README's .pre-commit-config.yaml, run by the real pre-commit against
// this source tree as the hook repository (language: golang, so pre-commit
// builds ksec with go install ./...): a commit with a plaintext Secret is
// refused, the opt-in ksec-encrypt hook seals it, the encrypted one passes.
// Offline: the Go module cache is shared read-only and GOPROXY is off.
func TestPreCommitHooks(t *testing.T) {
	for _, tool := range []string{"pre-commit", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed: .ci/run installs pre-commit (apt-get install pre-commit)", tool)
			}
			t.Skipf("%s is not installed (apt-get install pre-commit git)", tool)
		}
	}
	tmp := t.TempDir()
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	// No ksec on PATH: the hooks must run the one pre-commit built.
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "ksec")); err != nil {
			path = append(path, dir)
		}
	}
	env := []string{
		"PATH=" + strings.Join(path, string(os.PathListSeparator)),
		"HOME=" + tmp,
		"XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(tmp, "cache"),
		"PRE_COMMIT_HOME=" + filepath.Join(tmp, "pre-commit"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test",
		"GOMODCACHE=" + goEnv("GOMODCACHE"),
		"GOCACHE=" + goEnv("GOCACHE"),
		"GOPROXY=off",
		"GOTOOLCHAIN=local",
		"GOFLAGS=-mod=readonly",
		"KSEC_KEYS=", "KSEC_IDENTITY_FILE=", "KSEC_AGE_KEY=",
	}
	run := func(dir string, extra []string, name string, args ...string) (string, error) {
		c := exec.Command(name, args...)
		c.Dir = dir
		c.Env = append(slices.Clone(env), extra...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	must := func(dir string, name string, args ...string) string {
		t.Helper()
		out, err := run(dir, nil, name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return out
	}

	// The hook repository: this source tree as it is now, committed on main.
	hookRepo := filepath.Join(tmp, "ksec-src")
	list, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(hookRepo, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	must(hookRepo, "git", "init", "-q", "-b", "main")
	must(hookRepo, "git", "add", "-A")
	must(hookRepo, "git", "commit", "-q", "-m", "snapshot")

	// The README's config, with the repository URL pointed at the snapshot.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### pre-commit\n")
	_, block, _ := strings.Cut(section, "```yaml\n")
	config, _, _ := strings.Cut(block, "```")
	const url = "repo: https://github.com/ksec-dev/ksec\n"
	if !strings.Contains(config, url) || !strings.Contains(config, "- id: ksec-check") {
		t.Fatalf("README's pre-commit config is not as expected:\n%s", config)
	}
	config = strings.Replace(config, url, "repo: file://"+hookRepo+"\n", 1)

	// The user's repository.
	repo := filepath.Join(tmp, "app")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(repo, "git", "init", "-q", "-b", "main")
	write(".pre-commit-config.yaml", config)
	must(repo, "pre-commit", "install")
	write("configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n")
	write("kustomization.yaml", "resources:\n  - configmap.yaml\n  - secret.yaml\n")
	must(repo, "git", "add", "-A")
	// The first run builds ksec: the output names the hook as passed.
	if out := must(repo, "git", "commit", "-m", "no Secret yet"); !strings.Contains(out, "ksec check (no plaintext Kubernetes Secrets)") || !strings.Contains(out, "Passed") {
		t.Fatalf("commit without a Secret:\n%s", out)
	}
	built, err := filepath.Glob(filepath.Join(tmp, "pre-commit", "*", "golangenv-*", "bin", "*"))
	if err != nil || len(built) != 1 || filepath.Base(built[0]) != "ksec" {
		t.Errorf("pre-commit's go install built %q, want only ksec", built)
	}

	// A plaintext Secret is refused, with its file, line and keys, and no value.
	const plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: pw-Tq83Zr\n"
	write("secret.yaml", plain)
	must(repo, "git", "add", "secret.yaml")
	out, err := run(repo, nil, "git", "commit", "-m", "plaintext")
	if err == nil {
		t.Fatalf("a commit with a plaintext Secret was accepted:\n%s", out)
	}
	t.Logf("refused commit:\n%s", out)
	if !strings.Contains(out, "secret.yaml:7: Secret prod/db: plaintext stringData.password\n") || strings.Contains(out, "pw-Tq83Zr") {
		t.Errorf("refused commit's output:\n%s", out)
	}
	if n := strings.TrimSpace(must(repo, "git", "rev-list", "--count", "HEAD")); n != "1" {
		t.Errorf("%s commits, want 1", n)
	}

	// The opt-in ksec-encrypt hook seals it in place with the keys given;
	// the commit stops so that the result is reviewed and added.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enabled := strings.Replace(config, "# - id: ksec-encrypt", "- id: ksec-encrypt", 1)
	if enabled == config {
		t.Fatal("README's config has no '# - id: ksec-encrypt' line")
	}
	write(".pre-commit-config.yaml", enabled)
	must(repo, "git", "add", "-A")
	keys := []string{"KSEC_KEYS=" + id.Recipient().String()}
	out, err = run(repo, keys, "git", "commit", "-m", "encrypt")
	t.Logf("commit with ksec-encrypt:\n%s", out)
	if err == nil || !strings.Contains(out, "files were modified by this hook") || strings.Contains(out, "pw-Tq83Zr") {
		t.Fatalf("commit with ksec-encrypt: %v\n%s", err, out)
	}
	sealed, err := os.ReadFile(filepath.Join(repo, "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("pw-Tq83Zr")) || !bytes.Contains(sealed, []byte("password: ENC[ksec.v1,")) {
		t.Fatalf("secret.yaml after ksec-encrypt:\n%s", sealed)
	}

	// The encrypted Secret passes, and a second run of both hooks changes
	// nothing: encrypted files and files without a Secret are left alone.
	must(repo, "git", "add", "secret.yaml")
	if out := must(repo, "git", "commit", "-m", "encrypted"); strings.Count(out, "Passed") != 2 {
		t.Errorf("commit of the encrypted Secret:\n%s", out)
	}
	committed := must(repo, "git", "show", "HEAD:secret.yaml")
	if committed != string(sealed) {
		t.Errorf("committed secret.yaml differs from the encrypted one")
	}
	must(repo, "pre-commit", "run", "--all-files")
	if status := must(repo, "git", "status", "--porcelain"); status != "" {
		t.Errorf("pre-commit run --all-files changed files:\n%s", status)
	}
}
