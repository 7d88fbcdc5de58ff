package keyring_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

// agRoundTrip checks that the identity parsed from data unwraps a data key
// wrapped for spec.
func agRoundTrip(t *testing.T, spec string, id keyring.Identity) {
	t.Helper()
	dataKey := agDataKey(t)
	got, err := agUnwrap(id, t.Context(), agWrap(t, spec, dataKey))
	require.NoError(t, err)
	require.Equal(t, dataKey, got)
}

// agNoSecret fails if err or its hints quote any long line of the file.
func agNoSecret(t *testing.T, err error, data []byte) {
	t.Helper()
	text := err.Error() + "\n" + strings.Join(hint.All(err), "\n")
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.HasPrefix(line, "#") {
			require.NotContains(t, text, line)
		}
	}
}

// agPGPKey makes an OpenPGP key with go-crypto: the armored secret key and
// the path of a public-key file.
func agPGPKey(t *testing.T) (secret []byte, pubFile string) {
	t.Helper()
	e, err := openpgp.NewEntity("Test", "", "test@example.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var sec, pub bytes.Buffer
	w, err := pgparmor.Encode(&sec, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivate(w, nil))
	require.NoError(t, w.Close())
	w, err = pgparmor.Encode(&pub, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	pubFile = filepath.Join(t.TempDir(), "pub.asc")
	require.NoError(t, os.WriteFile(pubFile, pub.Bytes(), 0o600))
	return sec.Bytes(), pubFile
}

func TestParseIdentityFileRouting(t *testing.T) {
	x, x2 := agX25519(t), agX25519(t)
	ed := agSSHEd25519(t)
	rs := agSSHRSA(t, 2048)

	t.Run("age file with comments, CRLF and two keys", func(t *testing.T) {
		data := []byte("# my keys\r\n\r\n" + strings.ReplaceAll(string(agIdentityFile(x)), "\n", "\r\n") + "# second\n" + x2.String() + "\n")
		id := agIdentity(t, data)
		agRoundTrip(t, x.Recipient().String(), id)
		agRoundTrip(t, x2.Recipient().String(), id)
	})
	t.Run("age post-quantum key", func(t *testing.T) {
		pq, err := age.GenerateHybridIdentity()
		require.NoError(t, err)
		agRoundTrip(t, pq.Recipient().String(), agIdentity(t, []byte(pq.String()+"\n")))
	})
	t.Run("ssh-ed25519 OpenSSH key", func(t *testing.T) {
		agRoundTrip(t, ed.pub, agIdentity(t, ed.priv))
	})
	t.Run("ssh-rsa OpenSSH key", func(t *testing.T) {
		agRoundTrip(t, rs.pub, agIdentity(t, rs.priv))
	})
	t.Run("ssh-rsa PEM PKCS#1 key", func(t *testing.T) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		pub, err := ssh.NewPublicKey(&k.PublicKey)
		require.NoError(t, err)
		agRoundTrip(t, string(ssh.MarshalAuthorizedKey(pub)), agIdentity(t, data))
	})
	t.Run("openpgp secret key", func(t *testing.T) {
		sec, pubFile := agPGPKey(t)
		id := agIdentity(t, sec)
		r, err := keyring.NewPGP(keyring.PGPOptions{}).ParseRecipient(t.Context(), pubFile)
		require.NoError(t, err)
		dataKey := agDataKey(t)
		s, err := r.Wrap(t.Context(), dataKey, keyring.Scope{})
		require.NoError(t, err)
		got, err := agUnwrap(id, t.Context(), s)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)

		// The same key, binary.
		block, err := pgparmor.Decode(bytes.NewReader(sec))
		require.NoError(t, err)
		var bin bytes.Buffer
		_, err = bin.ReadFrom(block.Body)
		require.NoError(t, err)
		got, err = agUnwrap(agIdentity(t, bin.Bytes()), t.Context(), s)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
	})
}

func TestParseIdentityFileErrors(t *testing.T) {
	x := agX25519(t)
	ed := agSSHEd25519(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ec := agNewSSHKey(t, ecKey, "carol@example.test")
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	protected, err := ssh.MarshalPrivateKeyWithPassphrase(edPriv, "c", []byte("secret"))
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(edPriv)
	require.NoError(t, err)
	_, pgpPubFile := agPGPKey(t)
	pgpPub, err := os.ReadFile(pgpPubFile)
	require.NoError(t, err)

	var encrypted, armored bytes.Buffer
	scrypt, err := age.NewScryptRecipient("pw")
	require.NoError(t, err)
	scrypt.SetWorkFactor(10)
	w, err := age.Encrypt(&encrypted, scrypt)
	require.NoError(t, err)
	_, err = w.Write(agIdentityFile(x))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	aw := armor.NewWriter(&armored)
	_, err = aw.Write(encrypted.Bytes())
	require.NoError(t, err)
	require.NoError(t, aw.Close())

	good := x.String()
	badLine := good[:len(good)-2] + map[bool]string{true: "QQ", false: "PP"}[!strings.HasSuffix(good, "QQ")]

	tests := []struct {
		name      string
		data      []byte
		err, hint string
	}{
		{"empty", []byte(" \n\n"), "identity file test.key is empty", "ksec keygen"},
		{"garbage", []byte("password=hunter2-very-secret-value\nmore stuff here please\n"),
			"identity file test.key is not a key ksec understands: expected an age secret key, an SSH private key (ssh-ed25519 or ssh-rsa) or an OpenPGP secret key",
			"make an age key with ksec keygen"},
		{"binary garbage", []byte{0x00, 0xff, 0x13, 0x37, 0x80, 0x81}, "is not a key ksec understands", "gpg --export-secret-keys"},
		{"age public key", []byte(x.Recipient().String() + "\n"), "identity file test.key holds an age public key (age1…), not a secret key", "the public key goes into -k/--key"},
		{"ssh public key", []byte(ed.pub + "\n"), "identity file test.key holds an SSH public key, not the private key", "the file without .pub"},
		{"pem public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), "holds a public key, not a secret key", "-I/--identity"},
		{"openpgp public key", pgpPub, "holds no OpenPGP secret key, only public keys", "gpg --export-secret-keys"},
		{"bad age line", append(agIdentityFile(x), []byte(badLine+"\n")...),
			"identity file test.key: not a valid age identity file: error at line 4: malformed secret key", "one AGE-SECRET-KEY-1… key per line"},
		{"age plugin", []byte("AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"), "identity file test.key: line 1: not a valid age plugin identity", "one AGE-SECRET-KEY-1… key per line"},
		{"age plugin among keys", append(agIdentityFile(x), "AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQ\n"...), "identity file test.key: line 4: not a valid age plugin identity", "one AGE-SECRET-KEY-1… key per line"},
		{"passphrase ssh key", pem.EncodeToMemory(protected), "identity file test.key: the SSH private key is protected by a passphrase, which ksec cannot ask for", "ssh-keygen -p"},
		{"ecdsa ssh key", ec.priv, "identity file test.key: this kind of SSH key (*ecdsa.PrivateKey) cannot be used with age", "ssh-ed25519 and ssh-rsa"},
		{"broken ssh key", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), "identity file test.key: not a readable SSH private key", "ksec keygen"},
		{"encrypted pkcs8", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: pkcs8}), "the private key is protected by a passphrase", "ksec keygen"},
		{"age encrypted identity", encrypted.Bytes(), "identity file test.key is encrypted with age", "KSEC_AGE_KEY=\"$(age -d FILE)\""},
		{"age armored identity", armored.Bytes(), "identity file test.key is encrypted with age", "age -d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := keyring.ParseIdentityFile(tc.data, "test.key")
			require.Nil(t, id)
			agWantErr(t, err, tc.err)
			agWantHint(t, err, tc.hint)
			agNoSecret(t, err, tc.data)
			require.NotContains(t, err.Error(), good)
		})
	}
}

func TestParseIdentityString(t *testing.T) {
	x := agX25519(t)
	id, err := keyring.ParseIdentityString(x.String(), "KSEC_AGE_KEY")
	require.NoError(t, err)
	agRoundTrip(t, x.Recipient().String(), id)

	// A whole identity file pasted into a CI secret works too.
	id, err = keyring.ParseIdentityString(string(agIdentityFile(x))+"\n", "KSEC_AGE_KEY")
	require.NoError(t, err)
	agRoundTrip(t, x.Recipient().String(), id)

	for _, path := range []string{"~/.config/ksec/identities", "/etc/ksec/key.txt", "keys.txt"} {
		_, err = keyring.ParseIdentityString(path, "KSEC_AGE_KEY")
		agWantErr(t, err, "KSEC_AGE_KEY is not a key ksec understands")
		agWantHint(t, err, "KSEC_AGE_KEY holds the secret key itself, not a file name")
	}

	_, err = keyring.ParseIdentityString(x.Recipient().String(), "KSEC_AGE_KEY")
	agWantErr(t, err, "KSEC_AGE_KEY holds an age public key")
	require.NotContains(t, strings.Join(hint.All(err), "\n"), "file name")

	_, err = keyring.ParseIdentityString("", "KSEC_AGE_KEY")
	agWantErr(t, err, "KSEC_AGE_KEY is empty")
}

// Keys made by the age-keygen CLI parse, including files with several keys.
func TestParseIdentityFileAgeKeygen(t *testing.T) {
	keygen := agTool(t, "age-keygen")
	dir := t.TempDir()
	var all []byte
	var pubs []string
	for i := range 2 {
		f := filepath.Join(dir, "key"+string(rune('a'+i)))
		agRun(t, keygen, "-o", f)
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		all = append(all, data...)
		pubs = append(pubs, strings.TrimSpace(string(agRun(t, keygen, "-y", f))))
		agRoundTrip(t, pubs[i], agIdentity(t, data))
	}
	id := agIdentity(t, all)
	for _, p := range pubs {
		agRoundTrip(t, p, id)
	}
}
