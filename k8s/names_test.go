package k8s

import (
	"errors"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/internal/hint"
)

func TestNames(t *testing.T) {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	for _, c := range []struct {
		check func(string) error
		value string
		err   string // "" for valid
	}{
		// Secret keys: the ConfigMap key rule.
		{SecretKey, "password", ""},
		{SecretKey, "tls.crt", ""},
		{SecretKey, ".dockerconfigjson", ""},
		{SecretKey, "API_KEY-2", ""},
		{SecretKey, "a..b", ""},
		{SecretKey, "...x"[1:], `"..x" is not a valid key name for a Secret: it must not start with '..'`},
		{SecretKey, long(253, "k"), ""},
		{SecretKey, long(254, "k"), `"` + long(254, "k") + `" is not a valid key name for a Secret: it must be no more than 253 characters`},
		{SecretKey, "", `"" is not a valid key name for a Secret: it must consist of letters, digits, '-', '_' or '.'`},
		{SecretKey, ".", `"." is not a valid key name for a Secret: it must not be "."`},
		{SecretKey, "..", `".." is not a valid key name for a Secret: it must not be ".."`},
		{SecretKey, "api key!", `"api key!" is not a valid key name for a Secret: it must consist of letters, digits, '-', '_' or '.'`},
		{SecretKey, "a/b", `"a/b" is not a valid key name for a Secret: it must consist of letters, digits, '-', '_' or '.'`},
		{SecretKey, "clé", `"clé" is not a valid key name for a Secret: it must consist of letters, digits, '-', '_' or '.'`},
		{SecretKey, "{{ .Values.key }}", `"{{ .Values.key }}" is not a valid key name for a Secret: it looks like a Helm/Go template: encrypt the rendered manifest`},

		// Secret names: DNS-1123 subdomains.
		{SecretName, "db", ""},
		{SecretName, "db-1.example.com", ""},
		{SecretName, "0", ""},
		{SecretName, long(253, "a"), ""},
		{SecretName, long(254, "a"), `"` + long(254, "a") + `" is not a valid Secret name: it must be no more than 253 characters`},
		{SecretName, "Db", `"Db" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "-db", `"-db" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "db.", `"db." is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "a..b", `"a..b" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "a.-b", `"a.-b" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "db_1", `"db_1" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "", `"" is not a valid Secret name: it must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, long(254, "A"), `"` + long(254, "A") + `" is not a valid Secret name: it must be no more than 253 characters and must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit`},
		{SecretName, "{{ .Release.Name }}-db", `"{{ .Release.Name }}-db" is not a valid Secret name: it looks like a Helm/Go template: encrypt the rendered manifest`},

		// Namespaces: DNS-1123 labels.
		{Namespace, "prod-eu", ""},
		{Namespace, long(63, "n"), ""},
		{Namespace, long(64, "n"), `"` + long(64, "n") + `" is not a valid namespace name: it must be no more than 63 characters`},
		{Namespace, "a.b", `"a.b" is not a valid namespace name: it must consist of lower-case letters, digits and '-', and start and end with a letter or digit`},
		{Namespace, "Prod", `"Prod" is not a valid namespace name: it must consist of lower-case letters, digits and '-', and start and end with a letter or digit`},
		{Namespace, "prod-", `"prod-" is not a valid namespace name: it must consist of lower-case letters, digits and '-', and start and end with a letter or digit`},
		{Namespace, "{{ .Release.Namespace }}", `"{{ .Release.Namespace }}" is not a valid namespace name: it looks like a Helm/Go template: encrypt the rendered manifest`},
	} {
		err := c.check(c.value)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%.40q:\n got %q\nwant %q", c.value, got, c.err)
		}
		if err == nil {
			continue
		}
		var invalid *InvalidError
		if !errors.As(err, &invalid) || invalid.Value != c.value {
			t.Errorf("%.40q: not an *InvalidError for the value: %#v", c.value, err)
		}
		// A key's problems say what is allowed; names get the rule, and
		// templates say what to do instead.
		hints := hint.All(err)
		switch {
		case invalid.Template:
			if len(hints) != 1 || hints[0] != TemplateHint {
				t.Errorf("%.40q: hints %q, want the template hint", c.value, hints)
			}
		case invalid.What == "key name for a Secret":
			if len(hints) != 0 {
				t.Errorf("%.40q: hints %q, want none", c.value, hints)
			}
		case len(hints) != 1 || !strings.HasPrefix(hints[0], "a "):
			t.Errorf("%.40q: hints %q, want the rule", c.value, hints)
		}
	}
}
