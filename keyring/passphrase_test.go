package keyring_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/tooltest"
	"github.com/ksec-dev/ksec/keyring"
)

const testPass = "correct horse battery staple"

// countingPass answers with pass and counts the questions.
func countingPass(pass string, asked *atomic.Int32, what *string) keyring.IdentityOptions {
	return keyring.IdentityOptions{Passphrase: func(w string) ([]byte, error) {
		asked.Add(1)
		*what = w
		return []byte(pass), nil
	}}
}

// scryptFile encrypts data with a passphrase, as age -p does.
func scryptFile(t *testing.T, data []byte, armored bool) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(testPass)
	require.NoError(t, err)
	r.SetWorkFactor(10)
	var buf bytes.Buffer
	var w io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		w = aw
	}
	enc, err := age.Encrypt(w, r)
	require.NoError(t, err)
	_, err = enc.Write(data)
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	if aw != nil {
		require.NoError(t, aw.Close())
	}
	return buf.Bytes()
}

func TestPassphraseAgeIdentityFile(t *testing.T) {
	x := agX25519(t)
	dk := agDataKey(t)
	s := agWrap(t, x.Recipient().String(), dk)
	for _, armored := range []bool{false, true} {
		file := scryptFile(t, agIdentityFile(x), armored)
		var asked atomic.Int32
		var what string
		id, err := keyring.ParseIdentityFileWith(file, "key.age", countingPass(testPass, &asked, &what))
		require.NoError(t, err)
		require.Zero(t, asked.Load(), "nothing asked before a Secret needs the key")

		// A Secret without age recipients asks nothing.
		_, err = agUnwrap(id, t.Context(), keyring.Stanza{Type: "pgp", ID: "AAAA", Wrapped: []byte{1}})
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
		require.Zero(t, asked.Load())

		for range 3 {
			got, err := agUnwrap(id, t.Context(), s)
			require.NoError(t, err)
			require.Equal(t, dk, got)
		}
		require.EqualValues(t, 1, asked.Load(), "asked once per key")
		require.Equal(t, "identity file key.age", what)

		// Wrong passphrase.
		id, err = keyring.ParseIdentityFileWith(file, "key.age", countingPass("wrong", &asked, &what))
		require.NoError(t, err)
		_, err = agUnwrap(id, t.Context(), s)
		require.ErrorIs(t, err, keyring.ErrWrongPassphrase)
		require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
		agWantErr(t, err, "identity file key.age: wrong passphrase")
		agWantHint(t, err, "check the passphrase")
		require.NotContains(t, err.Error(), x.String())
		// It is not asked again.
		before := asked.Load()
		_, err = agUnwrap(id, t.Context(), s)
		require.ErrorIs(t, err, keyring.ErrWrongPassphrase)
		require.Equal(t, before, asked.Load())
	}

	// No passphrase source: the file is refused when read, as before.
	_, err := keyring.ParseIdentityFile(scryptFile(t, agIdentityFile(x), false), "key.age")
	agWantErr(t, err, "identity file key.age is encrypted with age")

	// The source fails (no terminal): its error is passed on.
	id, err := keyring.ParseIdentityFileWith(scryptFile(t, agIdentityFile(x), false), "key.age", keyring.IdentityOptions{
		Passphrase: func(string) ([]byte, error) { return nil, errors.New("there is no terminal to ask on") },
	})
	require.NoError(t, err)
	_, err = agUnwrap(id, t.Context(), s)
	agWantErr(t, err, "identity file key.age is protected by a passphrase: there is no terminal to ask on")
	require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
}

// sshKeygen makes a protected SSH key with the real ssh-keygen.
func sshKeygen(t *testing.T, args ...string) (priv []byte, pub string) {
	t.Helper()
	tooltest.LookPath(t, "ssh-keygen", "apt-get install openssh-client")
	f := filepath.Join(t.TempDir(), "id")
	out, err := exec.Command("ssh-keygen", append(args, "-q", "-N", testPass, "-C", "me@example.test", "-f", f)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	priv, err = os.ReadFile(f)
	require.NoError(t, err)
	p, err := os.ReadFile(f + ".pub")
	require.NoError(t, err)
	return priv, strings.TrimSpace(string(p))
}

func TestPassphraseSSHKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ed25519", []string{"-t", "ed25519"}},
		{"rsa", []string{"-t", "rsa", "-b", "2048"}},
		{"rsa pem", []string{"-t", "rsa", "-b", "2048", "-m", "PEM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv, pub := sshKeygen(t, tc.args...)
			dk := agDataKey(t)
			s := agWrap(t, pub, dk)
			other := agWrap(t, agX25519(t).Recipient().String(), agDataKey(t))

			var asked atomic.Int32
			var what string
			id, err := keyring.ParseIdentityFileWith(priv, "id", countingPass(testPass, &asked, &what))
			require.NoError(t, err)
			if tc.name != "rsa pem" { // an old PEM file hides its public key
				_, err = agUnwrap(id, t.Context(), other)
				require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
				require.Zero(t, asked.Load(), "not asked for a Secret the key cannot open")
			}
			for range 2 {
				got, err := agUnwrap(id, t.Context(), other, s)
				require.NoError(t, err)
				require.Equal(t, dk, got)
			}
			require.EqualValues(t, 1, asked.Load())

			id, err = keyring.ParseIdentityFileWith(priv, "id", countingPass("wrong", &asked, &what))
			require.NoError(t, err)
			_, err = agUnwrap(id, t.Context(), s)
			require.ErrorIs(t, err, keyring.ErrWrongPassphrase)
			agWantErr(t, err, "identity file id: wrong passphrase")
			agNoSecret(t, err, priv)
		})
	}
}

func TestPassphrasePGPKey(t *testing.T) {
	home := gpgtest.NewHome(t)
	fpr := gpgtest.GenKey(t, home, gpgtest.ECCPass, "carol@example.test")
	sec := gpgtest.ExportSecret(t, home, fpr)
	dk := agDataKey(t)
	s := keyring.Stanza{Type: "pgp", ID: fpr, Wrapped: gpgtest.Encrypt(t, home, fpr, dk)}
	other := keyring.Stanza{Type: "age", ID: agX25519(t).Recipient().String(), Wrapped: []byte("x")}

	var asked atomic.Int32
	var what string
	id, err := keyring.ParseIdentityFileWith(sec, "carol.asc", countingPass(gpgtest.Passphrase, &asked, &what))
	require.NoError(t, err)
	_, err = agUnwrap(id, t.Context(), other)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	require.Zero(t, asked.Load())
	for range 2 {
		got, err := agUnwrap(id, t.Context(), s)
		require.NoError(t, err)
		require.Equal(t, dk, got)
	}
	require.EqualValues(t, 1, asked.Load())
	require.Equal(t, "the OpenPGP key "+fpr+" in identity file carol.asc", what)

	id, err = keyring.ParseIdentityFileWith(sec, "carol.asc", countingPass("wrong", &asked, &what))
	require.NoError(t, err)
	_, err = agUnwrap(id, t.Context(), s)
	require.ErrorIs(t, err, keyring.ErrWrongPassphrase)
	agWantErr(t, err, "the OpenPGP key "+fpr+" in identity file carol.asc: wrong passphrase")
	agWantHint(t, err, "check the passphrase")
}
