package cmd

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/keyring"
)

type keygenRun struct {
	code     int
	out, err string
}

func runKeygenCmd(t *testing.T, env map[string]string, args ...string) keygenRun {
	t.Helper()
	var out, errOut bytes.Buffer
	sys := &System{
		In: strings.NewReader(""), Out: &out, Err: &errOut,
		Getenv:          func(k string) string { return env[k] },
		StdinIsTerminal: func() bool { return false },
	}
	if c, _, err := NewCmdRoot(sys, "test").Find([]string{"keygen"}); err != nil || c.Name() != "keygen" {
		t.Fatal("ksec keygen is not registered: add NewCmdKeygen(sys, nil) to NewCmdRoot")
	}
	code := Run(t.Context(), sys, "test", append([]string{"keygen"}, args...))
	return keygenRun{code: code, out: out.String(), err: errOut.String()}
}

// checkKeyFile parses an age-keygen style key file and returns its
// identity, checking the comment lines.
func checkKeyFile(t *testing.T, data string) age.Identity {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	require.Len(t, lines, 3, "key file:\n%s", data)
	created, ok := strings.CutPrefix(lines[0], "# created: ")
	require.True(t, ok, lines[0])
	_, err := time.Parse(time.RFC3339, created)
	require.NoError(t, err)
	ids, err := age.ParseIdentities(strings.NewReader(data))
	require.NoError(t, err)
	require.Len(t, ids, 1)
	pub, ok := strings.CutPrefix(lines[1], "# public key: ")
	require.True(t, ok, lines[1])
	require.Equal(t, pub, recipientOf(t, ids[0]))
	return ids[0]
}

func recipientOf(t *testing.T, id age.Identity) string {
	t.Helper()
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	t.Fatalf("unexpected identity type %T", id)
	return ""
}

// roundTrip checks that a key file written by keygen unwraps what ksec
// wraps for its public key.
func roundTrip(t *testing.T, keyFile []byte, pub string) {
	t.Helper()
	r, err := keyring.NewAge().ParseRecipient(t.Context(), pub)
	require.NoError(t, err)
	dataKey := make([]byte, 32)
	_, err = rand.Read(dataKey)
	require.NoError(t, err)
	s, err := r.Wrap(t.Context(), dataKey, keyring.Scope{})
	require.NoError(t, err)
	id, err := keyring.ParseIdentityFile(keyFile, "key")
	require.NoError(t, err)
	got, err := id.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
	require.NoError(t, err)
	require.Equal(t, dataKey, got)
}

func TestKeygenStdout(t *testing.T) {
	res := runKeygenCmd(t, nil)
	require.Equal(t, ExitOK, res.code, res.err)
	id := checkKeyFile(t, res.out)
	pub := recipientOf(t, id)
	require.True(t, strings.HasPrefix(pub, "age1"))
	require.Equal(t, "Public key: "+pub+"\n", res.err)
	roundTrip(t, []byte(res.out), pub)

	// A second key is a different key.
	res2 := runKeygenCmd(t, nil, "-o", "-")
	require.Equal(t, ExitOK, res2.code, res2.err)
	require.NotEqual(t, pub, recipientOf(t, checkKeyFile(t, res2.out)))
}

func TestKeygenPostQuantum(t *testing.T) {
	res := runKeygenCmd(t, nil, "--pq")
	require.Equal(t, ExitOK, res.code, res.err)
	id := checkKeyFile(t, res.out)
	require.IsType(t, &age.HybridIdentity{}, id)
	pub := recipientOf(t, id)
	require.True(t, strings.HasPrefix(pub, "age1pq1"))
	require.Equal(t, "Public key: "+pub+"\n", res.err)
	roundTrip(t, []byte(res.out), pub)
}

func TestKeygenFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "new", "deeper", "team.key")
	res := runKeygenCmd(t, nil, "-o", name)
	require.Equal(t, ExitOK, res.code, res.err)
	require.Empty(t, res.out)

	st, err := os.Stat(name)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	for _, d := range []string{filepath.Join(dir, "new"), filepath.Join(dir, "new", "deeper")} {
		st, err := os.Stat(d)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), d)
	}
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	pub := recipientOf(t, checkKeyFile(t, string(data)))
	require.Equal(t, "Public key: "+pub+"\n", res.err)
	roundTrip(t, data, pub)

	// Never overwritten: the existing key is kept byte for byte.
	res = runKeygenCmd(t, nil, "-o", name)
	require.Equal(t, ExitError, res.code)
	require.Empty(t, res.out)
	require.Equal(t, "ksec: error: "+name+" already exists; ksec keygen never overwrites a key file\n"+
		"ksec: hint: choose another file name, or move the old key away first: Secrets encrypted for it need it to decrypt\n", res.err)
	after, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, data, after)

	// Nor is any other existing file.
	other := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(other, []byte("keep me\n"), 0o644))
	res = runKeygenCmd(t, nil, "-o", other)
	require.Equal(t, ExitError, res.code)
	require.Contains(t, res.err, "already exists")
	after, err = os.ReadFile(other)
	require.NoError(t, err)
	require.Equal(t, "keep me\n", string(after))
}

func TestKeygenDefault(t *testing.T) {
	xdg := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": "/nonexistent"}
	name := filepath.Join(xdg, "ksec", "identities")
	require.Equal(t, name, keyring.DefaultAgeIdentityFile(func(k string) string { return env[k] }))

	res := runKeygenCmd(t, env, "--default")
	require.Equal(t, ExitOK, res.code, res.err)
	require.Empty(t, res.out)
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	pub := recipientOf(t, checkKeyFile(t, string(data)))
	require.Equal(t, "Public key: "+pub+"\n", res.err)
	st, err := os.Stat(filepath.Dir(name))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	res = runKeygenCmd(t, env, "--default")
	require.Equal(t, ExitError, res.code)
	require.Contains(t, res.err, "ksec: error: "+name+" already exists")
	after, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, data, after)

	home := t.TempDir()
	res = runKeygenCmd(t, map[string]string{"HOME": home}, "--default")
	require.Equal(t, ExitOK, res.code, res.err)
	_, err = os.Stat(filepath.Join(home, ".config", "ksec", "identities"))
	require.NoError(t, err)

	res = runKeygenCmd(t, nil, "--default")
	require.Equal(t, ExitError, res.code)
	require.Equal(t, "ksec: error: no default identity file: neither XDG_CONFIG_HOME nor HOME is set\n"+
		"ksec: hint: name the file with -o FILE\n", res.err)
}

func TestKeygenUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--default", "-o", filepath.Join(dir, "k")},
		{"extra-arg"},
		{"--no-such-flag"},
	} {
		res := runKeygenCmd(t, map[string]string{"HOME": dir}, args...)
		require.Equal(t, ExitUsage, res.code, "%v: %s", args, res.err)
		require.Empty(t, res.out)
		require.Contains(t, res.err, "ksec: hint: run 'ksec --help'")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a usage error must not write a key")
}

func TestKeygenFlags(t *testing.T) {
	var got *KeygenOptions
	c := NewCmdKeygen(&System{}, func(_ *cobra.Command, o *KeygenOptions) error { got = o; return nil })
	c.SetArgs([]string{"-o", "f.key", "--pq"})
	require.NoError(t, c.Execute())
	require.Equal(t, &KeygenOptions{Output: "f.key", PQ: true}, got)

	c = NewCmdKeygen(&System{}, func(_ *cobra.Command, o *KeygenOptions) error { got = o; return nil })
	c.SetArgs([]string{"--default"})
	require.NoError(t, c.Execute())
	require.Equal(t, &KeygenOptions{Default: true}, got)
}

// A key file from ksec keygen works with the age CLI.
func TestKeygenAgeInterop(t *testing.T) {
	ageBin, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("age is not installed: this interop test needs the age CLI (Debian: apt-get install age)")
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "key")
	res := runKeygenCmd(t, nil, "-o", name)
	require.Equal(t, ExitOK, res.code, res.err)
	pub := strings.TrimSpace(strings.TrimPrefix(res.err, "Public key: "))

	enc := exec.CommandContext(t.Context(), ageBin, "-r", pub)
	enc.Stdin = strings.NewReader("hello from ksec keygen")
	ct, err := enc.Output()
	require.NoError(t, err)
	dec := exec.CommandContext(t.Context(), ageBin, "-d", "-i", name)
	dec.Stdin = bytes.NewReader(ct)
	pt, err := dec.Output()
	require.NoError(t, err)
	require.Equal(t, "hello from ksec keygen", string(pt))
}
