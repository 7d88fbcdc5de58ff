package textconv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// helperEnv makes the test binary act as the textconv program git runs: a
// Decrypter with the age key in TEXTCONV_TEST_KEY, if any.
const helperEnv = "TEXTCONV_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helperMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: helper FILE")
		return 2
	}
	err := Convert(context.Background(), args[0], os.Stdout, os.Stderr, Options{
		MaxSize:   16 << 20,
		Decrypter: func() (Decrypter, error) { return ageDecrypter(os.Getenv("TEXTCONV_TEST_KEY")) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func ageDecrypter(key string) (Decrypter, error) {
	var ids []keyring.Identity
	if key != "" {
		id, err := keyring.ParseIdentityString(key, "TEXTCONV_TEST_KEY")
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, ids)
	return func(ctx context.Context, st *manifest.Stream) error {
		_, err := envelope.Decrypt(ctx, st, kr)
		return err
	}, nil
}

func encrypt(t *testing.T, plain string, recipient string) []byte {
	t.Helper()
	st, err := manifest.Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	r, err := kr.ParseRecipient(context.Background(), recipient)
	if err != nil {
		t.Fatal(err)
	}
	if err := envelope.Encrypt(context.Background(), st, kr, envelope.Recipients{Set: []keyring.Recipient{r}}); err != nil {
		t.Fatal(err)
	}
	return st.Bytes()
}

const secretFmt = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
data:
  password: %s
stringData:
  user: admin
`

// TestGitDiffAndLog runs the real git with this package as its diff.ksec
// textconv, with and without the key.
func TestGitDiffAndLog(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed")
		}
		t.Skip("git is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	repo := t.TempDir()
	base := []string{
		"HOME=" + home, "GIT_CONFIG_GLOBAL=" + filepath.Join(home, "gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
		"PATH=" + os.Getenv("PATH"), helperEnv + "=1", "GIT_PAGER=cat", "LC_ALL=C",
	}
	git := func(env []string, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(append([]string{}, base...), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), errb.String()
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(nil, "init", "-q", "-b", "main")
	git(nil, "config", "user.email", "t@example.test")
	git(nil, "config", "user.name", "t")
	git(nil, "config", "diff.ksec.textconv", self)
	write(".gitattributes", []byte("*.yaml diff=ksec\n"))
	write("db.yaml", encrypt(t, fmt.Sprintf(secretFmt, "aHVudGVyMg=="), id.Recipient().String())) // hunter2
	write("plain.yaml", []byte("a: 1\n"))
	git(nil, "add", ".")
	git(nil, "commit", "-q", "-m", "one")
	write("db.yaml", encrypt(t, fmt.Sprintf(secretFmt, "czNjb25k"), id.Recipient().String())) // s3cond
	write("plain.yaml", []byte("a: 2\n"))

	withKey := []string{"TEXTCONV_TEST_KEY=" + id.String()}
	out, stderr := git(withKey, "diff")
	for _, want := range []string{"\n-  password: hunter2\n", "\n+  password: s3cond\n", "\n-a: 1\n+a: 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("git diff with the key lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ENC[") || stderr != "" {
		t.Errorf("git diff with the key shows ciphertext or complains:\n%s\nstderr: %s", out, stderr)
	}

	out, stderr = git(nil, "diff")
	if !strings.Contains(out, "\n-  password: ENC[ksec.v1,") || !strings.Contains(out, "\n+  password: ENC[ksec.v1,") ||
		strings.Contains(out, "hunter2") || strings.Contains(out, "s3cond") || !strings.Contains(out, "\n-a: 1\n+a: 2\n") {
		t.Errorf("git diff without the key:\n%s", out)
	}
	// One line per side of the changed ksec file, none for plain.yaml.
	if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "ksec: textconv: ") || !strings.Contains(lines[0], ": shown encrypted: ") {
		t.Errorf("git diff without the key, stderr:\n%s", stderr)
	}

	git(nil, "commit", "-q", "-am", "two")
	out, _ = git(withKey, "log", "-p")
	for _, want := range []string{"\n+  password: hunter2\n", "\n-  password: hunter2\n", "\n+  password: s3cond\n", "recipients age:" + id.Recipient().String()} {
		if !strings.Contains(out, want) {
			t.Errorf("git log -p with the key lacks %q:\n%s", want, out)
		}
	}
	out, stderr = git(nil, "log", "-p")
	if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cond") || !strings.Contains(out, "\n+  password: ENC[ksec.v1,") {
		t.Errorf("git log -p without the key:\n%s", out)
	}
	if !strings.Contains(stderr, "shown encrypted") {
		t.Errorf("git log -p without the key, stderr:\n%s", stderr)
	}
}
