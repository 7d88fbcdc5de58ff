package crypto

import (
	"bytes"
	"fmt"
	"testing"
)

// Benchmarks for the per-value and per-Secret cryptography. They measure,
// they assert nothing about time; see docs/PERFORMANCE.md.
//
//	go test ./crypto -run '^$' -bench . -benchmem

var benchSizes = []struct {
	name string
	size int
}{
	{"small", 16},
	{"4KiB", 4096},
}

func benchKey(b *testing.B) *Key {
	b.Helper()
	k, err := NewKey(bytes.Repeat([]byte{7}, DataKeySize))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

var benchLoc = Location{Namespace: "prod", Name: "db", Field: "data", Key: "password"}

func BenchmarkNewKey(b *testing.B) {
	dataKey := bytes.Repeat([]byte{7}, DataKeySize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewKey(dataKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k := benchKey(b)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := Payload{Form: FormBase64, Value: bytes.Repeat([]byte{'x'}, sz.size)}
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Seal(benchLoc, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	k := benchKey(b)
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := Payload{Form: FormBase64, Value: bytes.Repeat([]byte{'x'}, sz.size)}
			token, err := k.Seal(benchLoc, p)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Open(benchLoc, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMAC covers a Secret of n small values with one recipient, the
// way envelope computes it on every encrypt and decrypt.
func BenchmarkMAC(b *testing.B) {
	k := benchKey(b)
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			in := MACInput{
				Namespace:  "prod",
				Name:       "db",
				Recipients: []MACRecipient{{Type: "age", ID: "age1example", Wrapped: bytes.Repeat([]byte{1}, 200)}},
			}
			for i := range n {
				token, err := k.Seal(Location{Namespace: "prod", Name: "db", Field: "data", Key: fmt.Sprint("key-", i)}, Payload{Value: []byte("value")})
				if err != nil {
					b.Fatal(err)
				}
				in.Values = append(in.Values, MACValue{Field: "data", Key: fmt.Sprint("key-", i), Token: token})
			}
			b.ReportAllocs()
			for b.Loop() {
				k.MAC(in)
			}
		})
	}
}
