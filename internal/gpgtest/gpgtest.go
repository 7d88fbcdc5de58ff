// Package gpgtest makes throwaway GnuPG homes and keys for tests, with the
// real gpg binary. Every helper comes in two shapes: one taking a
// testing.TB that fails the test, and one ending in E that returns an error
// (for TestMain and testscript setup).
//
// Tests do not skip when gpg is missing: they fail, since CI installs gnupg.
// Nothing here prints key material.
package gpgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Passphrase protects the keys of kind "ecc-pass". The other kinds have no
// passphrase.
const Passphrase = "ksec-test-passphrase"

// Key kinds for GenKey.
const (
	ECC        = "ecc"         // ed25519 primary, cv25519 encryption subkey
	RSA        = "rsa"         // rsa3072 primary and rsa3072 encryption subkey (slow: ~2-4 s)
	ECCPass    = "ecc-pass"    // like ECC, protected by Passphrase
	ECCExpired = "ecc-expired" // like ECC, made in 2020 and expired in 2021
)

// commandTimeout bounds every gpg run, so a stuck gpg fails a test instead
// of hanging it.
const commandTimeout = 60 * time.Second

// Env returns the environment entries to add for gpg, and for ksec's pgp
// provider (keyring.PGPOptions.Env), to use home: GNUPGHOME, and GPG_TTY,
// DISPLAY and WAYLAND_DISPLAY set empty so that no passphrase prompt can
// reach the developer's terminal or desktop.
func Env(home string) []string {
	return []string{"GNUPGHOME=" + home, "GPG_TTY=", "DISPLAY=", "WAYLAND_DISPLAY="}
}

// NewHomeE makes an empty GnuPG home directory with a short path (gpg-agent's
// socket path must stay under ~100 bytes, so not t.TempDir()). cleanup stops
// its gpg-agent and removes it.
func NewHomeE() (home string, cleanup func(), err error) {
	if _, err := exec.LookPath("gpg"); err != nil {
		return "", nil, fmt.Errorf("gpg is not installed (%w); the tests need gnupg 2.2 or later", err)
	}
	home, err = os.MkdirTemp("", "gpg")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() {
		_ = KillAgent(home)
		_ = os.RemoveAll(home)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		cleanup()
		return "", nil, err
	}
	// The lowest S2K count makes passphrase-protected keys instant to make
	// and use; the default calibration costs seconds per key.
	conf := "s2k-count 65536\n"
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte(conf), 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	return home, cleanup, nil
}

// NewHome is NewHomeE for tests; the home is cleaned up with the test.
func NewHome(t testing.TB) string {
	t.Helper()
	home, cleanup, err := NewHomeE()
	if err != nil {
		t.Fatalf("gpgtest: %v", err)
	}
	t.Cleanup(cleanup)
	return home
}

// KillAgent stops the gpg-agent of home, if one runs.
func KillAgent(home string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpgconf", "--kill", "gpg-agent")
	cmd.Env = append(os.Environ(), Env(home)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gpgconf --kill gpg-agent: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// GenKeyE makes a key of the given kind for "ksec test <email>" in home and
// returns its primary fingerprint (40 upper-case hex digits).
func GenKeyE(home, kind, email string) (string, error) {
	uid := "ksec test <" + email + ">"
	pass := ""
	algo, expire := "future-default", "never"
	var extra []string
	switch kind {
	case ECC:
	case ECCPass:
		pass = Passphrase
	case ECCExpired:
		extra = []string{"--faked-system-time", "20200101T000000!"}
		expire = "1y"
	case RSA:
		algo = "rsa3072"
	default:
		return "", fmt.Errorf("gpgtest: unknown key kind %q", kind)
	}
	args := append([]string{"--batch", "--status-fd", "1", "--pinentry-mode", "loopback", "--passphrase", pass},
		extra...)
	args = append(args, "--quick-gen-key", uid, algo, "default", expire)
	out, err := run(home, nil, args...)
	if err != nil {
		return "", err
	}
	fpr := ""
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "[GNUPG:]" && f[1] == "KEY_CREATED" {
			fpr = f[3]
		}
	}
	if fpr == "" {
		return "", fmt.Errorf("gpgtest: gpg --quick-gen-key printed no KEY_CREATED status")
	}
	if kind == RSA {
		// With an explicit algorithm, quick-gen-key makes no encryption subkey.
		if _, err := run(home, nil, "--batch", "--pinentry-mode", "loopback", "--passphrase", pass,
			"--quick-add-key", fpr, "rsa3072", "encr", "never"); err != nil {
			return "", err
		}
	}
	return fpr, nil
}

// GenKey is GenKeyE for tests.
func GenKey(t testing.TB, home, kind, email string) string {
	t.Helper()
	fpr, err := GenKeyE(home, kind, email)
	if err != nil {
		t.Fatalf("gpgtest: %v", err)
	}
	return fpr
}

// ExportPublicE returns the armored public key fpr from home.
func ExportPublicE(home, fpr string) ([]byte, error) {
	out, err := run(home, nil, "--batch", "--armor", "--export", fpr)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("gpgtest: no public key %s in %s", fpr, home)
	}
	return out, err
}

// ExportPublic is ExportPublicE for tests.
func ExportPublic(t testing.TB, home, fpr string) []byte {
	t.Helper()
	return must(t)(ExportPublicE(home, fpr))
}

// ExportSecretE returns the armored secret key fpr from home, protected as
// it is in home (keys of kind ECCPass stay protected by Passphrase).
func ExportSecretE(home, fpr string) ([]byte, error) {
	out, err := run(home, nil, "--batch", "--pinentry-mode", "loopback", "--passphrase", Passphrase,
		"--armor", "--export-secret-keys", fpr)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("gpgtest: no secret key %s in %s", fpr, home)
	}
	return out, err
}

// ExportSecret is ExportSecretE for tests.
func ExportSecret(t testing.TB, home, fpr string) []byte {
	t.Helper()
	return must(t)(ExportSecretE(home, fpr))
}

// ImportE imports keys (public or secret, armored or binary) into home.
func ImportE(home string, keys []byte) error {
	_, err := run(home, keys, "--batch", "--pinentry-mode", "loopback", "--passphrase", Passphrase, "--import")
	return err
}

// Import is ImportE for tests.
func Import(t testing.TB, home string, keys []byte) {
	t.Helper()
	if err := ImportE(home, keys); err != nil {
		t.Fatalf("gpgtest: %v", err)
	}
}

// RevokeE revokes the key fpr in home with the revocation certificate gpg
// stored when it made the key.
func RevokeE(home, fpr string) error {
	cert, err := os.ReadFile(filepath.Join(home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		return fmt.Errorf("gpgtest: %w", err)
	}
	// gpg stores the certificate with a ':' before the armor header so it
	// cannot be imported by accident.
	cert = bytes.Replace(cert, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	return ImportE(home, cert)
}

// Revoke is RevokeE for tests.
func Revoke(t testing.TB, home, fpr string) {
	t.Helper()
	if err := RevokeE(home, fpr); err != nil {
		t.Fatalf("gpgtest: %v", err)
	}
}

// EncryptE encrypts plaintext to the key fpr with gpg, as a binary message.
// The key need not be trusted (--trust-model always).
func EncryptE(home, fpr string, plaintext []byte, extraArgs ...string) ([]byte, error) {
	args := append([]string{"--batch", "--trust-model", "always"}, extraArgs...)
	args = append(args, "--encrypt", "--recipient", fpr)
	return run(home, plaintext, args...)
}

// Encrypt is EncryptE for tests.
func Encrypt(t testing.TB, home, fpr string, plaintext []byte, extraArgs ...string) []byte {
	t.Helper()
	return must(t)(EncryptE(home, fpr, plaintext, extraArgs...))
}

// SymmetricE encrypts plaintext with Passphrase instead of a key.
func SymmetricE(home string, plaintext []byte) ([]byte, error) {
	return run(home, plaintext, "--batch", "--pinentry-mode", "loopback", "--passphrase", Passphrase, "--symmetric")
}

// Symmetric is SymmetricE for tests.
func Symmetric(t testing.TB, home string, plaintext []byte) []byte {
	t.Helper()
	return must(t)(SymmetricE(home, plaintext))
}

// DecryptE decrypts msg with gpg and the secret keys in home, giving
// Passphrase through loopback pinentry when a key needs one.
func DecryptE(home string, msg []byte) ([]byte, error) {
	return run(home, msg, "--batch", "--pinentry-mode", "loopback", "--passphrase", Passphrase, "--decrypt")
}

// Decrypt is DecryptE for tests.
func Decrypt(t testing.TB, home string, msg []byte) []byte {
	t.Helper()
	return must(t)(DecryptE(home, msg))
}

// run runs gpg with home and returns its standard output. Errors carry
// gpg's standard error, never its output.
func run(home string, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpg", args...)
	cmd.Env = append(os.Environ(), Env(home)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return nil, fmt.Errorf("gpgtest: gpg %s: %w: %s", strings.Join(redact(args), " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// redact hides the passphrase argument in error messages.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "--passphrase" {
			out[i] = "***"
		}
	}
	return out
}

// must turns a ([]byte, error) result into a test failure.
func must(t testing.TB) func([]byte, error) []byte {
	t.Helper()
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("%v", err)
		}
		return b
	}
}
