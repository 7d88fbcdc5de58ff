package keyring

import (
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ksec-dev/ksec/internal/hint"
)

// unlock decrypts the secret keys of the OpenPGP key that holds k with its
// passphrase, asked once per key and run. id.mu is held.
func (id *pgpFileIdentity) unlock(k openpgp.Key) error {
	primary := k.Entity.PrimaryKey
	if err, done := id.unlocked[primary.KeyId]; done {
		return err
	}
	what := fmt.Sprintf("the OpenPGP key %s in %s", fingerprint(primary), id.label)
	pass, err := id.passphrase(what)
	if err != nil {
		err = fmt.Errorf("%s is protected by a passphrase: %w", what, err)
	} else {
		// Every secret key of the entity, primary and subkeys: gpg
		// protects them with one passphrase.
		if derr := k.Entity.DecryptPrivateKeys(pass); derr != nil {
			err = hint.Wrap(fmt.Errorf("%s: %w (or the key is damaged: %v)", what, ErrWrongPassphrase, derr), hintWrongPassphrase)
		}
		clear(pass)
	}
	if id.unlocked == nil {
		id.unlocked = map[uint64]error{}
	}
	id.unlocked[primary.KeyId] = err
	return err
}
