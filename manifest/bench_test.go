package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmarks for finding a Secret's values and splicing edits back. They
// measure, they assert nothing about time; see docs/PERFORMANCE.md.
//
//	go test ./manifest -run '^$' -bench . -benchmem

// benchSecret returns a Secret with n data values, like bench/gen writes.
func benchSecret(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\n  namespace: default\ntype: Opaque\ndata:\n")
	for i := range n {
		fmt.Fprintf(&b, "  key-%05d: dmFsdWUtbnVtYmVyLSVk\n", i)
	}
	return []byte(b.String())
}

// benchToken has the shape and length of a real token for a short value.
var benchToken = "ENC[ksec.v1," + strings.Repeat("A", 80) + "]"

var benchCounts = []int{10, 10000}

func BenchmarkParse(b *testing.B) {
	for _, n := range benchCounts {
		src := benchSecret(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := Parse(src)
				if err != nil {
					b.Fatal(err)
				}
				if len(st.Secrets[0].Values) != n {
					b.Fatalf("%d values, want %d", len(st.Secrets[0].Values), n)
				}
			}
		})
	}
}

// BenchmarkBytes measures the splice of one edit per value (what encrypt
// or decrypt does), on a stream parsed once.
func BenchmarkBytes(b *testing.B) {
	for _, n := range benchCounts {
		src := benchSecret(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			st, err := Parse(src)
			if err != nil {
				b.Fatal(err)
			}
			for _, v := range st.Secrets[0].Values {
				st.SetToken(v, benchToken)
			}
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if out := st.Bytes(); len(out) <= len(src) {
					b.Fatal("edits were not applied")
				}
			}
		})
	}
}

// BenchmarkPayload measures reading each value's plaintext payload, the
// step before sealing it.
func BenchmarkPayload(b *testing.B) {
	for _, n := range benchCounts {
		src := benchSecret(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			st, err := Parse(src)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, v := range st.Secrets[0].Values {
					if _, err := st.Payload(v); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
