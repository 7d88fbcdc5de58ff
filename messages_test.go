//go:build linux

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/internal/gpgtest"
)

// TestMessages holds the text of the messages for the common mistakes:
// each case runs the real ksec binary (with real gpg) and compares its
// whole stderr and its exit code. A message that changes must change here.
func TestMessages(t *testing.T) {
	b := newBinary(t)
	var gpgHome string
	for _, e := range b.env {
		if h, ok := strings.CutPrefix(e, "GNUPGHOME="); ok {
			gpgHome = h
		}
	}
	alice := gpgtest.GenKey(t, gpgHome, gpgtest.ECC, "alice@example.test")
	aliceSub := subkeyID(t, gpgHome, alice)
	bob1 := gpgtest.GenKey(t, gpgHome, gpgtest.ECC, "bob@example.test")
	bob2 := genUID(t, gpgHome, "Bob Two <bob@example.test>")
	// Homes for the "no key" and "wrong key" cases: none, and someone else's.
	emptyHome := gpgtest.NewHome(t)
	eveHome := gpgtest.NewHome(t)
	eve := gpgtest.GenKey(t, eveHome, gpgtest.ECC, "eve@example.test")

	ageFile, ageRcpt := b.ageKey("alice")
	otherAge, otherRcpt := b.ageKey("other")
	pub := b.file("alice.agepub", []byte(ageRcpt+"\n"))
	sshPub, sshPriv := sshKeyFiles(t, b)

	secret := b.file("secret.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  user: admin\n  password: hunter2\n"))
	enc := filepath.Join(b.dir, "enc.yaml")
	if r := b.run(nil, nil, "encrypt", "-k", "pgp:"+alice[24:], "-k", ageRcpt, "-o", enc, secret); r.code != 0 {
		t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
	}
	encrypted := readFile(t, enc)
	// The key ID was resolved to the fingerprint the stanza records.
	if !strings.Contains(encrypted, "id: "+alice+"\n") {
		t.Fatalf("the stanza does not name %s:\n%s", alice, encrypted)
	}
	b.file("renamed.yaml", []byte(strings.Replace(encrypted, "namespace: prod", "namespace: staging", 1)))
	b.file("deploy.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"))
	b.file("chart.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n  labels:\n    {{- include \"db.labels\" . | nindent 4 }}\ndata:\n  password: {{ .Values.password | b64enc }}\n"))
	b.file("value.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {{ .Values.password | b64enc }}\n"))
	b.file("broken.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels: [a, b\nstringData:\n  a: b\n"))
	b.file("indent.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n namespace: x\nstringData:\n  a: b\n"))

	defaultAge := filepath.Join(b.dir, "config", "ksec", "identities")
	const specHint = "ksec: hint: keys are written pgp:FINGERPRINT, pgp:KEYID, pgp:EMAIL or pgp:PATH (an OpenPGP key, looked up in gpg or read from a file), " +
		"age:age1… or age:ssh-ed25519 … (an age recipient), aws:arn:aws:kms:…, gcp:projects/…/cryptoKeys/…, vault:https://HOST:8200/v1/MOUNT/keys/NAME or azure:https://VAULT.vault.azure.net/keys/KEY; bare forms work too\n"
	const noKeyFiles = "ksec: hint: tried: no key file was named (-I/--identity, KSEC_IDENTITY_FILE) and KSEC_AGE_KEY is not set\n"
	recipients := "recipients: pgp:" + alice + ", age:" + ageRcpt
	gpgTried := "(pgp:" + alice + " is encrypted to key ID " + aliceSub + "; gpg: decryption failed: No secret key)"
	const askHint = "ksec: hint: ask someone who can decrypt the file to add one of your public keys (ksec encrypt -i -k +KEY FILE), or use a recipient's secret key (-I/--identity FILE)\n"
	templateHint := "ksec: hint: render the template first and encrypt the result: helm template RELEASE CHART | ksec encrypt -k KEY -; or keep the Secret as a plain manifest next to the chart\n"

	for _, c := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{{
		name: "email of two keys",
		args: []string{"encrypt", "-k", "pgp:bob@example.test", secret},
		code: 1,
		want: `ksec: error: key "pgp:bob@example.test": 2 keys in the gpg keyring have this email: ` +
			bob1 + " ksec test <bob@example.test>, " + bob2 + " Bob Two <bob@example.test>\n" +
			"ksec: hint: name the key by its full fingerprint: gpg --list-keys --with-colons shows it on the fpr lines\n",
	}, {
		name: "unknown email",
		args: []string{"encrypt", "-k", "nobody@example.test", secret},
		code: 1,
		want: `ksec: error: key "nobody@example.test": no key with this email in the gpg keyring (gpg: error reading key: No public key)` + "\n" +
			"ksec: hint: import the key with gpg --import, or pass its public-key file path\n",
	}, {
		name: "short key ID",
		args: []string{"encrypt", "-k", "pgp:" + alice[32:], secret},
		code: 1,
		want: `ksec: error: key "pgp:` + alice[32:] + `": an 8-digit short key ID is ambiguous (anyone can make a key with the same one)` + "\n" +
			"ksec: hint: name the key by its full fingerprint: gpg --list-keys --with-colons shows it on the fpr lines\n",
	}, {
		name: "missing key file",
		args: []string{"encrypt", "-k", "pgp:keys/ops.asc", secret},
		code: 1,
		want: `ksec: error: key "pgp:keys/ops.asc": no such key file, and not a fingerprint, key ID or email address` + "\n" + specHint,
	}, {
		name: "age identity given to -k",
		args: []string{"encrypt", "-k", ageFile, secret},
		code: 1,
		want: `ksec: error: key "` + ageFile + `": this is an age identity (a secret key); -k wants a recipient (a public key)` + "\n" +
			"ksec: hint: encrypt to its public key instead: -k " + ageRcpt + "\n" +
			"ksec: hint: to decrypt with this key, pass it with -I/--identity " + ageFile + "\n",
	}, {
		name: "age recipient file given to -k",
		args: []string{"encrypt", "-k", pub, secret},
		code: 1,
		want: `ksec: error: key "` + pub + `": this file holds an age public key, but a key file is read as an OpenPGP key` + "\n" +
			"ksec: hint: name the age key itself: -k " + ageRcpt + "\n",
	}, {
		name: "SSH public key file given to -k",
		args: []string{"encrypt", "-k", sshPub, secret},
		code: 1,
		want: `ksec: error: key "` + sshPub + `": this file holds an SSH public key, but a key file is read as an OpenPGP key` + "\n" +
			`ksec: hint: name the SSH key itself, as age encrypts to it: -k "age:$(cat ` + sshPub + `)"` + "\n",
	}, {
		name: "SSH private key given to -k",
		args: []string{"encrypt", "-k", sshPriv, secret},
		code: 1,
		want: `ksec: error: key "` + sshPriv + `": this is a private key (openssh private key); -k wants a public key` + "\n" +
			`ksec: hint: for an SSH key, encrypt to the public key: -k "age:$(cat ` + sshPriv + `.pub)"; to decrypt with this key, pass it with -I/--identity ` + sshPriv + "\n",
	}, {
		name: "manifest given to -k",
		args: []string{"encrypt", "-k", "deploy.yaml", secret},
		code: 1,
		want: `ksec: error: key "deploy.yaml": this file looks like a Kubernetes manifest, not a key` + "\n" +
			"ksec: hint: -k names a key: ksec encrypt -k KEY FILE\n",
	}, {
		name: "manifest given to -I",
		args: []string{"decrypt", "-I", "deploy.yaml", "enc.yaml"},
		code: 1,
		want: "ksec: error: identity file deploy.yaml looks like a Kubernetes manifest, not a key\n" +
			"ksec: hint: -I/--identity names a secret key file: ksec decrypt -I KEYFILE FILE\n",
	}, {
		name: "no key at all",
		args: []string{"decrypt", "enc.yaml"},
		env:  []string{"GNUPGHOME=" + emptyHome},
		code: 4,
		want: "ksec: error: document 1 (Secret prod/db): no key could decrypt: ksec found no key of yours to try; " + recipients + "\n" +
			noKeyFiles +
			"ksec: hint: tried: the default age identity file " + defaultAge + " does not exist\n" +
			"ksec: hint: tried: gpg holds no secret key at all " + gpgTried + "\n" +
			"ksec: hint: decrypting needs the secret key of one of the recipients: pass it with -I/--identity FILE (or KSEC_IDENTITY_FILE, or KSEC_AGE_KEY in CI), or import it into gpg (gpg --import)\n",
	}, {
		name: "wrong age identity file",
		args: []string{"decrypt", "-I", otherAge, "enc.yaml"},
		env:  []string{"GNUPGHOME=" + emptyHome},
		code: 4,
		want: "ksec: error: document 1 (Secret prod/db): no key could decrypt: none of your keys is a recipient; " + recipients + "\n" +
			"ksec: hint: tried: identity file " + otherAge + " holds the age key " + otherRcpt + ", which is not a recipient\n" +
			"ksec: hint: tried: the default age identity file " + defaultAge + " does not exist\n" +
			"ksec: hint: tried: gpg holds no secret key at all " + gpgTried + "\n" + askHint,
	}, {
		name: "wrong KSEC_AGE_KEY",
		args: []string{"decrypt", "enc.yaml"},
		env:  []string{"GNUPGHOME=" + emptyHome, "KSEC_AGE_KEY=" + strings.Split(readFile(t, otherAge), "\n")[1]},
		code: 4,
		want: "ksec: error: document 1 (Secret prod/db): no key could decrypt: none of your keys is a recipient; " + recipients + "\n" +
			"ksec: hint: tried: KSEC_AGE_KEY holds the age key " + otherRcpt + ", which is not a recipient\n" +
			"ksec: hint: tried: the default age identity file " + defaultAge + " does not exist\n" +
			"ksec: hint: tried: gpg holds no secret key at all " + gpgTried + "\n" + askHint,
	}, {
		name: "gpg holds another key",
		args: []string{"decrypt", "enc.yaml"},
		env:  []string{"GNUPGHOME=" + eveHome},
		code: 4,
		want: "ksec: error: document 1 (Secret prod/db): no key could decrypt: none of your keys is a recipient; " + recipients + "\n" +
			noKeyFiles +
			"ksec: hint: tried: the default age identity file " + defaultAge + " does not exist\n" +
			"ksec: hint: tried: gpg holds the secret key of " + eve + ", which is not a recipient " + gpgTried + "\n" + askHint,
	}, {
		name: "no Secret in the file",
		args: []string{"encrypt", "-k", ageRcpt, "deploy.yaml"},
		code: 3,
		want: "ksec: error: bad input: no Secret found in deploy.yaml: it holds 2 documents: Deployment, Service\n" +
			"ksec: hint: ksec works on kind: Secret documents (apiVersion: v1), alone, in a multi-document stream or in a List\n",
	}, {
		name: "Helm template",
		args: []string{"encrypt", "-k", ageRcpt, "chart.yaml"},
		code: 3,
		want: "ksec: error: document 1: line 4: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: line 4: did not find expected key)\n" +
			templateHint,
	}, {
		name: "Helm template in a value",
		args: []string{"encrypt", "-k", ageRcpt, "value.yaml"},
		code: 3,
		want: "ksec: error: document 1: line 6: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: data.password (line 6): value is a mapping, want a string)\n" +
			templateHint,
	}, {
		name: "YAML error on the right line",
		args: []string{"encrypt", "-k", ageRcpt, "broken.yaml"},
		code: 3,
		want: "ksec: error: document 1: bad input: invalid YAML: line 5: did not find expected ',' or ']'\n",
	}, {
		name: "YAML indentation error",
		args: []string{"encrypt", "-k", ageRcpt, "indent.yaml"},
		code: 3,
		want: "ksec: error: document 1: bad input: invalid YAML: line 5: did not find expected key\n",
	}, {
		name: "namespace changed by hand",
		args: []string{"decrypt", "-I", ageFile, "renamed.yaml"},
		code: 5,
		want: "ksec: error: document 1 (Secret staging/db): integrity check failed: none of its 2 encrypted values opens under the name staging/db: " +
			"the Secret's namespace or name changed since it was encrypted, or all its values were replaced\n" +
			"ksec: hint: a Secret's values are bound to its namespace and name: put the original namespace and name back, then rename it with ksec edit (it re-encrypts the values for the new name)\n",
	}, {
		name: "usage error with its own hint",
		args: []string{"encrypt", "-k", ageRcpt, "secret.yaml", "deploy.yaml"},
		code: 2,
		want: "ksec: error: encrypting several files needs -i/--in-place\n" +
			"ksec: hint: or encrypt one file at a time to standard output or -o FILE\n",
	}, {
		name: "usage error without a hint",
		args: []string{"encrypt", "--no-such-flag"},
		code: 2,
		want: "ksec: error: unknown flag: --no-such-flag\n" +
			"ksec: hint: run 'ksec --help' or 'ksec COMMAND --help' for usage\n",
	}} {
		t.Run(c.name, func(t *testing.T) {
			r := b.run(nil, c.env, c.args...)
			if r.code != c.code || r.stderr != c.want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", r.code, r.stderr, c.code, c.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", truncate(r.stdout))
			}
			for _, leak := range []string{"AGE-SECRET-KEY", "PRIVATE KEY", "hunter2", "admin"} {
				if strings.Contains(strings.ToUpper(r.stderr), strings.ToUpper(leak)) && !strings.Contains(r.stderr, "(openssh private key)") {
					t.Errorf("stderr shows %q", leak)
				}
			}
		})
	}
}

// subkeyID returns the key ID of the encryption subkey of fpr.
func subkeyID(t *testing.T, home, fpr string) string {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--with-colons", "--list-keys", fpr)
	cmd.Env = append(cmd.Environ(), gpgtest.Env(home)...)
	out, err := cmd.Output()
	must(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "sub" && len(f) > 4 {
			return f[4]
		}
	}
	t.Fatalf("no subkey for %s", fpr)
	return ""
}

// genUID makes a key with a user ID of our choosing (gpgtest names every
// key "ksec test <EMAIL>", and gpg refuses the same user ID twice).
func genUID(t *testing.T, home, uid string) string {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--status-fd", "1", "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never")
	cmd.Env = append(cmd.Environ(), gpgtest.Env(home)...)
	out, err := cmd.Output()
	must(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == "KEY_CREATED" {
			return f[3]
		}
	}
	t.Fatal("gpg made no key")
	return ""
}

// sshKeyFiles writes an unencrypted ed25519 SSH key pair.
func sshKeyFiles(t *testing.T, b *binary) (pub, priv string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(sk, "")
	must(t, err)
	spk, err := ssh.NewPublicKey(pk)
	must(t, err)
	priv = b.file("id_ed25519", pem.EncodeToMemory(block))
	pub = b.file("id_ed25519.pub", ssh.MarshalAuthorizedKey(spk))
	return pub, priv
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	return string(data)
}
