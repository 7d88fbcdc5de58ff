package keyring_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/keyring"
)

func sopsEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// unwrapWith tries the SOPS identities in order, as the keyring does.
func unwrapWith(t *testing.T, ids []keyring.Identity, stanza keyring.Stanza) ([]byte, int, error) {
	t.Helper()
	var last error
	for i, id := range ids {
		key, err := agUnwrap(id, t.Context(), stanza)
		if err == nil {
			return key, i, nil
		}
		last = err
		if !errors.Is(err, keyring.ErrIncorrectIdentity) {
			return nil, i, err
		}
	}
	return nil, -1, last
}

func TestSOPSAgeIdentities(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the default key file path checked here is Linux's")
	}
	home := t.TempDir()
	fileKey, envKey, defKey, other := agX25519(t), agX25519(t), agX25519(t), agX25519(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	require.NoError(t, os.WriteFile(keyFile, agIdentityFile(fileKey), 0o600))
	def := filepath.Join(home, ".config", "sops", "age", "keys.txt")
	require.NoError(t, os.MkdirAll(filepath.Dir(def), 0o700))
	require.NoError(t, os.WriteFile(def, agIdentityFile(defKey), 0o600))
	require.Equal(t, def, keyring.DefaultSOPSAgeKeyFile(sopsEnv(map[string]string{"HOME": home})))
	require.Equal(t, "/x/sops/age/keys.txt", keyring.DefaultSOPSAgeKeyFile(sopsEnv(map[string]string{"HOME": home, "XDG_CONFIG_HOME": "/x"})))
	require.Equal(t, def, keyring.DefaultSOPSAgeKeyFile(sopsEnv(map[string]string{"HOME": home, "XDG_CONFIG_HOME": "relative"})))

	env := map[string]string{
		"HOME":              home,
		"SOPS_AGE_KEY_FILE": keyFile,
		// SOPS takes several keys separated by commas.
		"SOPS_AGE_KEY": other.String() + "," + envKey.String(),
	}
	ids := keyring.SOPSAgeIdentities(sopsEnv(env))
	require.Len(t, ids, 3, "SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, the default file, in that order")
	for want, key := range []*age.X25519Identity{fileKey, envKey, defKey} {
		dataKey := agDataKey(t)
		got, at, err := unwrapWith(t, ids, agWrap(t, key.Recipient().String(), dataKey))
		require.NoError(t, err)
		require.Equal(t, dataKey, got)
		require.Equal(t, want, at)
	}

	t.Run("no default file, nothing set", func(t *testing.T) {
		require.Empty(t, keyring.SOPSAgeIdentities(sopsEnv(map[string]string{"HOME": t.TempDir()})))
	})
	t.Run("missing SOPS_AGE_KEY_FILE is not this key", func(t *testing.T) {
		ids := keyring.SOPSAgeIdentities(sopsEnv(map[string]string{"HOME": t.TempDir(), "SOPS_AGE_KEY_FILE": filepath.Join(t.TempDir(), "gone")}))
		require.Len(t, ids, 1)
		_, err := agUnwrap(ids[0], t.Context(), agWrap(t, other.Recipient().String(), agDataKey(t)))
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
		require.Contains(t, err.Error(), "SOPS_AGE_KEY_FILE")
	})
	t.Run("bad SOPS_AGE_KEY fails without quoting it", func(t *testing.T) {
		bad := "AGE-SECRET-KEY-1NOTAVALIDKEYATALLNOTAVALIDKEYATALLNOTAVALIDKEY"
		ids := keyring.SOPSAgeIdentities(sopsEnv(map[string]string{"HOME": t.TempDir(), "SOPS_AGE_KEY": bad}))
		_, err := agUnwrap(ids[0], t.Context(), agWrap(t, other.Recipient().String(), agDataKey(t)))
		require.Error(t, err)
		require.NotErrorIs(t, err, keyring.ErrIncorrectIdentity)
		require.Contains(t, err.Error(), "SOPS_AGE_KEY")
		require.NotContains(t, err.Error(), strings.TrimPrefix(bad, "AGE-SECRET-KEY-1")[:12])
	})
	t.Run("read only for age recipients", func(t *testing.T) {
		ids := keyring.SOPSAgeIdentities(sopsEnv(map[string]string{"HOME": t.TempDir(), "SOPS_AGE_KEY": "garbage"}))
		_, err := agUnwrap(ids[0], t.Context(), keyring.Stanza{Type: "pgp", ID: "X", Wrapped: []byte{1}})
		require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	})
}
