package cmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// git's %O %A %B %P (and %L through --marker-size) reach the options.
func TestMergeDriverFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want MergeDriverOptions
		err  string
	}{
		{args: []string{"o", "a", "b", "db.enc.yaml"}, want: MergeDriverOptions{Base: "o", Ours: "a", Theirs: "b", Path: "db.enc.yaml", MarkerSize: 7}},
		{args: []string{"o", "a", "b"}, want: MergeDriverOptions{Base: "o", Ours: "a", Theirs: "b", Path: "a", MarkerSize: 7}},
		{args: []string{"--marker-size", "9", "-I", "k", "o", "a", "b", "p"}, want: MergeDriverOptions{Base: "o", Ours: "a", Theirs: "b", Path: "p", MarkerSize: 9, Identities: []string{"k"}}},
		{args: []string{"o", "a"}, err: "merge-driver takes BASE OURS THEIRS [PATH]"},
		{args: []string{"o", "a", "b", "p", "x"}, err: "merge-driver takes BASE OURS THEIRS [PATH]"},
		{args: []string{"--marker-size", "-1", "o", "a", "b"}, err: "--marker-size must be positive"},
	} {
		var got *MergeDriverOptions
		sys := &System{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		c := NewCmdMergeDriver(sys, func(_ *cobra.Command, o *MergeDriverOptions) error { got = o; return nil })
		c.SetArgs(tc.args)
		c.SetOut(&bytes.Buffer{})
		c.SetErr(&bytes.Buffer{})
		err := c.Execute()
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, "%v", tc.args)
			continue
		}
		require.NoError(t, err, "%v", tc.args)
		require.Equal(t, tc.want, *got)
	}
}
