package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/internal/hint"
)

const ageA = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// tree makes files (slash paths relative to a fresh directory, which holds
// .git so no configuration above it can interfere) and returns the root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files[".git/HEAD"] = "ref: refs/heads/main\n"
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root
}

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(src), filepath.Join(t.TempDir(), config.FileName))
	require.NoError(t, err)
	return c
}

func TestFind(t *testing.T) {
	root := tree(t, map[string]string{
		".ksec.yaml":           "rules:\n  - keys: [age:top]\n",
		"apps/.ksec.yaml":      "rules:\n  - path: 'db/*.yaml'\n    keys: [age:apps]\n",
		"apps/db/secret.yaml":  "",
		"other/x/secret.yaml":  "",
		"elsewhere/readme.txt": "",
	})

	t.Run("from another working directory", func(t *testing.T) {
		// The config is looked up from the target's directory, not the cwd.
		t.Chdir(filepath.Join(root, "elsewhere"))
		c, err := config.Find(filepath.Join("..", "apps", "db", "secret.yaml"))
		require.NoError(t, err)
		require.NotNil(t, c)
		require.Equal(t, filepath.Join(root, "apps", config.FileName), c.Path())
		keys, ok := c.KeysFor(filepath.Join("..", "apps", "db", "secret.yaml"), "")
		require.True(t, ok)
		require.Equal(t, []string{"age:apps"}, keys)
	})
	t.Run("nearest wins even when it does not match", func(t *testing.T) {
		c, err := config.Find(filepath.Join(root, "apps", "web.yaml"))
		require.NoError(t, err)
		require.Equal(t, filepath.Join(root, "apps", config.FileName), c.Path())
		_, ok := c.KeysFor(filepath.Join(root, "apps", "web.yaml"), "")
		require.False(t, ok)
	})
	t.Run("walks up", func(t *testing.T) {
		c, err := config.Find(filepath.Join(root, "other", "x", "secret.yaml"))
		require.NoError(t, err)
		require.Equal(t, filepath.Join(root, config.FileName), c.Path())
	})
	t.Run("target need not exist", func(t *testing.T) {
		c, err := config.Find(filepath.Join(root, "other", "new", "deeper", "s.yaml"))
		require.NoError(t, err)
		require.Equal(t, filepath.Join(root, config.FileName), c.Path())
	})
	t.Run("relative target from the working directory", func(t *testing.T) {
		t.Chdir(filepath.Join(root, "apps", "db"))
		c, err := config.Find("secret.yaml")
		require.NoError(t, err)
		require.Equal(t, filepath.Join(root, "apps", config.FileName), c.Path())
		keys, ok := c.KeysFor("secret.yaml", "")
		require.True(t, ok)
		require.Equal(t, []string{"age:apps"}, keys)
	})
}

func TestFindStopsAtRepositoryRoot(t *testing.T) {
	outer := tree(t, map[string]string{".ksec.yaml": "rules:\n  - keys: [age:outer]\n"})
	// A nested repository (a .git file, as in a submodule or worktree) with no config.
	inner := filepath.Join(outer, "sub")
	require.NoError(t, os.MkdirAll(filepath.Join(inner, "deep"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(inner, ".git"), []byte("gitdir: ../.git/modules/sub\n"), 0o644))
	c, err := config.Find(filepath.Join(inner, "deep", "s.yaml"))
	require.NoError(t, err)
	require.Nil(t, c)
	// A config in the repository root itself is found.
	require.NoError(t, os.WriteFile(filepath.Join(inner, config.FileName), []byte("rules: []\n"), 0o644))
	c, err = config.Find(filepath.Join(inner, "deep", "s.yaml"))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(inner, config.FileName), c.Path())
}

func TestFindErrors(t *testing.T) {
	root := tree(t, map[string]string{
		"bad/.ksec.yaml":      "rules:\n  - path: x\n",
		"dir/.ksec.yaml/keep": "",
	})
	_, err := config.Find(filepath.Join(root, "bad", "s.yaml"))
	require.ErrorIs(t, err, config.ErrInvalid)
	require.EqualError(t, err, filepath.Join(root, "bad", config.FileName)+":2: rule 1 has no keys")

	_, err = config.Find(filepath.Join(root, "dir", "s.yaml"))
	require.ErrorIs(t, err, config.ErrInvalid)
	require.EqualError(t, err, filepath.Join(root, "dir", config.FileName)+": is a directory, not a file")

	_, err = config.Load(filepath.Join(root, "none.yaml"))
	require.ErrorContains(t, err, "read configuration: open "+filepath.Join(root, "none.yaml"))
	require.NotErrorIs(t, err, config.ErrInvalid)
}

func TestMatch(t *testing.T) {
	c := parse(t, `
rules:
  - path: "prod/**/*.yaml"
    namespace: "prod-*"
    keys: [age:prod-ns]
  - path: "prod/**/*.yaml"
    keys: [age:prod]
  - path_regex: '^staging/.*\.ya?ml$'
    keys: [age:staging]
  - path_regex: '\.enc\.json$'
    keys: [age:json]
  - path: "ci/?.yaml"
    keys: [age:ci]
  - path: "[ab]*/secret.yaml"
    keys: [age:ab]
  - namespace: kube-system
    keys: [age:kube-system]
  - path: "*.yaml"
    keys: [age:top]
`)
	dir := filepath.Dir(c.Path())
	tests := []struct {
		path, namespace, want string
	}{
		{"prod/db.yaml", "prod-eu", "age:prod-ns"}, // ** matches no directory at all
		{"prod/eu/west/db.yaml", "prod-eu", "age:prod-ns"},
		{"prod/eu/db.yaml", "", "age:prod"}, // no namespace: the namespace rule does not match
		{"prod/eu/db.yaml", "staging", "age:prod"},
		{"prod/eu/db.json", "prod-eu", ""},
		{"staging/a/b.yml", "", "age:staging"},
		{"x/staging/b.yaml", "", ""}, // anchored regex
		{"deep/down/s.enc.json", "", "age:json"},
		{"ci/a.yaml", "", "age:ci"},
		{"ci/ab.yaml", "", ""},
		{"apps/secret.yaml", "", "age:ab"},
		{"cats/secret.yaml", "", ""},
		{"any/where.json", "kube-system", "age:kube-system"}, // a rule with no path matches every file
		{"top.yaml", "", "age:top"},
		{"sub/top.yaml", "", ""}, // * stays within one directory
		{".hidden.yaml", "", "age:top"},
	}
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.namespace, func(t *testing.T) {
			keys, ok := c.KeysFor(filepath.Join(dir, filepath.FromSlash(tc.path)), tc.namespace)
			if tc.want == "" {
				require.False(t, ok, "matched %v", keys)
				return
			}
			require.True(t, ok)
			require.Equal(t, []string{tc.want}, keys)
			r, _ := c.Match(filepath.Join(dir, filepath.FromSlash(tc.path)), tc.namespace)
			require.Equal(t, tc.want, r.Keys[0].Spec)
		})
	}
	t.Run("outside the config's directory", func(t *testing.T) {
		_, ok := c.KeysFor(filepath.Join(dir, "..", "top.yaml"), "")
		require.False(t, ok)
		_, ok = c.KeysFor(dir, "kube-system")
		require.False(t, ok)
	})
}

func TestRules(t *testing.T) {
	c := parse(t, `# team config
rules:
  - path: "a/**"
    keys:
      - &alice `+ageA+`
      - pgp:0123456789abcdef0123456789ABCDEF01234567
      - aws:arn:aws:kms:eu-west-2:111122223333:alias/testing
  - path: b/*
    keys: "age:x, age:y"
  - path: c/*
    keys: [*alice, pgp:keys/bob.asc, gcp:projects/p/locations/l/keyRings/r/cryptoKeys/k]
`)
	dir := filepath.Dir(c.Path())
	require.Len(t, c.Rules, 3)
	r := c.Rules[0]
	require.Equal(t, 3, r.Line)
	require.Equal(t, "a/**", r.Path)
	require.Equal(t, []config.Key{
		{Spec: ageA, Line: 5},
		{Spec: "pgp:0123456789abcdef0123456789ABCDEF01234567", Line: 6},
		{Spec: "aws:arn:aws:kms:eu-west-2:111122223333:alias/testing", Line: 7},
	}, r.Keys)
	require.Equal(t, []string{"age:x", "age:y"}, c.Rules[1].Specs())
	// Key files are relative to the config file, not the working directory.
	require.Equal(t, []string{ageA, "pgp:" + filepath.Join(dir, "keys", "bob.asc"), "gcp:projects/p/locations/l/keyRings/r/cryptoKeys/k"}, c.Rules[2].Specs())
	require.Equal(t, filepath.Join(dir, config.FileName)+":11", c.Where(11))
}

func TestBareKeyFileRelativeToConfig(t *testing.T) {
	root := tree(t, map[string]string{
		".ksec.yaml":     "rules:\n  - keys: [keys/alice.asc, /abs/carol.asc, pgp:/abs/dave.asc]\n",
		"keys/alice.asc": "not read here",
	})
	t.Chdir(t.TempDir())
	c, err := config.Find(filepath.Join(root, "s.yaml"))
	require.NoError(t, err)
	require.Equal(t, []string{"pgp:" + filepath.Join(root, "keys", "alice.asc"), "/abs/carol.asc", "pgp:/abs/dave.asc"}, c.Rules[0].Specs())
}

func TestEmpty(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n", "---\n", "rules:\n", "rules: []\n"} {
		c := parse(t, src)
		require.Empty(t, c.Rules, "%q", src)
		_, ok := c.KeysFor(filepath.Join(filepath.Dir(c.Path()), "s.yaml"), "")
		require.False(t, ok)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // after "PATH:"
		hint      string // a substring of one hint, "" for none
	}{
		{"unknown top-level field", "rules: []\nkeys: [age:x]\n", `2: the file: unknown field "keys" (known: rules)`, "docs/CONFIG.md"},
		{"sops file", "creation_rules:\n  - age: x\n", `1: the file: unknown field "creation_rules" (known: rules)`, "not creation_rules"},
		{"unknown rule field", "rules:\n  - path: x\n    keys: [age:x]\n    pth: y\n", `4: rule 1: unknown field "pth" (known: path, path_regex, namespace, keys)`, "docs/CONFIG.md"},
		{"sops key field", "rules:\n  - path: x\n    keys: [age:x]\n  - path: y\n    age: age1x\n", `5: rule 2: unknown field "age" (known: path, path_regex, namespace, keys)`, "keys: [age:age1…"},
		{"no keys", "rules:\n  - keys: [a]\n  - path: x\n", `3: rule 2 has no keys`, "keys: [age:age1…]"},
		{"empty keys", "rules:\n  - path: x\n    keys: []\n", `3: rule 1 has no keys`, "keys: [age:age1…]"},
		{"null keys", "rules:\n  - path: x\n    keys:\n", `3: rule 1 has no keys`, "keys: [age:age1…]"},
		{"empty key", "rules:\n  - keys: ['age:x,,age:y']\n", `2: rule 1: empty key spec`, ""},
		{"path and path_regex", "rules:\n  - path: x\n    path_regex: y\n    keys: [a]\n", `3: rule 1: give path or path_regex, not both`, ""},
		{"bad glob", "rules:\n  - path: 'prod/[a'\n    keys: [a]\n", `2: rule 1: path "prod/[a": malformed pattern (check [ ] brackets and \ escapes)`, ""},
		{"glob **x", "rules:\n  - path: 'prod/**.yaml'\n    keys: [a]\n", `2: rule 1: path "prod/**.yaml": '**' must be a whole path segment, as in prod/**/*.yaml`, ""},
		{"absolute glob", "rules:\n  - path: /etc/*\n    keys: [a]\n", `2: rule 1: path "/etc/*": the pattern must be relative to the directory of the configuration file, not start with /`, ""},
		{"dotdot glob", "rules:\n  - path: ../x/*\n    keys: [a]\n", `2: rule 1: path "../x/*": '.' and '..' segments are not allowed: patterns match below the directory of the configuration file`, ""},
		{"trailing slash", "rules:\n  - path: prod/\n    keys: [a]\n", `2: rule 1: path "prod/": empty path segment (// or a trailing /); to match everything under a directory write DIR/**`, ""},
		{"empty path", "rules:\n  - path: ''\n    keys: [a]\n", `2: rule 1: path is empty (leave the field out to match everything)`, ""},
		{"bad regex", "rules:\n  - keys: [a]\n    path_regex: 'a(b'\n", "3: rule 1: path_regex: error parsing regexp: missing closing ): `a(b`", ""},
		{"bad namespace", "rules:\n  - namespace: 'a[b'\n    keys: [a]\n", `2: rule 1: namespace "a[b": malformed pattern`, ""},
		{"rules is a mapping", "rules:\n  path: x\n", `2: rules must be a list, found a mapping`, "docs/CONFIG.md"},
		{"rule is a string", "rules:\n  - prod/*\n", `2: rule 1: want a mapping (path:, keys:, …), found a single value`, "docs/CONFIG.md"},
		{"keys is a mapping", "rules:\n  - keys:\n      age: x\n", `3: rule 1: keys must be a list of key specs, found a mapping`, "keys: [age:age1…"},
		{"key is a list", "rules:\n  - keys:\n      - [a, b]\n", `3: rule 1: a key must be a string, found a list`, "keys: [age:age1…"},
		{"path is a list", "rules:\n  - path: [a, b]\n    keys: [a]\n", `2: rule 1: path must be a string, found a list`, "docs/CONFIG.md"},
		{"namespace is null", "rules:\n  - namespace:\n    keys: [a]\n", `2: rule 1: namespace must be a string, found nothing (null)`, "docs/CONFIG.md"},
		{"root is a list", "- path: x\n", `1: want a mapping with a rules: list, found a list`, "docs/CONFIG.md"},
		{"duplicate field", "rules:\n  - path: x\n    keys: [a]\n    path: y\n", `4: rule 1: field "path" given twice (first on line 2)`, ""},
		{"two documents", "rules: []\n---\nrules: []\n", `2: a second YAML document: a configuration file holds one`, ""},
		{"yaml syntax", "rules:\n  - path: x\n    keys: a: b\n", `3: not valid YAML: mapping values are not allowed in this context`, ""},
		{"secret key", "rules:\n  - keys:\n      - age:x\n      - AGE-SECRET-KEY-1QQQQQQQQQQ\n", `4: rule 1: a secret key is written here (not shown)`, "treat it as leaked"},
		{"secret key as a field", "AGE-SECRET-KEY-1QQQ: x\n", `1: the file: unknown field (a secret key, not shown) (known: rules)`, "docs/CONFIG.md"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), config.FileName)
			_, err := config.Parse([]byte(tc.src), path)
			require.ErrorIs(t, err, config.ErrInvalid)
			require.EqualError(t, err, path+":"+tc.want)
			require.NotContains(t, err.Error(), "QQQ")
			hints := hint.All(err)
			if tc.hint == "" {
				require.Empty(t, hints)
				return
			}
			require.True(t, strings.Contains(strings.Join(hints, "\n"), tc.hint), "hints %q lack %q", hints, tc.hint)
		})
	}
}
