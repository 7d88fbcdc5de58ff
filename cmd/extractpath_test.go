package cmd

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/hint"
)

func TestExtractPath(t *testing.T) {
	for _, c := range []struct {
		in, field, key string
		asWritten      bool
	}{
		{"data.tls.crt", "data", "tls.crt", false},
		{"stringData.token", "stringData", "token", false},
		{"password", "", "password", false},
		{"other.key", "", "other.key", false},
		{`["data"]["tls.crt"]`, "data", "tls.crt", true},
		{`["stringData"]["token"]`, "stringData", "token", true},
		{`[ "data" ]["a]b"]`, "data", "a]b", true},
		{`["data"]["q\"uote"]`, "data", `q"uote`, true},
	} {
		field, key, asWritten, err := extractPath(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, [2]string{c.field, c.key}, [2]string{field, key}, c.in)
		require.Equal(t, c.asWritten, asWritten, c.in)
	}
	for _, in := range []string{`["data"]`, `["metadata"]["name"]`, `["data"]["a"]["b"]`, `[data][a]`, `["data"]["a"`, `["data"] x`, `["data"][0]`, `["data"]["a\"]`} {
		_, _, _, err := extractPath(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), "the SOPS form is")
		require.Contains(t, hint.All(err)[0], "--extract data.KEY")
	}
}
