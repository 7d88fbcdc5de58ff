package envelope

import (
	"errors"
	"fmt"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

const hintRename = "a Secret's values are bound to its namespace and name: put the original namespace and name back, " +
	"then rename it with ksec edit (it re-encrypts the values for the new name)"

// maxScopeCheck bounds the values explainScope tries (each against each).
const maxScopeCheck = 64

// explainScope looks again when a value does not open: if no encrypted
// value of the Secret opens, the likely cause is not one altered value but
// a namespace or name edited by hand, which every value is bound to; the
// error then says so and how to rename. Otherwise err is returned as is.
func explainScope(key *crypto.Key, s *manifest.Secret, err error) error {
	if !errors.Is(err, crypto.ErrIntegrity) || errors.Is(err, crypto.ErrMalformedToken) {
		return err
	}
	var tokens []*manifest.Value
	for _, v := range s.Values {
		if v.IsEncrypted() {
			tokens = append(tokens, v)
		}
	}
	if len(tokens) > maxScopeCheck {
		return err
	}
	n := len(tokens)
	// A token that opens at its own place, or at another key's place of
	// the same Secret (values swapped), says the scope is unchanged.
	for _, v := range tokens {
		for _, at := range tokens {
			p, e := key.Open(at.Location(s), v.Text)
			clear(p.Value)
			if e == nil {
				return err
			}
		}
	}
	name := s.Name
	if s.Namespace != "" {
		name = s.Namespace + "/" + s.Name
	}
	if n < 2 {
		// One value alone cannot tell a renamed Secret from a value
		// moved in from elsewhere: keep the value's error, add the hint.
		return hint.Wrap(err, "if the Secret's namespace or name was changed by hand since it was encrypted: put the original ones back, then rename it with ksec edit")
	}
	// The caller names the Secret, as for its other errors.
	return hint.Wrap(fmt.Errorf("%w: none of its %d encrypted values opens under the name %s: the Secret's namespace or name changed since it was encrypted, or all its values were replaced",
		crypto.ErrIntegrity, n, name), hintRename)
}
