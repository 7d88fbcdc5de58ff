package keyring

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/hint"
)

type failingIdentity struct{ err error }

func (f failingIdentity) Unwrap(context.Context, []Stanza, Scope) ([]byte, error) { return nil, f.err }

// The no-key error tells "no key at all" from "keys that do not fit", and
// lists what was tried, naming settings and files but never a secret.
func TestNoIdentityErrorTried(t *testing.T) {
	ctx := t.Context()
	alice, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	r, err := NewAge().ParseRecipient(ctx, alice.Recipient().String())
	require.NoError(t, err)
	st, err := r.Wrap(ctx, make([]byte, 32), Scope{Name: "s"})
	require.NoError(t, err)
	stanzas := []Stanza{st}
	missing := filepath.Join(t.TempDir(), "identities")
	recipients := "recipients: age:" + alice.Recipient().String()

	// Nothing named, and no default file: no key at all.
	_, err = New([]Provider{NewAge()}, []Identity{NewDefaultAgeIdentity(missing)}).Unwrap(ctx, stanzas, Scope{Name: "s"})
	require.ErrorIs(t, err, ErrNoIdentity)
	require.EqualError(t, err, "no key could decrypt: ksec found no key of yours to try; "+recipients)
	hints := hint.All(err)
	require.Equal(t, []string{
		"tried: no key file was named (-I/--identity, KSEC_IDENTITY_FILE) and KSEC_AGE_KEY is not set",
		"tried: the default age identity file " + missing + " does not exist",
	}, hints[:2])
	require.Contains(t, hints[2], "decrypting needs the secret key of one of the recipients")

	// A key that is not a recipient.
	id, err := ParseIdentityString(other.String(), "KSEC_AGE_KEY")
	require.NoError(t, err)
	_, err = New([]Provider{NewAge()}, []Identity{id, NewDefaultAgeIdentity(missing)}).Unwrap(ctx, stanzas, Scope{Name: "s"})
	require.ErrorIs(t, err, ErrNoIdentity)
	require.EqualError(t, err, "no key could decrypt: none of your keys is a recipient; "+recipients)
	hints = hint.All(err)
	require.Equal(t, "tried: KSEC_AGE_KEY holds the age key "+other.Recipient().String()+", which is not a recipient", hints[0])
	require.NotContains(t, strings.Join(hints, "\n"), "AGE-SECRET-KEY")

	// A failure that does not name its key is prefixed with it.
	boom := errors.New("boom")
	_, err = New(nil, []Identity{failingIdentity{boom}}).Unwrap(ctx, stanzas, Scope{Name: "s"})
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "no key could decrypt; "+recipients+"; age:"+alice.Recipient().String()+": boom")
}
