package keyring

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/term"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/childenv"
	"github.com/ksec-dev/ksec/internal/hint"
)

// pgpType is the provider type and the stanza type of OpenPGP recipients.
const pgpType = "pgp"

// pgpKeyLen is the length of a ksec data key; an unwrapped key of any other
// length is refused.
const pgpKeyLen = 32

// Bounds of one unwrap. A data key is 32 bytes; a little slack lets a
// wrong length be reported as such, while a message that decompresses to
// more is cut off there. gpg's messages for one small message fit easily.
const (
	pgpMaxUnwrapped       = 1 << 10
	gpgMaxDecryptMessages = 256 << 10
	// gpgDecryptTimeout bounds a whole gpg --decrypt run, a passphrase
	// typed into pinentry included.
	gpgDecryptTimeout = 5 * time.Minute
	// gpgDecryptDataTimeout bounds the run once gpg has the session key:
	// decrypting 32 bytes takes milliseconds.
	gpgDecryptDataTimeout = 10 * time.Second
)

const (
	hintGPGForRecipient = "install gnupg, or give the recipient's public-key file path instead of a fingerprint"
	hintGPGForIdentity  = "install gnupg, or pass the secret key file with -I/--identity"
	hintImportKey       = "import the key with gpg --import, or pass its public-key file path"
	hintOneKeyPerFile   = "import the file with gpg --import and name each key as pgp:FINGERPRINT, or export one key per file with gpg --export --armor FINGERPRINT"
	hintNoPinentry      = "gpg needs the key's passphrase but could not ask for it: run ksec in a terminal (export GPG_TTY=$(tty)), unlock the key in gpg-agent first, or pass an unprotected secret key file with -I/--identity"
	hintPinentryWait    = "gpg may be waiting for a passphrase prompt nobody can answer: run ksec in a terminal (export GPG_TTY=$(tty)), or pass the secret key file with -I/--identity"
	hintBadPassphrase   = "check the key's passphrase and try again"
	hintProtectedFile   = "decrypt with gpg instead: import the key (gpg --import FILE) and run ksec without -I; for CI, export a copy of the key without a passphrase"
	hintExportSecret    = "export the secret key with gpg --export-secret-keys --armor FINGERPRINT"
	hintKeyFile         = "a pgp key file holds one OpenPGP public key, armored (gpg --export --armor FINGERPRINT) or binary"
)

// PGPOptions configures the OpenPGP provider.
type PGPOptions struct {
	// GPG is the gpg binary's name or path; "" means "gpg" from $PATH.
	GPG string
	// Env holds extra environment variables for gpg (such as GNUPGHOME=…),
	// added after ksec's own environment; nil runs gpg with ksec's
	// environment unchanged. A GPG_TTY entry, even an empty one, stops ksec
	// from pointing gpg's passphrase prompt at its own terminal.
	Env []string
}

// NewPGP returns the OpenPGP provider. Recipients are public keys, named by
// fingerprint (looked up with gpg --export) or by key file; its ambient
// identity is the user's gpg with its agent.
func NewPGP(opts PGPOptions) Provider {
	bin := opts.GPG
	if bin == "" {
		bin = "gpg"
	}
	var env []string
	if opts.Env != nil {
		env = append([]string(nil), opts.Env...)
	}
	return &pgpProvider{gpg: gpgRunner{bin: bin, env: env}}
}

type pgpProvider struct {
	gpg gpgRunner
}

func (p *pgpProvider) Type() string { return pgpType }

// ParseRecipient resolves a 40-hex fingerprint (optionally 0x-prefixed)
// through gpg's public keyring, or reads a public-key file.
func (p *pgpProvider) ParseRecipient(ctx context.Context, spec string) (Recipient, error) {
	if fpr, ok := compactFingerprint(spec); ok {
		return p.recipientFromGPG(ctx, fpr)
	}
	if !isRegularFile(spec) {
		// A key ID or an email address, looked up in gpg's keyring; an
		// existing file of that name is read as a key file instead.
		if isShortKeyID(spec) {
			return nil, hint.Wrap(errors.New("an 8-digit short key ID is ambiguous (anyone can make a key with the same one)"), hintPGPName)
		}
		if pgpKeyName(spec) != "" {
			fpr, err := p.resolvePGPName(ctx, spec)
			if err != nil {
				return nil, err
			}
			return p.recipientFromGPG(ctx, fpr)
		}
	}
	return recipientFromFile(spec)
}

func (p *pgpProvider) AmbientIdentity() Identity {
	return &pgpAgentIdentity{gpg: p.gpg}
}

func (p *pgpProvider) recipientFromGPG(ctx context.Context, fpr string) (Recipient, error) {
	res, err := p.gpg.run(ctx, nil, nil, "--batch", "--export", fpr)
	if err != nil {
		if isNotFound(err) {
			return nil, hint.Wrap(fmt.Errorf("cannot look up the key in the gpg keyring: %w", p.gpg.notFound(err)), hintGPGForRecipient)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("looking up pgp key %s with gpg: %w", fpr, ctx.Err())
		}
		return nil, fmt.Errorf("gpg --export %s failed: %w", fpr, res.failure(err))
	}
	if len(res.stdout) == 0 {
		return nil, hint.Wrap(fmt.Errorf("no public key with fingerprint %s in the gpg keyring", fpr), hintImportKey)
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(res.stdout))
	if err != nil {
		return nil, fmt.Errorf("reading the key gpg exported for %s: %w", fpr, err)
	}
	for _, e := range el {
		if entityHasFingerprint(e, fpr) {
			return newPGPRecipient(e)
		}
	}
	return nil, fmt.Errorf("gpg --export %s returned a different key", fpr)
}

func recipientFromFile(path string) (Recipient, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, hint.Wrap(errors.New("no such key file, and not a fingerprint, key ID or email address"), specHint)
		}
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if err := explainKeyFile(data, path); err != nil {
		return nil, err
	}
	el, err := readPGPKeys(data)
	if err != nil {
		return nil, hint.Wrap(err, hintKeyFile)
	}
	if len(el) > 1 {
		var fprs []string
		for _, e := range el {
			fprs = append(fprs, fingerprint(e.PrimaryKey))
		}
		return nil, hint.Wrap(fmt.Errorf("the file holds %d keys (%s); a recipient key file must hold exactly one",
			len(el), strings.Join(fprs, ", ")), hintOneKeyPerFile)
	}
	return newPGPRecipient(el[0])
}

// newPGPRecipient checks that e can receive encrypted data now and keeps
// only its public part.
func newPGPRecipient(e *openpgp.Entity) (Recipient, error) {
	fpr := fingerprint(e.PrimaryKey)
	if e.PrimaryKey.Version != 4 {
		return nil, fmt.Errorf("pgp key %s is a version %d key; ksec supports version 4 OpenPGP keys only", fpr, e.PrimaryKey.Version)
	}
	if err := encryptionKeyProblem(e, time.Now()); err != nil {
		return nil, hint.Wrap(fmt.Errorf("pgp key %s %w", fpr, err), "ask the key's owner for a current public key, or remove this recipient")
	}
	return &pgpRecipient{entity: publicPart(e), fpr: fpr}, nil
}

// encryptionKeyProblem explains why e has no usable encryption key at now,
// or returns nil when it has one.
func encryptionKeyProblem(e *openpgp.Entity, now time.Time) error {
	if _, ok := e.EncryptionKey(now); ok {
		return nil
	}
	sig, ident := e.PrimarySelfSignature()
	switch {
	case sig == nil:
		return errors.New("has no valid self-signature")
	case e.Revoked(now):
		return errors.New("is revoked")
	case ident != nil && ident.Revoked(now):
		return errors.New("has its user ID revoked")
	case e.PrimaryKey.KeyExpired(sig, now):
		if sig.KeyLifetimeSecs != nil {
			exp := e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
			return fmt.Errorf("expired on %s", exp.UTC().Format(time.DateOnly))
		}
		return errors.New("is expired")
	case sig.SigExpired(now):
		return errors.New("has an expired self-signature")
	}
	return errors.New("has no valid encryption subkey (expired, revoked or missing)")
}

// publicPart returns a copy of e without private key material.
func publicPart(e *openpgp.Entity) *openpgp.Entity {
	c := *e
	c.PrivateKey = nil
	c.Subkeys = make([]openpgp.Subkey, len(e.Subkeys))
	for i, sk := range e.Subkeys {
		sk.PrivateKey = nil
		c.Subkeys[i] = sk
	}
	return &c
}

type pgpRecipient struct {
	entity *openpgp.Entity
	fpr    string
}

func (r *pgpRecipient) Type() string { return pgpType }

// ID is the primary key's fingerprint, 40 upper-case hex digits.
func (r *pgpRecipient) ID() string { return r.fpr }

// Wrap encrypts the data key to the recipient's encryption key as a binary
// OpenPGP message (AES-256, SEIPD v1 with MDC, no compression, unsigned),
// which gpg 2.2 and later can decrypt. The scope is not used.
func (r *pgpRecipient) Wrap(ctx context.Context, dataKey []byte, _ Scope) (Stanza, error) {
	if err := ctx.Err(); err != nil {
		return Stanza{}, err
	}
	if len(dataKey) != pgpKeyLen {
		return Stanza{}, fmt.Errorf("pgp: data key must be %d bytes, got %d", pgpKeyLen, len(dataKey))
	}
	cfg := &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, []*openpgp.Entity{r.entity}, nil, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return Stanza{}, fmt.Errorf("wrapping data key for pgp:%s: %w", r.fpr, err)
	}
	if _, err := w.Write(dataKey); err != nil {
		return Stanza{}, fmt.Errorf("wrapping data key for pgp:%s: %w", r.fpr, err)
	}
	if err := w.Close(); err != nil {
		return Stanza{}, fmt.Errorf("wrapping data key for pgp:%s: %w", r.fpr, err)
	}
	return Stanza{Type: pgpType, ID: r.fpr, Wrapped: buf.Bytes()}, nil
}

// pgpAgentIdentity decrypts with the gpg binary, so with whatever secret
// keys the user's gpg and gpg-agent hold (smartcards included).
type pgpAgentIdentity struct {
	gpg gpgRunner
}

func (id *pgpAgentIdentity) Unwrap(ctx context.Context, stanzas []Stanza, _ Scope) ([]byte, error) {
	var failures, incorrect []error
	var ids []string
	for _, s := range stanzas {
		if s.Type != pgpType {
			continue
		}
		ids = append(ids, s.ID)
		key, err := id.gpg.decrypt(ctx, s)
		if err == nil {
			return key, nil
		}
		if errors.Is(err, ErrIncorrectIdentity) {
			incorrect = append(incorrect, err)
			continue
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return nil, fatal.err
		}
		failures = append(failures, err)
	}
	if len(failures) > 0 {
		return nil, joinErrors(failures)
	}
	if len(incorrect) > 0 {
		return nil, joinErrors(incorrect) // gpg's answers, for the list of keys tried
	}
	return nil, fmt.Errorf("gpg has no secret key for %s: %w", describeIDs(ids), ErrIncorrectIdentity)
}

// fatalError marks a failure after which trying further stanzas is
// pointless (gpg missing, context done).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// decrypt unwraps one stanza with gpg --decrypt. It returns an error
// wrapping ErrIncorrectIdentity when gpg holds no secret key for it.
func (g gpgRunner) decrypt(ctx context.Context, s Stanza) ([]byte, error) {
	if _, err := pgpMessageKeyIDs(s.Wrapped); err != nil {
		return nil, fmt.Errorf("pgp:%s: the wrapped data key is not a usable OpenPGP message: %w", s.ID, err)
	}
	// --batch keeps gpg itself from prompting; the passphrase prompt comes
	// from gpg-agent's pinentry, which --batch does not disable. gpg tells
	// the agent which terminal to use from GPG_TTY, falling back to its
	// standard input, which here is the message; so GPG_TTY is set to
	// ksec's terminal when the user did not set it. --quiet is not used: it
	// suppresses the NO_SECKEY and ERROR status lines.
	//
	// A wrapped data key is 32 bytes: gpg is stopped as soon as it writes
	// more than a little over that (a compressed message of gigabytes is a
	// bomb, not a key), and once it has the session key (BEGIN_DECRYPTION:
	// any passphrase prompt is over) it has seconds to finish. Before that,
	// a person may be typing a passphrase: the whole run is bounded more
	// loosely.
	ctx, cancel := context.WithTimeout(ctx, gpgDecryptTimeout)
	defer cancel()
	res, err := g.runLimited(ctx, s.Wrapped, g.ttyEnv(ctx),
		gpgLimits{stdout: pgpMaxUnwrapped, stderr: gpgMaxDecryptMessages, afterBegin: gpgDecryptDataTimeout},
		"--batch", "--no-auto-key-retrieve", "--status-fd", "2", "--decrypt")
	defer clear(res.stdout)
	if errors.Is(err, errGPGOutput) || errors.Is(err, errGPGSlow) {
		return nil, fmt.Errorf("%w: pgp:%s: the wrapped data key is not one ksec wrote: %v", crypto.ErrIntegrity, s.ID, err)
	}
	st := parseGPGStatus(res.stderr)
	if st.has("BADSIG") {
		return nil, fmt.Errorf("%w: pgp:%s: the signature on the wrapped data key is bad", crypto.ErrIntegrity, s.ID)
	}
	// gpg exits 2 when it decrypted a signed message but lacks the
	// signer's public key: the data key is good, the signature unchecked.
	sigUnchecked := err != nil && ctx.Err() == nil && st.has("ERRSIG") && !st.has("DECRYPTION_FAILED") && !st.has("BADMDC")
	if (err == nil || sigUnchecked) && st.has("DECRYPTION_OKAY") {
		if len(res.stdout) != pgpKeyLen {
			return nil, fmt.Errorf("pgp:%s: the unwrapped data key is %d bytes, not %d", s.ID, len(res.stdout), pgpKeyLen)
		}
		noteGPGSignature(ctx, s, st)
		return bytes.Clone(res.stdout), nil
	}
	switch {
	case isNotFound(err):
		return nil, &fatalError{hint.Wrap(fmt.Errorf("cannot decrypt pgp:%s: %w", s.ID, g.notFound(err)), hintGPGForIdentity)}
	case ctx.Err() != nil:
		e := fmt.Errorf("gpg did not finish decrypting pgp:%s: %w", s.ID, ctx.Err())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e = fmt.Errorf("gpg did not finish decrypting pgp:%s within %s", s.ID, gpgDecryptTimeout)
		}
		if st.has("PINENTRY_LAUNCHED") {
			e = hint.Wrap(e, hintPinentryWait)
		}
		return nil, &fatalError{e}
	case err == nil:
		// Exit status 0 without DECRYPTION_OKAY: not an encrypted message.
		return nil, fmt.Errorf("gpg did not decrypt pgp:%s: %s", s.ID, res.messages(""))
	}
	if code, ok := st.errorCode("pkdecrypt_failed"); ok {
		switch {
		case code == gpgErrBadPassphrase:
			return nil, hint.Wrap(fmt.Errorf("gpg could not decrypt pgp:%s: bad passphrase", s.ID), hintBadPassphrase)
		case code == gpgErrCanceled || code == gpgErrFullyCanceled:
			return nil, fmt.Errorf("gpg could not decrypt pgp:%s: passphrase entry was cancelled", s.ID)
		case code == gpgErrNoSecretKey:
			// Handled below with NO_SECKEY.
		default:
			// No pinentry, pinentry without a terminal ("Inappropriate
			// ioctl for device"), pinentry timeout, and the like.
			e := fmt.Errorf("gpg could not decrypt pgp:%s: %s", s.ID, res.messages("public key decryption failed"))
			if code == gpgErrNoPinentry || code == gpgErrPinentry || code == gpgErrTimeout ||
				code&gpgErrSystemError != 0 || st.has("PINENTRY_LAUNCHED") {
				e = hint.Wrap(e, hintNoPinentry)
			}
			return nil, e
		}
	}
	if encTo := st.args("ENC_TO"); len(encTo) > 0 {
		noSeckey := map[string]bool{}
		for _, k := range st.args("NO_SECKEY") {
			noSeckey[k] = true
		}
		missing := true
		for _, k := range encTo {
			missing = missing && noSeckey[k]
		}
		if !missing && len(noSeckey) == 0 && !st.has("PINENTRY_LAUNCHED") && !st.has("DECRYPTION_INFO") {
			// "quiet" in gpg.conf suppresses NO_SECKEY: ask gpg directly.
			has, herr := g.hasSecretKey(ctx, encTo)
			missing = herr == nil && !has
		}
		if missing {
			ids := slices.DeleteFunc(st.args("NO_SECKEY"), func(id string) bool { return !isHex(id) || len(id) > 40 })
			if len(ids) == 0 {
				ids = slices.DeleteFunc(slices.Clone(encTo), func(id string) bool { return !isHex(id) || len(id) > 40 })
			}
			return nil, &gpgNoSecretKeyError{stanza: s.ID, keyIDs: ids, gpg: sanitizeOneLine(res.messages("decryption failed"), 200)}
		}
	}
	e := fmt.Errorf("gpg could not decrypt pgp:%s: %w", s.ID, res.failure(err))
	if st.has("PINENTRY_LAUNCHED") {
		e = hint.Wrap(e, hintNoPinentry)
	}
	return nil, e
}

// hasSecretKey reports whether gpg holds a secret key for any of the
// 16-hex key IDs. A hidden recipient (ID 0) counts as held: it cannot be
// ruled out.
func (g gpgRunner) hasSecretKey(ctx context.Context, keyIDs []string) (bool, error) {
	for _, id := range keyIDs {
		if strings.Trim(id, "0") == "" {
			return true, nil
		}
		_, err := g.run(ctx, nil, nil, "--batch", "--with-colons", "--list-secret-keys", "0x"+id)
		if err == nil {
			return true, nil
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return false, err
		}
	}
	return false, nil
}

// Error codes of libgpg-error, as found in gpg's "ERROR" status lines
// (the low 16 bits; the high bits name the source).
const (
	gpgErrBadPassphrase = 11
	gpgErrNoSecretKey   = 17
	gpgErrTimeout       = 62
	gpgErrNoPinentry    = 85
	gpgErrPinentry      = 86
	gpgErrCanceled      = 99
	gpgErrFullyCanceled = 198
	gpgErrSystemError   = 1 << 15 // errno-based codes, e.g. ENOTTY
)

// gpgStatus holds the machine-readable "[GNUPG:] KEYWORD args" lines.
type gpgStatus [][]string

func parseGPGStatus(stderr []byte) gpgStatus {
	var st gpgStatus
	for _, line := range strings.Split(string(stderr), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "[GNUPG:] ")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			st = append(st, f)
		}
	}
	return st
}

func (st gpgStatus) has(keyword string) bool {
	for _, f := range st {
		if f[0] == keyword {
			return true
		}
	}
	return false
}

// args returns the first argument of every line with the keyword.
func (st gpgStatus) args(keyword string) []string {
	var out []string
	for _, f := range st {
		if f[0] == keyword && len(f) > 1 {
			out = append(out, f[1])
		}
	}
	return out
}

// errorCode returns the error code of an "ERROR location code" line.
func (st gpgStatus) errorCode(location string) (int, bool) {
	for _, f := range st {
		if f[0] == "ERROR" && len(f) > 2 && f[1] == location {
			n, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				continue
			}
			return int(n & 0xffff), true
		}
	}
	return 0, false
}

// gpgRunner runs the gpg binary. It has no state of its own.
type gpgRunner struct {
	bin string
	env []string // extra environment; nil inherits ksec's
}

type gpgResult struct {
	stdout []byte // may hold key material: never put it in an error
	stderr []byte // gpg's messages and status lines
}

// run executes gpg with stdin as its standard input and extraEnv added to
// its environment, with generous output limits.
func (g gpgRunner) run(ctx context.Context, stdin []byte, extraEnv []string, args ...string) (gpgResult, error) {
	return g.runLimited(ctx, stdin, extraEnv, gpgLimits{stdout: gpgMaxOutput, stderr: gpgMaxMessages}, args...)
}

// Output limits of a gpg run. Exported keys with many signatures can be
// large; nothing ksec asks gpg for comes near these.
const (
	gpgMaxOutput   = 64 << 20
	gpgMaxMessages = 1 << 20
)

// gpgLimits bound what one gpg run may write, and for how long it may go on
// once it has begun decrypting data.
type gpgLimits struct {
	stdout, stderr int
	// afterBegin, when not 0, bounds the time from gpg's BEGIN_DECRYPTION
	// status line (the passphrase, if any, has been given by then) to its
	// end. Reading it needs --status-fd 2.
	afterBegin time.Duration
}

// errGPGOutput says a gpg run wrote more than its limit and was stopped.
var errGPGOutput = errors.New("gpg wrote more than expected and was stopped")

// errGPGSlow says a gpg run took longer than its limit to decrypt data.
var errGPGSlow = errors.New("gpg took too long decrypting and was stopped")

// runLimited is run with limits: gpg is killed as soon as it writes more
// than a limit (a decompression bomb is never buffered) or overruns its
// decryption time, and the error then wraps errGPGOutput or errGPGSlow.
func (g gpgRunner) runLimited(ctx context.Context, stdin []byte, extraEnv []string, lim gpgLimits, args ...string) (gpgResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var slow atomic.Bool
	var timer *time.Timer
	var timerMu sync.Mutex
	defer func() {
		timerMu.Lock()
		if timer != nil {
			timer.Stop()
		}
		timerMu.Unlock()
	}()
	stdout := &cappedBuffer{buf: make([]byte, 0, min(lim.stdout, 4096)), max: lim.stdout, stop: cancel}
	stderr := &cappedBuffer{max: lim.stderr, stop: cancel}
	if lim.afterBegin > 0 {
		stderr.watch = []byte("[GNUPG:] BEGIN_DECRYPTION")
		stderr.seen = func() {
			timerMu.Lock()
			defer timerMu.Unlock()
			timer = time.AfterFunc(lim.afterBegin, func() { slow.Store(true); cancel() })
		}
	}
	cmd := exec.CommandContext(ctx, g.bin, args...)
	// gpg, and the gpg-agent it may start, never get ksec's key material.
	cmd.Env = childenv.Environ(append(slices.Clone(g.env), extraEnv...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	res := gpgResult{stdout: stdout.buf, stderr: stderr.buf}
	switch {
	case stdout.over:
		clear(stdout.buf)
		return gpgResult{stderr: stderr.buf}, fmt.Errorf("%w (more than %d bytes of output)", errGPGOutput, lim.stdout)
	case stderr.over:
		clear(stdout.buf)
		return gpgResult{stderr: stderr.buf}, fmt.Errorf("%w (more than %d bytes of messages)", errGPGOutput, lim.stderr)
	case slow.Load():
		clear(stdout.buf)
		return gpgResult{stderr: stderr.buf}, fmt.Errorf("%w (more than %s after it began)", errGPGSlow, lim.afterBegin)
	}
	return res, err
}

// cappedBuffer keeps what a process writes up to max bytes; one byte more
// marks it over and calls stop (which kills the process). It never grows
// past its first allocation when that is max, so key material is not left
// behind in discarded backing arrays.
type cappedBuffer struct {
	buf  []byte
	max  int
	over bool
	stop func()
	// watch, when set, is looked for in the output; seen is called once
	// when it appears.
	watch []byte
	seen  func()
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.over {
		return 0, errGPGOutput
	}
	if len(b.buf)+len(p) > b.max {
		b.over = true
		b.stop()
		return 0, errGPGOutput
	}
	from := max(0, len(b.buf)-len(b.watch))
	b.buf = append(b.buf, p...)
	if b.watch != nil && bytes.Contains(b.buf[from:], b.watch) {
		b.watch = nil
		b.seen()
	}
	return len(p), nil
}

// messages returns gpg's human-readable stderr lines on one line, without
// status lines and without the "encrypted with … key" chatter. When prefer
// is not empty and some lines start with it, only those are returned.
func (r gpgResult) messages(prefer string) string {
	var out, preferred []string
	for _, line := range strings.Split(string(r.stderr), "\n") {
		line = strings.TrimSpace(line)
		msg, ok := strings.CutPrefix(line, "gpg: ")
		if !ok || strings.HasPrefix(msg, "encrypted with ") {
			continue
		}
		out = append(out, msg)
		if prefer != "" && strings.HasPrefix(msg, prefer) {
			preferred = append(preferred, msg)
		}
	}
	if len(preferred) > 0 {
		out = preferred
	}
	if len(out) == 0 {
		return "no message from gpg"
	}
	// gpg's messages may quote a user ID or a file's bytes: one line,
	// printable, bounded.
	return sanitizeOneLine(strings.Join(out, "; "), 300)
}

// failure describes a failed gpg run from its exit error and messages.
func (r gpgResult) failure(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s (exit status %d)", r.messages(""), exit.ExitCode())
	}
	return err
}

func isNotFound(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

func (g gpgRunner) notFound(err error) error {
	return fmt.Errorf("gpg not found: %w", err)
}

// ttyEnv returns GPG_TTY=<ksec's terminal> when the environment gpg gets
// has no GPG_TTY and ksec's standard input or error is a terminal, so that
// pinentry can ask for a passphrase there.
func (g gpgRunner) ttyEnv(ctx context.Context) []string {
	if _, ok := lookupEnv(g.env, "GPG_TTY"); ok {
		return nil
	}
	if _, ok := os.LookupEnv("GPG_TTY"); ok {
		return nil
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	for _, f := range []*os.File{os.Stdin, os.Stderr} {
		if f == nil || !term.IsTerminal(int(f.Fd())) {
			continue
		}
		if name := ttyName(ctx, f); name != "" {
			return []string{"GPG_TTY=" + name}
		}
	}
	return nil
}

// ttyName returns the device name of the terminal f, or "".
func ttyName(ctx context.Context, f *os.File) string {
	if name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil {
		if strings.HasPrefix(name, "/dev/") {
			return name
		}
	}
	cmd := exec.CommandContext(ctx, "tty")
	cmd.Env = childenv.Environ()
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	name := strings.TrimSpace(string(out))
	if !strings.HasPrefix(name, "/dev/") {
		return ""
	}
	return name
}

// lookupEnv finds the last KEY=value entry for key in env.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// NewPGPFileIdentity returns an identity holding the OpenPGP secret keys in
// data, an armored or binary key file (gpg --export-secret-keys); source
// names the file in messages. It unwraps in-process, without gpg.
// Passphrase-protected keys are kept but cannot be used: unwrapping a stanza
// meant for one fails with an explanation.
func NewPGPFileIdentity(data []byte, source string) (Identity, error) {
	el, err := readPGPKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var secret openpgp.EntityList
	for _, e := range el {
		if hasSecretKey(e) {
			secret = append(secret, e)
		}
	}
	if len(secret) == 0 {
		return nil, hint.Wrap(fmt.Errorf("%s holds no OpenPGP secret key, only public keys", source), hintExportSecret)
	}
	return &pgpFileIdentity{source: source, label: source, keys: secret, all: el}, nil
}

type pgpFileIdentity struct {
	source string
	label  string // names it in the list of keys tried
	keys   openpgp.EntityList
	all    openpgp.EntityList // public keys too: they check signatures (kubesec signs)
	// passphrase, when set, opens protected keys (see pgpunlock.go).
	passphrase func(what string) ([]byte, error)

	mu       sync.Mutex       // keys are decrypted in place
	unlocked map[uint64]error // unlock results by primary key ID
}

func (id *pgpFileIdentity) Unwrap(ctx context.Context, stanzas []Stanza, _ Scope) ([]byte, error) {
	// Stanzas naming one of our keys first; then the others, in case a
	// stanza's ID is not the fingerprint we know: the key IDs inside each
	// message decide whether one of our keys fits.
	var first, rest []Stanza
	var ids []string
	for _, s := range stanzas {
		if s.Type != pgpType {
			continue
		}
		ids = append(ids, s.ID)
		if id.hasFingerprint(s.ID) {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	var failures []error
	for _, s := range append(first, rest...) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key, err := id.unwrap(ctx, s)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, ErrIncorrectIdentity) {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return nil, joinErrors(failures)
	}
	return nil, fmt.Errorf("%s holds no secret key for %s: %w", id.source, describeIDs(ids), ErrIncorrectIdentity)
}

func (id *pgpFileIdentity) hasFingerprint(fpr string) bool {
	fpr = normalizeFingerprint(fpr)
	for _, e := range id.keys {
		if entityHasFingerprint(e, fpr) {
			return true
		}
	}
	return false
}

func (id *pgpFileIdentity) unwrap(ctx context.Context, s Stanza) ([]byte, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	keyIDs, err := pgpMessageKeyIDs(s.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("pgp:%s: the wrapped data key is not a usable OpenPGP message: %w", s.ID, err)
	}
	var usable, locked []openpgp.Key
	for _, kid := range keyIDs {
		keys := id.keys.KeysById(kid)
		if kid == 0 { // hidden recipient (gpg --throw-keyids)
			keys = id.keys.DecryptionKeys()
		}
		for _, k := range keys {
			switch {
			case k.PrivateKey == nil || k.PrivateKey.Dummy():
			case k.PrivateKey.Encrypted:
				locked = append(locked, k)
			default:
				usable = append(usable, k)
			}
		}
	}
	if len(usable) == 0 && len(locked) > 0 && id.passphrase != nil {
		if err := id.unlock(locked[0]); err != nil {
			return nil, err
		}
		usable = locked[:1]
	}
	if len(usable) == 0 {
		if len(locked) > 0 {
			return nil, hint.Wrap(fmt.Errorf("pgp:%s: the secret key %s in %s is protected by a passphrase, which ksec cannot ask for",
				s.ID, fingerprint(locked[0].PublicKey), id.source), hintProtectedFile)
		}
		return nil, fmt.Errorf("%s holds no secret key for pgp:%s: %w", id.source, s.ID, ErrIncorrectIdentity)
	}
	// Compressed data is cut off after pgpMaxUnwrapped bytes, at every
	// level: a message that inflates to gigabytes fails at once.
	limit := int64(pgpMaxUnwrapped)
	tooLarge := func() error {
		return fmt.Errorf("%w: pgp:%s: the wrapped data key is not one ksec wrote: it inflates to more than %d bytes", crypto.ErrIntegrity, s.ID, pgpMaxUnwrapped)
	}
	keys := id.all
	if keys == nil {
		keys = id.keys
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(s.Wrapped), keys, nil, &packet.Config{MaxDecompressedMessageSize: &limit})
	if errors.Is(err, pgperrors.ErrMessageTooLarge) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, fmt.Errorf("pgp:%s: decrypting with the secret key %s from %s failed: %w",
			s.ID, fingerprint(usable[0].PublicKey), id.source, err)
	}
	// Read to the end: the integrity check (MDC) runs at EOF.
	key, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, pgpMaxUnwrapped+1))
	if errors.Is(err, pgperrors.ErrMessageTooLarge) || len(key) > pgpMaxUnwrapped {
		clear(key)
		return nil, tooLarge()
	}
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("pgp:%s: decrypting with the secret key %s from %s failed: %w",
			s.ID, fingerprint(md.DecryptedWith.PublicKey), id.source, err)
	}
	if len(key) != pgpKeyLen {
		clear(key)
		return nil, fmt.Errorf("pgp:%s: the unwrapped data key is %d bytes, not %d", s.ID, len(key), pgpKeyLen)
	}
	if err := checkMessageSignature(ctx, s, md); err != nil {
		clear(key)
		return nil, err
	}
	return key, nil
}

// pgpMessageKeyIDs returns the key IDs an OpenPGP message is encrypted to
// (0 for a hidden recipient). It refuses messages that are not encrypted to
// a public key, or that can also be opened with a passphrase.
func pgpMessageKeyIDs(msg []byte) ([]uint64, error) {
	r := packet.NewReader(bytes.NewReader(msg))
	var ids []uint64
	for {
		p, err := r.Next()
		if err == io.EOF {
			return nil, errors.New("no encrypted data")
		}
		if err != nil {
			return nil, err
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			ids = append(ids, p.KeyId)
		case *packet.SymmetricKeyEncrypted:
			return nil, errors.New("it is encrypted with a passphrase")
		case *packet.SymmetricallyEncrypted, *packet.AEADEncrypted:
			if len(ids) == 0 {
				return nil, errors.New("it is not encrypted to any key")
			}
			return ids, nil
		case *packet.Padding:
		default:
			return nil, errors.New("it is not an encrypted message")
		}
	}
}

// IsPGPKeyData reports whether data looks like an OpenPGP key file: an
// armored public or private key block, or a binary key packet.
func IsPGPKeyData(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if bytes.Equal(line, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) ||
			bytes.Equal(line, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
			return true
		}
	}
	if len(data) < 2 || data[0]&0x80 == 0 {
		return false
	}
	var tag byte
	if data[0]&0x40 != 0 { // new format
		tag = data[0] & 0x3f
	} else {
		tag = (data[0] >> 2) & 0x0f
	}
	return tag == 5 || tag == 6 // secret key, public key
}

// readPGPKeys reads the keys of a key file: one or more armored key blocks,
// or binary packets.
func readPGPKeys(data []byte) (openpgp.EntityList, error) {
	if !bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not a readable OpenPGP key: %w", err)
		}
		if len(el) == 0 {
			return nil, errors.New("no OpenPGP key found")
		}
		return el, nil
	}
	// armor.Decode reuses a *bufio.Reader of at least 100 bytes, so the
	// blocks can be read one after another.
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	var all openpgp.EntityList
	for {
		block, err := armor.Decode(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable OpenPGP key: %w", err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("holds a %q block, not an OpenPGP key", block.Type)
		}
		el, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("not a readable OpenPGP key: %w", err)
		}
		all = append(all, el...)
	}
	if len(all) == 0 {
		return nil, errors.New("no OpenPGP key found")
	}
	return all, nil
}

func hasSecretKey(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && !sk.PrivateKey.Dummy() {
			return true
		}
	}
	return false
}

func entityHasFingerprint(e *openpgp.Entity, fpr string) bool {
	if fingerprint(e.PrimaryKey) == fpr {
		return true
	}
	for _, sk := range e.Subkeys {
		if fingerprint(sk.PublicKey) == fpr {
			return true
		}
	}
	return false
}

// fingerprint returns a key's fingerprint in upper-case hex.
func fingerprint(pk *packet.PublicKey) string {
	return fmt.Sprintf("%X", pk.Fingerprint)
}

// normalizeFingerprint drops a 0x prefix and upper-cases.
func normalizeFingerprint(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return strings.ToUpper(s)
}

func describeIDs(ids []string) string {
	if len(ids) == 0 {
		return "no pgp recipient"
	}
	return "pgp:" + strings.Join(ids, ", pgp:")
}

// joinErrors is errors.Join on one line, for "ksec: error: …" output.
