package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// ErrTemplate marks input that is a Helm or Go template, not a manifest.
var ErrTemplate = errors.New("looks like a Helm/Go template ({{ … }}); ksec encrypts rendered manifests")

const hintTemplate = "render the template first and encrypt the result: helm template RELEASE CHART | ksec encrypt -k KEY -; " +
	"or keep the Secret as a plain manifest next to the chart"

// explainTemplate turns a bad-input error about a stream that holds
// template actions ({{ … }}) into one that says so and names the line of
// the template nearest before the error (the one that broke parsing, as a
// rule). Other errors, and streams without templates, are returned as they are.
func explainTemplate(src []byte, err error) error {
	if !errors.Is(err, ErrBadInput) {
		return err
	}
	lines := templateLines(src)
	if len(lines) == 0 {
		return err
	}
	at := errorLine(err)
	line := lines[0]
	for _, l := range lines {
		if at > 0 && l <= at {
			line = l
		}
	}
	e := &Error{Line: line, Err: fmt.Errorf("%w: %w (the YAML reader says: %s)", ErrBadInput, ErrTemplate, innerText(err))}
	var me *Error
	if errors.As(err, &me) {
		e.Doc = me.Doc
		if me.Secret != nil {
			e.Doc = me.Secret.Doc
		}
	}
	return hint.Wrap(e, hintTemplate)
}

// templateLines returns the 1-based lines that hold "{{" before a later
// "}}", outside comment lines.
func templateLines(src []byte) []int {
	var out []int
	n := 0
	for line := range bytes.Lines(src) {
		n++
		t := bytes.TrimSpace(line)
		if bytes.HasPrefix(t, []byte("#")) {
			continue
		}
		if i := bytes.Index(t, []byte("{{")); i >= 0 && bytes.Contains(t[i:], []byte("}}")) {
			out = append(out, n)
		}
	}
	return out
}

// errorLine is the line a manifest error points at, or 0.
func errorLine(err error) int {
	var e *Error
	if !errors.As(err, &e) {
		return 0
	}
	switch {
	case e.Value != nil:
		return e.Value.Line
	case e.Line > 0:
		return e.Line
	}
	return yamlErrorLine(e.Err.Error())
}

// innerText is what an error says without ksec's "bad input: " marker.
func innerText(err error) string {
	var e *Error
	msg := err.Error()
	if errors.As(err, &e) {
		msg = e.Err.Error()
		if e.Value != nil {
			msg = e.Value.String() + ": " + msg
		}
	}
	msg = strings.Replace(msg, ErrBadInput.Error()+": ", "", 1)
	return strings.TrimPrefix(msg, "invalid YAML: ")
}
