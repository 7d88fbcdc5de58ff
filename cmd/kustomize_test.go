package cmd

import (
	"slices"
	"testing"
)

func TestArgsFor(t *testing.T) {
	for _, tc := range []struct {
		osArgs, want []string
	}{
		{[]string{"/usr/bin/ksec", "decrypt", "x"}, []string{"decrypt", "x"}},
		{[]string{"/usr/local/bin/ksec-kustomize"}, []string{"kustomize"}},
		{[]string{`C:\bin\ksec-kustomize.exe`}, []string{"kustomize"}},
		{[]string{"ksec-kustomize", "verify", "."}, []string{"kustomize", "verify", "."}},
		{[]string{"ksec-kustomize-not"}, []string{}},
		{nil, nil},
	} {
		if got := argsFor(tc.osArgs); !slices.Equal(got, tc.want) {
			t.Errorf("argsFor(%q) = %q, want %q", tc.osArgs, got, tc.want)
		}
	}
}
