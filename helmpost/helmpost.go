// Package helmpost is ksec as a Helm post-renderer: Helm writes the
// rendered manifests of a release to its standard input, and it writes them
// back with every encrypted Secret decrypted exactly as ksec decrypt does;
// every other document passes through byte for byte.
//
// An encrypted Secret in a chart must have its name and namespace written
// literally: they are sealed into its values, and Helm renders templates
// ({{ .Release.Name }}, {{ .Release.Namespace }}) before a post-renderer
// sees them. A Secret whose rendered name differs from the sealed one does
// not verify; the error then says so.
package helmpost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// Decrypter decrypts every encrypted Secret of st in place
// (envelope.Decrypt).
type Decrypter func(ctx context.Context, st *manifest.Stream) error

// Options say how PostRender works.
type Options struct {
	// MaxSize is the most bytes read from Helm.
	MaxSize int64
	// Decrypter returns the function that decrypts, or an error. It is
	// called only when the release holds an encrypted Secret.
	Decrypter func() (Decrypter, error)
}

// HintTemplated is the advice for a Secret that does not verify in a
// release: the likely cause is a templated name or namespace.
const HintTemplated = "an encrypted Secret's name and namespace are sealed into its values: write them literally in the chart's template, " +
	"never {{ .Release.Name }}, {{ .Release.Namespace }} or {{ include ... }}, and install it where it was sealed for " +
	"(a Secret sealed without a namespace goes into the release's namespace)"

// PostRender reads Helm's rendered manifests from in and writes them to
// out with the encrypted Secrets decrypted. Nothing is written unless every
// Secret verifies.
func PostRender(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	src, err := io.ReadAll(io.LimitReader(in, opts.MaxSize+1))
	if err != nil {
		return fmt.Errorf("read the rendered manifests: %w", err)
	}
	if int64(len(src)) > opts.MaxSize {
		return fmt.Errorf("%w: the rendered manifests are larger than %d MiB, the most ksec reads", manifest.ErrBadInput, opts.MaxSize>>20)
	}
	if f := foreign.Detect(src); f != nil {
		return hint.Wrap(fmt.Errorf("%w: the chart holds a file ksec does not read: %s", manifest.ErrBadInput, f),
			"convert it to ksec (ksec encrypt), or use that tool's own Helm integration")
	}
	sources := templateSources(src)
	st, err := manifest.Parse(src)
	if err != nil {
		return withSource(err, sources)
	}
	encrypted := false
	for _, s := range st.Secrets {
		encrypted = encrypted || s.Meta != nil
	}
	if encrypted {
		decrypt, err := opts.Decrypter()
		if err != nil {
			return err
		}
		if err := decrypt(ctx, st); err != nil {
			if errors.Is(err, crypto.ErrIntegrity) || (errors.Is(err, keyring.ErrNoIdentity) && scopeBoundKey(err)) {
				err = hint.Wrap(err, HintTemplated)
			}
			return withSource(err, sources)
		}
	} else if err := st.CheckStrays(); err != nil {
		return withSource(err, sources)
	}
	_, err = out.Write(st.Bytes())
	return err
}

// scopeBoundKey reports whether the Secret err is about has a recipient
// whose wrapped key is bound to the Secret's namespace and name (a cloud
// KMS): for it, a renamed Secret fails to unwrap rather than to verify.
func scopeBoundKey(err error) bool {
	var me *manifest.Error
	if !errors.As(err, &me) || me.Secret == nil || me.Secret.Meta == nil {
		return false
	}
	for _, r := range me.Secret.Meta.Recipients {
		if r.Type == "aws" || r.Type == "gcp" {
			return true
		}
	}
	return false
}

// templateSources maps each document number, counted as manifest.Parse
// counts them, to the template Helm rendered it from: Helm puts
// "# Source: CHART/templates/FILE" above each document.
func templateSources(src []byte) map[int]string {
	out := map[int]string{}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for doc := 1; ; doc++ {
		var root yaml.Node
		if err := dec.Decode(&root); err != nil {
			return out
		}
		comments := root.HeadComment
		if len(root.Content) > 0 {
			n := root.Content[0]
			comments += "\n" + n.HeadComment
			if len(n.Content) > 0 { // a comment above a mapping's first key
				comments += "\n" + n.Content[0].HeadComment
			}
		}
		for _, line := range strings.Split(comments, "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
				out[doc] = strings.TrimSpace(s)
				break
			}
		}
	}
}

// withSource puts the template's name in front of an error about one
// document.
func withSource(err error, sources map[int]string) error {
	var me *manifest.Error
	if !errors.As(err, &me) {
		return err
	}
	doc := me.Doc
	if me.Secret != nil {
		doc = me.Secret.Doc
	}
	if s, ok := sources[doc]; ok {
		return &sourced{source: s, err: err}
	}
	return err
}

type sourced struct {
	source string
	err    error
}

func (s *sourced) Error() string { return s.source + ": " + s.err.Error() }
func (s *sourced) Unwrap() error { return s.err }
