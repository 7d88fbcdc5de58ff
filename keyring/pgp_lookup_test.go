package keyring

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/hint"
)

// Key IDs, email addresses and spaced fingerprints are looked up in the real
// gpg keyring and recorded as the primary key's fingerprint.
func TestPGPKeyNames(t *testing.T) {
	home := gpgtest.NewHome(t)
	alice := gpgtest.GenKey(t, home, gpgtest.ECC, "alice@example.test")
	bob1 := gpgtest.GenKey(t, home, gpgtest.ECC, "bob@example.test")
	bob2 := genKeyWithUID(t, home, "Bob Two <bob@example.test>")
	gpgtest.GenKey(t, home, gpgtest.ECC, "jimalice@example.test") // a substring must not match
	carol := gpgtest.GenKey(t, home, gpgtest.ECC, "carol@example.test")
	carolNew := genKeyWithUID(t, home, "Carol New <carol@example.test>")
	gpgtest.Revoke(t, home, carol)
	kr := New([]Provider{NewPGP(PGPOptions{Env: gpgtest.Env(home)})}, nil)

	spaced := func(fpr string) string { // as gpg --fingerprint prints it
		var g []string
		for i := 0; i < 40; i += 4 {
			g = append(g, fpr[i:i+4])
		}
		return strings.Join(g[:5], " ") + "  " + strings.Join(g[5:], " ")
	}
	subkeyID := func(fpr string) string {
		out, err := exec.Command("gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys", fpr).Output()
		require.NoError(t, err)
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Split(line, ":"); f[0] == "sub" {
				return f[4]
			}
		}
		t.Fatal("no subkey")
		return ""
	}
	for _, spec := range []string{
		"pgp:" + alice[24:], alice[24:], "0x" + strings.ToLower(alice[24:]), "pgp:" + subkeyID(alice),
		"pgp:alice@example.test", "alice@example.test", "<alice@example.test>",
		"pgp:" + spaced(alice), spaced(alice),
	} {
		r, err := kr.ParseRecipient(t.Context(), spec)
		require.NoError(t, err, spec)
		require.Equal(t, alice, r.ID(), spec)
	}
	ref, err := kr.ParseRef(t.Context(), spaced(alice))
	require.NoError(t, err)
	require.Equal(t, Ref{Type: "pgp", ID: alice}, ref)

	// A revoked key is passed over when a current one has the address.
	r, err := kr.ParseRecipient(t.Context(), "carol@example.test")
	require.NoError(t, err)
	require.Equal(t, carolNew, r.ID())

	for spec, want := range map[string]string{
		"bob@example.test":           `key "bob@example.test": 2 keys in the gpg keyring have this email: ` + bob1 + " ksec test <bob@example.test>, " + bob2 + " Bob Two <bob@example.test>",
		"pgp:nobody@x.test":          `key "pgp:nobody@x.test": no key with this email in the gpg keyring (gpg: error reading key: No public key)`,
		"pgp:" + alice[32:]:          `key "pgp:` + alice[32:] + `": an 8-digit short key ID is ambiguous (anyone can make a key with the same one)`,
		"pgp:0123456789ABCDEF":       `key "pgp:0123456789ABCDEF": no key with this key ID in the gpg keyring (gpg: error reading key: No public key)`,
		"pgp:no/such/file.asc":       `key "pgp:no/such/file.asc": no such key file, and not a fingerprint, key ID or email address`,
		"pgp:alice@example.test.asc": `key "pgp:alice@example.test.asc": no such key file, and not a fingerprint, key ID or email address`,
	} {
		_, err := kr.ParseRecipient(t.Context(), spec)
		require.EqualError(t, err, want, spec)
		require.NotEmpty(t, hint.All(err), spec)
	}
}

func TestSanitizeOneLine(t *testing.T) {
	require.Equal(t, "a b c", sanitizeOneLine("a\n\x1b b\r\n\tc", 100))
	require.Equal(t, "abc…", sanitizeOneLine("abcdef", 3))
}
