package keyring

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// gpg, and the agent it starts, must not inherit ksec's key material.
func TestGPGRunnerEnvironment(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake gpg is a shell script")
	}
	dir := t.TempDir()
	dump := filepath.Join(dir, "env.txt")
	bin := filepath.Join(dir, "gpg")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nenv > '"+dump+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KSEC_AGE_KEY", "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSTEST")
	t.Setenv("KSEC_ENV_TEST_KEPT", "yes")
	for _, g := range []gpgRunner{{bin: bin}, {bin: bin, env: []string{"GNUPGHOME=/nowhere"}}} {
		if _, err := g.run(context.Background(), nil, []string{"GPG_TTY=/dev/pts/9"}, "--version"); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		env := string(data)
		if strings.Contains(env, "KSEC_AGE_KEY") || strings.Contains(env, "AGE-SECRET-KEY-") {
			t.Errorf("gpg got the age key:\n%s", env)
		}
		for _, want := range append([]string{"KSEC_ENV_TEST_KEPT=yes", "GPG_TTY=/dev/pts/9"}, g.env...) {
			if !strings.Contains(env, "\n"+want+"\n") && !strings.HasPrefix(env, want+"\n") {
				t.Errorf("gpg's environment lacks %s:\n%s", want, env)
			}
		}
	}
}
