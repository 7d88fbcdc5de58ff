package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// teamRun is one run of ksec through a root that has init and updatekeys,
// whether or not NewCmdRoot registers them yet.
type teamRun struct {
	code     int
	out, err string
}

type teamEnv struct {
	env      map[string]string
	terminal bool
	stdin    string
}

func (e teamEnv) run(t *testing.T, args ...string) teamRun {
	t.Helper()
	var out, errOut bytes.Buffer
	sys := &System{
		In: strings.NewReader(e.stdin), Out: &out, Err: &errOut,
		Getenv:          func(k string) string { return e.env[k] },
		StdinIsTerminal: func() bool { return e.terminal },
	}
	root := NewCmdRoot(sys, "test")
	for _, c := range []*cobra.Command{NewCmdInit(sys, nil), NewCmdUpdatekeys(sys, nil)} {
		if found, _, err := root.Find([]string{c.Name()}); err != nil || found == root {
			root.AddCommand(c)
		}
	}
	root.SetArgs(args)
	root.SetIn(sys.In)
	root.SetOut(sys.Out)
	root.SetErr(sys.Err)
	code := ExitOK
	if err := root.ExecuteContext(t.Context()); err != nil {
		code = reportError(sys.Err, err)
	}
	return teamRun{code: code, out: out.String(), err: errOut.String()}
}

type teamKey struct {
	file      string // identity file
	recipient string
}

func newTeamKey(t *testing.T, dir, name string) teamKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	file := filepath.Join(dir, name+".agekey")
	require.NoError(t, os.WriteFile(file, []byte(id.String()+"\n"), 0o600))
	return teamKey{file: file, recipient: id.Recipient().String()}
}

const teamSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
data:
  password: czNjcjN0
stringData:
  user: admin
---
apiVersion: v1
kind: Secret
metadata:
  name: other
  namespace: dev
stringData:
  token: abc
`

var tokenRE = regexp.MustCompile(`ENC\[[^\]]+\]`)

// teamFixture is a repository with a config that gives prod Secrets alice
// and bob and dev Secrets alice, and a file encrypted for alice alone.
type teamFixture struct {
	root, file string
	alice, bob teamKey
	env        teamEnv
}

func newTeamFixture(t *testing.T) *teamFixture {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, ".git"), 0o755))
	keys := t.TempDir()
	f := &teamFixture{root: root, alice: newTeamKey(t, keys, "alice"), bob: newTeamKey(t, keys, "bob")}
	f.env = teamEnv{env: map[string]string{"HOME": keys, "KSEC_IDENTITY_FILE": f.alice.file}}
	f.writeConfig(t, "rules:\n  - path: 'apps/**'\n    namespace: prod\n    keys: [age:"+f.alice.recipient+", age:"+f.bob.recipient+"]\n  - path: 'apps/**'\n    keys: [age:"+f.alice.recipient+"]\n")
	f.file = filepath.Join(root, "apps", "db", "secret.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(f.file), 0o755))
	plain := filepath.Join(keys, "plain.yaml")
	require.NoError(t, os.WriteFile(plain, []byte(teamSecret), 0o644))
	r := f.env.run(t, "encrypt", "-k", f.alice.recipient, "-o", f.file, plain)
	require.Equal(t, ExitOK, r.code, r.err)
	return f
}

func (f *teamFixture) writeConfig(t *testing.T, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(f.root, ".ksec.yaml"), []byte(content), 0o644))
}

func (f *teamFixture) read(t *testing.T) string {
	t.Helper()
	return teamReadFile(t, f.file)
}

// decrypts reports which of the file's two Secrets (prod/db, dev/other)
// key alone decrypts, each to its original.
func (f *teamFixture) decrypts(t *testing.T, key teamKey) (prod, dev bool) {
	t.Helper()
	docs := strings.Split(f.read(t), "\n---\n")
	want := strings.Split(teamSecret, "\n---\n")
	require.Len(t, docs, 2)
	ok := make([]bool, 2)
	for i, doc := range docs {
		env := teamEnv{env: map[string]string{"HOME": f.env.env["HOME"], "KSEC_IDENTITY_FILE": key.file}, stdin: doc}
		r := env.run(t, "decrypt", "-")
		if r.code == ExitOK {
			require.Equal(t, strings.TrimSuffix(want[i], "\n"), strings.TrimSuffix(r.out, "\n"))
			ok[i] = true
			continue
		}
		require.Equal(t, ExitNoKey, r.code, r.err)
	}
	return ok[0], ok[1]
}

func TestUpdatekeysAddsOnConfirmation(t *testing.T) {
	f := newTeamFixture(t)
	before := f.read(t)
	env := f.env
	env.terminal, env.stdin = true, "y\n"
	r := env.run(t, "updatekeys", f.file)
	require.Equal(t, ExitOK, r.code, r.err)
	require.Empty(t, r.out)
	require.Contains(t, r.err, f.file+": document 1 (Secret prod/db): rule "+filepath.Join(f.root, ".ksec.yaml")+":2\n"+
		"  = age:"+f.alice.recipient+"\n  + age:"+f.bob.recipient+"\n")
	require.Contains(t, r.err, f.file+": document 2 (Secret dev/other): unchanged (rule "+filepath.Join(f.root, ".ksec.yaml")+":5)\n")
	require.Contains(t, r.err, "Update 1 Secret in 1 file? [y/N] ")
	require.Contains(t, r.err, f.file+": updated\n")
	require.NotContains(t, r.err, "re-sealed")
	after := f.read(t)
	// Adding wraps the same data key: every token stays as it was.
	require.Equal(t, tokenRE.FindAllString(before, -1), tokenRE.FindAllString(after, -1))
	prod, dev := f.decrypts(t, f.bob)
	require.True(t, prod)
	require.False(t, dev)
	prod, dev = f.decrypts(t, f.alice)
	require.True(t, prod)
	require.True(t, dev)

	// Run again: nothing to do, the file is not rewritten, no question asked.
	env.stdin = ""
	r = env.run(t, "updatekeys", f.file)
	require.Equal(t, ExitOK, r.code, r.err)
	require.NotContains(t, r.err, "[y/N]")
	require.Contains(t, r.err, "Nothing to change.\n")
	require.Equal(t, after, f.read(t))
}

func TestUpdatekeysRemoveRotates(t *testing.T) {
	f := newTeamFixture(t)
	r := f.env.run(t, "updatekeys", "-y", f.file) // alice+bob on prod/db
	require.Equal(t, ExitOK, r.code, r.err)
	before := f.read(t)
	f.writeConfig(t, "rules:\n  - path: 'apps/**'\n    keys: [age:"+f.bob.recipient+"]\n")
	r = f.env.run(t, "updatekeys", "--yes", f.file)
	require.Equal(t, ExitOK, r.code, r.err)
	require.NotContains(t, r.err, "[y/N]")
	require.Contains(t, r.err, "  - age:"+f.alice.recipient+"\n  = age:"+f.bob.recipient+"\n  (a recipient is removed: a new data key is made and every value re-sealed)\n")
	require.Contains(t, r.err, "(Secret dev/other): rule")
	require.Contains(t, r.err, "  - age:"+f.alice.recipient+"\n  + age:"+f.bob.recipient+"\n")
	after := f.read(t)
	old := tokenRE.FindAllString(before, -1)
	for _, tok := range tokenRE.FindAllString(after, -1) {
		require.NotContains(t, old, tok)
	}
	prod, dev := f.decrypts(t, f.alice)
	require.False(t, prod)
	require.False(t, dev)
	prod, dev = f.decrypts(t, f.bob)
	require.True(t, prod)
	require.True(t, dev)
}

func TestUpdatekeysDeclined(t *testing.T) {
	for _, answer := range []string{"n\n", "\n", "", "yes please\n"} {
		f := newTeamFixture(t)
		before := f.read(t)
		env := f.env
		env.terminal, env.stdin = true, answer
		r := env.run(t, "updatekeys", f.file)
		require.Equal(t, ExitError, r.code, "answer %q: %s", answer, r.err)
		require.Contains(t, r.err, "[y/N] ksec: error: not confirmed: no file was changed\n")
		require.Equal(t, before, f.read(t))
	}
	f := newTeamFixture(t)
	env := f.env
	env.terminal, env.stdin = true, "YES\n"
	require.Equal(t, ExitOK, env.run(t, "updatekeys", f.file).code)
}

func TestUpdatekeysNoTerminal(t *testing.T) {
	f := newTeamFixture(t)
	before := f.read(t)
	r := f.env.run(t, "updatekeys", f.file)
	require.Equal(t, ExitUsage, r.code, r.err)
	// The plan is shown, then the refusal.
	require.Contains(t, r.err, "  + age:"+f.bob.recipient+"\n")
	require.Contains(t, r.err, "ksec: error: updatekeys asks before changing files, and standard input is not a terminal\n"+
		"ksec: hint: check the changes above, then run again with -y to apply them\n")
	require.NotContains(t, r.err, "[y/N]")
	require.Equal(t, before, f.read(t))
}

func TestUpdatekeysFromAnotherDirectory(t *testing.T) {
	f := newTeamFixture(t)
	// A config in the working directory must not be the one used.
	elsewhere := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(elsewhere, ".ksec.yaml"), []byte("rules:\n  - keys: [age:"+f.alice.recipient+"]\n"), 0o644))
	t.Chdir(elsewhere)
	rel, err := filepath.Rel(elsewhere, f.file)
	require.NoError(t, err)
	r := f.env.run(t, "updatekeys", "-y", rel)
	require.Equal(t, ExitOK, r.code, r.err)
	require.Contains(t, r.err, rel+": document 1 (Secret prod/db): rule "+filepath.Join(f.root, ".ksec.yaml")+":2\n")
	prod, _ := f.decrypts(t, f.bob)
	require.True(t, prod)
}

func TestUpdatekeysNoRule(t *testing.T) {
	f := newTeamFixture(t)
	// Only prod has a rule now: dev/other is reported, prod/db still updated.
	f.writeConfig(t, "rules:\n  - namespace: prod\n    keys: [age:"+f.alice.recipient+", age:"+f.bob.recipient+"]\n")
	other := filepath.Join(f.root, "other.yaml")
	require.NoError(t, os.WriteFile(other, []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o644))
	r := f.env.run(t, "updatekeys", "-y", f.file, other)
	require.Equal(t, ExitError, r.code, r.err)
	require.Contains(t, r.err, f.file+": document 2 (Secret dev/other): no rule of "+filepath.Join(f.root, ".ksec.yaml")+" matches, skipped\n")
	require.Contains(t, r.err, other+": no encrypted Secret, skipped\n")
	require.Contains(t, r.err, f.file+": updated\n")
	require.Contains(t, r.err, "ksec: error: 1 Secret had no matching rule and left as they were\n"+
		"ksec: hint: add a rule for them to .ksec.yaml (see docs/CONFIG.md), or set their recipients with ksec encrypt -k KEY\n")
	prod, dev := f.decrypts(t, f.bob)
	require.True(t, prod)
	require.False(t, dev)

	// No config at all.
	require.NoError(t, os.Remove(filepath.Join(f.root, ".ksec.yaml")))
	r = f.env.run(t, "updatekeys", "-y", f.file)
	require.Equal(t, ExitError, r.code, r.err)
	require.Contains(t, r.err, f.file+": no .ksec.yaml in its directory or above, skipped\n")
	require.Contains(t, r.err, "ksec: error: 2 Secrets had no matching rule")
}

func TestUpdatekeysAllOrNothing(t *testing.T) {
	f := newTeamFixture(t)
	second := filepath.Join(f.root, "apps", "second.yaml")
	require.NoError(t, os.WriteFile(second, []byte(f.read(t)), 0o644)) // for alice only
	f.writeConfig(t, "rules:\n  - keys: [age:"+f.alice.recipient+", age:"+f.bob.recipient+"]\n")
	r := f.env.run(t, "updatekeys", "-y", f.file)
	require.Equal(t, ExitOK, r.code, r.err)
	// Now bob alone: bob decrypts the first file but not the second, which
	// fails after the first was re-encrypted; neither is written.
	f.writeConfig(t, "rules:\n  - keys: [age:"+f.bob.recipient+"]\n")
	firstBefore, secondBefore := f.read(t), teamReadFile(t, second)
	env := teamEnv{env: map[string]string{"HOME": f.env.env["HOME"], "KSEC_IDENTITY_FILE": f.bob.file}}
	r = env.run(t, "updatekeys", "-y", f.file, second)
	require.Equal(t, ExitNoKey, r.code, r.err)
	require.Contains(t, r.err, "ksec: error: "+second+": document 1 (Secret prod/db): no key could decrypt")
	require.NotContains(t, r.err, "updated")
	require.Equal(t, firstBefore, f.read(t))
	require.Equal(t, secondBefore, teamReadFile(t, second))
}

func teamReadFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(data)
}

func TestUpdatekeysPlaintextValue(t *testing.T) {
	f := newTeamFixture(t)
	src := f.read(t)
	// A value added by hand to the unchanged dev Secret: sealing it is not
	// updatekeys' job, so the file is refused before anything is asked.
	src = strings.Replace(src, "  token: ENC[", "  added: plain\n  token: ENC[", 1)
	require.NoError(t, os.WriteFile(f.file, []byte(src), 0o644))
	r := f.env.run(t, "updatekeys", "-y", f.file)
	require.Equal(t, ExitBadInput, r.code, r.err)
	require.Contains(t, r.err, "ksec: error: "+f.file+": document 2 (Secret dev/other): stringData.added (line ")
	require.Contains(t, r.err, "bad input: the value is not encrypted\nksec: hint: seal it first with: ksec encrypt -i "+f.file+"\n")
	require.Equal(t, src, f.read(t))
}

func TestUpdatekeysConfigErrors(t *testing.T) {
	f := newTeamFixture(t)
	before := f.read(t)
	f.writeConfig(t, "rules:\n  - path: 'apps/**'\n    pgp: ABC\n")
	r := f.env.run(t, "updatekeys", "-y", f.file)
	require.Equal(t, ExitBadInput, r.code, "a broken config is bad input: cmd/exit.go must map config.ErrInvalid to ExitBadInput\n"+r.err)
	require.Contains(t, r.err, "ksec: error: "+filepath.Join(f.root, ".ksec.yaml")+`:3: rule 1: unknown field "pgp" (known: path, path_regex, namespace, keys)`+"\n")
	require.Contains(t, r.err, "ksec: hint: ksec lists every key of a rule under keys:")
	require.Equal(t, before, f.read(t))

	// A key spec the keyring rejects names the rule's line.
	f.writeConfig(t, "rules:\n  - keys: [age:"+f.alice.recipient+"]\n    namespace: dev\n  - keys: [age:age1notakey]\n")
	r = f.env.run(t, "updatekeys", "-y", f.file)
	require.Equal(t, ExitError, r.code, r.err)
	require.Contains(t, r.err, "ksec: error: keys of the rule at "+filepath.Join(f.root, ".ksec.yaml")+`:4: key "age:age1notakey": `)
	require.Equal(t, before, f.read(t))
}

func TestUpdatekeysUsage(t *testing.T) {
	r := teamEnv{}.run(t, "updatekeys")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.err, "ksec: error: updatekeys needs at least one FILE\n")
	var got *UpdatekeysOptions
	sys := &System{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	c := NewCmdUpdatekeys(sys, func(_ *cobra.Command, o *UpdatekeysOptions) error { got = o; return nil })
	c.SetArgs([]string{"-y", "-I", "a.key", "--identity", "b.key", "x.yaml", "y.yaml"})
	require.NoError(t, c.Execute())
	require.Equal(t, &UpdatekeysOptions{Files: []string{"x.yaml", "y.yaml"}, Yes: true, Identities: []string{"a.key", "b.key"}}, got)
}
