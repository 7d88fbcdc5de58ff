package helmpost

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

const secret = `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2
  user: admin
`

func encrypt(t *testing.T, id *age.X25519Identity, plain string) string {
	t.Helper()
	st, err := manifest.Parse([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	r, err := kr.ParseRecipient(context.Background(), id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := envelope.Encrypt(context.Background(), st, kr, envelope.Recipients{Set: []keyring.Recipient{r}}); err != nil {
		t.Fatal(err)
	}
	return string(st.Bytes())
}

func options(t *testing.T, id *age.X25519Identity, called *bool) Options {
	return Options{MaxSize: 1 << 20, Decrypter: func() (Decrypter, error) {
		*called = true
		k, err := keyring.ParseIdentityString(id.String(), "TEST_KEY")
		if err != nil {
			t.Fatal(err)
		}
		kr := keyring.New([]keyring.Provider{keyring.NewAge()}, []keyring.Identity{k})
		return func(ctx context.Context, st *manifest.Stream) error {
			_, err := envelope.Decrypt(ctx, st, kr)
			return err
		}, nil
	}}
}

// rendered is a release as Helm hands it to a post-renderer.
func rendered(secretDoc string) string {
	return "---\n# Source: app/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  a: \"1\"\n" +
		"---\n# Source: app/templates/secret.yaml\n" + secretDoc
}

func TestPostRender(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	in := rendered(encrypt(t, id, secret))
	var out bytes.Buffer
	called := false
	if err := PostRender(context.Background(), strings.NewReader(in), &out, options(t, id, &called)); err != nil {
		t.Fatal(err)
	}
	if want := rendered(secret); out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	// Nothing encrypted: passed through, no key needed.
	out.Reset()
	called = false
	plain := rendered("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n")
	if err := PostRender(context.Background(), strings.NewReader(plain), &out, options(t, id, &called)); err != nil || out.String() != plain || called {
		t.Errorf("plain release: err %v, decrypter called %v, out:\n%s", err, called, out.String())
	}
}

func TestPostRenderTemplatedName(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, id, secret)
	for _, tc := range []struct{ name, from, to string }{
		{"name", "  name: db\n", "  name: myrelease-db\n"},
		{"namespace", "  name: db\n", "  name: db\n  namespace: prod\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := rendered(strings.Replace(enc, tc.from, tc.to, 1))
			var out bytes.Buffer
			called := false
			err := PostRender(context.Background(), strings.NewReader(in), &out, options(t, id, &called))
			if !errors.Is(err, crypto.ErrIntegrity) || out.Len() > 0 {
				t.Fatalf("err %v, %d bytes out", err, out.Len())
			}
			if !strings.HasPrefix(err.Error(), "app/templates/secret.yaml: document 2 (Secret ") {
				t.Errorf("error does not name the template: %v", err)
			}
			hs := hint.All(err)
			if len(hs) == 0 || hs[0] != HintTemplated {
				t.Errorf("hints %q", hs)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error holds a value")
			}
		})
	}
}

func TestPostRenderStrayBlock(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// A chart that changed an encrypted Secret's kind: its ciphertext
	// must not pass through as if there were nothing to decrypt.
	in := rendered(strings.Replace(encrypt(t, id, secret), "kind: Secret", "kind: ConfigMap", 1))
	called := false
	err = PostRender(context.Background(), strings.NewReader(in), &bytes.Buffer{}, options(t, id, &called))
	if !errors.Is(err, crypto.ErrIntegrity) || !strings.HasPrefix(err.Error(), "app/templates/secret.yaml: ") {
		t.Errorf("err %v", err)
	}
}

func TestPostRenderHintOnlyWhereTheNameCounts(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, id, secret)
	called := false
	// A wrong age key: no hint about names (an age key is not bound to them).
	err = PostRender(context.Background(), strings.NewReader(rendered(enc)), &bytes.Buffer{}, options(t, other, &called))
	if !errors.Is(err, keyring.ErrNoIdentity) || len(hint.All(err)) > 0 && hint.All(err)[0] == HintTemplated {
		t.Errorf("wrong age key: %v, hints %q", err, hint.All(err))
	}
	// A KMS recipient that cannot unwrap (its key is bound to the name): the hint.
	kms := strings.Replace(enc, "type: age", "type: aws", 1)
	if kms == enc {
		t.Fatal("no age recipient to turn into an AWS one")
	}
	err = PostRender(context.Background(), strings.NewReader(rendered(kms)), &bytes.Buffer{}, options(t, id, &called))
	if !errors.Is(err, keyring.ErrNoIdentity) || !slices.Contains(hint.All(err), HintTemplated) {
		t.Errorf("KMS recipient: %v, hints %q", err, hint.All(err))
	}
}
