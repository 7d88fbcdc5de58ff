package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

// pgpParty is one key holder: a GnuPG home with one secret key.
type pgpParty struct {
	home string
	fpr  string
	pub  []byte // armored public key
	sec  []byte // armored secret key
}

func (p *pgpParty) provider() keyring.Provider {
	return keyring.NewPGP(keyring.PGPOptions{Env: gpgtest.Env(p.home)})
}

func (p *pgpParty) fileIdentity(t *testing.T) keyring.Identity {
	t.Helper()
	id, err := keyring.NewPGPFileIdentity(p.sec, "testdata/"+p.fpr[:8]+".sec.asc")
	if err != nil {
		t.Fatalf("NewPGPFileIdentity: %v", err)
	}
	return id
}

type pgpFixture struct {
	alice   *pgpParty // ECC
	bob     *pgpParty // RSA
	dave    *pgpParty // ECC, a stranger to alice and bob
	carol   *pgpParty // ECC with a passphrase
	expired string    // fingerprint of an expired key in dave's home
	revoked string    // fingerprint of a revoked key in dave's home
}

// newPGPFixture makes every key once, in parallel (RSA takes seconds).
func newPGPFixture(t *testing.T) *pgpFixture {
	t.Helper()
	fx := &pgpFixture{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	party := func(dst **pgpParty, kind, email string, more func(home string) error) {
		home := gpgtest.NewHome(t)
		p := &pgpParty{home: home}
		*dst = p
		wg.Go(func() {
			var err error
			if p.fpr, err = gpgtest.GenKeyE(home, kind, email); err != nil {
				errs <- err
				return
			}
			if p.pub, err = gpgtest.ExportPublicE(home, p.fpr); err != nil {
				errs <- err
				return
			}
			if p.sec, err = gpgtest.ExportSecretE(home, p.fpr); err != nil {
				errs <- err
				return
			}
			if more != nil {
				if err := more(home); err != nil {
					errs <- err
				}
			}
		})
	}
	party(&fx.bob, gpgtest.RSA, "bob@example.test", nil)
	party(&fx.alice, gpgtest.ECC, "alice@example.test", nil)
	party(&fx.carol, gpgtest.ECCPass, "carol@example.test", nil)
	party(&fx.dave, gpgtest.ECC, "dave@example.test", func(home string) error {
		var err error
		if fx.expired, err = gpgtest.GenKeyE(home, gpgtest.ECCExpired, "old@example.test"); err != nil {
			return err
		}
		if fx.revoked, err = gpgtest.GenKeyE(home, gpgtest.ECC, "revoked@example.test"); err != nil {
			return err
		}
		return gpgtest.RevokeE(home, fx.revoked)
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return fx
}

func newDataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func wrapFor(t *testing.T, p keyring.Provider, spec string, dataKey []byte) keyring.Stanza {
	t.Helper()
	ctx := t.Context()
	r, err := p.ParseRecipient(ctx, spec)
	if err != nil {
		t.Fatalf("ParseRecipient(%s): %v", spec, err)
	}
	s, err := r.Wrap(ctx, dataKey, keyring.Scope{Namespace: "default", Name: "app"})
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return s
}

func wantErr(t *testing.T, err error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", contains)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

func wantHint(t *testing.T, err error, contains string) {
	t.Helper()
	hints := hint.All(err)
	for _, h := range hints {
		if strings.Contains(h, contains) {
			return
		}
	}
	t.Errorf("hints %q of error %q: none contains %q", hints, err, contains)
}

func wantIncorrect(t *testing.T, key []byte, err error) {
	t.Helper()
	if !errors.Is(err, keyring.ErrIncorrectIdentity) {
		t.Fatalf("got key=%v err=%v; want ErrIncorrectIdentity", key != nil, err)
	}
}

func wantKey(t *testing.T, got []byte, err error, want []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Unwrap returned a different data key (%d bytes)", len(got))
	}
}

func dearmor(t *testing.T, data []byte) []byte {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(block.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPGP(t *testing.T) {
	start := time.Now()
	fx := newPGPFixture(t)
	t.Logf("keys made in %v", time.Since(start).Round(time.Millisecond))
	alice, bob, dave, carol := fx.alice, fx.bob, fx.dave, fx.carol

	t.Run("provider type", func(t *testing.T) {
		if got := alice.provider().Type(); got != "pgp" {
			t.Fatalf("Type() = %q", got)
		}
	})

	t.Run("recipient by fingerprint", func(t *testing.T) {
		t.Parallel()
		for _, p := range []*pgpParty{alice, bob} {
			for _, spec := range []string{p.fpr, strings.ToLower(p.fpr), "0x" + p.fpr} {
				r, err := p.provider().ParseRecipient(t.Context(), spec)
				if err != nil {
					t.Fatalf("ParseRecipient(%s): %v", spec, err)
				}
				if r.Type() != "pgp" || r.ID() != p.fpr {
					t.Errorf("ParseRecipient(%s) = %s:%s; want pgp:%s", spec, r.Type(), r.ID(), p.fpr)
				}
			}
		}
		// Through the keyring, with the pgp: prefix.
		kr := keyring.New([]keyring.Provider{alice.provider()}, nil)
		r, err := kr.ParseRecipient(t.Context(), "pgp:"+alice.fpr)
		if err != nil || r.ID() != alice.fpr {
			t.Fatalf("keyring ParseRecipient: %v", err)
		}
	})

	t.Run("recipient by file", func(t *testing.T) {
		t.Parallel()
		p := keyring.NewPGP(keyring.PGPOptions{GPG: "/nonexistent/gpg"}) // files need no gpg
		for _, party := range []*pgpParty{alice, bob} {
			files := map[string][]byte{
				"key.pub.asc": party.pub,
				"key.pub.gpg": dearmor(t, party.pub),
				"key.sec.asc": party.sec, // a secret key file gives its public part
			}
			for name, data := range files {
				path := writeFile(t, name, data)
				r, err := p.ParseRecipient(t.Context(), path)
				if err != nil {
					t.Fatalf("ParseRecipient(%s): %v", name, err)
				}
				if r.ID() != party.fpr {
					t.Errorf("%s: ID() = %s; want %s", name, r.ID(), party.fpr)
				}
				// The wrapped key opens with the party's gpg.
				dk := newDataKey(t)
				s, err := r.Wrap(t.Context(), dk, keyring.Scope{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := party.provider().AmbientIdentity().Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
				wantKey(t, got, err, dk)
			}
		}
	})

	t.Run("recipient file with several keys", func(t *testing.T) {
		t.Parallel()
		path := writeFile(t, "team.asc", append(append([]byte(nil), alice.pub...), dave.pub...))
		_, err := alice.provider().ParseRecipient(t.Context(), path)
		wantErr(t, err, "holds 2 keys", alice.fpr, dave.fpr)
		wantHint(t, err, "pgp:FINGERPRINT")
	})

	t.Run("recipient file missing or not a key", func(t *testing.T) {
		t.Parallel()
		_, err := alice.provider().ParseRecipient(t.Context(), filepath.Join(t.TempDir(), "nope.asc"))
		wantErr(t, err, "no such key file")
		path := writeFile(t, "notakey.txt", []byte("hello\n"))
		_, err = alice.provider().ParseRecipient(t.Context(), path)
		wantErr(t, err, "not a readable OpenPGP key")
		wantHint(t, err, "gpg --export --armor")
	})

	t.Run("unknown fingerprint", func(t *testing.T) {
		t.Parallel()
		unknown := strings.Repeat("AB", 20)
		_, err := alice.provider().ParseRecipient(t.Context(), unknown)
		wantErr(t, err, "no public key with fingerprint "+unknown+" in the gpg keyring")
		wantHint(t, err, "import the key with gpg --import, or pass its public-key file path")
	})

	t.Run("expired and revoked keys", func(t *testing.T) {
		t.Parallel()
		_, err := dave.provider().ParseRecipient(t.Context(), fx.expired)
		wantErr(t, err, "pgp key "+fx.expired+" expired on 2020-12-31")
		_, err = dave.provider().ParseRecipient(t.Context(), fx.revoked)
		wantErr(t, err, "pgp key "+fx.revoked+" is revoked")
		wantHint(t, err, "current public key")
	})

	t.Run("gpg missing", func(t *testing.T) {
		t.Parallel()
		p := keyring.NewPGP(keyring.PGPOptions{GPG: "/nonexistent/gpg", Env: gpgtest.Env(alice.home)})
		_, err := p.ParseRecipient(t.Context(), alice.fpr)
		wantErr(t, err, "gpg not found")
		wantHint(t, err, "install gnupg, or give the recipient's public-key file path")

		s := wrapFor(t, alice.provider(), alice.fpr, newDataKey(t))
		key, err := p.AmbientIdentity().Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
		wantErr(t, err, "gpg not found", "pgp:"+alice.fpr)
		wantHint(t, err, "install gnupg, or pass the secret key file with -I/--identity")
		if errors.Is(err, keyring.ErrIncorrectIdentity) || key != nil {
			t.Fatal("a missing gpg must not look like 'no matching key'")
		}
	})

	t.Run("wrap and unwrap with gpg", func(t *testing.T) {
		t.Parallel()
		for _, p := range []*pgpParty{alice, bob} {
			dk := newDataKey(t)
			s := wrapFor(t, p.provider(), p.fpr, dk)
			if s.Type != "pgp" || s.ID != p.fpr {
				t.Fatalf("stanza %s:%s; want pgp:%s", s.Type, s.ID, p.fpr)
			}
			got, err := p.provider().AmbientIdentity().Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
			wantKey(t, got, err, dk)
			// And plain gpg reads it too.
			if !bytes.Equal(gpgtest.Decrypt(t, p.home, s.Wrapped), dk) {
				t.Fatal("gpg --decrypt gave a different data key")
			}
		}
	})

	t.Run("wrap and unwrap with key file", func(t *testing.T) {
		t.Parallel()
		for _, p := range []*pgpParty{alice, bob} {
			dk := newDataKey(t)
			s := wrapFor(t, p.provider(), p.fpr, dk)
			got, err := p.fileIdentity(t).Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
			wantKey(t, got, err, dk)
			// A binary secret key file works too.
			id, err := keyring.NewPGPFileIdentity(dearmor(t, p.sec), "key.sec.gpg")
			if err != nil {
				t.Fatal(err)
			}
			got, err = id.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
			wantKey(t, got, err, dk)
		}
	})

	t.Run("wrapped message format", func(t *testing.T) {
		t.Parallel()
		dk := newDataKey(t)
		s := wrapFor(t, alice.provider(), alice.fpr, dk)
		if bytes.HasPrefix(s.Wrapped, []byte("-----")) {
			t.Fatal("wrapped key is armored; want binary")
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(alice.sec))
		if err != nil {
			t.Fatal(err)
		}
		pr := packet.NewReader(bytes.NewReader(s.Wrapped))
		p, err := pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			t.Fatalf("first packet %T; want a public-key encrypted session key", p)
		}
		keys := el.KeysById(ek.KeyId)
		if len(keys) != 1 {
			t.Fatalf("session key encrypted to key ID %X, not alice's", ek.KeyId)
		}
		if err := ek.Decrypt(keys[0].PrivateKey, nil); err != nil {
			t.Fatal(err)
		}
		if ek.CipherFunc != packet.CipherAES256 {
			t.Errorf("cipher %v; want AES-256", ek.CipherFunc)
		}
		p, err = pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		se, ok := p.(*packet.SymmetricallyEncrypted)
		if !ok || !se.IntegrityProtected || se.Version != 1 {
			t.Fatalf("data packet %T; want SEIPD version 1 (MDC), as gpg 2.2 reads", p)
		}
		body, err := se.Decrypt(ek.CipherFunc, ek.Key)
		if err != nil {
			t.Fatal(err)
		}
		inner, err := packet.NewReader(body).Next()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := inner.(*packet.LiteralData); !ok {
			t.Fatalf("inner packet %T; want literal data (no compression, no signature)", inner)
		}
	})

	t.Run("stanza for someone else", func(t *testing.T) {
		t.Parallel()
		s := wrapFor(t, dave.provider(), dave.fpr, newDataKey(t))
		stanzas := []keyring.Stanza{s}
		key, err := alice.provider().AmbientIdentity().Unwrap(t.Context(), stanzas, keyring.Scope{})
		wantIncorrect(t, key, err)
		key, err = alice.fileIdentity(t).Unwrap(t.Context(), stanzas, keyring.Scope{})
		wantIncorrect(t, key, err)
		// Stanzas of other types are not for a pgp identity either.
		other := []keyring.Stanza{{Type: "age", ID: "age1xyz", Wrapped: s.Wrapped}}
		key, err = alice.provider().AmbientIdentity().Unwrap(t.Context(), other, keyring.Scope{})
		wantIncorrect(t, key, err)
		key, err = alice.fileIdentity(t).Unwrap(t.Context(), other, keyring.Scope{})
		wantIncorrect(t, key, err)
	})

	t.Run("two recipients each unwrap alone", func(t *testing.T) {
		t.Parallel()
		dk := newDataKey(t)
		stanzas := []keyring.Stanza{
			wrapFor(t, dave.provider(), dave.fpr, dk),
			wrapFor(t, bob.provider(), bob.fpr, dk),
			wrapFor(t, alice.provider(), alice.fpr, dk),
		}
		for _, p := range []*pgpParty{alice, bob} {
			got, err := p.provider().AmbientIdentity().Unwrap(t.Context(), stanzas, keyring.Scope{})
			wantKey(t, got, err, dk)
			got, err = p.fileIdentity(t).Unwrap(t.Context(), stanzas, keyring.Scope{})
			wantKey(t, got, err, dk)
			// Through the keyring: explicit identity, then gpg.
			kr := keyring.New([]keyring.Provider{p.provider()}, nil)
			got, err = kr.Unwrap(t.Context(), stanzas, keyring.Scope{})
			wantKey(t, got, err, dk)
			kr = keyring.New(nil, []keyring.Identity{p.fileIdentity(t)})
			got, err = kr.Unwrap(t.Context(), stanzas, keyring.Scope{})
			wantKey(t, got, err, dk)
		}
		// One file holding both secret keys (two armored blocks).
		both, err := keyring.NewPGPFileIdentity(append(append([]byte(nil), bob.sec...), alice.sec...), "both.asc")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stanzas[1:] {
			got, err := both.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
			wantKey(t, got, err, dk)
		}
	})

	t.Run("subkey fingerprint", func(t *testing.T) {
		t.Parallel()
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(alice.pub))
		if err != nil {
			t.Fatal(err)
		}
		sub := strings.ToUpper(hex.EncodeToString(el[0].Subkeys[0].PublicKey.Fingerprint))
		// A recipient named by its subkey is recorded under its primary key.
		r, err := alice.provider().ParseRecipient(t.Context(), sub)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID() != alice.fpr {
			t.Errorf("ID() = %s; want the primary fingerprint %s", r.ID(), alice.fpr)
		}
		// A stanza recorded under the subkey fingerprint is matched.
		dk := newDataKey(t)
		s := wrapFor(t, alice.provider(), alice.fpr, dk)
		s.ID = sub
		got, err := alice.fileIdentity(t).Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
		wantKey(t, got, err, dk)
		// A stanza recorded under a fingerprint the file does not hold is
		// still tried: the message's key IDs decide.
		s.ID = dave.fpr
		stanzas := []keyring.Stanza{wrapFor(t, dave.provider(), dave.fpr, dk), s}
		got, err = alice.fileIdentity(t).Unwrap(t.Context(), stanzas, keyring.Scope{})
		wantKey(t, got, err, dk)
	})

	t.Run("quiet in gpg.conf", func(t *testing.T) {
		t.Parallel()
		// "quiet" hides gpg's NO_SECKEY status line; a stanza for someone
		// else must still read as "no matching key".
		home := gpgtest.NewHome(t)
		if err := os.WriteFile(filepath.Join(home, "gpg.conf"), []byte("quiet\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		gpgtest.Import(t, home, dave.sec)
		gpgtest.Import(t, home, alice.pub)
		p := keyring.NewPGP(keyring.PGPOptions{Env: gpgtest.Env(home)})
		dk := newDataKey(t)
		forAlice := wrapFor(t, alice.provider(), alice.fpr, dk)
		key, err := p.AmbientIdentity().Unwrap(t.Context(), []keyring.Stanza{forAlice}, keyring.Scope{})
		wantIncorrect(t, key, err)
		stanzas := []keyring.Stanza{forAlice, wrapFor(t, dave.provider(), dave.fpr, dk)}
		got, err := p.AmbientIdentity().Unwrap(t.Context(), stanzas, keyring.Scope{})
		wantKey(t, got, err, dk)
	})

	t.Run("passphrase key without terminal", func(t *testing.T) {
		t.Parallel()
		s := wrapFor(t, carol.provider(), carol.fpr, newDataKey(t))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		begin := time.Now()
		key, err := carol.provider().AmbientIdentity().Unwrap(ctx, []keyring.Stanza{s}, keyring.Scope{})
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("gpg took %v to fail; want no hang", d)
		}
		if errors.Is(err, keyring.ErrIncorrectIdentity) || key != nil {
			t.Fatalf("err = %v; want a passphrase failure, not 'no matching key'", err)
		}
		wantErr(t, err, "gpg could not decrypt pgp:"+carol.fpr+": public key decryption failed: Inappropriate ioctl for device")
		wantHint(t, err, "GPG_TTY")
		wantHint(t, err, "-I/--identity")

		// The exported secret key stays protected: the file identity cannot use it.
		key, err = carol.fileIdentity(t).Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
		if errors.Is(err, keyring.ErrIncorrectIdentity) || key != nil {
			t.Fatalf("err = %v; want a passphrase failure", err)
		}
		wantErr(t, err, "is protected by a passphrase")
		wantHint(t, err, "gpg --import")
	})

	t.Run("interop: gpg encrypts, key file decrypts", func(t *testing.T) {
		t.Parallel()
		for _, p := range []*pgpParty{alice, bob} {
			for _, extra := range [][]string{nil, {"--throw-keyids"}} {
				dk := newDataKey(t)
				msg := gpgtest.Encrypt(t, p.home, p.fpr, dk, extra...)
				s := keyring.Stanza{Type: "pgp", ID: p.fpr, Wrapped: msg}
				got, err := p.fileIdentity(t).Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
				wantKey(t, got, err, dk)
			}
		}
	})

	t.Run("unwrapped key of wrong length", func(t *testing.T) {
		t.Parallel()
		short := []byte("0123456789abcdef0123456789abcde") // 31 bytes
		s := keyring.Stanza{Type: "pgp", ID: alice.fpr, Wrapped: gpgtest.Encrypt(t, alice.home, alice.fpr, short)}
		for _, id := range []keyring.Identity{alice.provider().AmbientIdentity(), alice.fileIdentity(t)} {
			key, err := id.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
			wantErr(t, err, "is 31 bytes, not 32")
			if key != nil || strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("error %q leaks the decrypted bytes", err)
			}
		}
	})

	t.Run("malformed and passphrase-encrypted stanzas", func(t *testing.T) {
		t.Parallel()
		sym := gpgtest.Symmetric(t, alice.home, newDataKey(t))
		for name, wrapped := range map[string][]byte{
			"symmetric": sym,
			"garbage":   []byte("not an OpenPGP message"),
		} {
			s := keyring.Stanza{Type: "pgp", ID: alice.fpr, Wrapped: wrapped}
			for _, id := range []keyring.Identity{alice.provider().AmbientIdentity(), alice.fileIdentity(t)} {
				_, err := id.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
				wantErr(t, err, "pgp:"+alice.fpr, "not a usable OpenPGP message")
				if name == "symmetric" {
					wantErr(t, err, "encrypted with a passphrase")
				}
			}
		}
	})

	t.Run("identity file without secret key", func(t *testing.T) {
		t.Parallel()
		_, err := keyring.NewPGPFileIdentity(alice.pub, "alice.pub.asc")
		wantErr(t, err, "alice.pub.asc holds no OpenPGP secret key")
		wantHint(t, err, "gpg --export-secret-keys")
		_, err = keyring.NewPGPFileIdentity([]byte("-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n"), "msg.asc")
		wantErr(t, err, "msg.asc", "not an OpenPGP key")
	})

	t.Run("wrap refuses a data key of the wrong length", func(t *testing.T) {
		t.Parallel()
		r, err := alice.provider().ParseRecipient(t.Context(), alice.fpr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Wrap(t.Context(), make([]byte, 16), keyring.Scope{})
		wantErr(t, err, "must be 32 bytes")
	})

	t.Run("IsPGPKeyData", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name string
			data []byte
			want bool
		}{
			{"armored public", alice.pub, true},
			{"armored secret", alice.sec, true},
			{"binary public", dearmor(t, alice.pub), true},
			{"binary secret", dearmor(t, bob.sec), true},
			{"armored with leading text", append([]byte("Alice's key:\n\n"), alice.pub...), true},
			{"age identity", []byte("# created: 2026\nAGE-SECRET-KEY-1QQQQ\n"), false},
			{"armored message", []byte("-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n"), false},
			{"empty", nil, false},
			{"text", []byte("hello"), false},
		} {
			if got := keyring.IsPGPKeyData(c.data); got != c.want {
				t.Errorf("%s: IsPGPKeyData = %v; want %v", c.name, got, c.want)
			}
		}
	})

	t.Run("demo keys", func(t *testing.T) {
		t.Parallel()
		const demoFPR = "0C45DA96A77D2DA2BEEF5D0658D1C26CD2B8985B"
		pub := filepath.Join("..", "testdata", "keys", "demo.pub.asc")
		sec, err := os.ReadFile(filepath.Join("..", "testdata", "keys", "demo.sec.asc"))
		if err != nil {
			t.Fatal(err)
		}
		p := keyring.NewPGP(keyring.PGPOptions{GPG: "/nonexistent/gpg"})
		dk := newDataKey(t)
		s := wrapFor(t, p, pub, dk)
		if s.ID != demoFPR {
			t.Fatalf("demo key ID %s; want %s", s.ID, demoFPR)
		}
		id, err := keyring.NewPGPFileIdentity(sec, "demo.sec.asc")
		if err != nil {
			t.Fatal(err)
		}
		got, err := id.Unwrap(t.Context(), []keyring.Stanza{s}, keyring.Scope{})
		wantKey(t, got, err, dk)
	})
}
