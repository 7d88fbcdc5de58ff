package keyring_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/keyring"
)

// TestPGPUnwrapBomb: a wrapped data key that is a few KB of OpenPGP message
// inflating to 2 GiB of zeros fails as tampered, through gpg and through a
// -I key file, without ksec holding more than a little of it in memory.
// Not parallel: the memory check reads the whole process's allocations.
func TestPGPUnwrapBomb(t *testing.T) {
	home := gpgtest.NewHome(t)
	fpr := gpgtest.GenKey(t, home, gpgtest.ECC, "bomb@example.test")
	bomb, err := gpgtest.BombE(gpgtest.ExportPublic(t, home, fpr), 2048)
	if err != nil {
		t.Fatal(err)
	}
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes; want a small message", len(bomb))
	}
	stanzas := []keyring.Stanza{{Type: "pgp", ID: fpr, Wrapped: bomb}}
	scope := keyring.Scope{Namespace: "default", Name: "app"}

	file, err := keyring.NewPGPFileIdentity(gpgtest.ExportSecret(t, home, fpr), "bomb.sec.asc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   keyring.Identity
		want string
	}{
		{"gpg", keyring.NewPGP(keyring.PGPOptions{Env: gpgtest.Env(home)}).AmbientIdentity(),
			"the wrapped data key is not one ksec wrote: gpg wrote more than expected and was stopped (more than 1024 bytes of output)"},
		{"key file", file, "the wrapped data key is not one ksec wrote: it inflates to more than 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			key, err := tc.id.Unwrap(t.Context(), stanzas, scope)
			runtime.ReadMemStats(&after)
			if key != nil {
				t.Fatal("a data key came out of the bomb")
			}
			wantErr(t, err, "pgp:"+fpr, tc.want)
			if !errors.Is(err, crypto.ErrIntegrity) {
				t.Errorf("error %q is not an integrity failure", err)
			}
			// Before the limits, gpg's 2 GiB output was buffered whole.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Errorf("unwrapping allocated %d MiB", grew>>20)
			}
		})
	}
}

// A stanza whose wrapped key is larger than any recipient type writes is
// refused before any identity or provider sees it.
func TestUnwrapOversizedStanza(t *testing.T) {
	called := false
	kr := keyring.New(nil, []keyring.Identity{identityFunc(func() { called = true })})
	big := keyring.Stanza{Type: "age", ID: "age1x", Wrapped: make([]byte, keyring.MaxWrapped+1)}
	_, err := kr.Unwrap(t.Context(), []keyring.Stanza{{Type: "age", ID: "age1y", Wrapped: []byte("small")}, big}, keyring.Scope{Name: "s"})
	wantErr(t, err, "age:age1x: the wrapped data key is 16385 bytes, more than the 16384 any recipient type writes")
	if !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("error %q is not an integrity failure", err)
	}
	if called {
		t.Error("an identity was asked to unwrap")
	}
}

type identityFunc func()

func (f identityFunc) Unwrap(context.Context, []keyring.Stanza, keyring.Scope) ([]byte, error) {
	f()
	return nil, keyring.ErrIncorrectIdentity
}
