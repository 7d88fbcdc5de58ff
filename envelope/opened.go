package envelope

import (
	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/keyring"
)

// OpenedSecret is what a session learned of one encrypted Secret it
// decrypted and verified: ksec's merge driver compares the three sides of a
// merge by it. DataKey and the payloads are the session's own: Close
// zeroes them.
type OpenedSecret struct {
	Scope   keyring.Scope
	Stanzas []keyring.Stanza
	DataKey []byte
	Values  map[ValueRef]OpenedValue
}

// ValueRef names one value of a Secret.
type ValueRef struct{ Field, Key string }

// OpenedValue is one verified value: its token and what it seals.
type OpenedValue struct {
	Token   string
	Payload crypto.Payload
}

// Opened returns the encrypted Secrets the session decrypted, in stream order.
func (sess *Session) Opened() []OpenedSecret {
	out := make([]OpenedSecret, 0, len(sess.secrets))
	for _, o := range sess.secrets {
		vals := make(map[ValueRef]OpenedValue, len(o.values))
		for k, v := range o.values {
			vals[ValueRef{Field: k.field, Key: k.key}] = OpenedValue{Token: v.token, Payload: v.payload}
		}
		out = append(out, OpenedSecret{Scope: o.scope, Stanzas: o.stanzas, DataKey: o.dataKey, Values: vals})
	}
	return out
}
