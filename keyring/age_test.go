package keyring_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

// agSSHKey is an SSH key pair as files hold them.
type agSSHKey struct {
	priv []byte // OpenSSH private key file, PEM
	pub  string // authorized_keys line with a comment
	id   string // the stanza ID ksec gives it: type and base64, no comment
}

func agNewSSHKey(t *testing.T, key any, comment string) agSSHKey {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(key, comment)
	require.NoError(t, err)
	id := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	return agSSHKey{priv: pem.EncodeToMemory(block), pub: id + " " + comment, id: id}
}

func agSSHEd25519(t *testing.T) agSSHKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return agNewSSHKey(t, priv, "alice@example.test")
}

func agSSHRSA(t *testing.T, bits int) agSSHKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	require.NoError(t, err)
	return agNewSSHKey(t, priv, "bob@example.test")
}

func agX25519(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id
}

// agIdentityFile is the text of an age identity file, as age-keygen writes it.
func agIdentityFile(id *age.X25519Identity) []byte {
	return []byte("# created: 2026-01-01T00:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n")
}

func agDataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, crypto.DataKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func agWrap(t *testing.T, spec string, dataKey []byte) keyring.Stanza {
	t.Helper()
	r, err := keyring.NewAge().ParseRecipient(t.Context(), spec)
	require.NoError(t, err)
	s, err := r.Wrap(t.Context(), dataKey, keyring.Scope{Namespace: "ns", Name: "n"})
	require.NoError(t, err)
	require.Equal(t, "age", s.Type)
	require.Equal(t, r.ID(), s.ID)
	return s
}

func agIdentity(t *testing.T, data []byte) keyring.Identity {
	t.Helper()
	id, err := keyring.ParseIdentityFile(data, "test.key")
	require.NoError(t, err)
	return id
}

func agUnwrap(id keyring.Identity, ctx context.Context, stanzas ...keyring.Stanza) ([]byte, error) {
	return id.Unwrap(ctx, stanzas, keyring.Scope{Namespace: "ns", Name: "n"})
}

func agWantErr(t *testing.T, err error, contains ...string) {
	t.Helper()
	require.Error(t, err)
	for _, c := range contains {
		require.Contains(t, err.Error(), c)
	}
}

func agWantHint(t *testing.T, err error, contains string) {
	t.Helper()
	require.Error(t, err)
	hints := strings.Join(hint.All(err), "\n")
	require.Contains(t, hints, contains)
}

func TestAgeParseRecipient(t *testing.T) {
	x := agX25519(t).Recipient().String()
	ed := agSSHEd25519(t)
	rsaKey := agSSHRSA(t, 2048)
	weakRSA := agSSHRSA(t, 1024)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ec := agNewSSHKey(t, ecKey, "carol@example.test")
	pq, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	pqPub := pq.Recipient().String()
	secret := agX25519(t).String()
	badChecksum := x[:len(x)-1] + map[bool]string{true: "q", false: "p"}[x[len(x)-1] != 'q']

	tests := []struct {
		name, spec, id string
		err, hint      string
	}{
		{name: "x25519", spec: x, id: x},
		{name: "x25519 upper case", spec: strings.ToUpper(x), id: x},
		{name: "x25519 spaces", spec: "  " + x + "\n", id: x},
		{name: "post-quantum", spec: pqPub, id: pqPub},
		{name: "ssh-ed25519 with comment", spec: ed.pub, id: ed.id},
		{name: "ssh-ed25519 no comment", spec: ed.id, id: ed.id},
		{name: "ssh-ed25519 other comment", spec: ed.id + " someone@else", id: ed.id},
		{name: "ssh-rsa", spec: rsaKey.pub, id: rsaKey.id},
		{name: "ssh-rsa too small", spec: weakRSA.pub, err: "unusable ssh-rsa key: RSA key size is too small"},
		{name: "ssh ecdsa", spec: ec.pub, err: "SSH key type ecdsa-sha2-nistp256 cannot be used with age", hint: "age supports ssh-ed25519 and ssh-rsa keys"},
		{name: "ssh truncated", spec: ed.id[:40], err: "not a valid SSH public key", hint: "paste the whole line"},
		{name: "two ssh keys", spec: ed.pub + "\n" + rsaKey.pub, err: "more than one SSH public key"},
		{name: "plugin", spec: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", id: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"},
		{name: "plugin upper case", spec: "AGE1YUBIKEY1QWT50D05NH5VUTPDZMLG5WN80XQ5NEGM4UJ9GHV0SNVDD3YYSF5YW3RHL3T", id: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t"},
		{name: "plugin bad checksum", spec: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3q", err: "not a valid age plugin recipient", hint: "age keys are written age1…"},
		{name: "bad checksum", spec: badChecksum, err: "not a valid age public key: malformed recipient", hint: "age keys are written age1…"},
		{name: "secret key", spec: secret, err: "this is an age secret key, not a public key", hint: "'# public key:' line"},
		{name: "garbage", spec: "hello", err: "not an age or SSH public key", hint: "ssh-ed25519 AAAA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := keyring.NewAge().ParseRecipient(t.Context(), tc.spec)
			if tc.err != "" {
				agWantErr(t, err, tc.err)
				require.NotContains(t, err.Error(), secret)
				if tc.hint != "" {
					agWantHint(t, err, tc.hint)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, "age", r.Type())
			require.Equal(t, tc.id, r.ID())
		})
	}
}

// The keyring routes "age:" and bare age and SSH specs to the provider, and
// one SSH key under two comments is one recipient.
func TestAgeKeyringSpecs(t *testing.T) {
	x := agX25519(t).Recipient().String()
	ed := agSSHEd25519(t)
	kr := keyring.New([]keyring.Provider{keyring.NewAge()}, nil)
	rs, err := kr.ParseRecipients(t.Context(), []string{x, "age:" + x, ed.pub, "age:" + ed.id + " other@host"})
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, x, rs[0].ID())
	require.Equal(t, ed.id, rs[1].ID())
}

func TestAgeRoundTrip(t *testing.T) {
	x := agX25519(t)
	pq, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	ed := agSSHEd25519(t)
	rs := agSSHRSA(t, 2048)
	other := agX25519(t)

	cases := []struct {
		name, spec string
		identity   []byte
	}{
		{"x25519", x.Recipient().String(), agIdentityFile(x)},
		{"post-quantum", pq.Recipient().String(), []byte(pq.String() + "\n")},
		{"ssh-ed25519", ed.pub, ed.priv},
		{"ssh-rsa", rs.pub, rs.priv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataKey := agDataKey(t)
			s := agWrap(t, tc.spec, dataKey)
			// Age files are binary, not armored.
			require.True(t, bytes.HasPrefix(s.Wrapped, []byte("age-encryption.org/v1\n")))
			id := agIdentity(t, tc.identity)

			// Among stanzas of other types and other age recipients.
			decoy := agWrap(t, other.Recipient().String(), agDataKey(t))
			pgp := keyring.Stanza{Type: "pgp", ID: "3AA5C34371567BD2ABCDEF0123456789ABCDEF01", Wrapped: []byte("x")}
			got, err := agUnwrap(id, t.Context(), pgp, decoy, s)
			require.NoError(t, err)
			require.Equal(t, dataKey, got)

			// Wrapping again gives a new age file for the same key.
			s2 := agWrap(t, tc.spec, dataKey)
			require.NotEqual(t, s.Wrapped, s2.Wrapped)
			got, err = agUnwrap(id, t.Context(), s2)
			require.NoError(t, err)
			require.Equal(t, dataKey, got)
		})
	}
}

func TestAgeWrongIdentity(t *testing.T) {
	alice, bob := agX25519(t), agX25519(t)
	ed := agSSHEd25519(t)
	s := agWrap(t, alice.Recipient().String(), agDataKey(t))
	s2 := agWrap(t, ed.pub, agDataKey(t))

	_, err := agUnwrap(agIdentity(t, agIdentityFile(bob)), t.Context(), s, s2)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	require.NotErrorIs(t, err, crypto.ErrIntegrity)
	agWantErr(t, err, "test.key holds no age key for age:"+alice.Recipient().String()+", age:"+ed.id)

	_, err = agUnwrap(agIdentity(t, agSSHEd25519(t).priv), t.Context(), s, s2)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)

	// No age stanza at all.
	_, err = agUnwrap(agIdentity(t, agIdentityFile(bob)), t.Context(), keyring.Stanza{Type: "pgp", ID: "X", Wrapped: []byte("x")})
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	agWantErr(t, err, "test.key: no age recipients to try")
}

func TestAgeCorrupted(t *testing.T) {
	x := agX25519(t)
	ed := agSSHEd25519(t)
	rs := agSSHRSA(t, 2048)
	cases := []struct {
		name, spec string
		identity   []byte
	}{
		{"x25519", x.Recipient().String(), agIdentityFile(x)},
		{"ssh-ed25519", ed.pub, ed.priv},
		{"ssh-rsa", rs.pub, rs.priv},
	}
	for _, tc := range cases {
		id := agIdentity(t, tc.identity)
		s := agWrap(t, tc.spec, agDataKey(t))
		hdrEnd := bytes.Index(s.Wrapped, []byte("\n---"))
		require.Positive(t, hdrEnd)
		bodyLine := bytes.LastIndexByte(s.Wrapped[:hdrEnd], '\n') + 1
		corruptions := map[string]func(b []byte) []byte{
			"payload": func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
			"header mac": func(b []byte) []byte {
				i := hdrEnd + len("\n--- ")
				b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
				return b
			},
			"stanza body": func(b []byte) []byte {
				b[bodyLine] = map[bool]byte{true: 'B', false: 'A'}[b[bodyLine] == 'A']
				return b
			},
			"truncated": func(b []byte) []byte { return b[:len(b)-5] },
		}
		for what, corrupt := range corruptions {
			t.Run(tc.name+" "+what, func(t *testing.T) {
				bad := s
				bad.Wrapped = corrupt(bytes.Clone(s.Wrapped))
				key, err := agUnwrap(id, t.Context(), bad)
				require.Nil(t, key)
				require.ErrorIs(t, err, crypto.ErrIntegrity)
				require.NotErrorIs(t, err, keyring.ErrIncorrectIdentity)
				agWantErr(t, err, "integrity check failed: age:", "does not open with the matching key from test.key")
			})
		}
	}

	// A stanza whose ID is not in the form ksec writes is still tried, and
	// when our key opens its header, a bad payload is an integrity failure.
	t.Run("unmatched id", func(t *testing.T) {
		id := agIdentity(t, ed.priv)
		dataKey := agDataKey(t)
		s := agWrap(t, ed.pub, dataKey)
		s.ID = ed.pub // with the comment
		got, err := agUnwrap(id, t.Context(), s)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)

		s.Wrapped = bytes.Clone(s.Wrapped)
		s.Wrapped[len(s.Wrapped)-1] ^= 1
		_, err = agUnwrap(id, t.Context(), s)
		require.ErrorIs(t, err, crypto.ErrIntegrity)
		agWantErr(t, err, "the key from test.key that matches it")
	})

	// An intact stanza for one of our keys still opens after a corrupted
	// one; NewAgeIdentities takes identity types it cannot name (agessh).
	t.Run("second stanza", func(t *testing.T) {
		dataKey := agDataKey(t)
		bad := agWrap(t, x.Recipient().String(), dataKey)
		bad.Wrapped[len(bad.Wrapped)-1] ^= 1
		good := agWrap(t, ed.pub, dataKey)

		_, err := agUnwrap(agIdentity(t, agIdentityFile(x)), t.Context(), bad, good)
		require.ErrorIs(t, err, crypto.ErrIntegrity)

		sshID, err := agessh.ParseIdentity(ed.priv)
		require.NoError(t, err)
		both := keyring.NewAgeIdentities(append(agParseAge(t, agIdentityFile(x)), sshID), "both")
		got, err := agUnwrap(both, t.Context(), bad, good)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
	})
}

func agParseAge(t *testing.T, data []byte) []age.Identity {
	t.Helper()
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	require.NoError(t, err)
	return ids
}

// An age file for our key that holds anything but 32 bytes is refused.
func TestAgeDataKeyLength(t *testing.T) {
	x := agX25519(t)
	id := agIdentity(t, agIdentityFile(x))
	for _, n := range []int{0, 31, 33, 1000} {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, x.Recipient())
		require.NoError(t, err)
		_, err = w.Write(make([]byte, n))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		_, err = agUnwrap(id, t.Context(), keyring.Stanza{Type: "age", ID: x.Recipient().String(), Wrapped: buf.Bytes()})
		require.ErrorIs(t, err, crypto.ErrIntegrity, "length %d", n)
		agWantErr(t, err, "the age file does not hold a 32-byte data key")
	}

	r, err := keyring.NewAge().ParseRecipient(t.Context(), x.Recipient().String())
	require.NoError(t, err)
	_, err = r.Wrap(t.Context(), make([]byte, 16), keyring.Scope{})
	agWantErr(t, err, "data key is 16 bytes, want 32")
}

func TestAgeCanceled(t *testing.T) {
	x := agX25519(t)
	s := agWrap(t, x.Recipient().String(), agDataKey(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := agUnwrap(agIdentity(t, agIdentityFile(x)), ctx, s)
	require.ErrorIs(t, err, context.Canceled)
	r, err := keyring.NewAge().ParseRecipient(t.Context(), x.Recipient().String())
	require.NoError(t, err)
	_, err = r.Wrap(ctx, agDataKey(t), keyring.Scope{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestAgeProvider(t *testing.T) {
	p := keyring.NewAge()
	require.Equal(t, "age", p.Type())
	require.Nil(t, p.AmbientIdentity())
}

func TestDefaultAgeIdentityFile(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name string
		env  func(string) string
		want string
	}{
		{"xdg", env("XDG_CONFIG_HOME", "/x/cfg", "HOME", "/home/u"), filepath.Join("/x/cfg", "ksec", "identities")},
		{"relative xdg ignored", env("XDG_CONFIG_HOME", "cfg", "HOME", "/home/u"), filepath.Join("/home/u", ".config", "ksec", "identities")},
		{"home", env("HOME", "/home/u"), filepath.Join("/home/u", ".config", "ksec", "identities")},
		{"userprofile", env("USERPROFILE", "/users/u"), filepath.Join("/users/u", ".config", "ksec", "identities")},
		{"nothing", env(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, keyring.DefaultAgeIdentityFile(tc.env))
		})
	}
}

func TestDefaultAgeIdentity(t *testing.T) {
	dir := t.TempDir()
	x := agX25519(t)
	dataKey := agDataKey(t)
	s := agWrap(t, x.Recipient().String(), dataKey)
	pgp := keyring.Stanza{Type: "pgp", ID: "3AA5C34371567BD2ABCDEF0123456789ABCDEF01", Wrapped: []byte("x")}

	t.Run("works", func(t *testing.T) {
		path := filepath.Join(dir, "good")
		require.NoError(t, os.WriteFile(path, agIdentityFile(x), 0o600))
		id := keyring.NewDefaultAgeIdentity(path)
		got, err := agUnwrap(id, t.Context(), pgp, s)
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := agUnwrap(keyring.NewDefaultAgeIdentity(filepath.Join(dir, "none")), t.Context(), s)
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
		agWantErr(t, err, "no default age identity file "+filepath.Join(dir, "none"))
		agWantHint(t, err, "ksec keygen --default")
		_, err = agUnwrap(keyring.NewDefaultAgeIdentity(""), t.Context(), s)
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	})
	t.Run("read only when needed", func(t *testing.T) {
		path := filepath.Join(dir, "broken")
		require.NoError(t, os.WriteFile(path, []byte("not a key\n"), 0o600))
		id := keyring.NewDefaultAgeIdentity(path)
		_, err := agUnwrap(id, t.Context(), pgp)
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
		_, err = agUnwrap(id, t.Context(), pgp, s)
		require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
		agWantErr(t, err, "identity file "+path+" is not a key ksec understands")
	})
}

// agTool finds a CLI the interop tests need; missing it fails the test.
func agTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: the age interop tests need the age CLI (Debian: apt-get install age)", name)
	}
	return p
}

func agRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	c := exec.CommandContext(t.Context(), name, args...)
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), stderr.String())
	return out
}

func TestAgeInteropCLI(t *testing.T) {
	ageBin, keygenBin := agTool(t, "age"), agTool(t, "age-keygen")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}

	keyFile := filepath.Join(dir, "age.key")
	agRun(t, keygenBin, "-o", keyFile)
	agePub := strings.TrimSpace(string(agRun(t, keygenBin, "-y", keyFile)))
	ageKey, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	ed, rs := agSSHEd25519(t), agSSHRSA(t, 2048)
	edFile, rsFile := write("id_ed25519", ed.priv), write("id_rsa", rs.priv)
	edPub := write("id_ed25519.pub", []byte(ed.pub+"\n"))

	cases := []struct {
		name, spec, keyFile string
		identity            []byte
		ageRecipient        []string
	}{
		{"age-keygen key", agePub, keyFile, ageKey, []string{"-r", agePub}},
		{"ssh-ed25519", ed.pub, edFile, ed.priv, []string{"-R", edPub}},
		{"ssh-rsa", rs.pub, rsFile, rs.priv, []string{"-r", rs.pub}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" ksec wraps, age decrypts", func(t *testing.T) {
			dataKey := agDataKey(t)
			s := agWrap(t, tc.spec, dataKey)
			wrapped := write(tc.name+".ksec.age", s.Wrapped)
			require.Equal(t, dataKey, agRun(t, ageBin, "-d", "-i", tc.keyFile, wrapped))
		})
		t.Run(tc.name+" age encrypts, ksec unwraps", func(t *testing.T) {
			dataKey := agDataKey(t)
			in := write(tc.name+".plain", dataKey)
			out := filepath.Join(dir, tc.name+".cli.age")
			agRun(t, ageBin, append(append([]string{"-e", "-o", out}, tc.ageRecipient...), in)...)
			wrapped, err := os.ReadFile(out)
			require.NoError(t, err)
			r, err := keyring.NewAge().ParseRecipient(t.Context(), tc.spec)
			require.NoError(t, err)
			id, err := keyring.ParseIdentityFile(tc.identity, tc.keyFile)
			require.NoError(t, err)
			got, err := agUnwrap(id, t.Context(), keyring.Stanza{Type: "age", ID: r.ID(), Wrapped: wrapped})
			require.NoError(t, err)
			require.Equal(t, dataKey, got)
		})
	}
}
