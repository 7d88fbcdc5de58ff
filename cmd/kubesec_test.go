package cmd

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestKubesecHabits: kubesec's aliases and flag forms parse into ksec's
// options.
func TestKubesecHabits(t *testing.T) {
	run := func(t *testing.T, args ...string) any {
		t.Helper()
		var got any
		sys := &System{Getenv: func(string) string { return "" }}
		root := &cobra.Command{Use: "ksec", SilenceErrors: true, SilenceUsage: true}
		root.AddCommand(
			NewCmdCreate(sys, func(_ *cobra.Command, o *CreateOptions) error { got = o; return nil }),
			NewCmdPatch(sys, func(_ *cobra.Command, o *PatchOptions) error { got = o; return nil }),
			NewCmdEncrypt(sys, func(_ *cobra.Command, o *EncryptOptions) error { got = o; return nil }),
			NewCmdDecrypt(sys, func(_ *cobra.Command, o *DecryptOptions) error { got = o; return nil }),
			NewCmdEdit(sys, func(_ *cobra.Command, o *EditOptions) error { got = o; return nil }),
			NewCmdInspect(sys, func(_ *cobra.Command, o *InspectOptions) error { got = o; return nil }),
		)
		root.SetArgs(args)
		root.SetOut(new(bytes.Buffer))
		root.SetErr(new(bytes.Buffer))
		require.NoError(t, root.Execute())
		return got
	}

	c := run(t, "c", "db", "-d", "user=admin", "-d", "file:dir/pw.txt", "--data", "file:key=pw.txt", "-l", "app=web", "-a", "note=x=y", "-k", "K").(*CreateOptions)
	require.Equal(t, []string{"user=admin"}, c.Literals)
	require.Equal(t, []string{"pw.txt=dir/pw.txt", "key=pw.txt"}, c.Files)
	require.Equal(t, []string{"app=web"}, c.Labels)
	require.Equal(t, []string{"note=x=y"}, c.Annotations)

	p := run(t, "p", "-i", "s.yaml", "-d", "a=b", "-d", "file:c=path").(*PatchOptions)
	require.Equal(t, []string{"a=b"}, p.Set)
	require.Equal(t, []string{"c=path"}, p.SetFile)

	e := run(t, "e", "-p", "old.yaml", "-o", "new.yaml", "plain.yaml").(*EncryptOptions)
	require.Equal(t, "old.yaml", e.Parent)
	require.False(t, e.AllowNoMAC)
	e = run(t, "e", "-i", "--allow-no-mac", "a.yaml", "b.yaml").(*EncryptOptions)
	require.True(t, e.AllowNoMAC)

	d := run(t, "d", "s.yaml", "--cleartext", "--template={{ .data.KEY }}").(*DecryptOptions)
	require.True(t, d.Cleartext)
	require.Equal(t, "{{ .data.KEY }}", d.Template)

	ed := run(t, "ee", "-i", "-f", "-r", "--allow-no-mac", "s.yaml").(*EditOptions)
	require.True(t, ed.Rotate)
	require.True(t, ed.AllowNoMAC)
	require.Equal(t, "s.yaml", ed.File)

	require.IsType(t, &InspectOptions{}, run(t, "i", "s.yaml"))
	require.IsType(t, &InspectOptions{}, run(t, "introspect", "s.yaml"))
}

func TestKeyValues(t *testing.T) {
	m, err := keyValues("--label", []string{"a=b", "c=d=e", "e="})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "b", "c": "d=e", "e": ""}, m)
	_, err = keyValues("--label", []string{"novalue"})
	require.EqualError(t, err, `--label "novalue": want KEY=VALUE`)
	_, err = keyValues("--annotation", []string{"a=1", "a=2"})
	require.EqualError(t, err, `--annotation: key "a" is given twice`)
}
