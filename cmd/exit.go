package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// Exit codes, documented in the README.
const (
	ExitOK        = 0 // success
	ExitError     = 1 // anything else: I/O, a key provider that failed, interrupted
	ExitUsage     = 2 // the command line is wrong
	ExitBadInput  = 3 // the input is not a manifest ksec can work on
	ExitNoKey     = 4 // no available key could decrypt
	ExitIntegrity = 5 // the file was tampered with: a token or the MAC does not verify
	// ExitNotEncrypted is inspect's answer when some Secret is plain or
	// partially encrypted, or a file holds no Secret, and check's when
	// some file would put a value into git in plaintext: one code for
	// "not encrypted", so scripts and hooks test for one number.
	ExitNotEncrypted = 6
	// ExitChanged means the file changed on disk while ksec worked on it
	// (another ksec, git, an editor); ksec left it as that change made it.
	ExitChanged = 7
)

func exitCode(err error) int {
	var usage usageError
	var version *crypto.UnsupportedVersionError
	var exit *exitError
	switch {
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, ErrNotEncrypted):
		return ExitNotEncrypted
	case errors.Is(err, outfile.ErrChanged):
		return ExitChanged
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, crypto.ErrIntegrity):
		return ExitIntegrity
	case errors.Is(err, keyring.ErrNoIdentity):
		return ExitNoKey
	case errors.Is(err, manifest.ErrBadInput), errors.Is(err, config.ErrInvalid), errors.As(err, &version):
		return ExitBadInput
	}
	return ExitError
}

// reportError prints err as "ksec: error: …" plus its hints and returns the
// exit code. Errors never carry secret values or key material.
func reportError(w io.Writer, err error) int {
	code := exitCode(err)
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		msg = "interrupted"
	}
	fmt.Fprintf(w, "ksec: error: %s\n", msg)
	hints := hint.All(err)
	var version *crypto.UnsupportedVersionError
	if errors.As(err, &version) {
		hints = append(hints, "the file was written by a newer ksec: upgrade ksec to read it")
	}
	if code == ExitUsage && len(hints) == 0 {
		// Only where no better advice was given: after a specific hint the
		// generic one adds nothing.
		hints = append(hints, "run 'ksec --help' or 'ksec COMMAND --help' for usage")
	}
	var seen []string
	for _, h := range hints {
		if !slices.Contains(seen, h) {
			seen = append(seen, h)
			fmt.Fprintf(w, "ksec: hint: %s\n", h)
		}
	}
	return code
}
