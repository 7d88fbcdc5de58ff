package manifest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/internal/hint"
)

// Parser errors name the 1-based line of the mistake (go.yaml.in/yaml/v3
// gives parser errors 0-based lines, and none on the first line); scanner
// errors were right and stay so.
func TestYAMLErrorLines(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"a: 1\nb: [unclosed\n", "document 1: bad input: invalid YAML: line 2: did not find expected ',' or ']'"},
		{"a: 1\nb: {x: 1\nc: 2\n", "document 1: bad input: invalid YAML: line 2: did not find expected ',' or '}'"},
		{"a:\n  b: 1\n c: 2\n", "document 1: bad input: invalid YAML: line 3: did not find expected key"},
		{"a: 1\nb:\n  - x\n y: 2\n", "document 1: bad input: invalid YAML: line 4: did not find expected key"},
		{"a: 1\n- x\n", "document 1: bad input: invalid YAML: line 2: did not find expected key"},
		{"- x\na: 1\n", "document 1: bad input: invalid YAML: line 2: did not find expected '-' indicator"},
		{"a: 1\n---\nb: 1\nc: [\n", "document 2: bad input: invalid YAML: line 4: did not find expected node content"},
		{"[\n", "document 1: bad input: invalid YAML: line 1: did not find expected node content"},
		{"a: 'x\n", "document 1: bad input: invalid YAML: line 1: found unexpected end of stream"},
		{"- a\n]\n", "document 1: bad input: invalid YAML: line 2: did not find expected '-' indicator"},
		// Scanner errors.
		{"a: 1\n  b: 2\n", "document 1: bad input: invalid YAML: line 2: mapping values are not allowed in this context"},
		{"a: 1\nb: 'unterminated\nc: 2\n", "document 1: bad input: invalid YAML: line 2: found unexpected end of stream"},
		{"a: 1\n\tb: 2\n", "document 1: bad input: invalid YAML: line 2: found a tab character that violates indentation"},
		{"a: 1\nb: @x\n", "document 1: bad input: invalid YAML: line 2: found character that cannot start any token"},
	} {
		_, err := Parse([]byte(c.src))
		require.EqualError(t, err, c.want, "%q", c.src)
		require.ErrorIs(t, err, ErrBadInput)
	}
}

// A Helm template fails with an error that says so, on the template's line,
// with the next step as a hint.
func TestTemplateErrors(t *testing.T) {
	const head = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n"
	for _, c := range []struct{ src, want string }{
		{head + "data:\n  a: {{ .Values.a | b64enc }}\n",
			"document 1: line 6: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: data.a (line 6): value is a mapping, want a string)"},
		{head + "  labels:\n    {{- include \"x.labels\" . | nindent 4 }}\ndata:\n  a: YQ==\n",
			"document 1: line 6: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: line 6: did not find expected node content)"},
		{"{{- if .Values.on }}\n" + head + "stringData:\n  a: b\n{{- end }}\n",
			"document 1: line 1: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: line 1: did not find expected node content)"},
		{head + "stringData:\n  # {{ not a template: a comment }}\n{{- range $k, $v := .Values.x }}\n  {{ $k }}: {{ $v }}\n{{- end }}\n",
			"document 1: line 7: bad input: looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests (the YAML reader says: line 7: could not find expected ':')"},
	} {
		_, err := Parse([]byte(c.src))
		require.EqualError(t, err, c.want, "%q", c.src)
		require.ErrorIs(t, err, ErrBadInput)
		require.ErrorIs(t, err, ErrTemplate)
		require.Equal(t, []string{hintTemplate}, hint.All(err))
	}
	// Without a template, the error stays the parser's.
	_, err := Parse([]byte(head + "data:\n  a: {b: c}\n"))
	require.False(t, errors.Is(err, ErrTemplate))
	require.EqualError(t, err, "document 1 (Secret x): data.a (line 6): bad input: value is a mapping, want a string")
}
