package envelope

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Benchmarks for a whole Secret: parse, (un)wrap the data key with a real
// age X25519 recipient, seal or open every value, MAC, splice, serialise.
// Each iteration uses a fresh keyring, as one ksec process does, so the
// keyring's cache of unwrapped keys does not hide the unwrap. They measure,
// they assert nothing about time; see docs/PERFORMANCE.md.
//
//	go test ./envelope -run '^$' -bench . -benchmem

func benchSecret(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\n  namespace: default\ntype: Opaque\ndata:\n")
	for i := range n {
		fmt.Fprintf(&b, "  key-%05d: dmFsdWUtbnVtYmVyLSVk\n", i)
	}
	return []byte(b.String())
}

type benchAge struct {
	recipient keyring.Recipient
	identity  keyring.Identity
}

func newBenchAge(b *testing.B) benchAge {
	b.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	r, err := keyring.NewAge().ParseRecipient(context.Background(), id.Recipient().String())
	if err != nil {
		b.Fatal(err)
	}
	ident, err := keyring.ParseIdentityString(id.String(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return benchAge{recipient: r, identity: ident}
}

func (a benchAge) keyring() *keyring.Keyring {
	return keyring.New([]keyring.Provider{keyring.NewAge()}, []keyring.Identity{a.identity})
}

var benchCounts = []int{10, 10000}

func BenchmarkEncrypt(b *testing.B) {
	ctx := context.Background()
	a := newBenchAge(b)
	for _, n := range benchCounts {
		src := benchSecret(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := manifest.Parse(src)
				if err != nil {
					b.Fatal(err)
				}
				if err := Encrypt(ctx, st, a.keyring(), Recipients{Set: []keyring.Recipient{a.recipient}}); err != nil {
					b.Fatal(err)
				}
				if len(st.Bytes()) <= len(src) {
					b.Fatal("nothing was encrypted")
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	ctx := context.Background()
	a := newBenchAge(b)
	for _, n := range benchCounts {
		plain := benchSecret(n)
		st, err := manifest.Parse(plain)
		if err != nil {
			b.Fatal(err)
		}
		if err := Encrypt(ctx, st, a.keyring(), Recipients{Set: []keyring.Recipient{a.recipient}}); err != nil {
			b.Fatal(err)
		}
		src := st.Bytes()
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := manifest.Parse(src)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Decrypt(ctx, st, a.keyring()); err != nil {
					b.Fatal(err)
				}
				if len(st.Bytes()) != len(plain) {
					b.Fatal("decrypt did not give back the plaintext's length")
				}
			}
		})
	}
}
