package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
)

// Every exit code in the README's table is what ksec really returns, and
// the table lists every code ksec has.
func TestExitCodesMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Exit codes\n")
	if !ok {
		t.Fatal("README.md has no '## Exit codes' section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	documented := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \| (.+) \|$`).FindAllStringSubmatch(table, -1) {
		n, _ := strconv.Atoi(m[1])
		documented[n] = m[2]
	}

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home}
	run := func(env map[string]string, stdin string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		sys := &System{
			In: strings.NewReader(stdin), Out: &out, Err: &errOut,
			Getenv:          func(k string) string { return env[k] },
			StdinIsTerminal: func() bool { return false },
		}
		return Run(context.Background(), sys, "test", args), out.String(), errOut.String()
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: one\n  b: two\n"
	code, encrypted, stderr := run(env, plain, "encrypt", "-k", id.Recipient().String(), "-")
	if code != ExitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	withKey := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "KSEC_AGE_KEY": id.String()}
	raceFile := filepath.Join(home, "race.yaml")
	if err := os.WriteFile(raceFile, []byte(encrypted), 0o600); err != nil {
		t.Fatal(err)
	}
	racing := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "XDG_RUNTIME_DIR": home, "KSEC_AGE_KEY": id.String(),
		"EDITOR": "sh -c 'echo \"# changed meanwhile\" >> " + raceFile + " && echo \"  c: three\" >> \"$0\"'"}
	// Swapping two values' tokens breaks their binding to their keys.
	lines := strings.Split(encrypted, "\n")
	ia, ib := -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "  a: ENC["):
			ia = i
		case strings.HasPrefix(l, "  b: ENC["):
			ib = i
		}
	}
	if ia < 0 || ib < 0 {
		t.Fatalf("unexpected encrypted output:\n%s", encrypted)
	}
	lines[ia], lines[ib] = "  a: "+lines[ib][len("  b: "):], "  b: "+lines[ia][len("  a: "):]
	tampered := strings.Join(lines, "\n")

	cases := []struct {
		code   int
		env    map[string]string
		stdin  string
		args   []string
		stderr string
	}{
		{ExitOK, env, "", []string{"--version"}, ""},
		{ExitError, env, "", []string{"decrypt", "missing.yaml"}, "ksec: error: read input: open missing.yaml: no such file or directory\n"},
		{ExitUsage, env, "", []string{"decrpyt", "x.yaml"}, "ksec: error: unknown command \"decrpyt\"\nksec: hint: did you mean decrypt?\n"},
		{ExitUsage, env, "", []string{"decrypt", "--no-such-flag"}, "ksec: error: unknown flag: --no-such-flag\n"},
		{ExitBadInput, env, "a: [\n", []string{"decrypt", "-"}, "invalid YAML"},
		{ExitNoKey, env, encrypted, []string{"decrypt", "-"}, "no key could decrypt"},
		{ExitIntegrity, withKey, tampered, []string{"decrypt", "-"}, "ksec: error: "},
		{ExitNotEncrypted, env, plain, []string{"inspect", "-"}, ""},
		// An editor that also changes the file on disk, as a concurrent
		// ksec patch or git pull would.
		{ExitChanged, racing, "", []string{"edit", raceFile}, "ksec: error: write " + raceFile + ": changed on disk: "},
	}
	tested := map[int]bool{}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			got, _, stderr := run(c.env, c.stdin, c.args...)
			if got != c.code {
				t.Errorf("exit %d, want %d (%s); stderr:\n%s", got, c.code, documented[c.code], stderr)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, c.stderr)
			}
		})
		tested[c.code] = true
	}
	for _, code := range []int{ExitOK, ExitError, ExitUsage, ExitBadInput, ExitNoKey, ExitIntegrity, ExitNotEncrypted, ExitChanged} {
		if documented[code] == "" {
			t.Errorf("README's exit code table lacks %d", code)
		}
		if !tested[code] {
			t.Errorf("no case for exit code %d", code)
		}
		delete(documented, code)
	}
	for code, meaning := range documented {
		t.Errorf("README documents exit code %d (%s), which ksec does not have", code, meaning)
	}
}
