package admission_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	goyaml "go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/cmd"
	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/kubetest"
	"github.com/ksec-dev/ksec/k8s/admission"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// The policy's prefix is how a real token looks in CEL: stringData merged
// into data, as standard base64 text.
func TestEncodedTokenStart(t *testing.T) {
	dk, err := crypto.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.NewKey(dk)
	if err != nil {
		t.Fatal(err)
	}
	token, err := key.Seal(crypto.Location{Namespace: "ns", Name: "n", Field: "stringData", Key: "k"}, crypto.Payload{Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	if !crypto.IsToken(token) {
		t.Fatalf("not a token: %q", token)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(token))
	if !strings.HasPrefix(encoded, admission.EncodedTokenStart) {
		t.Fatalf("base64 of a token %q does not start with %q", encoded[:20], admission.EncodedTokenStart)
	}
	// Of any version: the prefix stops before the version number.
	for _, v := range []string{"ENC[ksec.v1,", "ENC[ksec.v2,", "ENC[ksec.v10,"} {
		if e := base64.StdEncoding.EncodeToString([]byte(v + "AAAA]")); !strings.HasPrefix(e, admission.EncodedTokenStart) {
			t.Errorf("%s…: %q does not start with %q", v, e, admission.EncodedTokenStart)
		}
	}
	if len(admission.EncodedTokenStart)%4 != 0 || strings.Contains(admission.EncodedTokenStart, "=") {
		t.Fatalf("%q is not a whole number of unpadded base64 groups", admission.EncodedTokenStart)
	}
}

// The manifest is two YAML documents, the policy and its binding, naming
// each other.
func TestPolicyDocuments(t *testing.T) {
	dec := goyaml.NewDecoder(strings.NewReader(admission.Policy()))
	var kinds []string
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				PolicyName        string   `yaml:"policyName"`
				ValidationActions []string `yaml:"validationActions"`
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kinds = append(kinds, doc.Kind)
		if doc.Metadata.Name != admission.Name {
			t.Errorf("%s is named %q", doc.Kind, doc.Metadata.Name)
		}
		if doc.Kind == "ValidatingAdmissionPolicyBinding" {
			if doc.Spec.PolicyName != admission.Name || strings.Join(doc.Spec.ValidationActions, ",") != "Deny" {
				t.Errorf("binding: %+v", doc.Spec)
			}
		}
	}
	if strings.Join(kinds, ",") != "ValidatingAdmissionPolicy,ValidatingAdmissionPolicyBinding" {
		t.Fatalf("documents: %v", kinds)
	}
}

// encrypter encrypts manifests with ksec (in process) for a fresh age key.
type encrypter struct {
	t         *testing.T
	dir       string
	recipient string
	identity  string
}

func newEncrypter(t *testing.T) *encrypter {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	e := &encrypter{t: t, dir: t.TempDir(), recipient: id.Recipient().String()}
	e.identity = filepath.Join(e.dir, "id.agekey")
	if err := os.WriteFile(e.identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *encrypter) ksec(args ...string) []byte {
	e.t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"HOME": e.dir, "XDG_CONFIG_HOME": e.dir, "PATH": os.Getenv("PATH")}
	sys := &cmd.System{
		In: strings.NewReader(""), Out: &out, Err: &errOut,
		Getenv:          func(k string) string { return env[k] },
		StdinIsTerminal: func() bool { return false },
	}
	if code := cmd.Run(context.Background(), sys, "test", args); code != 0 {
		e.t.Fatalf("ksec %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.Bytes()
}

func (e *encrypter) encrypt(name, plain string) []byte {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(plain), 0o600); err != nil {
		e.t.Fatal(err)
	}
	out := e.ksec("encrypt", "-k", e.recipient, path)
	if !bytes.Contains(out, []byte("ENC[ksec.v1,")) {
		e.t.Fatalf("no token in the encrypted %s:\n%s", name, out)
	}
	return out
}

// activeTimeout bounds the wait for a new policy to take effect (a few
// seconds on an idle machine).
const activeTimeout = 90 * time.Second

// install applies the policy and waits until the server enforces it: a
// probe Secret with a token under stringData, sent as a server-side dry run
// (admission runs, nothing is stored), is denied.
func install(t *testing.T, s *kubetest.Server, ns string, e *encrypter) {
	t.Helper()
	out, stderr, err := s.KubectlResult([]byte(admission.Policy()), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("applying the policy: %v\n%s", err, stderr)
	}
	// Applies cleanly: no warning, both objects made (or kept, when an
	// earlier test of this binary installed them).
	if len(stderr) != 0 {
		t.Fatalf("applying the policy warned:\n%s", stderr)
	}
	for _, want := range []string{
		"validatingadmissionpolicy.admissionregistration.k8s.io/" + admission.Name,
		"validatingadmissionpolicybinding.admissionregistration.k8s.io/" + admission.Name,
	} {
		if !bytes.Contains(out, []byte(want+" ")) {
			t.Fatalf("kubectl apply said:\n%s\nwant a line for %s", out, want)
		}
	}
	// Applied again: nothing changes on the server (kubectl may still say
	// "configured": its patch of the policy's empty status is a no-op).
	out, stderr, err = s.KubectlResult([]byte(admission.Policy()), "apply", "-f", "-")
	if err != nil || len(stderr) != 0 {
		t.Fatalf("applying the policy again: %v\n%s%s", err, out, stderr)
	}
	gens := s.Kubectl(t, nil, "get", "validatingadmissionpolicy,validatingadmissionpolicybinding", admission.Name, "-o", "jsonpath={.items[*].metadata.generation}")
	if string(gens) != "1 1" {
		t.Fatalf("generations after applying the policy again: %q, want \"1 1\"", gens)
	}
	probe := e.encrypt("probe.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: probe\n  namespace: "+ns+"\nstringData:\n  k: v\n")
	deadline := time.Now().Add(activeTimeout)
	for {
		_, stderr, err := s.KubectlResult(probe, "apply", "--validate=false", "--dry-run=server", "-f", "-")
		if err != nil && bytes.Contains(stderr, []byte(admission.Name)) {
			return
		}
		if err != nil {
			t.Fatalf("probe refused, but not by the policy: %v\n%s", err, stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy was not enforced within %v", activeTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// With the policy installed, a Secret that still holds ksec tokens is
// refused whatever the client's validation, on create and on update, alone
// or in a List; a decrypted one is stored.
func TestPolicyOnServer(t *testing.T) {
	s := kubetest.Shared(t)
	e := newEncrypter(t)
	ns := s.Namespace(t)
	install(t, s, ns, e)

	secret := func(name, body string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n" + body
	}
	stringOnly := secret("string-only", "stringData:\n  password: hunter2\n  user: admin\n")
	dataOnly := secret("data-only", "data:\n  password: aHVudGVyMg==\n")
	mixed := secret("mixed", "data:\n  a: YQ==\nstringData:\n  b: b\n")
	list := "apiVersion: v1\nkind: List\nitems:\n" + indentItem(secret("in-list-a", "stringData:\n  k: v\n")) +
		indentItem(secret("in-list-b", "data:\n  k: dg==\n"))

	denied := func(t *testing.T, manifest []byte, names []string, args ...string) {
		t.Helper()
		_, stderr, err := s.KubectlResult(manifest, append([]string{"apply", "-f", "-"}, args...)...)
		if err == nil {
			t.Fatalf("kubectl apply %v of an encrypted Secret succeeded", args)
		}
		for _, name := range names {
			if _, _, err := s.KubectlResult(nil, "get", "secret", "-n", ns, name); err == nil {
				t.Errorf("Secret %s was stored", name)
			}
		}
		// The policy's message; or, before admission, the server's own
		// refusal of a data token (not base64) or, under server-side
		// apply, of the ksec block (SSA checks fields whatever the client).
		if !bytes.Contains(stderr, []byte("ksec decrypt")) && !bytes.Contains(stderr, []byte("illegal base64")) &&
			!bytes.Contains(stderr, []byte(".ksec: field not declared in schema")) {
			t.Errorf("kubectl's error gives no known reason:\n%s", stderr)
		}
	}

	for _, validate := range []string{"--validate=false", "--validate=warn"} {
		t.Run("stringData"+validate, func(t *testing.T) {
			_, stderr, err := s.KubectlResult(e.encrypt("s.yaml", stringOnly), "apply", validate, "-f", "-")
			if err == nil {
				t.Fatal("applied")
			}
			// The policy's own message, naming the Secret and its keys (in
			// the server's map order).
			want := regexp.MustCompile(`Secret string-only still holds values encrypted by ksec \((password, user|user, password)\): ` +
				`decrypt it first: ksec decrypt FILE \| kubectl apply -f -`)
			if !want.Match(stderr) || !bytes.Contains(stderr, []byte(admission.Name)) {
				t.Fatalf("kubectl said:\n%s\nwant it to match %q", stderr, want)
			}
		})
	}
	t.Run("data", func(t *testing.T) {
		denied(t, e.encrypt("d.yaml", dataOnly), []string{"data-only"}, "--validate=false")
	})
	t.Run("mixed", func(t *testing.T) {
		denied(t, e.encrypt("m.yaml", mixed), []string{"mixed"}, "--validate=false")
	})
	t.Run("list", func(t *testing.T) {
		denied(t, e.encrypt("l.yaml", list), []string{"in-list-a", "in-list-b"}, "--validate=false")
	})
	t.Run("server-side", func(t *testing.T) {
		denied(t, e.encrypt("ss.yaml", stringOnly), []string{"string-only"}, "--server-side", "--validate=false")
	})
	t.Run("create", func(t *testing.T) {
		_, stderr, err := s.KubectlResult(e.encrypt("c.yaml", stringOnly), "create", "--validate=false", "-f", "-")
		if err == nil || !bytes.Contains(stderr, []byte("ksec decrypt")) {
			t.Fatalf("kubectl create: %v\n%s", err, stderr)
		}
	})

	t.Run("decrypted", func(t *testing.T) {
		enc := e.encrypt("ok.yaml", stringOnly)
		path := filepath.Join(e.dir, "ok.enc.yaml")
		if err := os.WriteFile(path, enc, 0o600); err != nil {
			t.Fatal(err)
		}
		plain := e.ksec("decrypt", "-I", e.identity, path)
		s.Kubectl(t, plain, "apply", "-f", "-")
		got := s.Kubectl(t, nil, "get", "secret", "-n", ns, "string-only", "-o", "jsonpath={.data.password}")
		if string(got) != base64.StdEncoding.EncodeToString([]byte("hunter2")) {
			t.Fatalf("stored %q", got)
		}

		// Updates: the encrypted file applied over the stored Secret, a
		// replace, and a patch that puts a token in are all denied, and the
		// stored value stays.
		for _, args := range [][]string{
			{"apply", "--validate=false", "-f", "-"},
			{"replace", "--validate=false", "-f", "-"},
		} {
			_, stderr, err := s.KubectlResult(enc, args...)
			if err == nil || !bytes.Contains(stderr, []byte("ksec decrypt")) {
				t.Errorf("kubectl %s of the encrypted Secret over the stored one: %v\n%s", args[0], err, stderr)
			}
		}
		token := tokenOf(t, enc)
		_, stderr, err := s.KubectlResult(nil, "patch", "secret", "-n", ns, "string-only", "--type=merge",
			"-p", `{"stringData":{"password":"`+token+`"}}`)
		if err == nil || !bytes.Contains(stderr, []byte("ksec decrypt")) {
			t.Errorf("kubectl patch with a token: %v\n%s", err, stderr)
		}
		got = s.Kubectl(t, nil, "get", "secret", "-n", ns, "string-only", "-o", "jsonpath={.data.password}")
		if string(got) != base64.StdEncoding.EncodeToString([]byte("hunter2")) {
			t.Fatalf("after the refused updates the Secret holds %q", got)
		}
	})

	// Only whole ksec tokens are refused: values that merely mention one,
	// binary data, and other tools' ENC[…] values are stored.
	t.Run("not-tokens", func(t *testing.T) {
		m := secret("lookalikes", "data:\n  bin: AAEC/f7/gICA\n  empty: \"\"\nstringData:\n"+
			"  mention: \"see ENC[ksec.v1,abc]\"\n  sops: ENC[AES256_GCM,data:abc,iv:abc,tag:abc,type:str]\n  short: ENC[ksec\n")
		s.Kubectl(t, []byte(m), "apply", "-f", "-")
		got := s.Kubectl(t, nil, "get", "secret", "-n", ns, "lookalikes", "-o", "jsonpath={.data.mention}")
		if string(got) != base64.StdEncoding.EncodeToString([]byte("see ENC[ksec.v1,abc]")) {
			t.Fatalf("stored %q", got)
		}
	})
}

func indentItem(doc string) string {
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	for i := range lines {
		if i == 0 {
			lines[i] = "- " + lines[i]
		} else {
			lines[i] = "  " + lines[i]
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// tokenOf returns the first token of an encrypted manifest.
func tokenOf(t *testing.T, enc []byte) string {
	i := bytes.Index(enc, []byte("ENC[ksec.v1,"))
	if i < 0 {
		t.Fatal("no token")
	}
	j := bytes.IndexByte(enc[i:], ']')
	return string(enc[i : i+j+1])
}
