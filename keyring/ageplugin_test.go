package keyring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/tooltest"
	"github.com/ksec-dev/ksec/keyring"
)

// The test plugin (tools/ageplugin) serves age1ksectest1… recipients; its
// identity data is a flag byte (1: ask for the PIN 1234, 2: ask for a
// confirmation) and a native age identity, its recipient data the native
// recipient.
const (
	plugFlagPIN     = 1
	plugFlagConfirm = 2
)

// installPlugin puts the real test plugin on $PATH as age-plugin-ksectest.
func installPlugin(t *testing.T) {
	t.Helper()
	bin := tooltest.Require(t, tooltest.Tool{Dir: "ageplugin", Package: "."})
	dir := t.TempDir()
	require.NoError(t, os.Symlink(bin, filepath.Join(dir, "age-plugin-ksectest")))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// plugKey returns a plugin identity line and its recipient.
func plugKey(t *testing.T, flags byte) (identity, recipient string) {
	t.Helper()
	x, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	identity = plugin.EncodeIdentity("ksectest", append([]byte{flags}, x.String()...))
	recipient = plugin.EncodeRecipient("ksectest", []byte(x.Recipient().String()))
	require.NotEmpty(t, identity)
	require.NotEmpty(t, recipient)
	return identity, recipient
}

// fakePrompter answers like a person at the terminal would.
type fakePrompter struct {
	secret  string
	confirm bool
	delay   time.Duration
	err     error
	asked   []string
}

func (f *fakePrompter) Secret(q string) ([]byte, error) {
	f.asked = append(f.asked, q)
	time.Sleep(f.delay)
	return []byte(f.secret), f.err
}
func (f *fakePrompter) Line(q string) (string, error) {
	f.asked = append(f.asked, q)
	return f.secret, f.err
}
func (f *fakePrompter) Confirm(q, yes, no string) (bool, error) {
	f.asked = append(f.asked, q+" ["+yes+"/"+no+"]")
	time.Sleep(f.delay)
	return f.confirm, f.err
}
func (f *fakePrompter) Message(string) error { return nil }

func plugWrap(t *testing.T, opts keyring.AgeOptions, recipient string) (keyring.Stanza, []byte) {
	t.Helper()
	r, err := keyring.NewAgeWith(opts).ParseRecipient(t.Context(), recipient)
	require.NoError(t, err)
	require.Equal(t, recipient, r.ID())
	dk, err := crypto.NewDataKey()
	require.NoError(t, err)
	s, err := r.Wrap(t.Context(), dk, keyring.Scope{Namespace: "ns", Name: "n"})
	require.NoError(t, err)
	return s, dk
}

func plugIdentity(t *testing.T, opts keyring.AgeOptions, lines ...string) keyring.Identity {
	t.Helper()
	id, err := keyring.ParseIdentityFileWith([]byte("# test\n"+strings.Join(lines, "\n")+"\n"), "plug.key", keyring.IdentityOptions{Age: opts})
	require.NoError(t, err)
	return id
}

func TestAgePluginRoundTrip(t *testing.T) {
	installPlugin(t)
	identity, recipient := plugKey(t, 0)
	s, dk := plugWrap(t, keyring.AgeOptions{}, recipient)
	require.Equal(t, "age", s.Type)
	require.Contains(t, string(s.Wrapped), "-> ksectest ", "the plugin wrote the stanza")

	// Alone, and among native keys, in either order.
	other := agX25519(t)
	for _, lines := range [][]string{{identity}, {other.String(), identity}, {identity, other.String()}} {
		got, err := agUnwrap(plugIdentity(t, keyring.AgeOptions{}, lines...), t.Context(), s)
		require.NoError(t, err)
		require.Equal(t, dk, got)
	}
	// Upper-case recipients name the same one.
	r, err := keyring.NewAge().ParseRecipient(t.Context(), strings.ToUpper(recipient))
	require.NoError(t, err)
	require.Equal(t, recipient, r.ID())

	// Another key of the same plugin is not a recipient.
	otherID, _ := plugKey(t, 0)
	_, err = agUnwrap(plugIdentity(t, keyring.AgeOptions{}, otherID), t.Context(), s)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
	require.NotContains(t, err.Error(), otherID)
}

func TestAgePluginNotOnPath(t *testing.T) {
	identity, recipient := plugKey(t, 0)
	t.Setenv("PATH", t.TempDir())
	r, err := keyring.NewAge().ParseRecipient(t.Context(), recipient)
	require.NoError(t, err, "parsing needs no plugin")
	dk, err := crypto.NewDataKey()
	require.NoError(t, err)
	_, err = r.Wrap(t.Context(), dk, keyring.Scope{})
	agWantErr(t, err, "age plugin ksectest: the plugin program age-plugin-ksectest is not on $PATH")
	agWantHint(t, err, "install the plugin program age-plugin-ksectest into a directory on $PATH")

	// Unwrapping starts the plugin only for its own recipients.
	native := agX25519(t)
	s := agWrap(t, native.Recipient().String(), dk)
	_, err = agUnwrap(plugIdentity(t, keyring.AgeOptions{}, identity), t.Context(), s)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)

	plugStanza := keyring.Stanza{Type: "age", ID: recipient, Wrapped: s.Wrapped}
	_, err = agUnwrap(plugIdentity(t, keyring.AgeOptions{}, identity), t.Context(), plugStanza)
	agWantErr(t, err, "age:"+recipient[:24], "the plugin program age-plugin-ksectest is not on $PATH")
	require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
	agWantHint(t, err, "install the plugin program")
	require.NotContains(t, err.Error(), identity)
}

func TestAgePluginQuestions(t *testing.T) {
	installPlugin(t)
	for _, tc := range []struct {
		name   string
		flags  byte
		p      *fakePrompter
		err    string
		asked  string
		noUser bool
	}{
		{name: "pin", flags: plugFlagPIN, p: &fakePrompter{secret: "1234"}, asked: "age-plugin-ksectest: Enter the PIN of the ksectest key:"},
		{name: "wrong pin", flags: plugFlagPIN, p: &fakePrompter{secret: "0000"}, err: "age plugin ksectest: wrong PIN", asked: "PIN"},
		{name: "pin nobody", flags: plugFlagPIN, noUser: true, err: "age plugin ksectest: it asked a question that could not be answered: nobody can answer it here"},
		{name: "pin no terminal", flags: plugFlagPIN, p: &fakePrompter{err: hint.Wrap(errors.New("there is no terminal to ask on"), "run it in a terminal")},
			err: "it asked a question that could not be answered: there is no terminal to ask on (the plugin said: could not ask for the PIN"},
		{name: "confirm", flags: plugFlagConfirm, p: &fakePrompter{confirm: true}, asked: "age-plugin-ksectest: Touch the ksectest key to decrypt [touched/cancel]"},
		{name: "confirm refused", flags: plugFlagConfirm, p: &fakePrompter{confirm: false}, err: "age plugin ksectest: cancelled"},
		// Slower than the plugin time limit: a person's time does not count.
		{name: "slow person", flags: plugFlagPIN | plugFlagConfirm, p: &fakePrompter{secret: "1234", confirm: true, delay: 3500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			identity, recipient := plugKey(t, tc.flags)
			// Generous for a loaded machine, yet shorter than the slow
			// person's answers.
			opts := keyring.AgeOptions{PluginTimeout: 3 * time.Second}
			if !tc.noUser {
				opts.Prompter = tc.p
			}
			s, dk := plugWrap(t, opts, recipient)
			got, err := agUnwrap(plugIdentity(t, opts, identity), t.Context(), s)
			if tc.asked != "" {
				require.Contains(t, strings.Join(tc.p.asked, "\n"), tc.asked)
			}
			if tc.err != "" {
				agWantErr(t, err, tc.err)
				require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
				require.NotContains(t, err.Error(), "1234")
				if tc.name == "pin no terminal" {
					agWantHint(t, err, "run it in a terminal")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, dk, got)
		})
	}
}

func TestAgePluginMisbehaves(t *testing.T) {
	installPlugin(t)
	identity, recipient := plugKey(t, 0)
	s, _ := plugWrap(t, keyring.AgeOptions{}, recipient)
	for _, tc := range []struct{ mode, err string }{
		{"fail", "age plugin ksectest: the test plugin was told to fail"},
		{"crash", "age plugin ksectest: "},
		{"flood", "age plugin ksectest: "},
		{"hang", "age plugin ksectest: no answer within 1s"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Setenv("KSECTEST_PLUGIN_MODE", tc.mode)
			// Only the hanging plugin meets the limit; the others must fail
			// in their own way however loaded the machine is.
			timeout := 20 * time.Second
			if tc.mode == "hang" {
				timeout = time.Second
			}
			opts := keyring.AgeOptions{PluginTimeout: timeout}
			start := time.Now()
			_, err := agUnwrap(plugIdentity(t, opts, identity), t.Context(), s)
			require.Less(t, time.Since(start), timeout+10*time.Second, "stopped by the time limit, not the default 2 minutes")
			agWantErr(t, err, tc.err)
			require.False(t, errors.Is(err, keyring.ErrIncorrectIdentity))
			require.Less(t, len(err.Error()), 800, "a plugin's words are cut short")
			require.NotContains(t, err.Error(), "\n")

			r, err := keyring.NewAgeWith(opts).ParseRecipient(t.Context(), recipient)
			require.NoError(t, err)
			dk, err := crypto.NewDataKey()
			require.NoError(t, err)
			_, err = r.Wrap(t.Context(), dk, keyring.Scope{})
			agWantErr(t, err, tc.err)
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Setenv("KSECTEST_PLUGIN_MODE", "hang")
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := agUnwrap(plugIdentity(t, keyring.AgeOptions{}, identity), ctx, s)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// The plugin gets ksec's environment minus key material.
func TestAgePluginEnvironment(t *testing.T) {
	installPlugin(t)
	identity, recipient := plugKey(t, 0)
	envFile := filepath.Join(t.TempDir(), "env")
	t.Setenv("KSECTEST_PLUGIN_ENV", envFile)
	t.Setenv("KSEC_AGE_KEY", agX25519(t).String())
	t.Setenv("KSEC_PASSPHRASE", "hunter2-passphrase")
	t.Setenv("KSEC_PLUGIN_TEST_KEPT", "kept")
	s, _ := plugWrap(t, keyring.AgeOptions{}, recipient)
	_, err := agUnwrap(plugIdentity(t, keyring.AgeOptions{}, identity), t.Context(), s)
	require.NoError(t, err)
	env, err := os.ReadFile(envFile)
	require.NoError(t, err)
	require.Contains(t, string(env), "KSEC_PLUGIN_TEST_KEPT=kept\n")
	require.NotContains(t, string(env), "KSEC_AGE_KEY")
	require.NotContains(t, string(env), "AGE-SECRET-KEY-")
	require.NotContains(t, string(env), "hunter2")
}

func TestAgePluginIdentityFileErrors(t *testing.T) {
	identity, _ := plugKey(t, 0)
	for _, tc := range []struct {
		name, file, err string
	}{
		{"garbage after a plugin line", identity + "\n\xff\xfe garbage\n", "not a valid age identity file: identities file is not valid UTF-8"},
		{"bad line after a plugin line", identity + "\nAGE-SECRET-KEY-1NOPE\n", "not a valid age identity file: error at line 3"},
		{"bad plugin line", "# c\n" + identity[:len(identity)-2] + "QQ\n", "line 3: not a valid age plugin identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.ParseIdentityFileWith([]byte("# test\n"+tc.file), "plug.key", keyring.IdentityOptions{})
			agWantErr(t, err, tc.err)
			require.NotContains(t, err.Error(), identity[20:40])
		})
	}
	// Plugin lines and comments only: no native key needed.
	_, err := keyring.ParseIdentityFileWith([]byte("# only a plugin\n\n"+identity+"\n"), "plug.key", keyring.IdentityOptions{})
	require.NoError(t, err)
}
