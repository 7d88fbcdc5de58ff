package envelope

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

func sessionSecret(ns, name, value string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nstringData:\n  password: " + value + "\n"
}

// TestResealPairsByScope: a Secret takes the data key and recipients of the
// decrypted Secret with its namespace and name, or of one unambiguous rename
// in edit; never of another Secret by position.
func TestResealPairsByScope(t *testing.T) {
	dev, prod := sessionSecret("dev", "db", "d"), sessionSecret("prod", "db", "p")
	encrypted := string(encrypt(t, []byte(dev), "dev")) + "---\n" + string(encrypt(t, []byte(prod), "prod"))
	for _, tc := range []struct {
		name    string
		edited  []string
		rename  bool
		keys    bool     // newRecipients gives "new"
		want    []string // each Secret's recipient, in order
		renamed string   // the Secret reported as renamed
		wantErr string
	}{
		{name: "insert at the top, no keys", edited: []string{sessionSecret("new", "db", "n"), dev, prod}, rename: true,
			wantErr: "(Secret new/db): a new Secret (none of the file had this namespace and name), and no keys were named for it"},
		{name: "insert at the top", edited: []string{sessionSecret("new", "db", "n"), dev, prod}, rename: true, keys: true,
			want: []string{"new", "dev", "prod"}},
		{name: "swap", edited: []string{prod, dev}, rename: true, want: []string{"prod", "dev"}},
		{name: "rename in place", edited: []string{sessionSecret("dev", "db2", "d"), prod}, rename: true,
			want: []string{"dev", "prod"}, renamed: "dev/db2"},
		{name: "rename not allowed", edited: []string{sessionSecret("dev", "db2", "d"), prod},
			wantErr: "(Secret dev/db2): a new Secret"},
		{name: "move to another namespace", edited: []string{sessionSecret("staging", "db", "d"), prod}, rename: true, keys: true,
			want: []string{"new", "prod"}},
		{name: "rename and insert", edited: []string{sessionSecret("dev", "db2", "d"), sessionSecret("dev", "x", "x"), prod}, rename: true, keys: true,
			want: []string{"new", "new", "prod"}},
		{name: "delete one, add one elsewhere", edited: []string{prod, sessionSecret("dev", "z", "z")}, rename: true, keys: true,
			want: []string{"prod", "new"}},
		{name: "two renames", edited: []string{sessionSecret("dev", "a", "d"), sessionSecret("prod", "b", "p")}, rename: true, keys: true,
			want: []string{"new", "new"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			kr := testKeyring("dev", "prod")
			st, err := manifest.Parse([]byte(encrypted))
			require.NoError(t, err)
			sess, err := DecryptSession(ctx, st, kr)
			require.NoError(t, err)
			defer sess.Close()
			edited, err := manifest.Parse([]byte(strings.Join(tc.edited, "---\n")))
			require.NoError(t, err)
			newRecipients := func(*manifest.Secret) (Recipients, error) {
				if tc.keys {
					return Recipients{Set: []keyring.Recipient{plainRecipient{"new"}}}, nil
				}
				return Recipients{}, nil
			}
			inherited, err := sess.Reseal(ctx, edited, kr, newRecipients, ResealOptions{AllowRename: tc.rename})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.True(t, errors.Is(err, ErrNoKeysForNew))
				return
			}
			require.NoError(t, err)
			out, err := manifest.Parse(edited.Bytes())
			require.NoError(t, err)
			var got []string
			for _, s := range out.Secrets {
				require.Len(t, s.Meta.Recipients, 1)
				got = append(got, s.Meta.Recipients[0].ID)
			}
			require.Equal(t, tc.want, got)
			renamed := ""
			for _, in := range inherited {
				if in.Renamed() {
					renamed = in.Secret.Namespace + "/" + in.Secret.Name
				}
			}
			require.Equal(t, tc.renamed, renamed)
			plain, err := decrypt(edited.Bytes(), "dev", "prod", "new")
			require.NoError(t, err)
			require.Equal(t, strings.Join(tc.edited, "---\n"), string(plain))
		})
	}
}

// TestResealRotate: with Rotate, a Secret keeps its recipients but gets a
// new data key and every value a new token.
func TestResealRotate(t *testing.T) {
	ctx := context.Background()
	src := sessionSecret("dev", "db", "d")
	enc := encrypt(t, []byte(src), "dev", "ops")
	kr := testKeyring("dev")
	st, err := manifest.Parse(enc)
	require.NoError(t, err)
	sess, err := DecryptSession(ctx, st, kr)
	require.NoError(t, err)
	defer sess.Close()
	edited, err := manifest.Parse([]byte(src))
	require.NoError(t, err)
	inherited, err := sess.Reseal(ctx, edited, kr, nil, ResealOptions{Rotate: true})
	require.NoError(t, err)
	require.Len(t, inherited, 1)
	require.Zero(t, inherited[0].Resealed)
	before, err := manifest.Parse(enc)
	require.NoError(t, err)
	after, err := manifest.Parse(edited.Bytes())
	require.NoError(t, err)
	b, a := before.Secrets[0], after.Secrets[0]
	require.NotEqual(t, b.Values[0].Text, a.Values[0].Text)
	require.Len(t, a.Meta.Recipients, 2)
	for i := range b.Meta.Recipients {
		require.Equal(t, b.Meta.Recipients[i].ID, a.Meta.Recipients[i].ID)
		require.NotEqual(t, b.Meta.Recipients[i].Wrapped, a.Meta.Recipients[i].Wrapped)
	}
	plain, err := decrypt(edited.Bytes(), "ops")
	require.NoError(t, err)
	require.Equal(t, src, string(plain))
}

// A Secret that was plaintext in the decrypted stream is not "new", but
// it has no keys either: it needs them named.
func TestResealPlainSecret(t *testing.T) {
	ctx := context.Background()
	dev, app := sessionSecret("dev", "db", "d"), sessionSecret("dev", "app", "a")
	src := string(encrypt(t, []byte(dev), "dev")) + "---\n" + app
	kr := testKeyring("dev")
	st, err := manifest.Parse([]byte(src))
	require.NoError(t, err)
	sess, err := DecryptSession(ctx, st, kr)
	require.NoError(t, err)
	defer sess.Close()
	edited, err := manifest.Parse([]byte(dev + "---\n" + app))
	require.NoError(t, err)
	_, err = sess.Reseal(ctx, edited, kr, func(*manifest.Secret) (Recipients, error) { return Recipients{}, nil }, ResealOptions{AllowRename: true})
	require.ErrorContains(t, err, "(Secret dev/app): a Secret that was not encrypted, and no keys were named for it")
}
