package cmd

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/hint"
)

func TestExtractPath(t *testing.T) {
	for _, c := range []struct{ in, field, key string }{
		{"data.tls.crt", "data", "tls.crt"},
		{"stringData.token", "stringData", "token"},
		{"password", "", "password"},
		{"other.key", "", "other.key"},
		{`["data"]["tls.crt"]`, "data", "tls.crt"},
		{`["stringData"]["token"]`, "stringData", "token"},
		{`[ "data" ]["a]b"]`, "data", "a]b"},
		{`["data"]["q\"uote"]`, "data", `q"uote`},
	} {
		field, key, err := extractPath(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, [2]string{c.field, c.key}, [2]string{field, key}, c.in)
	}
	for _, in := range []string{`["data"]`, `["metadata"]["name"]`, `["data"]["a"]["b"]`, `[data][a]`, `["data"]["a"`, `["data"] x`, `["data"][0]`, `["data"]["a\"]`} {
		_, _, err := extractPath(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), "the SOPS form is")
		require.Contains(t, hint.All(err)[0], "--extract data.KEY")
	}
}
