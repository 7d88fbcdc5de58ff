package keyring

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/gpgtest"
)

func TestPGPUserID(t *testing.T) {
	home := gpgtest.NewHome(t)
	plain := gpgtest.GenKey(t, home, gpgtest.ECC, "uid@example.test")
	// gpg escapes ':' (and other bytes) as \xNN in colon listings.
	odd := genKeyWithUID(t, home, "Ops: Team ✓ <ops@example.test>")
	opts := PGPOptions{Env: gpgtest.Env(home)}

	got, err := PGPUserID(t.Context(), opts, plain)
	require.NoError(t, err)
	require.Equal(t, "ksec test <uid@example.test>", got)

	got, err = PGPUserID(t.Context(), opts, "0x"+strings.ToLower(odd))
	require.NoError(t, err)
	require.Equal(t, "Ops: Team ✓ <ops@example.test>", got)

	t.Run("unknown key", func(t *testing.T) {
		got, err := PGPUserID(t.Context(), opts, strings.Repeat("AB", 20))
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("no gpg home", func(t *testing.T) {
		got, err := PGPUserID(t.Context(), PGPOptions{Env: gpgtest.Env("/nonexistent")}, plain)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("no gpg", func(t *testing.T) {
		got, err := PGPUserID(t.Context(), PGPOptions{GPG: "/nonexistent/gpg", Env: opts.Env}, plain)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("not a fingerprint", func(t *testing.T) {
		// Would be an option to gpg if it were passed on.
		got, err := PGPUserID(t.Context(), PGPOptions{GPG: "/nonexistent/gpg"}, "--version")
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := PGPUserID(ctx, opts, plain)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func genKeyWithUID(t *testing.T, home, uid string) string {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--status-fd", "1", "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never")
	cmd.Env = append(os.Environ(), gpgtest.Env(home)...)
	out, err := cmd.Output()
	require.NoError(t, err, "gpg --quick-gen-key")
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == "KEY_CREATED" {
			return f[3]
		}
	}
	t.Fatal("gpg --quick-gen-key printed no KEY_CREATED status")
	return ""
}

func TestFirstUserID(t *testing.T) {
	listing := strings.Join([]string{
		"tru::1:1700000000:0:3:1:5",
		"pub:u:255:22:0123456789ABCDEF:1700000000:::u:::scESC::::::ed25519:::0:",
		"fpr:::::::::0123456789ABCDEF0123456789ABCDEF01234567:",
		"uid:r::::1700000000::AAAA::Old Name <old@example.test>::::::::::0:",
		"uid:u::::1700000000::BBBB::New\\x3a Name \\x5cx3a <new@example.test>::::::::::0:",
		"uid:u::::1700000000::CCCC::Third <third@example.test>::::::::::0:",
		"sub:u:255:18:FEDCBA9876543210:1700000000::::::e::::::cv25519::",
	}, "\n")
	require.Equal(t, `New: Name \x3a <new@example.test>`, firstUserID(listing))
	require.Equal(t, "Old Name <old@example.test>", firstUserID(listing[:strings.Index(listing, "uid:u")]))
	require.Empty(t, firstUserID("pub:u:255:22:0123456789ABCDEF:1700000000:::u:::scESC::::::ed25519:::0:\n"))
	require.Equal(t, `a\xZZb\x4`, unescapeColons(`a\xZZb\x4`))
	require.Equal(t, "\x1b[31m", unescapeColons(`\x1b[31m`))
}
