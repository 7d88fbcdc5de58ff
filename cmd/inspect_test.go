package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// inspectRun is the outcome of one ksec command line run in-process.
type inspectRun struct {
	err      error
	code     int
	out, log string
}

// inspectCreateCLI runs a ksec command line in dir through the real root,
// adding inspect and create when the root does not have them yet.
func inspectCreateCLI(t *testing.T, dir string, env map[string]string, stdin string, args ...string) inspectRun {
	t.Helper()
	var out, errOut bytes.Buffer
	sys := &System{
		In: strings.NewReader(stdin), Out: &out, Err: &errOut,
		Getenv:          func(k string) string { return env[k] },
		StdinIsTerminal: func() bool { return false },
	}
	root := NewCmdRoot(sys, "test")
	for name, c := range map[string]*cobra.Command{"inspect": NewCmdInspect(sys, nil), "create": NewCmdCreate(sys, nil)} {
		if found, _, err := root.Find([]string{name}); err != nil || found == root {
			root.AddCommand(c)
		}
	}
	root.SetArgs(args)
	root.SetIn(sys.In)
	root.SetOut(sys.Out)
	root.SetErr(sys.Err)
	t.Chdir(dir)
	err := root.ExecuteContext(t.Context())
	r := inspectRun{err: err}
	if err != nil {
		r.code = reportError(sys.Err, err)
	}
	r.out, r.log = out.String(), errOut.String()
	return r
}

func TestInspectFlags(t *testing.T) {
	parse := func(args ...string) (*InspectOptions, error) {
		var got *InspectOptions
		sys := &System{Getenv: func(string) string { return "" }}
		root := &cobra.Command{Use: "ksec"}
		root.AddCommand(NewCmdInspect(sys, func(_ *cobra.Command, o *InspectOptions) error { got = o; return nil }))
		root.SetArgs(args)
		root.SetOut(new(bytes.Buffer))
		root.SetErr(new(bytes.Buffer))
		err := root.Execute()
		return got, err
	}
	o, err := parse("inspect", "a.yaml", "-", "b.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"a.yaml", "-", "b.yaml"}, o.Files)
	require.Equal(t, "text", o.Format)

	o, err = parse("introspect", "-o", "json", "a.yaml")
	require.NoError(t, err)
	require.Equal(t, &InspectOptions{Files: []string{"a.yaml"}, Format: "json"}, o)

	o, err = parse("inspect", "--output=json")
	require.NoError(t, err)
	require.Empty(t, o.Files)
	require.Equal(t, "json", o.Format)
}

func TestInspectUsage(t *testing.T) {
	dir := t.TempDir()
	r := inspectCreateCLI(t, dir, nil, "", "inspect", "-o", "yaml", "x")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.log, `ksec: error: -o/--output must be text or json, not "yaml"`)

	r = inspectCreateCLI(t, dir, nil, "", "inspect", "-", "-")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.log, "standard input (-) can be read only once")

	sys := &System{In: strings.NewReader(""), Out: new(bytes.Buffer), Err: new(bytes.Buffer), StdinIsTerminal: func() bool { return true }}
	err := runInspect(t.Context(), sys, &InspectOptions{Format: "text"})
	require.EqualError(t, err, "no input: give FILEs, or '-' to read standard input")
	require.Equal(t, ExitUsage, exitCode(err))
}

const inspectPlain = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
data:
  password: czNjcjN0
stringData:
  user: admin
`

const inspectList = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cfg
  - apiVersion: v1
    kind: Secret
    metadata:
      name: listed
    stringData:
      a: b
`

// The JSON schema is matched exactly: it is a contract for scripts.
func TestInspectJSON(t *testing.T) {
	dir := t.TempDir()
	home := gpgtest.NewHome(t)
	fpr := gpgtest.GenKey(t, home, gpgtest.ECC, "inspect@example.test")
	pub := gpgtest.ExportPublic(t, home, fpr)
	for _, e := range gpgtest.Env(home) {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	ageID := id.Recipient().String()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("plain.yaml", inspectPlain)
	write("list.yaml", inspectList)
	write("notes.yaml", "kind: ConfigMap\n")
	write("alice.pub.asc", string(pub))
	r := inspectCreateCLI(t, dir, nil, "", "encrypt", "-k", ageID, "-k", "alice.pub.asc", "-o", "enc.yaml", "plain.yaml")
	require.NoError(t, r.err, r.log)
	enc, err := os.ReadFile(filepath.Join(dir, "enc.yaml"))
	require.NoError(t, err)
	// A value added by hand to an encrypted Secret; a token without a block.
	write("partial.yaml", strings.Replace(string(enc), "stringData:\n", "stringData:\n  added: by hand\n", 1))
	token := strings.Fields(strings.Split(string(enc), "password: ")[1])[0]
	write("stray.yaml", "kind: Secret\napiVersion: v1\nmetadata:\n  name: stray\ndata:\n  k: "+token+"\n")

	r = inspectCreateCLI(t, dir, nil, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"data":{}}`,
		"inspect", "-o", "json", "enc.yaml", "plain.yaml", "partial.yaml", "stray.yaml", "list.yaml", "notes.yaml", "-")
	require.ErrorIs(t, r.err, ErrNotEncrypted)
	recipients := fmt.Sprintf(`[
            {
              "type": "age",
              "id": %q,
              "user_id": ""
            },
            {
              "type": "pgp",
              "id": %q,
              "user_id": "ksec test <inspect@example.test>"
            }
          ]`, ageID, fpr)
	want := `{
  "files": [
    {
      "file": "enc.yaml",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": null,
          "namespace": "prod",
          "name": "db",
          "status": "encrypted",
          "version": 1,
          "values": {
            "data": 1,
            "stringData": 1
          },
          "keys": [
            "data.password",
            "stringData.user"
          ],
          "plaintext": [],
          "recipients": ` + recipients + `
        }
      ]
    },
    {
      "file": "plain.yaml",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": null,
          "namespace": "prod",
          "name": "db",
          "status": "plain",
          "version": null,
          "values": {
            "data": 1,
            "stringData": 1
          },
          "keys": [
            "data.password",
            "stringData.user"
          ],
          "plaintext": [
            "data.password",
            "stringData.user"
          ],
          "recipients": []
        }
      ]
    },
    {
      "file": "partial.yaml",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": null,
          "namespace": "prod",
          "name": "db",
          "status": "partial",
          "version": 1,
          "values": {
            "data": 1,
            "stringData": 2
          },
          "keys": [
            "data.password",
            "stringData.added",
            "stringData.user"
          ],
          "plaintext": [
            "stringData.added"
          ],
          "recipients": ` + recipients + `
        }
      ]
    },
    {
      "file": "stray.yaml",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": null,
          "namespace": "",
          "name": "stray",
          "status": "partial",
          "version": null,
          "values": {
            "data": 1,
            "stringData": 0
          },
          "keys": [
            "data.k"
          ],
          "plaintext": [],
          "recipients": []
        }
      ]
    },
    {
      "file": "list.yaml",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": 2,
          "namespace": "",
          "name": "listed",
          "status": "plain",
          "version": null,
          "values": {
            "data": 0,
            "stringData": 1
          },
          "keys": [
            "stringData.a"
          ],
          "plaintext": [
            "stringData.a"
          ],
          "recipients": []
        }
      ]
    },
    {
      "file": "notes.yaml",
      "error": null,
      "secrets": []
    },
    {
      "file": "-",
      "error": null,
      "secrets": [
        {
          "document": 1,
          "item": null,
          "namespace": "",
          "name": "j",
          "status": "plain",
          "version": null,
          "values": {
            "data": 0,
            "stringData": 0
          },
          "keys": [],
          "plaintext": [],
          "recipients": []
        }
      ]
    }
  ]
}
`
	require.Equal(t, want, r.out)
	require.Equal(t, "ksec: error: not encrypted: 5 of 6 Secrets (3 plain, 2 partially encrypted); no Secret in notes.yaml\n"+
		"ksec: hint: encrypt a plain file with: ksec encrypt -i -k KEY FILE\n"+
		"ksec: hint: seal the plaintext values of an encrypted file with: ksec encrypt -i FILE\n", r.log)

	// The schema also decodes into the documented field names only.
	var decoded struct {
		Files []struct {
			File    string
			Error   *string
			Secrets []map[string]json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &decoded))
	keys := []string{}
	for k := range decoded.Files[0].Secrets[0] {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"document", "item", "namespace", "name", "status", "version", "values", "keys", "plaintext", "recipients"}, keys)

	// Every Secret encrypted: exit 0, nothing on standard error.
	r = inspectCreateCLI(t, dir, nil, "", "inspect", "enc.yaml")
	require.NoError(t, r.err)
	require.Empty(t, r.log)
	require.Equal(t, `enc.yaml
  Secret:      prod/db  (document 1)
  Status:      encrypted
  Format:      ksec version 1
  Values:      2 (1 data, 1 stringData)
               data.password
               stringData.user
  Recipients:  age  `+ageID+`
               pgp  `+fpr+strings.Repeat(" ", len(ageID)-len(fpr))+`  ksec test <inspect@example.test>
`, r.out)
}

func TestInspectText(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.yaml"), []byte(inspectPlain), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sops.yaml"), []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]\n"), 0o644))
	// Terminal escapes in a name or key are shown, not sent to the terminal.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "evil.yaml"), []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"a\\e[2Jb\"\nstringData:\n  \"k\\x07\\t\": v\n"), 0o644))
	r := inspectCreateCLI(t, dir, nil, "", "inspect", "plain.yaml", "sops.yaml", "evil.yaml")
	require.ErrorIs(t, r.err, ErrNotEncrypted)
	require.Equal(t, `plain.yaml
  Secret:      prod/db  (document 1)
  Status:      plain (not encrypted)
  Values:      2 (1 data, 1 stringData)
               data.password
               stringData.user

sops.yaml
  Secret:      s  (document 1)
  Status:      partially encrypted: ENC[…] values not written by ksec (a SOPS file?), no ksec block
  Values:      1 (1 data)
               data.k  (sealed)

evil.yaml
  Secret:      a\x1b[2Jb  (document 1)
  Status:      plain (not encrypted)
  Values:      1 (1 stringData)
               stringData.k\a\t
`, r.out)
	require.Equal(t, "ksec: error: not encrypted: 3 of 3 Secrets (2 plain, 1 partially encrypted)\n"+
		"ksec: hint: encrypt a plain file with: ksec encrypt -i -k KEY FILE\n"+
		"ksec: hint: seal the plaintext values of an encrypted file with: ksec encrypt -i FILE\n", r.log)
	require.NotContains(t, r.out, "\x1b")

	r = inspectCreateCLI(t, dir, nil, "", "inspect", "plain.yaml")
	require.Equal(t, "ksec: error: not encrypted: the Secret is plain\nksec: hint: encrypt a plain file with: ksec encrypt -i -k KEY FILE\n", r.log)
}

// Unreadable and unparsable files are reported; the others still are.
func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.yaml"), []byte(inspectPlain), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("a: [\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "future.yaml"), []byte(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: f\nksec:\n  version: 9\n"), 0o644))

	r := inspectCreateCLI(t, dir, nil, "", "inspect", "-o", "json", "bad.yaml", "plain.yaml", "missing.yaml")
	require.Equal(t, ExitBadInput, r.code, "bad input outranks a later unreadable file")
	require.True(t, errors.Is(r.err, manifest.ErrBadInput))
	require.Equal(t, "ksec: error: bad.yaml: document 1: bad input: invalid YAML: line 1: did not find expected node content\n"+
		"ksec: error: missing.yaml: no such file or directory\n", r.log)
	var report inspectReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &report))
	require.Len(t, report.Files, 3)
	require.Equal(t, "document 1: bad input: invalid YAML: line 1: did not find expected node content", *report.Files[0].Error)
	require.Empty(t, report.Files[0].Secrets)
	require.Nil(t, report.Files[1].Error)
	require.Len(t, report.Files[1].Secrets, 1)
	require.Equal(t, "no such file or directory", *report.Files[2].Error)

	r = inspectCreateCLI(t, dir, nil, "", "inspect", "missing.yaml")
	require.Equal(t, ExitError, r.code)
	require.Equal(t, "missing.yaml\n  (not inspected: see the error below)\n", r.out)

	r = inspectCreateCLI(t, dir, nil, "", "inspect", "future.yaml")
	require.Equal(t, ExitBadInput, r.code)
	require.Equal(t, "ksec: error: future.yaml: document 1 (Secret f): line 5: format version 9 is not supported (this ksec reads version 1)\n"+
		"ksec: hint: the file was written by a newer ksec: upgrade ksec to read it\n", r.log)
	require.Empty(t, hint.All(r.err))
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "plain",
		"ünïcode ✓":     "ünïcode ✓",
		"a\x1b[31mb":    `a\x1b[31mb`,
		"bad\xffutf8":   `bad\xffutf8`,
		"real \uFFFD":   "real \uFFFD",
		"nl\nand\u2028": `nl\nand\u2028`,
	} {
		require.Equal(t, want, printable(in), "%q", in)
	}
}
