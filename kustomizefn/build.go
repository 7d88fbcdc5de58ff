package kustomizefn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// BuildFlags are the two flags kustomize build needs to run the generator.
// With the first alone kustomize skips an exec function silently: the build
// succeeds and the Secret is simply missing.
var BuildFlags = []string{"--enable-alpha-plugins", "--enable-exec"}

// BuildOptions say how Build runs kustomize.
type BuildOptions struct {
	Kustomize string   // the kustomize program
	Args      []string // more arguments for kustomize build
	Env       []string // the environment of kustomize and so of the generator
	Stderr    io.Writer
	MaxSize   int64 // the most bytes of output accepted
}

// ErrVerify marks a build output that fails Verify.
var ErrVerify = errors.New("the build output is not what the kustomization's " + Kind + "s generate")

// Build runs kustomize build with both flags on dir, verifies the output
// (see Verify) and returns it. Nothing is returned unless it verifies.
func Build(ctx context.Context, dir string, opts BuildOptions) ([]byte, error) {
	expected, err := Walk(dir, opts.MaxSize)
	if err != nil {
		return nil, err
	}
	args := append([]string{"build"}, BuildFlags...)
	args = append(append(args, opts.Args...), dir)
	c := exec.CommandContext(ctx, opts.Kustomize, args...)
	c.Env = opts.Env
	c.Stderr = opts.Stderr
	var out limitedBuffer
	out.max = opts.MaxSize
	c.Stdout = &out
	if err := c.Run(); err != nil {
		if out.over {
			return nil, fmt.Errorf("%w: kustomize build wrote more than %d MiB", manifest.ErrBadInput, opts.MaxSize>>20)
		}
		return nil, fmt.Errorf("%s %s: %w", opts.Kustomize, strings.Join(args, " "), err)
	}
	if err := VerifyError(out.Bytes(), expected); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// VerifyError is Verify as one error listing every problem, or nil.
func VerifyError(output []byte, expected []Expected) error {
	problems, err := Verify(output, expected)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Message
	}
	return hint.Wrap(fmt.Errorf("%w: %w: %s", manifest.ErrBadInput, ErrVerify, strings.Join(msgs, "; ")),
		"run kustomize build with both "+strings.Join(BuildFlags, " ")+", or use ksec kustomize build DIR, which passes them")
}

// limitedBuffer keeps at most max bytes and fails the write past them, so
// a runaway kustomize cannot fill memory.
type limitedBuffer struct {
	bytes.Buffer
	max  int64
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len()+len(p)) > b.max {
		b.over = true
		return 0, errors.New("output too large")
	}
	return b.Buffer.Write(p)
}

// OneLine folds err's hints into its message, so that the error takes one
// line on standard error, which kustomize and Argo CD show as it is; the
// error still answers errors.Is and errors.As as err does (exit codes).
func OneLine(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if hs := hint.All(err); len(hs) > 0 {
		msg += " (hint: " + strings.Join(hs, "; ") + ")"
	}
	return &oneLine{msg: strings.Join(strings.Fields(msg), " "), err: err}
}

type oneLine struct {
	msg string
	err error
}

func (o *oneLine) Error() string { return o.msg }

// No Unwrap: hint.All must not find the hints again.
func (o *oneLine) Is(target error) bool { return errors.Is(o.err, target) }
func (o *oneLine) As(target any) bool   { return errors.As(o.err, target) }
