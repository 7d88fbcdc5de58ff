package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/manifest"
)

// A Secret sealed with a key under both data and stringData (by an older
// ksec, or by anyone holding the data key) decrypts, with a warning that
// names the key and both lines: every value is authentic, but Kubernetes
// will drop the data one.
func TestDecryptWarnsAboutSealedShadows(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	idFile := filepath.Join(dir, "id.txt")
	require.NoError(t, os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600))
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: aHVudGVyMg==\nstringData:\n  password: other\n"

	// envelope does not judge shadows; encrypt (the command) refuses them.
	st, err := manifest.Parse([]byte(plain))
	require.NoError(t, err)
	sys := &System{Getenv: func(string) string { return "" }}
	kr, err := newKeyring(sys, []string{idFile}, "")
	require.NoError(t, err)
	rs, err := parseRecipientFlags(t.Context(), kr, []string{id.Recipient().String()})
	require.NoError(t, err)
	require.NoError(t, envelope.Encrypt(t.Context(), st, kr, rs))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enc.yaml"), st.Bytes(), 0o644))

	r := inspectCreateCLI(t, dir, nil, "", "decrypt", "-I", idFile, "enc.yaml")
	require.NoError(t, r.err)
	require.Equal(t, plain, r.out)
	require.Equal(t, `ksec: warning: document 1 (Secret prod/db): the key "password" is under both data (line 7) and stringData (line 9); Kubernetes keeps only the stringData value`+"\n", r.log)

	r = inspectCreateCLI(t, dir, nil, "", "encrypt", "-i", "-I", idFile, "enc.yaml")
	require.Equal(t, ExitBadInput, r.code)
	require.True(t, strings.Contains(r.log, `bad input: the key "password" is under both data (line 7) and stringData (line 9)`), r.log)
}
