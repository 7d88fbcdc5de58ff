package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ksec-dev/ksec/internal/childenv"
)

// Runner runs the sops program.
type Runner struct {
	// Path is the sops binary.
	Path string
	// Env is the environment sops gets (KEY=value entries), before the
	// settings Decrypt adds; see Environ.
	Env []string
	// Timeout bounds one run (a cloud KMS may be slow); 0 means 2 minutes.
	Timeout time.Duration
	// MaxOutput bounds the plaintext read from sops.
	MaxOutput int
}

// ErrMissing says the sops program is not installed.
var ErrMissing = errors.New("the sops program is not installed (not on PATH)")

// Find looks sops up on PATH.
func Find() (string, error) {
	p, err := exec.LookPath("sops")
	if err != nil {
		return "", ErrMissing
	}
	return p, nil
}

// Environ is the environment sops runs with: ksec's own, without key
// material (internal/childenv) except SOPS's age keys in SOPS_AGE_KEY, which
// are sops's to read; and never a version check over the network.
func Environ(env []string) []string {
	var ageKey []string
	for _, e := range env {
		if strings.HasPrefix(e, "SOPS_AGE_KEY=") {
			ageKey = append(ageKey, e)
		}
	}
	out := append(childenv.Clean(env), ageKey...)
	return append(out, "SOPS_DISABLE_VERSION_CHECK=1")
}

// A RunError is sops refusing to decrypt: Code is its exit status, Reason
// its last message with anything that could be key material or a digest
// of values cut out.
type RunError struct {
	Code   int
	Reason string
}

func (e *RunError) Error() string {
	what := "sops could not decrypt the file"
	switch e.Code {
	case 51, 52, 24, 25:
		what = "sops refused the file: a value or the MAC does not verify"
	case 128:
		// Its last line ends a paragraph ("…but none were."): no help.
		return "sops found no key that decrypts the file (sops exit status 128)"
	}
	if e.Reason == "" {
		return fmt.Sprintf("%s (sops exit status %d)", what, e.Code)
	}
	return fmt.Sprintf("%s (sops exit status %d: %s)", what, e.Code, e.Reason)
}

// Integrity reports whether sops refused the file as tampered with.
func (e *RunError) Integrity() bool {
	switch e.Code {
	case 51, 52, 24, 25:
		return true
	}
	return false
}

// NoKey reports whether sops had no key for the file.
func (e *RunError) NoKey() bool { return e.Code == 128 }

// Decrypt has sops decrypt src (a YAML stream, or JSON when json is set)
// from its standard input and returns the plaintext from its standard
// output: nothing is written to disk. The plaintext is in SOPS's own
// serialisation (YAML with SOPS's indentation, comments kept).
func (r *Runner) Decrypt(ctx context.Context, src []byte, json bool) ([]byte, error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	format := "yaml"
	if json {
		format = "json"
	}
	cmd := exec.CommandContext(ctx, r.Path, "decrypt", "--input-type", format, "--output-type", format)
	cmd.Env = Environ(r.Env)
	cmd.Stdin = bytes.NewReader(src)
	out := &limited{max: r.MaxOutput}
	errOut := &limited{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	defer out.wipe()
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("sops did not finish within %v", timeout)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case out.over:
		return nil, fmt.Errorf("sops wrote more than %d MiB of plaintext, more than ksec reads", r.MaxOutput>>20)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil, &RunError{Code: exit.ExitCode(), Reason: reason(errOut.buf.Bytes())}
	}
	if err != nil {
		return nil, fmt.Errorf("run sops: %w", err)
	}
	return bytes.Clone(out.buf.Bytes()), nil
}

// limited keeps at most max bytes and notes that there were more.
type limited struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if l.max > 0 && l.buf.Len()+len(p) > l.max {
		l.over = true
		return 0, errors.New("too much output")
	}
	return l.buf.Write(p)
}

// wipe clears the plaintext buffer once it has been copied out.
func (l *limited) wipe() {
	b := l.buf.Bytes()
	clear(b[:cap(b)])
}

// longToken is a run of base64 or hex long enough to be a key, a data
// key, a MAC or a digest of the values (SOPS's "computed" MAC is one).
// Regular expressions here are compiled on first use, not at start-up
// (every ksec run would pay for them: see startup_test.go).
var longToken = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z0-9+/=_-]{24,}`) })

// reason is the last line of sops's messages, without long tokens and
// control characters, for the error message.
func reason(stderr []byte) string {
	lines := strings.Split(strings.TrimSpace(string(stderr)), "\n")
	last := ""
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			last = l
			break
		}
	}
	last = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, last)
	last = longToken().ReplaceAllString(last, "…")
	if len(last) > 300 {
		last = last[:300] + "…"
	}
	return last
}
