//go:build unix

package sops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeSOPS writes a shell script standing in for sops.
func fakeSOPS(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sops")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return p
}

func TestRunnerEnvironmentAndArguments(t *testing.T) {
	bin := fakeSOPS(t, `echo "args: $*"; cat; env | grep -E '^(SOPS_|KSEC_|MINE)' | sort`)
	r := &Runner{Path: bin, Env: []string{
		"PATH=/usr/bin:/bin",
		"KSEC_AGE_KEY=AGE-SECRET-KEY-1XYZ",
		"MINE=AGE-SECRET-KEY-1ABC", // key material under another name
		"SOPS_AGE_KEY=AGE-SECRET-KEY-1SOPS",
		"SOPS_AGE_KEY_FILE=/k.txt",
	}, MaxOutput: 1 << 20}
	out, err := r.Decrypt(t.Context(), []byte("in: put\n"), false)
	require.NoError(t, err)
	require.Equal(t, "args: decrypt --input-type yaml --output-type yaml\nin: put\n"+
		"SOPS_AGE_KEY=AGE-SECRET-KEY-1SOPS\nSOPS_AGE_KEY_FILE=/k.txt\nSOPS_DISABLE_VERSION_CHECK=1\n", string(out))
	out, err = r.Decrypt(t.Context(), []byte("{}"), true)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "args: decrypt --input-type json --output-type json\n{}"))
}

func TestRunnerBounds(t *testing.T) {
	r := &Runner{Path: fakeSOPS(t, `head -c 5000 /dev/zero`), MaxOutput: 1000, Env: []string{"PATH=/usr/bin:/bin"}}
	_, err := r.Decrypt(t.Context(), nil, false)
	require.ErrorContains(t, err, "sops wrote more than")

	r = &Runner{Path: fakeSOPS(t, `exec sleep 30`), Timeout: 200 * time.Millisecond, MaxOutput: 1000, Env: []string{"PATH=/usr/bin:/bin"}}
	start := time.Now()
	_, err = r.Decrypt(t.Context(), nil, false)
	require.ErrorContains(t, err, "sops did not finish within 200ms")
	require.Less(t, time.Since(start), 10*time.Second)

	r = &Runner{Path: fakeSOPS(t, `echo 'Group 0: FAILED' >&2; echo 'key AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ broke' >&2; exit 7`), MaxOutput: 1000, Env: []string{"PATH=/usr/bin:/bin"}}
	_, err = r.Decrypt(t.Context(), nil, false)
	require.EqualError(t, err, "sops could not decrypt the file (sops exit status 7: key … broke)")
}
