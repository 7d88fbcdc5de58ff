package keyring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeGPG writes a shell script standing in for gpg.
func fakeGPG(t *testing.T, script string) gpgRunner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gpg")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return gpgRunner{bin: path}
}

// TestGPGRunLimits: a gpg that floods its output, or dawdles once it has
// begun decrypting, is stopped; one that is merely slow to begin (a person
// typing a passphrase) is not cut short by the decryption bound.
func TestGPGRunLimits(t *testing.T) {
	lim := gpgLimits{stdout: 1024, stderr: 4096, afterBegin: 200 * time.Millisecond}
	t.Run("stdout flood", func(t *testing.T) {
		g := fakeGPG(t, "exec yes 0000000000000000000000000000000")
		res, err := g.runLimited(t.Context(), nil, nil, lim)
		if !errors.Is(err, errGPGOutput) {
			t.Fatalf("err = %v; want errGPGOutput", err)
		}
		wantText(t, err, "gpg wrote more than expected and was stopped (more than 1024 bytes of output)")
		if len(res.stdout) != 0 {
			t.Errorf("%d bytes of output kept", len(res.stdout))
		}
	})
	t.Run("stderr flood", func(t *testing.T) {
		g := fakeGPG(t, "exec yes 'gpg: warning' >&2")
		_, err := g.runLimited(t.Context(), nil, nil, lim)
		wantText(t, err, "gpg wrote more than expected and was stopped (more than 4096 bytes of messages)")
	})
	t.Run("exactly the limit", func(t *testing.T) {
		g := fakeGPG(t, "head -c 1024 /dev/zero")
		res, err := g.runLimited(t.Context(), nil, nil, lim)
		if err != nil || len(res.stdout) != 1024 {
			t.Fatalf("got %d bytes, err %v; want 1024 bytes", len(res.stdout), err)
		}
	})
	t.Run("slow after BEGIN_DECRYPTION", func(t *testing.T) {
		// The status line split over two writes is still seen.
		g := fakeGPG(t, "printf '[GNUPG:] DECRYPTION_KEY x\\n[GNUPG:] BEGIN_DEC' >&2; sleep 0.1; printf 'RYPTION\\n' >&2; exec sleep 30")
		_, err := g.runLimited(t.Context(), nil, nil, lim)
		if !errors.Is(err, errGPGSlow) {
			t.Fatalf("err = %v; want errGPGSlow", err)
		}
		wantText(t, err, "gpg took too long decrypting and was stopped (more than 200ms after it began)")
	})
	t.Run("slow before BEGIN_DECRYPTION", func(t *testing.T) {
		// Only the caller's own deadline ends it.
		g := fakeGPG(t, "sleep 0.5; echo done")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		res, err := g.runLimited(ctx, nil, nil, lim)
		if err != nil || string(res.stdout) != "done\n" {
			t.Fatalf("got %q, err %v", res.stdout, err)
		}
	})
}

func wantText(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v; want %q", err, want)
	}
}
