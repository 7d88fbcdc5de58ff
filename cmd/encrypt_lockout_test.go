package cmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Replacing an encrypted file's recipients with a plain -k list that leaves
// someone out asks on a terminal; only "y" replaces them.
func TestEncryptReplaceRecipientsPrompt(t *testing.T) {
	dir := t.TempDir()
	alice, bob := newTeamKey(t, dir, "alice"), newTeamKey(t, dir, "bob")
	file := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(teamSecret), 0o644))
	env := teamEnv{env: map[string]string{"KSEC_IDENTITY_FILE": alice.file}}
	r := env.run(t, "encrypt", "-i", "-k", alice.recipient, file)
	require.Equal(t, ExitOK, r.code, r.err)
	encrypted, err := os.ReadFile(file)
	require.NoError(t, err)

	for _, answer := range []string{"", "n\n", "no\n", "yes please\n"} {
		env.terminal, env.stdin = true, answer
		r = env.run(t, "encrypt", "-i", "-k", bob.recipient, file)
		require.Equal(t, ExitUsage, r.code, "answer %q: %s", answer, r.err)
		require.Contains(t, r.err, "ksec: the keys named (-k or KSEC_KEYS) replace the recipients of 2 encrypted Secrets and leave out age:"+alice.recipient+
			", who could no longer decrypt it.\nReplace the recipients? [y/N] ksec: error: not confirmed: nothing was written\n")
		got, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, string(encrypted), string(got), "answer %q changed the file", answer)
	}

	env.stdin = "y\n"
	r = env.run(t, "encrypt", "-i", "-k", bob.recipient, file)
	require.Equal(t, ExitOK, r.code, r.err)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NotContains(t, string(got), alice.recipient)
	require.Contains(t, string(got), bob.recipient)
}
