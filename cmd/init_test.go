package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/keyring"
)

func TestInitPlaceholder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := teamEnv{env: map[string]string{"HOME": t.TempDir()}}
	r := env.run(t, "init")
	require.Equal(t, ExitOK, r.code, r.err)
	require.Contains(t, r.err, "Wrote .ksec.yaml with a placeholder key: replace "+placeholderRecipient+" with your team's keys (no age key at ")
	c, err := config.Load(filepath.Join(dir, config.FileName))
	require.NoError(t, err)
	require.Len(t, c.Rules, 1)
	keys, ok := c.KeysFor(filepath.Join(dir, "any", "where", "s.yaml"), "ns")
	require.True(t, ok)
	require.Equal(t, []string{"age:" + placeholderRecipient}, keys)
	st, err := os.Stat(config.FileName)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// The placeholder must never encrypt: it is not an age key.
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	_, err = kr.ParseRecipients(t.Context(), keys)
	require.ErrorContains(t, err, `key "age:`+placeholderRecipient+`"`)
}

func TestInitDefaultAgeKey(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	xdg := t.TempDir()
	a, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	b, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	idFile := filepath.Join(xdg, "ksec", "identities")
	require.NoError(t, os.MkdirAll(filepath.Dir(idFile), 0o700))
	require.NoError(t, os.WriteFile(idFile, []byte("# public key: ignored\n"+a.String()+"\n"+b.String()+"\n"), 0o600))
	env := teamEnv{env: map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": t.TempDir()}}
	r := env.run(t, "init")
	require.Equal(t, ExitOK, r.code, r.err)
	want := []string{a.Recipient().String(), b.Recipient().String()}
	require.Equal(t, "Wrote .ksec.yaml for your age key "+strings.Join(want, ", ")+" (from "+idFile+").\n"+
		"Edit its rules, commit it, then encrypt with: ksec encrypt -i FILE\n", r.err)
	require.Empty(t, r.out)
	data := teamReadFile(t, config.FileName)
	require.NotContains(t, data, "AGE-SECRET-KEY")
	c, err := config.Load(config.FileName)
	require.NoError(t, err)
	keys, ok := c.KeysFor("s.yaml", "")
	require.True(t, ok)
	require.Equal(t, []string{"age:" + want[0], "age:" + want[1]}, keys)
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	_, err = kr.ParseRecipients(t.Context(), keys)
	require.NoError(t, err)

	// A default identity file that is not an age file: the placeholder,
	// and no word of its content.
	require.NoError(t, os.WriteFile(idFile, []byte("AGE-SECRET-KEY-1NOTVALIDQQQ\n"), 0o600))
	r = env.run(t, "init", "--force")
	require.Equal(t, ExitOK, r.code, r.err)
	require.Contains(t, r.err, "with a placeholder key: replace "+placeholderRecipient+" with your team's keys ("+idFile+" is not an age identity file ksec can read: error at line 1: ")
	require.NotContains(t, r.err, "QQQ")
}

func TestInitKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile(config.FileName, []byte("rules: []\n"), 0o600))
	env := teamEnv{env: map[string]string{"HOME": t.TempDir()}}
	r := env.run(t, "init")
	require.Equal(t, ExitError, r.code)
	require.Equal(t, "ksec: error: .ksec.yaml already exists; it was left as it is\n"+
		"ksec: hint: edit it, or pass --force to replace it with a new starter file\n", r.err)
	require.Equal(t, "rules: []\n", teamReadFile(t, config.FileName))

	r = env.run(t, "init", "--force")
	require.Equal(t, ExitOK, r.code, r.err)
	require.Contains(t, teamReadFile(t, config.FileName), "rules:\n")
	st, err := os.Stat(config.FileName)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "--force keeps the file's mode")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")

	r = env.run(t, "init", "extra")
	require.Equal(t, ExitUsage, r.code)
}

// The commented examples of the starter file are valid rules once
// uncommented, so users can start from them.
func TestInitExamplesParse(t *testing.T) {
	src := string(starterConfig([]string{"age1x"}))
	example := regexp.MustCompile(`(?m)^  # ([- ] .*)$`)
	uncommented := example.ReplaceAllString(src, "  $1")
	require.NotEqual(t, src, uncommented)
	c, err := config.Parse([]byte(uncommented), filepath.Join(t.TempDir(), config.FileName))
	require.NoError(t, err, uncommented)
	require.Len(t, c.Rules, 3)
	require.Equal(t, "prod/**/*.yaml", c.Rules[0].Path)
	require.Equal(t, "prod-*", c.Rules[0].Namespace)
	require.Len(t, c.Rules[0].Keys, 5)
	require.Equal(t, `^staging/.*\.ya?ml$`, c.Rules[1].PathRegex)
	require.Equal(t, "**", c.Rules[2].Path)
}
