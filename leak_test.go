//go:build linux

package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/internal/vaulttest"
	"github.com/ksec-dev/ksec/manifest"
)

// leakCheck knows every secret a test run handled: secret values, private
// keys and the data keys of every encrypted file, in every encoding ksec
// or a library might print them.
type leakCheck struct {
	t        *testing.T
	values   []string // plaintext values: may appear only on decrypt's stdout
	keys     []string // private key and data key material: never
	identity *age.X25519Identity
}

func (l *leakCheck) value(vs ...string) {
	for _, v := range vs {
		l.values = append(l.values, v, b64(v))
	}
}

// keyBytes adds raw key bytes in the encodings they could show up in.
func (l *leakCheck) keyBytes(k []byte) {
	l.keys = append(l.keys, string(k), hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)),
		base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
		base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k),
		fmt.Sprint(k), fmt.Sprintf("%x", k)[:16])
}

// dataKeys unwraps the data key of every Secret in an encrypted file with
// the age identity, and adds it and its HKDF subkeys.
func (l *leakCheck) dataKeys(file string) {
	l.t.Helper()
	data, err := os.ReadFile(file)
	must(l.t, err)
	st, err := manifest.Parse(data)
	must(l.t, err)
	found := 0
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		for _, r := range s.Meta.Recipients {
			if r.Type != "age" || r.ID != l.identity.Recipient().String() {
				continue
			}
			rd, err := age.Decrypt(bytes.NewReader(r.Wrapped), l.identity)
			must(l.t, err)
			key, err := io.ReadAll(rd)
			must(l.t, err)
			l.keyBytes(key)
			for _, info := range []string{"ksec v1 value key", "ksec v1 mac key"} {
				sub, err := hkdf.Key(sha256.New, key, nil, info, 32)
				must(l.t, err)
				l.keyBytes(sub)
			}
			found++
		}
	}
	if found == 0 {
		l.t.Fatalf("%s: no data key wrapped for the test identity", file)
	}
}

// keyFile adds the secret parts of a private key file: an age key line,
// the base64 lines of an armored OpenPGP key.
func (l *leakCheck) keyFile(path string) {
	l.t.Helper()
	data, err := os.ReadFile(path)
	must(l.t, err)
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "AGE-SECRET-KEY-"):
			l.keys = append(l.keys, line, strings.ToLower(line))
		case len(line) >= 40 && !strings.ContainsAny(line, " :-"):
			l.keys = append(l.keys, line) // an armor body line
		}
	}
}

// check fails if out holds a key, or a value where values are not allowed.
func (l *leakCheck) check(what, stream, out string, valuesAllowed bool) {
	l.t.Helper()
	for _, k := range l.keys {
		if strings.Contains(out, k) {
			l.t.Errorf("%s: %s holds key material (%d bytes matched)", what, stream, len(k))
		}
	}
	if valuesAllowed {
		return
	}
	for _, v := range l.values {
		if strings.Contains(out, v) {
			l.t.Errorf("%s: %s holds the secret value %q:\n%s", what, stream, v, truncate(out))
		}
	}
}

func (l *leakCheck) result(what string, r result, stdoutMayHoldValues bool) {
	l.t.Helper()
	l.check(what, "stdout", r.stdout, stdoutMayHoldValues)
	l.check(what, "stderr", r.stderr, false)
}

const leakPlain = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
data:
  password: cHctbGVhay1acTkzSHY=
  text: dGV4dC1sZWFrLVdtNDQ=
stringData:
  token: tok-leak-Ry81Pc
`

// TestNoSecretInOutput runs every command on success and failure paths
// with known secret values and keys, and searches everything it prints for
// them: only the stdout of decrypt (and its --extract, --template, -x
// forms) may hold a secret value, and no output ever holds key material.
func TestNoSecretInOutput(t *testing.T) {
	b := newBinary(t)
	aliceFile, aliceR := b.ageKey("alice")
	otherFile, _ := b.ageKey("other")
	data, err := os.ReadFile(aliceFile)
	must(t, err)
	ident, err := age.ParseX25519Identity(strings.TrimSpace(strings.Split(string(data), "\n")[1]))
	must(t, err)
	l := &leakCheck{t: t, identity: ident}
	l.value("pw-leak-Zq93Hv", "text-leak-Wm44", "tok-leak-Ry81Pc", "new-leak-Bx27Ke", "lit-leak-Pa36Do", "file-leak-Ju85Sa", "env-leak-Cy52Rt")
	l.keyFile(aliceFile)
	l.keyFile(otherFile)
	demoSec, err := filepath.Abs("testdata/keys/demo.sec.asc")
	must(t, err)
	demoPub, err := filepath.Abs("testdata/keys/demo.pub.asc")
	must(t, err)
	l.keyFile(demoSec)
	pubArmor := map[string]bool{}
	pub, err := os.ReadFile(demoPub)
	must(t, err)
	for _, line := range strings.Split(string(pub), "\n") {
		pubArmor[strings.TrimSpace(line)] = true
	}
	l.keys = slices.DeleteFunc(l.keys, func(k string) bool { return pubArmor[k] })

	plain := b.file("plain.yaml", []byte(leakPlain))
	enc := filepath.Join(b.dir, "enc.yaml")
	run := func(what string, stdoutMayHoldValues bool, wantCode int, env []string, args ...string) result {
		t.Helper()
		r := b.run(nil, env, args...)
		if wantCode >= 0 && r.code != wantCode {
			t.Errorf("%s: exit %d, want %d: %s", what, r.code, wantCode, r.stderr)
		}
		l.result(what, r, stdoutMayHoldValues)
		return r
	}

	// encrypt, to a file and to stdout.
	run("encrypt -o", false, 0, nil, "encrypt", "-k", aliceR, "-k", demoPub, "-o", enc, plain)
	l.dataKeys(enc)
	run("encrypt to stdout", false, 0, nil, "encrypt", "-k", aliceR, plain)
	run("encrypt again (no change)", false, 0, nil, "encrypt", "-i", enc)

	// decrypt and its forms: stdout is the plaintext, stderr clean.
	if r := run("decrypt", true, 0, nil, "decrypt", "-I", aliceFile, enc); r.stdout != leakPlain {
		t.Errorf("decrypt printed %q", r.stdout)
	}
	run("decrypt with the OpenPGP key file", true, 0, nil, "decrypt", "-I", demoSec, enc)
	run("decrypt with KSEC_AGE_KEY", true, 0, []string{"KSEC_AGE_KEY=" + ident.String()}, "decrypt", enc)
	run("decrypt -x", true, 0, nil, "decrypt", "-x", "-I", aliceFile, enc)
	run("decrypt --template", true, 0, nil, "decrypt", "--template", "{{ .data.password | base64decode }}", "-I", aliceFile, enc)
	run("decrypt --extract", true, 0, nil, "decrypt", "--extract", "data.password", "-I", aliceFile, enc)
	run("decrypt -o", false, 0, nil, "decrypt", "-I", aliceFile, "-o", filepath.Join(b.dir, "out.yaml"), enc)
	// (The same Secret twice in one output is a duplicate scope: the second
	// file holds no Secret.)
	other := filepath.Join(b.dir, "configmap.yaml")
	if err := os.WriteFile(other, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("decrypt --secrets-only, two files", true, 0, nil, "decrypt", "--secrets-only", "-I", aliceFile, enc, other)

	// Failures of decrypt.
	run("decrypt with a wrong key", false, 4, nil, "decrypt", "-I", otherFile, enc)
	encData, err := os.ReadFile(enc)
	must(t, err)
	tampered := b.file("tampered.yaml", regexp.MustCompile(`(?m)^(  mac: )...`).ReplaceAll(encData, []byte("${1}AAA")))
	run("decrypt of a tampered file", false, 5, nil, "decrypt", "-I", aliceFile, tampered)
	swapped := b.file("swapped.yaml", bytes.Replace(encData, []byte("  text: ENC["), []byte("  text2: ENC["), 1))
	run("decrypt of a moved value", false, 5, nil, "decrypt", "-I", aliceFile, swapped)
	run("decrypt of a file with a secret in a YAML error", false, 3, nil, "decrypt", b.file("bad.yaml", []byte(leakPlain+"  broken: \"pw-leak-Zq93Hv\n")))
	run("encrypt of a bad base64 secret", false, 3, nil, "encrypt", "-k", aliceR, b.file("b64.yaml", []byte(strings.Replace(leakPlain, "cHctbGVhay1acTkzSHY=", "pw-leak-Zq93Hv!", 1))))
	run("encrypt of a secret under a duplicate key", false, 3, nil, "encrypt", "-k", aliceR, b.file("dup.yaml", []byte(leakPlain+"  token: tok-leak-Ry81Pc\n")))
	run("encrypt with a secret key given as recipient", false, -1, nil, "encrypt", "-k", ident.String(), plain)
	run("encrypt with a secret key file as recipient", false, -1, nil, "encrypt", "-k", aliceFile, plain)
	run("decrypt with KSEC_AGE_KEY holding garbage", false, -1, []string{"KSEC_AGE_KEY=" + ident.String() + "x"}, "decrypt", enc)
	run("decrypt with a plaintext file as identity", false, -1, nil, "decrypt", "-I", plain, enc)
	run("decrypt with a public key as identity", false, -1, nil, "decrypt", "-I", demoPub, enc)

	// patch, rotate, inspect.
	patched := b.file("patched.yaml", encData)
	run("patch --set", false, 0, nil, "patch", "-i", "-I", aliceFile, "--set", "password=new-leak-Bx27Ke", patched)
	run("patch --set-file", false, 0, nil, "patch", "-i", "-I", aliceFile, "--set-file", "file="+b.file("pw.txt", []byte("file-leak-Ju85Sa")), patched)
	run("patch with a wrong key", false, 4, nil, "patch", "-i", "-I", otherFile, "--set", "password=new-leak-Bx27Ke", patched)
	ageOnly := filepath.Join(b.dir, "age-only.yaml")
	run("encrypt for age only", false, 0, nil, "encrypt", "-k", aliceR, "-o", ageOnly, plain)
	run("rotate", false, 0, nil, "rotate", "-i", "-I", aliceFile, ageOnly)
	l.dataKeys(ageOnly)
	run("rotate with a wrong key", false, 4, nil, "rotate", "-i", "-I", otherFile, ageOnly)
	run("inspect", false, 0, nil, "inspect", enc)
	run("inspect -o json", false, 0, nil, "inspect", "-o", "json", enc)
	run("inspect of a plaintext file", false, 6, nil, "inspect", plain)
	run("textconv", true, 0, nil, "textconv", "-I", aliceFile, enc)
	run("exec-env", false, 0, nil, "exec-env", "--skip-invalid", "-I", aliceFile, enc, "--", "true")
	run("exec-env with a wrong key", false, 4, nil, "exec-env", "-I", otherFile, enc, "--", "true")
	run("exec-file", false, 0, nil, "exec-file", "-I", aliceFile, enc, "--", "test", "-s", "{}")
	// merge-driver: a clean merge, a conflict, no key, a tampered side;
	// the files it leaves hold tokens only.
	mergeBase := b.file("merge-base.yaml", encData)
	mergeSide := func(name string, set string) string {
		f := b.file(name, encData)
		run("patch for merge-driver", false, 0, nil, "patch", "-i", "-I", aliceFile, "--set", set, f)
		return f
	}
	mergeOurs := mergeSide("merge-ours.yaml", "password=new-leak-Bx27Ke")
	run("merge-driver", false, 0, nil, "merge-driver", "-I", aliceFile, mergeBase, mergeOurs, mergeSide("merge-theirs.yaml", "token=lit-leak-Pa36Do"), "merged.yaml")
	l.check("merge-driver", "merged file", string(mustRead(t, mergeOurs)), false)
	mergeOurs = mergeSide("merge-ours2.yaml", "password=new-leak-Bx27Ke")
	run("merge-driver with a conflict", false, 1, nil, "merge-driver", "-I", aliceFile, mergeBase, mergeOurs, mergeSide("merge-theirs2.yaml", "password=file-leak-Ju85Sa"), "merged.yaml")
	l.check("merge-driver with a conflict", "merged file", string(mustRead(t, mergeOurs)), false)
	mergeOurs = mergeSide("merge-ours3.yaml", "password=new-leak-Bx27Ke")
	run("merge-driver with a wrong key", false, 1, nil, "merge-driver", "-I", otherFile, mergeBase, mergeOurs, mergeSide("merge-theirs3.yaml", "token=lit-leak-Pa36Do"), "merged.yaml")
	l.check("merge-driver with a wrong key", "merged file", string(mustRead(t, mergeOurs)), false)
	run("merge-driver with a tampered side", false, 5, nil, "merge-driver", "-I", aliceFile, mergeBase, mergeSide("merge-ours4.yaml", "password=new-leak-Bx27Ke"), tampered, "merged.yaml")
	// The GitOps integrations read standard input: the kustomize generator
	// (a ResourceList naming files under the working directory) and the
	// Helm post-renderer (a rendered release).
	runIn := func(what, stdin string, stdoutMayHoldValues bool, wantCode int, env []string, args ...string) {
		t.Helper()
		r := b.run(strings.NewReader(stdin), env, args...)
		if r.code != wantCode {
			t.Errorf("%s: exit %d, want %d: %s", what, r.code, wantCode, r.stderr)
		}
		l.result(what, r, stdoutMayHoldValues)
	}
	resourceList := func(file string) string {
		return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: ksec.dev/v1alpha1\n  kind: SecretDecryptor\n  metadata:\n    name: s\n  files: [" + file + "]\n"
	}
	alice := []string{"KSEC_IDENTITY_FILE=" + aliceFile}
	runIn("kustomize", resourceList("enc.yaml"), true, 0, alice, "kustomize")
	runIn("kustomize with a wrong key", resourceList("enc.yaml"), false, 4, []string{"KSEC_IDENTITY_FILE=" + otherFile}, "kustomize")
	runIn("kustomize of a tampered file", resourceList("tampered.yaml"), false, 5, alice, "kustomize")
	runIn("kustomize of a plaintext file", resourceList("plain.yaml"), false, 3, alice, "kustomize")
	kdir := filepath.Join(b.dir, "kust")
	must(t, os.Mkdir(kdir, 0o700))
	must(t, os.WriteFile(filepath.Join(kdir, "kustomization.yaml"), []byte("generators: [gen.yaml]\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(kdir, "gen.yaml"), []byte("apiVersion: ksec.dev/v1alpha1\nkind: SecretDecryptor\nmetadata:\n  name: s\nfiles: [enc.yaml]\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(kdir, "enc.yaml"), encData, 0o600))
	runIn("kustomize verify of a build that lacks the Secret", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n", false, 3, nil, "kustomize", "verify", kdir)
	run("kustomize build with a failing kustomize", false, 1, []string{"KSEC_KUSTOMIZE=false"}, "kustomize", "build", kdir)
	runIn("post-render", string(encData), true, 0, alice, "post-render")
	runIn("post-render with a wrong key", string(encData), false, 4, []string{"KSEC_IDENTITY_FILE=" + otherFile}, "post-render")
	runIn("post-render of a templated name", strings.Replace(string(encData), "name: db", "name: release-db", 1), false, 5, alice, "post-render")
	run("check", false, 0, nil, "check", "-v", enc)
	run("check of a plaintext file", false, 6, nil, "check", plain)
	run("check -o json of a plaintext file", false, 6, nil, "check", "-o", "json", plain)
	run("check --encrypt", false, 0, []string{"KSEC_KEYS=" + aliceR}, "check", "--encrypt", b.file("checked.yaml", []byte(leakPlain)))

	// create: the values come from flags, files and an env file.
	envFile := b.file("app.env", []byte("ENVKEY=env-leak-Cy52Rt\n"))
	created := filepath.Join(b.dir, "created.yaml")
	run("create generic", false, 0, nil, "create", "generic", "app", "-n", "prod", "--from-literal", "lit=lit-leak-Pa36Do",
		"--from-file", "file="+filepath.Join(b.dir, "pw.txt"), "--from-env-file", envFile, "-k", aliceR, "-o", created)
	l.dataKeys(created)
	run("create to stdout", false, 0, nil, "create", "generic", "app2", "--from-literal", "lit=lit-leak-Pa36Do", "-k", aliceR)
	run("create with a bad key", false, -1, nil, "create", "generic", "app3", "--from-literal", "lit=lit-leak-Pa36Do", "-k", "age1bad")

	// keygen: the secret key goes to stdout or the file only.
	kg := run("keygen to stdout", true, 0, nil, "keygen")
	if !strings.Contains(kg.stdout, "AGE-SECRET-KEY-1") || strings.Contains(kg.stderr, "AGE-SECRET-KEY") {
		t.Errorf("keygen: stdout %d bytes, stderr %q", len(kg.stdout), kg.stderr)
	}
	keyOut := filepath.Join(b.dir, "new.key")
	run("keygen -o", false, 0, nil, "keygen", "-o", keyOut)
	l.keyFile(keyOut)
	run("keygen -o over an existing key", false, 1, nil, "keygen", "-o", keyOut)
	run("keygen --default", false, 0, nil, "keygen", "--default")
	l.keyFile(filepath.Join(b.dir, "config", "ksec", "identities"))

	// init and updatekeys with a team configuration.
	repo := filepath.Join(b.dir, "repo")
	must(t, os.MkdirAll(filepath.Join(repo, ".git"), 0o700))
	team := filepath.Join(repo, "team.yaml")
	run("encrypt into the repository", false, 0, nil, "encrypt", "-k", aliceR, "-o", team, plain)
	must(t, os.WriteFile(filepath.Join(repo, ".ksec.yaml"), []byte("rules:\n  - path: \"*.yaml\"\n    keys: [age:"+aliceR+", pgp:"+demoPub+"]\n"), 0o600))
	run("updatekeys", false, 0, nil, "updatekeys", "-y", "-I", aliceFile, team)
	l.dataKeys(team)
	run("updatekeys with a wrong key", false, -1, nil, "updatekeys", "-y", "-I", otherFile, b.file("repo/other.yaml", encData))
	initDir := filepath.Join(b.dir, "initrepo")
	must(t, os.Mkdir(initDir, 0o700))
	c := exec.Command("ksec", "init")
	c.Dir, c.Env = initDir, b.env
	if out, err := c.CombinedOutput(); err != nil {
		t.Errorf("init: %v: %s", err, out)
	} else {
		l.check("init", "output", string(out), false)
	}

	// The admission policy holds no secret; an argument is a usage error.
	run("admission-policy", false, 0, nil, "admission-policy")
	run("admission-policy with an argument", false, 2, nil, "admission-policy", plain)

	// Help and version.
	run("--help", false, 0, nil, "--help")
	run("--version", false, 0, nil, "--version")

	// Cloud KMS that refuse: the errors name keys, never data keys.
	gcp, err := kmstest.StartGCPKMS()
	must(t, err)
	defer gcp.Stop()
	gcpKey := "projects/ksec-test/locations/global/keyRings/ring/cryptoKeys/leak"
	must(t, gcp.AddGCPKey(gcpKey))
	gcpEnv := gcp.Env()
	gcpFile := filepath.Join(b.dir, "gcp.yaml")
	run("encrypt for GCP and age", false, 0, gcpEnv, "encrypt", "-k", "gcp:"+gcpKey, "-k", aliceR, "-o", gcpFile, plain)
	l.dataKeys(gcpFile)
	must(t, gcp.SetGCPKeyDenied(gcpKey, true))
	run("decrypt when Cloud KMS refuses", false, 4, gcpEnv, "decrypt", gcpFile)
	run("encrypt when Cloud KMS refuses", false, -1, gcpEnv, "encrypt", "-k", "gcp:"+gcpKey, plain)

	aws := kmstest.LocalKMSForTest(t)
	awsFile := filepath.Join(b.dir, "aws.yaml")
	run("encrypt for AWS and age", false, 0, aws.Env(), "encrypt", "-k", "aws:"+aws.KeyARN, "-k", aliceR, "-o", awsFile, plain)
	l.dataKeys(awsFile)
	aws.Deny("Decrypt", "Encrypt")
	run("decrypt when AWS KMS refuses", false, 4, aws.Env(), "decrypt", awsFile)
	run("encrypt when AWS KMS refuses", false, -1, aws.Env(), "encrypt", "-k", "aws:"+aws.KeyARN, plain)
	run("decrypt with a disabled AWS key", false, -1, aws.Env(), "decrypt", b.file("aws2.yaml", bytes.ReplaceAll(mustRead(t, awsFile), []byte(aws.KeyARN), []byte(aws.DisabledKeyARN))))

	// Vault transit that refuses, is sealed or answers garbage: the errors
	// name keys, never the token or data keys.
	vs := vaulttest.ForTest(t)
	must(t, vs.CreateKey("transit", "leak", "aes256-gcm96"))
	l.keys = append(l.keys, vs.Token)
	vaultKey := vs.KeyURL("transit", "leak")
	vaultFile := filepath.Join(b.dir, "vault.yaml")
	run("encrypt for Vault and age", false, 0, vs.Env(), "encrypt", "-k", "vault:"+vaultKey, "-k", aliceR, "-o", vaultFile, plain)
	l.dataKeys(vaultFile)
	run("decrypt with Vault", true, 0, vs.Env(), "decrypt", vaultFile)
	// (A server that ignores associated_data cannot open a bound key: exit 5.)
	for fault, code := range map[string]int{"huge": 4, "malformed": 4, "ignore-aad": 5} {
		must(t, vs.SetFault(fault))
		run("decrypt when Vault answers "+fault, false, code, vs.Env(), "decrypt", vaultFile)
		run("encrypt when Vault answers "+fault, false, -1, vs.Env(), "encrypt", "-k", "vault:"+vaultKey, plain)
	}
	must(t, vs.SetFault(""))
	run("decrypt with a wrong Vault token", false, 4, append(vs.Env(), "VAULT_TOKEN=hvs.wrong-leak-Qz4"), "decrypt", vaultFile)
	must(t, vs.Seal())
	run("decrypt when Vault is sealed", false, 4, vs.Env(), "decrypt", vaultFile)
	run("encrypt when Vault is sealed", false, -1, vs.Env(), "encrypt", "-k", "vault:"+vaultKey, plain)
	// import: a file made by the real sops, converted through it; sops's
	// age key in a file and in SOPS_AGE_KEY.
	sopsDir := filepath.Join(b.dir, "sopsbin")
	must(t, os.Mkdir(sopsDir, 0o755))
	must(t, os.Symlink(sopsFor(t), filepath.Join(sopsDir, "sops")))
	sopsPath := []string{"PATH=" + sopsDir + string(os.PathListSeparator) + os.Getenv("PATH"), "SOPS_DISABLE_VERSION_CHECK=1"}
	sopsEnv := append(slices.Clone(sopsPath), "SOPS_AGE_KEY_FILE="+aliceFile)
	sc := exec.Command(filepath.Join(sopsDir, "sops"), "encrypt", "--age", aliceR, "--input-type", "yaml", "--output-type", "yaml", plain)
	sc.Env = append(slices.Clone(b.env), sopsPath...)
	sopsOut, err := sc.Output()
	must(t, err)
	sopsFile := b.file("sops.yaml", sopsOut)
	run("import", false, 0, sopsEnv, "import", sopsFile)
	run("import with SOPS_AGE_KEY", false, 0, append(slices.Clone(sopsPath), "SOPS_AGE_KEY="+ident.String()), "import", sopsFile)
	run("import -i", false, 0, sopsEnv, "import", "-i", sopsFile)
	l.dataKeys(sopsFile)
	sopsTampered := regexp.MustCompile(`(password: ENC\[AES256_GCM,data:)[^,]{4}`).ReplaceAll(sopsOut, []byte("${1}AAAA"))
	run("import of a tampered SOPS file", false, 5, sopsEnv, "import", b.file("sops-tampered.yaml", sopsTampered))
	run("import with no key for sops", false, 4, sopsPath, "import", b.file("sops-nokey.yaml", sopsOut))
	run("import without sops", false, 1, nil, "import", b.file("sops-nosops.yaml", sopsOut))
	run("init --from-sops", false, 0, nil, "init", "--from-sops", b.file(".sops.yaml", []byte("creation_rules:\n  - age: "+aliceR+"\n")))

	// Every command in ksec --help has been run above.
	help := b.run(nil, nil, "--help").stdout
	ran := []string{"encrypt", "decrypt", "patch", "rotate", "inspect", "check", "textconv", "exec-env", "exec-file", "create", "keygen", "updatekeys", "init", "edit", "completion", "help", "import", "merge-driver", "kustomize", "post-render", "admission-policy"}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z-]*) +[A-Z]`).FindAllStringSubmatch(help, -1) {
		if !slices.Contains(ran, m[1]) {
			t.Errorf("ksec %s is not covered by the leak test: add it", m[1])
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	must(t, err)
	return data
}

// editor is a shell script used as $KSEC_EDITOR: it records the file it was
// given, then acts as $EDIT_MODE says.
const editorScript = `#!/bin/sh
printf '%s\n' "$1" > "$EDIT_LOG"
case "$EDIT_MODE" in
change) sed -i 's/tok-leak-Ry81Pc/new-leak-Bx27Ke/' "$1" ;;
fail) exit 3 ;;
crash) kill -SEGV $$ ;;
wait)
	touch "$EDIT_READY"
	while [ ! -e "$EDIT_GO" ]; do sleep 0.02; done
	sed -i 's/tok-leak-Ry81Pc/new-leak-Bx27Ke/' "$1" ;;
newsecret) printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\nstringData:\n  k: lit-leak-Pa36Do\n' >> "$1" ;;
esac
`

// TestEditLeavesNoPlaintext runs ksec edit with a scripted editor and ends
// it every way it can end: saved, the editor failing or crashing, SIGTERM,
// SIGHUP, Ctrl-C (SIGINT to the process group, which the editor gets), and
// a re-encryption failure. Afterwards no plaintext is left anywhere under
// the test's directories ($XDG_RUNTIME_DIR, where the edit file goes, and
// $TMPDIR among them), except in the one documented case: when
// re-encryption fails, the edits are kept, mode 0600 in a 0700 directory,
// and the error names the file.
func TestEditLeavesNoPlaintext(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		signal syscall.Signal
		group  bool // signal the process group, as a terminal's Ctrl-C does
		code   int
		saved  bool
	}{
		{mode: "change", code: 0, saved: true},
		{mode: "fail", code: 1},
		{mode: "crash", code: 1},
		{mode: "wait", signal: syscall.SIGTERM, code: 1},
		{mode: "wait", signal: syscall.SIGHUP, code: 1},
		{mode: "wait", signal: syscall.SIGINT, group: true, code: 1},
		// Ctrl-C goes to the editor; ksec itself ignores it meanwhile.
		{mode: "wait", signal: syscall.SIGINT, code: 0, saved: true},
		{mode: "newsecret", code: 2}, // a new Secret without keys is a usage error,
	} {
		name := tc.mode
		if tc.signal != 0 {
			name += " " + tc.signal.String()
			if tc.group {
				name += " to the group"
			}
		}
		t.Run(name, func(t *testing.T) {
			b := newBinary(t)
			aliceFile, aliceR := b.ageKey("alice")
			demoPub, err := filepath.Abs("testdata/keys/demo.pub.asc")
			must(t, err)
			plain := b.file("plain.yaml", []byte(leakPlain))
			target := filepath.Join(b.dir, "secret.yaml")
			if r := b.run(nil, nil, "encrypt", "-k", aliceR, "-k", demoPub, "-o", target, plain); r.code != 0 {
				t.Fatalf("encrypt: %s", r.stderr)
			}
			must(t, os.Remove(plain))
			before := mustRead(t, target)
			// The script names values, so it lives outside the searched tree.
			editor := filepath.Join(t.TempDir(), "editor.sh")
			must(t, os.WriteFile(editor, []byte(editorScript), 0o700))
			log, ready, goFile := filepath.Join(b.dir, "editor.log"), filepath.Join(b.dir, "ready"), filepath.Join(b.dir, "go")
			c := exec.Command("ksec", "edit", "-I", aliceFile, target)
			c.Dir = b.dir
			c.Env = append(slices.Clone(b.env), "KSEC_EDITOR="+editor, "EDIT_MODE="+tc.mode, "EDIT_LOG="+log, "EDIT_READY="+ready, "EDIT_GO="+goFile)
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stdout, stderr bytes.Buffer
			c.Stdout, c.Stderr = &stdout, &stderr
			must(t, c.Start())
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			if tc.signal != 0 {
				waitFor(t, ready)
				pid := c.Process.Pid
				if tc.group {
					pid = -pid
				}
				must(t, syscall.Kill(pid, tc.signal))
				if !tc.group && tc.signal == syscall.SIGINT {
					time.Sleep(200 * time.Millisecond)
					select {
					case <-done:
						t.Fatalf("SIGINT ended ksec edit while the editor ran: %s", stderr.String())
					default:
					}
					must(t, os.WriteFile(goFile, nil, 0o600))
				}
			}
			var err2 error
			select {
			case err2 = <-done:
			case <-time.After(hangGuard):
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				t.Fatalf("ksec edit did not end: %s", stderr.String())
			}
			code := 0
			var exit *exec.ExitError
			if errors.As(err2, &exit) {
				code = exit.ExitCode()
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(stderr.String()))
			if strings.Contains(stderr.String(), "panic:") {
				t.Fatalf("crashed: %s", stderr.String())
			}
			edited, err := os.ReadFile(log)
			must(t, err)
			editFile := strings.TrimSpace(string(edited))
			if !strings.HasPrefix(editFile, filepath.Join(b.dir, "runtime")+"/") {
				t.Errorf("the edit file %s is not under $XDG_RUNTIME_DIR", editFile)
			}
			after := mustRead(t, target)
			if tc.saved == bytes.Equal(before, after) {
				t.Errorf("saved: %v, want %v", !bytes.Equal(before, after), tc.saved)
			}
			ident, err := age.ParseX25519Identity(strings.TrimSpace(strings.Split(string(mustRead(t, aliceFile)), "\n")[1]))
			must(t, err)
			l := &leakCheck{t: t, identity: ident}
			l.value("pw-leak-Zq93Hv", "text-leak-Wm44", "tok-leak-Ry81Pc", "new-leak-Bx27Ke", "lit-leak-Pa36Do")
			l.keyFile(aliceFile)
			l.dataKeys(target)
			l.check(name, "stdout", stdout.String(), false)
			l.check(name, "stderr", stderr.String(), false)

			kept := ""
			if tc.mode == "newsecret" {
				// The documented exception: the edits are kept for the user.
				kept = editFile
				if !strings.Contains(stderr.String(), kept) {
					t.Errorf("the error does not name the kept file %s: %s", kept, stderr.String())
				}
				for path, want := range map[string]fs.FileMode{kept: 0o600, filepath.Dir(kept): 0o700} {
					st, err := os.Stat(path)
					if err != nil || st.Mode().Perm() != want {
						t.Errorf("%s: mode %v (%v), want %v", path, st.Mode().Perm(), err, want)
					}
				}
			}
			// No plaintext anywhere under the test's directories but there.
			must(t, filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || path == kept || path == aliceFile {
					return err
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				l.check(name, path, string(data), false)
				return nil
			}))
			if kept == "" {
				if entries, _ := os.ReadDir(filepath.Join(b.dir, "runtime")); len(entries) > 0 {
					t.Errorf("left in $XDG_RUNTIME_DIR: %v", entries)
				}
			}
		})
	}
}

// waitFor waits until path exists.
func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProcessIsNotDumpable checks that ksec marks itself non-dumpable (no
// core file with plaintext in it, no reading its memory through /proc or
// ptrace by other processes of the same user). Linux shows it in the
// owner of /proc/PID/*: root for a non-dumpable process, else the
// process's user. As root, ksec runs as nobody so the two differ; a
// control process shows that the check can tell.
func TestProcessIsNotDumpable(t *testing.T) {
	bin, err := exec.LookPath("ksec")
	must(t, err)
	var cred *syscall.Credential
	uid := uint32(os.Getuid())
	if uid == 0 {
		uid = 65534
		cred = &syscall.Credential{Uid: uid, Gid: uid}
		dir, err := os.MkdirTemp("", "ksec-nodump")
		must(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		must(t, os.Chmod(dir, 0o755))
		data, err := os.ReadFile(bin)
		must(t, err)
		bin = filepath.Join(dir, "ksec")
		must(t, os.WriteFile(bin, data, 0o755))
	}
	// procOwner starts the command blocked on its standard input and
	// returns the owner of its /proc/PID/mem once it is settled.
	procOwner := func(want uint32, name string, args ...string) uint32 {
		c := exec.Command(name, args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
		stdin, err := c.StdinPipe()
		must(t, err)
		must(t, c.Start())
		defer func() {
			_ = c.Process.Kill()
			_ = stdin.Close()
			_ = c.Wait()
		}()
		var owner uint32
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var st syscall.Stat_t
			if err := syscall.Stat(fmt.Sprintf("/proc/%d/mem", c.Process.Pid), &st); err != nil {
				t.Fatal(err)
			}
			if owner = st.Uid; owner == want {
				break
			}
		}
		return owner
	}
	if got := procOwner(uid, "cat"); got != uid {
		t.Fatalf("control: /proc/PID/mem of cat is owned by %d, want %d; this check cannot work here", got, uid)
	}
	if got := procOwner(0, bin, "decrypt", "-"); got != 0 {
		t.Fatalf("ksec is dumpable: /proc/PID/mem is owned by uid %d, not root; Main must call preventCoreDumps first", got)
	}
}
