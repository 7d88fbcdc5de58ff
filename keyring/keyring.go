// Package keyring wraps and unwraps ksec data keys for recipients.
//
// It follows the shape of filippo.io/age: a Recipient wraps a data key into
// a Stanza, an Identity tries to unwrap one of a Secret's stanzas, and key
// types plug in as Providers chosen by the prefix of a key spec
// ("pgp:…", later "aws:…", "gcp:…", "age:…"). Nothing here keeps state
// between calls beyond what a Provider caches for its own clients.
package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// Scope is what a wrapped key is bound to: the Secret it belongs to.
// Cloud providers put it into their encryption context / additional data.
type Scope struct {
	Namespace string
	Name      string
	// Unbound asks for a key wrapped with no binding at all: AWS KMS
	// without encryption context, Cloud KMS without additional data. Only
	// readers of other tools' files (kubesec) set it; ksec never writes one.
	Unbound bool
}

// Stanza is one recipient entry of a Secret's ksec metadata block.
type Stanza struct {
	Type    string // provider type, e.g. "pgp"
	ID      string // recipient identity within the type, e.g. a fingerprint
	Wrapped []byte // the data key wrapped for this recipient
}

// Recipient can wrap a data key for one party.
type Recipient interface {
	Type() string
	// ID is the stable identity written into the stanza; two recipients with
	// the same Type and ID are the same recipient.
	ID() string
	Wrap(ctx context.Context, dataKey []byte, scope Scope) (Stanza, error)
}

// Identity can unwrap data keys. Unwrap returns an error wrapping
// ErrIncorrectIdentity when none of the stanzas is for it; any other error
// means it tried a stanza meant for it and failed.
type Identity interface {
	Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error)
}

// MaxWrapped bounds the size of a stanza's wrapped data key. The largest
// ksec writes (OpenPGP to a 16384-bit RSA key, an age file for an SSH RSA
// key, a cloud KMS blob) are a few KiB.
const MaxWrapped = 16 << 10

// ErrIncorrectIdentity says an identity holds no key for any of the stanzas.
var ErrIncorrectIdentity = errors.New("no matching key")

// ErrNoIdentity says no identity at all could unwrap a Secret's data key.
var ErrNoIdentity = errors.New("no key could decrypt")

// Provider is one key type. It parses the part of a key spec after
// "TYPE:" and offers the identity that is available without being named
// (the gpg agent, a cloud KMS reached with ambient credentials).
type Provider interface {
	Type() string
	ParseRecipient(ctx context.Context, spec string) (Recipient, error)
	// AmbientIdentity may return nil when the provider has none.
	AmbientIdentity() Identity
}

// Ref names a recipient by type and ID, as a stanza does.
type Ref struct {
	Type string
	ID   string
}

// RefOf returns the reference of a recipient.
func RefOf(r Recipient) Ref { return Ref{Type: r.Type(), ID: r.ID()} }

// ParseRef resolves a key spec to the recipient it names, without needing
// the key itself where the spec alone says it (a pgp fingerprint), so a
// recipient can be removed even when its public key is not at hand.
func (k *Keyring) ParseRef(ctx context.Context, spec string) (Ref, error) {
	if typ, rest, err := k.splitSpec(spec); err == nil && typ == "pgp" {
		if fpr, ok := compactFingerprint(rest); ok {
			return Ref{Type: "pgp", ID: fpr}, nil
		}
	}
	r, err := k.ParseRecipient(ctx, spec)
	if err != nil {
		return Ref{}, err
	}
	return RefOf(r), nil
}

// Keyring holds the providers and explicit identities of one ksec run.
type Keyring struct {
	providers  []Provider
	identities []Identity

	mu       sync.Mutex
	cache    map[[32]byte][]byte        // unwrapped data keys by wrapped key and scope
	inflight map[[32]byte]chan struct{} // Secrets being unwrapped now
}

// New returns a keyring with the given providers, tried in order when
// unwrapping (cheap local ones first), and explicit identities, which are
// tried before any provider's ambient identity.
func New(providers []Provider, identities []Identity) *Keyring {
	return &Keyring{providers: providers, identities: identities}
}

func (k *Keyring) provider(typ string) Provider {
	for _, p := range k.providers {
		if p.Type() == typ {
			return p
		}
	}
	return nil
}

// ParseRecipient resolves one key spec, such as "pgp:FINGERPRINT" or a bare
// fingerprint, into a recipient.
func (k *Keyring) ParseRecipient(ctx context.Context, spec string) (Recipient, error) {
	typ, rest, err := k.splitSpec(spec)
	if err != nil {
		return nil, err
	}
	p := k.provider(typ)
	if p == nil {
		return nil, fmt.Errorf("key %s: key type %q is not supported by this build of ksec", QuoteSpec(spec), typ)
	}
	r, err := p.ParseRecipient(ctx, rest)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", QuoteSpec(spec), err)
	}
	return r, nil
}

// splitSpec honours the prefix of every registered provider, then the
// built-in prefixes and bare forms of SplitSpec.
func (k *Keyring) splitSpec(spec string) (typ, rest string, err error) {
	if t, r, ok := strings.Cut(spec, ":"); ok && r != "" && k.provider(t) != nil {
		return t, r, nil
	}
	return SplitSpec(spec)
}

// ParseRecipients resolves specs and drops duplicates (same type and ID).
func (k *Keyring) ParseRecipients(ctx context.Context, specs []string) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		r, err := k.ParseRecipient(ctx, s)
		if err != nil {
			return nil, err
		}
		if id := r.Type() + ":" + r.ID(); !seen[id] {
			seen[id] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// Unwrap recovers a data key from a Secret's stanzas: from the keys this
// run already unwrapped, else first with the explicit identities, then with
// each provider's ambient identity (providers in order: local before
// network), stanza by stanza, stopping at the first success. The error
// lists every attempt when all fail.
func (k *Keyring) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	for _, s := range stanzas {
		if len(s.Wrapped) > MaxWrapped {
			// No provider is handed a key blob no provider writes: the
			// work and memory of unwrapping stay bounded by this.
			return nil, fmt.Errorf("%w: %s:%s: the wrapped data key is %d bytes, more than the %d any recipient type writes",
				crypto.ErrIntegrity, s.Type, s.ID, len(s.Wrapped), MaxWrapped)
		}
	}
	// The same Secret met by several workers at once is unwrapped once:
	// the others wait for it, then find the key in the cache.
	done := k.claim(stanzas, scope)
	defer done()
	for _, s := range stanzas {
		if wantsSignatures(ctx) {
			break // the cache does not know who signed
		}
		if key, ok := k.cached(s, scope); ok {
			return key, nil
		}
	}
	var failures []error
	var attempts []*attempt
	seen := map[string]*stanzaError{} // failures by message, with the stanzas that gave each
	try := func(a *attempt, s Stanza) []byte {
		key, err := a.id.Unwrap(ctx, []Stanza{s}, scope)
		if err == nil {
			k.remember(s, scope, key)
			return key
		}
		switch {
		case errors.Is(err, ErrIncorrectIdentity):
			a.errs = append(a.errs, err)
		case seen[err.Error()] != nil:
			seen[err.Error()].add(s)
		default:
			f := &stanzaError{err: err}
			f.add(s)
			seen[err.Error()] = f
			failures = append(failures, f)
		}
		return nil
	}
	explicit := false
	for _, id := range k.identities {
		a := &attempt{id: id}
		attempts = append(attempts, a)
		if _, ok := id.(*defaultAgeIdentity); !ok {
			explicit = true
		}
		for _, s := range stanzas {
			if key := try(a, s); key != nil {
				return key, nil
			}
		}
	}
	for _, p := range k.providers {
		id := p.AmbientIdentity()
		if id == nil {
			continue
		}
		a := &attempt{id: id}
		attempts = append(attempts, a)
		for _, s := range stanzasOfType(stanzas, p.Type()) {
			if key := try(a, s); key != nil {
				return key, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	tried, anyKey := describeAttempts(ctx, attempts, stanzas)
	if !explicit {
		tried = append([]string{"no key file was named (-I/--identity, KSEC_IDENTITY_FILE) and KSEC_AGE_KEY is not set"}, tried...)
	}
	e := &NoIdentityError{Stanzas: stanzas, Failures: failures, Tried: tried, NoKey: !anyKey}
	hints := make([]string, 0, len(tried)+1)
	for _, t := range tried {
		hints = append(hints, "tried: "+t)
	}
	switch {
	case len(failures) > 0:
	case e.NoKey:
		hints = append(hints, "decrypting needs the secret key of one of the recipients: pass it with -I/--identity FILE "+
			"(or KSEC_IDENTITY_FILE, or KSEC_AGE_KEY in CI), or import it into gpg (gpg --import)")
	default:
		hints = append(hints, "ask someone who can decrypt the file to add one of your public keys (ksec encrypt -i -k +KEY FILE), "+
			"or use a recipient's secret key (-I/--identity FILE)")
	}
	return nil, hint.Wrap(e, hints...)
}

// cacheKey names one wrapped key within one scope (cloud KMS wrappings are
// bound to the scope, so the scope is part of what was unwrapped).
func cacheKey(s Stanza, scope Scope) [32]byte {
	h := sha256.New()
	unbound := []byte{0}
	if scope.Unbound {
		unbound[0] = 1
	}
	for _, f := range [][]byte{[]byte(s.Type), []byte(s.ID), s.Wrapped, []byte(scope.Namespace), []byte(scope.Name), unbound} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return [32]byte(h.Sum(nil))
}

// claim waits while another goroutine unwraps the same stanzas, then
// marks them as being unwrapped until the returned func is called.
func (k *Keyring) claim(stanzas []Stanza, scope Scope) (done func()) {
	h := sha256.New()
	for _, s := range stanzas {
		c := cacheKey(s, scope)
		h.Write(c[:])
	}
	id := [32]byte(h.Sum(nil))
	for {
		k.mu.Lock()
		wait, busy := k.inflight[id]
		if !busy {
			if k.inflight == nil {
				k.inflight = map[[32]byte]chan struct{}{}
			}
			ch := make(chan struct{})
			k.inflight[id] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.inflight, id)
				k.mu.Unlock()
				close(ch)
			}
		}
		k.mu.Unlock()
		<-wait
	}
}

func (k *Keyring) cached(s Stanza, scope Scope) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.cache[cacheKey(s, scope)]
	return bytes.Clone(key), ok
}

// remember keeps an unwrapped data key for this run, so the same wrapped
// key met again (the same Secret in several inputs) costs no second
// gpg run or KMS call.
func (k *Keyring) remember(s Stanza, scope Scope, key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache == nil {
		k.cache = map[[32]byte][]byte{}
	}
	k.cache[cacheKey(s, scope)] = bytes.Clone(key)
}

func stanzasOfType(stanzas []Stanza, typ string) []Stanza {
	var out []Stanza
	for _, s := range stanzas {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// NoIdentityError is returned when no identity could unwrap a data key.
// It names the recipients (never key material) and why each attempt failed.
type NoIdentityError struct {
	Stanzas  []Stanza
	Failures []error
	// Tried says, one line per key, which keys were tried and why each did
	// not fit (the error's hints repeat it).
	Tried []string
	// NoKey is set when no key at all was found to try, as opposed to keys
	// that are not recipients.
	NoKey bool
}

func (e *NoIdentityError) Error() string {
	var ids []string
	for i, s := range e.Stanzas {
		if i == 10 {
			ids = append(ids, fmt.Sprintf("and %d more", len(e.Stanzas)-10))
			break
		}
		id := s.ID
		if len(id) > 100 {
			id = id[:100] + "…"
		}
		ids = append(ids, s.Type+":"+id)
	}
	msg := "no key could decrypt"
	switch {
	case len(e.Failures) > 0:
	case e.NoKey:
		msg += ": ksec found no key of yours to try"
	default:
		msg += ": none of your keys is a recipient"
	}
	msg += "; recipients: " + strings.Join(ids, ", ")
	for _, f := range e.Failures {
		msg += "; " + f.Error()
	}
	return msg
}

func (e *NoIdentityError) Unwrap() []error {
	return append([]error{ErrNoIdentity}, e.Failures...)
}

// ScopeBinder is implemented by providers whose wrapped keys are bound to
// the Secret's scope (a cloud KMS encryption context), so that renaming a
// Secret must re-wrap its data key for them.
type ScopeBinder interface {
	BindsScope() bool
}

// Rebind returns stanzas for a Secret that moved to scope: stanzas of
// scope-bound providers are wrapped again (one call each), the rest are kept.
func (k *Keyring) Rebind(ctx context.Context, stanzas []Stanza, dataKey []byte, scope Scope) ([]Stanza, error) {
	out := make([]Stanza, 0, len(stanzas))
	for _, s := range stanzas {
		p := k.provider(s.Type)
		if b, ok := p.(ScopeBinder); !ok || !b.BindsScope() {
			out = append(out, s)
			continue
		}
		r, err := p.ParseRecipient(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("re-wrap for %s:%s: %w", s.Type, s.ID, err)
		}
		w, err := r.Wrap(ctx, dataKey, scope)
		if err != nil {
			return nil, fmt.Errorf("re-wrap for %s:%s: %w", s.Type, s.ID, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// unwrapEach tries open on each stanza of type typ in turn, for identities
// that unwrap one stanza at a time; it returns the first key, or every
// failure, or ErrIncorrectIdentity when there was no such stanza.
func unwrapEach(ctx context.Context, stanzas []Stanza, typ string, open func(Stanza) ([]byte, error)) ([]byte, error) {
	var errs []error
	for _, s := range stanzas {
		if s.Type != typ {
			continue
		}
		key, err := open(s)
		if err == nil {
			return key, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: %w", typ, ErrIncorrectIdentity)
	}
	return nil, joinErrors(errs)
}

// joinErrors makes one error of several, keeping each one's hints and
// errors.Is targets.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return multiError(errs)
}

type multiError []error

func (m multiError) Error() string {
	var parts []string
	for _, e := range m {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }
