package cmd

import (
	"bytes"
	"context"
	"slices"
	"strings"
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

func TestGitOpsCommandsRefuseATerminal(t *testing.T) {
	for _, args := range [][]string{{"kustomize"}, {"post-render"}} {
		var out, errb bytes.Buffer
		sys := &System{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(string) string { return "" },
			StdinIsTerminal: func() bool { return true }}
		code := Run(context.Background(), sys, "test", args)
		if code != ExitUsage || out.Len() > 0 || !strings.Contains(errb.String(), "not a terminal") {
			t.Errorf("%v from a terminal: exit %d, stderr %q", args, code, errb.String())
		}
	}
}
