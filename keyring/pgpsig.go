package keyring

import (
	"context"
	"fmt"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ksec-dev/ksec/crypto"
)

// ksec's own pgp stanzas are unsigned. Other tools (kubesec) sign the
// OpenPGP message that wraps a data key; a caller that cares about that
// signature asks for a SignatureLog, and the pgp identities record in it
// what they could tell about each signed message they opened. A bad
// signature is refused outright, whether or not anyone asked.

// SignatureState is what became of the signature on a wrapped key.
type SignatureState int

// The signature states.
const (
	SignatureGood      SignatureState = iota + 1 // verified with the signer's public key
	SignatureUnchecked                           // signed, but the signer's public key was not at hand
	SignatureNone                                // not signed at all
)

// Signature is one signed wrapped key that was opened.
type Signature struct {
	Stanza string // the stanza's ID
	State  SignatureState
	Signer string // the signer's fingerprint (Good) or key ID (Unchecked), upper-case hex
}

// SignatureLog collects the signatures met while unwrapping.
type SignatureLog struct {
	mu   sync.Mutex
	sigs []Signature
}

type signatureLogKey struct{}

// WithSignatureLog returns a context under which pgp identities record
// the signatures on the messages they open.
func WithSignatureLog(ctx context.Context) (context.Context, *SignatureLog) {
	l := &SignatureLog{}
	return context.WithValue(ctx, signatureLogKey{}, l), l
}

// Signatures returns what was recorded, in order.
func (l *SignatureLog) Signatures() []Signature {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Signature(nil), l.sigs...)
}

func wantsSignatures(ctx context.Context) bool {
	_, ok := ctx.Value(signatureLogKey{}).(*SignatureLog)
	return ok
}

func noteSignature(ctx context.Context, sig Signature) {
	l, ok := ctx.Value(signatureLogKey{}).(*SignatureLog)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sigs = append(l.sigs, sig)
}

// noteGPGSignature records what gpg's status lines say about the
// signature of a message it decrypted.
func noteGPGSignature(ctx context.Context, s Stanza, st gpgStatus) {
	if v := st.args("VALIDSIG"); len(v) > 0 {
		noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureGood, Signer: v[0]})
		return
	}
	if e := st.args("ERRSIG"); len(e) > 0 {
		noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureUnchecked, Signer: e[0]})
		return
	}
	if !st.has("NEWSIG") {
		noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureNone})
	}
}

// checkMessageSignature records, or refuses, the signature of a message
// read to its end with go-crypto.
func checkMessageSignature(ctx context.Context, s Stanza, md *openpgp.MessageDetails) error {
	if !md.IsSigned {
		noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureNone})
		return nil
	}
	if md.SignedBy == nil {
		noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureUnchecked, Signer: fmt.Sprintf("%016X", md.SignedByKeyId)})
		return nil
	}
	if md.SignatureError != nil {
		return fmt.Errorf("%w: pgp:%s: the signature on the wrapped data key by %s is bad: %v",
			crypto.ErrIntegrity, s.ID, fingerprint(md.SignedBy.Entity.PrimaryKey), md.SignatureError)
	}
	noteSignature(ctx, Signature{Stanza: s.ID, State: SignatureGood, Signer: fingerprint(md.SignedBy.Entity.PrimaryKey)})
	return nil
}
