package cmd

import (
	"errors"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// noSecretsError is envelope.ErrNoSecrets with the input named and what it
// holds instead, so "no Secret found" says where ksec looked and what it saw.
type noSecretsError struct{ msg string }

func (e *noSecretsError) Error() string { return e.msg }
func (e *noSecretsError) Unwrap() error { return envelope.ErrNoSecrets }

// explainNoSecrets rewrites an error saying st has no Secret; other errors
// pass unchanged. name is the input's name, or "" when the caller names the
// file itself (several files).
func explainNoSecrets(err error, name string, st *manifest.Stream) error {
	if st == nil || !errors.Is(err, envelope.ErrNoSecrets) {
		return err
	}
	msg := manifest.ErrBadInput.Error() + ": no Secret found"
	if name != "" {
		msg += " in " + name
	}
	msg += ": it holds " + st.Describe()
	return hint.Wrap(&noSecretsError{msg: msg}, "ksec works on kind: Secret documents (apiVersion: v1), alone, in a multi-document stream or in a List")
}
