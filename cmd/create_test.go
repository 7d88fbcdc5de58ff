package cmd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

func parseCreate(t *testing.T, args ...string) (*CreateOptions, error) {
	t.Helper()
	var got *CreateOptions
	sys := &System{Getenv: func(string) string { return "" }}
	root := &cobra.Command{Use: "ksec", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(NewCmdCreate(sys, func(_ *cobra.Command, o *CreateOptions) error { got = o; return nil }))
	root.SetArgs(args)
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	return got, root.Execute()
}

func TestCreateFlags(t *testing.T) {
	generic := &CreateOptions{
		Kind: createGeneric, Name: "db", Namespace: "prod", Type: "example.com/t",
		Literals: []string{"a=b", "c=d=e"}, Files: []string{"k=p", "dir"}, EnvFiles: []string{"e.env"},
		Keys: []string{"K1", "K2,K3", "K4"}, Output: "out.yaml", Force: true,
	}
	for _, prefix := range [][]string{{"create"}, {"create", "generic"}} {
		o, err := parseCreate(t, append(prefix, "db", "-n", "prod", "--type", "example.com/t",
			"--from-literal", "a=b", "--from-literal=c=d=e", "--from-file", "k=p", "--from-file", "dir",
			"--from-env-file", "e.env", "-k", "K1", "--key", "K2,K3", "--recipient", "K4", "-o", "out.yaml", "--force")...)
		require.NoError(t, err)
		require.Equal(t, generic, o, "%v", prefix)
	}

	o, err := parseCreate(t, "create", "tls", "web", "--cert", "web.crt", "--key", "web.key", "-k", "R1", "--recipient", "R2", "--namespace", "ns")
	require.NoError(t, err)
	require.Equal(t, &CreateOptions{Kind: createTLS, Name: "web", Namespace: "ns", Cert: "web.crt", Key: "web.key", Keys: []string{"R1", "R2"}}, o)

	o, err = parseCreate(t, "create", "docker-registry", "pull", "--docker-server", "registry.example.test",
		"--docker-username", "u", "--docker-password", "p", "--docker-email", "e@example.test", "-k", "R")
	require.NoError(t, err)
	require.Equal(t, &CreateOptions{Kind: createDockerRegistry, Name: "pull", DockerServer: "registry.example.test",
		DockerUsername: "u", DockerPassword: "p", DockerEmail: "e@example.test", Keys: []string{"R"}}, o)

	for args, want := range map[string]string{
		"create":                           "create needs exactly one NAME, got 0",
		"create a b":                       "create needs exactly one NAME, got 2",
		"create tls":                       "create needs exactly one NAME, got 0",
		"create tls web --type x":          "unknown flag: --type",
		"create generic x --cert c":        "unknown flag: --cert",
		"create docker-registry x --bogus": "unknown flag: --bogus",
	} {
		_, err := parseCreate(t, strings.Fields(args)...)
		require.EqualError(t, err, want, args)
		require.Equal(t, ExitUsage, exitCode(err), args)
	}
}

// kubectlYAML runs kubectl create secret … --dry-run=client -o yaml, the
// reference encoder, away from any kubeconfig. It reports false when
// kubectl is not installed (the expected texts below were made with it).
func kubectlYAML(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("kubectl is not installed: comparing with recorded kubectl 1.32 output only")
		return "", false
	}
	cmd := exec.Command("kubectl", append(append([]string{"create", "secret"}, args...), "--dry-run=client", "-o", "yaml")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kubectl: %s", stderr.String())
	return string(out), true
}

func TestSecretYAMLLikeKubectl(t *testing.T) {
	long := strings.Repeat("k", 130)
	cases := []struct {
		name, namespace, typ string
		literals             []string
		want                 string
	}{{
		name: "empty",
		want: "apiVersion: v1\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: empty\n",
	}, {
		// Keys YAML would read as numbers, booleans, null or dates are
		// quoted; keys sort with digits compared as numbers; a key longer
		// than 128 bytes is written as a complex key.
		name: "edge",
		literals: []string{"1=x", "yes=", "a10=1", "a9=2", "-=3", ".5=3", "2001-12-14=1", "null=1", "1_0=1",
			long + `="quoted"`, "---x=y", "true=ñ"},
		want: `apiVersion: v1
data:
  '-': Mw==
  '---x': eQ==
  ".5": Mw==
  "1": eA==
  "1_0": MQ==
  "2001-12-14": MQ==
  a9: Mg==
  a10: MQ==
  ? ` + long + `
  : InF1b3RlZCI=
  "null": MQ==
  "true": w7E=
  "yes": ""
kind: Secret
metadata:
  creationTimestamp: null
  name: edge
`,
	}, {
		// A long type with spaces is folded at 80 columns, as kubectl does.
		name: "typed", namespace: "team-a",
		typ: "a b: c #d long long long long long long long long long long long long long long long long long ",
		want: `apiVersion: v1
kind: Secret
metadata:
  creationTimestamp: null
  name: typed
  namespace: team-a
type: 'a b: c #d long long long long long long long long long long long long long
  long long long long '
`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string][]byte{}
			for i, l := range tc.literals {
				require.NoError(t, addLiteralSource(data, i+1, l))
			}
			got, err := secretYAML(secretMeta{Name: tc.name, Namespace: tc.namespace}, tc.typ, data)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			args := []string{"generic", tc.name}
			if tc.namespace != "" {
				args = append(args, "-n", tc.namespace)
			}
			if tc.typ != "" {
				args = append(args, "--type", tc.typ)
			}
			for _, l := range tc.literals {
				args = append(args, "--from-literal="+l)
			}
			if ref, ok := kubectlYAML(t, t.TempDir(), args...); ok {
				require.Equal(t, ref, string(got), "kubectl's output differs")
			}
		})
	}
}

func TestCreateLiteralsAndFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("pw.txt", "s3cr3t\n")
	write("conf/a.conf", "A")
	write("conf/b.conf", "B")
	write("conf/sub/c.conf", "C")
	require.NoError(t, os.Symlink("a.conf", filepath.Join(dir, "conf", "link.conf")))
	write("bad/white space", "x")
	t.Chdir(dir)

	data := map[string][]byte{}
	require.NoError(t, addFileSource(data, "pw.txt"))
	require.NoError(t, addFileSource(data, "password=pw.txt"))
	require.NoError(t, addFileSource(data, "conf"))
	require.NoError(t, addLiteralSource(data, 1, `quoted="a=b" `))
	require.Equal(t, map[string][]byte{
		"pw.txt": []byte("s3cr3t\n"), "password": []byte("s3cr3t\n"),
		"a.conf": []byte("A"), "b.conf": []byte("B"), "quoted": []byte(`"a=b" `),
	}, data, "symbolic links and subdirectories of a directory are skipped")

	for src, want := range map[string]string{
		"pw.txt":                             `key "pw.txt" is given twice`,
		"=pw.txt":                            `--from-file "=pw.txt": want [KEY=]PATH`,
		"k=":                                 `--from-file "k=": want [KEY=]PATH`,
		"a=b=c":                              `--from-file "a=b=c": key names and file paths cannot contain '='`,
		"k=conf":                             `--from-file "k=conf": a directory takes no KEY= (each file's name is its key)`,
		"missing":                            "--from-file: open missing: no such file or directory",
		"bad":                                `"white space" is not a valid key name for a Secret: it must consist of letters, digits, '-', '_' or '.'`,
		"..x=pw.txt":                         `"..x" is not a valid key name for a Secret: it must not start with '..'`,
		"ok=pw.txt/":                         "--from-file: open pw.txt/: not a directory",
		strings.Repeat("k", 254) + "=pw.txt": `"` + strings.Repeat("k", 254) + `" is not a valid key name for a Secret: it must be no more than 253 characters`,
	} {
		err := addFileSource(data, src)
		require.EqualError(t, err, want, src)
	}
	// A source that never ends is cut off, not read forever.
	err := addFileSource(map[string][]byte{}, "zero=/dev/zero")
	require.EqualError(t, err, "bad input: --from-file /dev/zero is larger than 16 MiB")
	require.Equal(t, []string{"a Kubernetes Secret holds at most 1 MiB in all"}, hint.All(err))
	err = addFileSource(map[string][]byte{}, "conf/sub/../../pw.txt")
	require.NoError(t, err)
	err = addFileSource(map[string][]byte{}, "a b=pw.txt")
	require.Equal(t, ExitUsage, exitCode(err))
	require.Empty(t, hint.All(err), "an explicit key needs no hint to name one")
	err = addFileSource(map[string][]byte{}, "bad/white space")
	require.Equal(t, []string{"name the key: --from-file KEY=PATH"}, hint.All(err))

	for i, src := range []string{"novalue-s3cr3t", "=s3cr3t", "bad key=s3cr3t", "quoted=again"} {
		err := addLiteralSource(data, i+1, src)
		require.Error(t, err)
		require.Equal(t, ExitUsage, exitCode(err))
		require.NotContains(t, err.Error(), "s3cr3t", "a value is never shown")
	}
	require.EqualError(t, addLiteralSource(data, 1, "novalue-s3cr3t"), "--from-literal number 1: want KEY=VALUE (it is not shown, in case it is a secret)")
	require.EqualError(t, addLiteralSource(data, 2, "=s3cr3t"), "--from-literal number 2: the KEY before '=' is missing")
	require.EqualError(t, addLiteralSource(data, 3, "quoted=again"), `key "quoted" is given twice`)
}

func TestCreateEnvFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"FROMENV": "hello"}
	sys := &System{Getenv: func(k string) string { return env[k] }}
	read := func(content string) (map[string][]byte, error) {
		path := filepath.Join(dir, "x.env")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		data := map[string][]byte{}
		return data, addEnvFile(sys, data, path)
	}
	data, err := read("\uFEFF# comment\n\n   SPACED=  v1  \nQUOTED=\"q\"\nFROMENV\nUNSET\nCRLF=x\r\nEMPTY=\nEQ=a=b\n\t# indented comment\nLAST=no-newline")
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{
		"SPACED": []byte("  v1  "), "QUOTED": []byte(`"q"`), "FROMENV": []byte("hello"), "UNSET": {},
		"CRLF": []byte("x"), "EMPTY": {}, "EQ": []byte("a=b"), "LAST": []byte("no-newline"),
	}, data)

	for content, want := range map[string]string{
		"A=1\nexport B=s3cr3t\n": `bad input: --from-env-file ` + dir + `/x.env, line 2: "export B" is not a valid variable name`,
		"A=1\n\n1A=s3cr3t\n":     `bad input: --from-env-file ` + dir + `/x.env, line 3: "1A" is not a valid variable name`,
		"s3cr3t continued\n":     `bad input: --from-env-file ` + dir + `/x.env, line 1: the name before '=' is not a valid variable name`,
		"A=1\nA=s3cr3t\n":        `--from-env-file ` + dir + `/x.env, line 2: key "A" is given twice`,
		"A=\xff\n":               `bad input: --from-env-file ` + dir + `/x.env, line 1: not valid UTF-8`,
		"..A=1\n":                `bad input: --from-env-file ` + dir + `/x.env, line 1: "..A" is not a valid variable name`,
	} {
		_, err := read(content)
		require.EqualError(t, err, want, "%q", content)
		require.NotContains(t, err.Error(), "s3cr3t")
	}
	require.EqualError(t, addEnvFile(sys, map[string][]byte{}, dir), "--from-env-file "+dir+": is a directory, want a file of KEY=VALUE lines")
	require.EqualError(t, addEnvFile(sys, map[string][]byte{}, filepath.Join(dir, "none.env")),
		"--from-env-file: stat "+dir+"/none.env: no such file or directory")
}

func TestDockerConfigJSON(t *testing.T) {
	got, err := dockerConfigJSON("registry.example.test:5000", "ci", "p<&>:x", "")
	require.NoError(t, err)
	require.Equal(t, `{"auths":{"registry.example.test:5000":{"username":"ci","password":"p\u003c\u0026\u003e:x","auth":"Y2k6cDwmPjp4"}}}`, string(got))
	got, err = dockerConfigJSON("r", "u", "p", "e@example.test")
	require.NoError(t, err)
	require.Equal(t, `{"auths":{"r":{"username":"u","password":"p","email":"e@example.test","auth":"dTpw"}}}`, string(got))
}

// testTLSPair writes a self-signed certificate and its key as PEM files.
func testTLSPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(0, 0).AddDate(100, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// The created file decrypts to exactly what kubectl prints, and nothing
// but the encrypted output is written.
func TestCreateEncrypts(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "me.agekey"), []byte(id.String()+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("hunter2-file"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.env"), []byte("A=hunter2-env\n"), 0o600))
	certFile, keyFile := testTLSPair(t, dir, "web")
	_, otherKey := testTLSPair(t, dir, "other")
	env := map[string]string{"KSEC_IDENTITY_FILE": filepath.Join(dir, "me.agekey")}
	me := id.Recipient().String()

	cases := []struct {
		file string
		args []string // after "create"; kubectl create secret takes the same
	}{
		{"generic.yaml", []string{"generic", "db", "-n", "prod", "--from-literal", "user=admin", "--from-file", "password=pw.txt", "--from-file", "pw.txt"}},
		{"env.yaml", []string{"generic", "env", "--from-env-file", "app.env"}},
		// A key over 128 bytes is a YAML complex key ("? KEY" / ": VALUE").
		{"long.yaml", []string{"generic", "long", "--from-literal", strings.Repeat("k", 130) + "=hunter2-long", "--from-literal", "1=hunter2-one"}},
		{"typed.yaml", []string{"generic", "typed", "--type", "example.com/config", "--from-literal", "k=hunter2-literal"}},
		{"tls.yaml", []string{"tls", "web", "-n", "prod", "--cert", certFile, "--key", keyFile}},
		{"docker.yaml", []string{"docker-registry", "pull", "--docker-server", "registry.example.test", "--docker-username", "ci", "--docker-password", "hunter2-docker", "--docker-email", "ci@example.test"}},
	}
	var outputs []string
	for _, tc := range cases {
		r := inspectCreateCLI(t, dir, env, "", append(append([]string{"create"}, tc.args...), "-k", me, "-o", tc.file)...)
		require.NoError(t, r.err, r.log)
		require.Empty(t, r.out)
		outputs = append(outputs, tc.file)
		enc, err := os.ReadFile(filepath.Join(dir, tc.file))
		require.NoError(t, err)
		require.NotContains(t, string(enc), "hunter2")
		require.Contains(t, string(enc), "\nksec:\n  version: 1\n")

		r = inspectCreateCLI(t, dir, env, "", "inspect", tc.file)
		require.NoError(t, r.err, "created files are fully encrypted: %s", r.out)

		r = inspectCreateCLI(t, dir, env, "", "decrypt", tc.file)
		require.NoError(t, r.err, r.log)
		if ref, ok := kubectlYAML(t, dir, tc.args...); ok {
			require.Equal(t, ref, r.out, "%s: decrypted output differs from kubectl's", tc.file)
		}
		st, err := manifest.Parse([]byte(r.out))
		require.NoError(t, err)
		require.Len(t, st.Secrets, 1)
	}
	r := inspectCreateCLI(t, dir, env, "", "decrypt", "docker.yaml")
	require.NoError(t, r.err)
	cfg := `{"auths":{"registry.example.test":{"username":"ci","password":"hunter2-docker","email":"ci@example.test","auth":"Y2k6aHVudGVyMi1kb2NrZXI="}}}`
	require.Equal(t, "apiVersion: v1\ndata:\n  .dockerconfigjson: "+base64.StdEncoding.EncodeToString([]byte(cfg))+
		"\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: pull\ntype: kubernetes.io/dockerconfigjson\n", r.out)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, append([]string{"me.agekey", "pw.txt", "app.env", "web.crt", "web.key", "other.crt", "other.key"}, outputs...), names,
		"no temporary or plaintext file is left")

	// Standard output, and KSEC_KEYS when there is no -k.
	r = inspectCreateCLI(t, dir, map[string]string{"KSEC_KEYS": me, "KSEC_IDENTITY_FILE": env["KSEC_IDENTITY_FILE"]}, "", "create", "s", "--from-literal", "a=b")
	require.NoError(t, r.err, r.log)
	require.True(t, strings.HasPrefix(r.out, "apiVersion: v1\ndata:\n  a: ENC[ksec.v1,"), r.out)

	// An existing output is kept unless --force.
	before, err := os.ReadFile(filepath.Join(dir, "typed.yaml"))
	require.NoError(t, err)
	r = inspectCreateCLI(t, dir, env, "", "create", "typed", "--from-literal", "k=v", "-k", me, "-o", "typed.yaml")
	require.Equal(t, ExitError, r.code)
	require.Equal(t, "ksec: error: typed.yaml already exists\nksec: hint: pass --force to replace it, or change its values with ksec edit or ksec patch\n", r.log)
	after, err := os.ReadFile(filepath.Join(dir, "typed.yaml"))
	require.NoError(t, err)
	require.Equal(t, before, after)
	r = inspectCreateCLI(t, dir, env, "", "create", "typed", "--from-literal", "k=v", "-k", me, "-o", "typed.yaml", "--force")
	require.NoError(t, r.err, r.log)
	r = inspectCreateCLI(t, dir, env, "", "decrypt", "typed.yaml")
	require.NoError(t, r.err, r.log)
	require.Contains(t, r.out, "\n  k: dg==\n")

	// A key that does not match the certificate.
	r = inspectCreateCLI(t, dir, env, "", "create", "tls", "web", "--cert", certFile, "--key", otherKey, "-k", me)
	require.Equal(t, ExitBadInput, r.code)
	require.Equal(t, "ksec: error: bad input: --cert "+certFile+" and --key "+otherKey+": tls: private key does not match public key\n", r.log)
	require.Empty(t, r.out)
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	me := id.Recipient().String()
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		code  int
		log   string
		hints []string
	}{{
		args: []string{"create", "db", "--from-literal", "a=b"},
		code: ExitUsage, log: "ksec: error: no keys to encrypt for\n",
		hints: []string{"name keys with -k (repeatable) or KSEC_KEYS, e.g. -k age1… or -k pgp:FINGERPRINT, or add a rule to .ksec.yaml for the -o file"},
	}, {
		args: []string{"create", "db", "-k", "+" + me},
		code: ExitUsage, log: `ksec: error: -k "+` + me + `": +KEY and -KEY change an encrypted file's recipients` + "\n",
		hints: []string{"a new Secret takes its whole recipient list: -k KEY (repeatable)"},
	}, {
		args: []string{"create", "Db", "-k", me},
		code: ExitUsage, log: `ksec: error: NAME "Db" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit` + "\n",
		hints: []string{"a Secret name is lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"},
	}, {
		args: []string{"create", "db", "-n", "a.b", "-k", me},
		code: ExitUsage, log: `ksec: error: namespace "a.b" is not a valid namespace name: it must consist of lower-case letters, digits and '-', and start and end with a letter or digit` + "\n",
		hints: []string{"a namespace is lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"},
	}, {
		args: []string{"create", "tls", "web", "--cert", "c.pem", "-k", me},
		code: ExitUsage, log: "ksec: error: create tls needs --cert and --key\n",
	}, {
		args: []string{"create", "docker-registry", "pull", "--docker-username", "u", "--docker-password", "p", "-k", me},
		code: ExitUsage, log: "ksec: error: create docker-registry needs --docker-server, --docker-username and --docker-password\n",
	}, {
		args: []string{"create", "db", "--from-literal", "a=s3cr3t", "--from-literal", "a=s3cr3t", "-k", me},
		code: ExitUsage, log: `ksec: error: key "a" is given twice` + "\n",
	}, {
		args: []string{"create", "db", "--from-literal", "a=b", "-k", "pgp:/nonexistent.asc"},
		code: ExitError, log: `ksec: error: key "pgp:/nonexistent.asc": no such key file, and not a fingerprint, key ID or email address` + "\n",
	}} {
		r := inspectCreateCLI(t, dir, tc.env, "", tc.args...)
		require.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.log)
		require.True(t, strings.HasPrefix(r.log, tc.log), "%v:\n%s", tc.args, r.log)
		if tc.code != ExitUsage || len(tc.hints) > 0 {
			all := hint.All(r.err)
			for _, h := range tc.hints {
				require.True(t, slices.Contains(all, h), "%v: hints %q", tc.args, all)
			}
		}
		require.NotContains(t, r.log, "s3cr3t")
		require.Empty(t, r.out)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}
