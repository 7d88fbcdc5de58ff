package cmd

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestCheckFlags(t *testing.T) {
	sys := &System{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	var got *CheckOptions
	c := NewCmdCheck(sys, func(_ *cobra.Command, o *CheckOptions) error { got = o; return nil })
	c.SetArgs([]string{"-v", "-o", "json", "--encrypt", "-R", "a", "-R", "b", "x.yaml", "y.json"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Verbose || got.Format != "json" || !got.Encrypt || !slices.Equal(got.Recursive, []string{"a", "b"}) || !slices.Equal(got.Files, []string{"x.yaml", "y.json"}) {
		t.Errorf("options: %+v", got)
	}
}
