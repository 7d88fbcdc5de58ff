// Package execsecret runs a program with a Secret's values: as environment
// variables (ksec exec-env) or as a private temporary file whose path
// replaces a placeholder in the command line (ksec exec-file), the way
// SOPS's exec-env and exec-file work.
package execsecret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/ksec-dev/ksec/internal/privdir"
	"github.com/ksec-dev/ksec/manifest"
)

// Placeholder in a command line stands for exec-file's file path.
const Placeholder = "{}"

// Value is one decrypted value of a Secret: its key and its raw bytes
// (data decoded from base64, stringData as written).
type Value struct {
	Key  string
	Data []byte
}

// ErrInvalidName marks a key that cannot be an environment variable name.
var ErrInvalidName = errors.New("not a valid environment variable name")

// ValidName reports whether key can be an environment variable name that
// every shell accepts: a letter or underscore, then letters, digits and
// underscores.
func ValidName(key string) bool {
	if key == "" {
		return false
	}
	for i, r := range key {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Environ returns base (KEY=value entries) with the values added: a value
// replaces a variable of base with the same name (the Secret wins). A key
// that is not a valid name is an error, or with skipInvalid left out and
// returned in skipped. A value holding a NUL byte cannot be passed.
func Environ(base []string, values []Value, skipInvalid bool) (env, skipped []string, err error) {
	set := map[string]bool{}
	var add []string
	for _, v := range values {
		if !ValidName(v.Key) {
			if skipInvalid {
				skipped = append(skipped, v.Key)
				continue
			}
			return nil, nil, fmt.Errorf("key %q: %w", v.Key, ErrInvalidName)
		}
		if bytes.IndexByte(v.Data, 0) >= 0 {
			return nil, nil, fmt.Errorf("key %q: the value holds a NUL byte, which an environment variable cannot", v.Key)
		}
		if set[v.Key] {
			return nil, nil, fmt.Errorf("key %q appears twice", v.Key)
		}
		set[v.Key] = true
		add = append(add, v.Key+"="+string(v.Data))
	}
	for _, e := range base {
		name, _, _ := strings.Cut(e, "=")
		if !set[name] {
			env = append(env, e)
		}
	}
	return append(env, add...), skipped, nil
}

// Command is a program to run.
type Command struct {
	Args   []string // the program and its arguments
	Env    []string // its whole environment
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ForwardInterrupt forwards SIGINT too. Leave it off when standard
	// input is a terminal: Ctrl-C reaches the child from the terminal
	// itself (same process group), and forwarding would deliver it twice.
	ForwardInterrupt bool
}

// ExitStatus is the child's exit status as a shell reports it: its exit
// code, or 128 plus the signal that ended it.
type ExitStatus int

// StartError means the program could not be started; Code is what a shell
// returns then (127 not found, 126 not executable).
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Run runs c, passing on the signals ksec receives, and returns the
// child's exit status once it has ended.
func Run(c Command) (ExitStatus, error) {
	if len(c.Args) == 0 {
		return 0, errors.New("no command to run")
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	if cmd.Err != nil {
		return 0, startError(c.Args[0], cmd.Err)
	}
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	sigs := make(chan os.Signal, 8)
	// Notify before Start: a signal in between would otherwise end ksec
	// and orphan the child (and leave exec-file's file).
	signal.Notify(sigs, append(slices.Clone(forwarded), os.Interrupt)...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, startError(c.Args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			if sig == os.Interrupt && !c.ForwardInterrupt {
				continue
			}
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				return 0, fmt.Errorf("run %s: %w", c.Args[0], err)
			}
			return status(cmd.ProcessState), nil
		}
	}
}

func status(ps *os.ProcessState) ExitStatus {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitStatus(128 + int(ws.Signal()))
	}
	return ExitStatus(ps.ExitCode())
}

func startError(name string, err error) error {
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		code = 127
	}
	return &StartError{Code: code, Err: fmt.Errorf("run %s: %w", name, err)}
}

// Substitute replaces the placeholder in every argument with path. The
// placeholder must appear at least once: a command that never names the
// file would run without it.
func Substitute(args []string, path string) ([]string, error) {
	out := make([]string, len(args))
	found := false
	for i, a := range args {
		if strings.Contains(a, Placeholder) {
			found = true
		}
		out[i] = strings.ReplaceAll(a, Placeholder, path)
	}
	if !found {
		return nil, fmt.Errorf("the command has no %s for the file's path", Placeholder)
	}
	return out, nil
}

// RunWithFile writes data to a file called name (mode 0600) in a private
// directory (0700, on a memory file system when there is one), runs c with
// the placeholder replaced by its path, and removes the directory when the
// child has ended, also when a signal ended it.
func RunWithFile(c Command, getenv func(string) string, name string, data []byte) (ExitStatus, error) {
	if _, err := Substitute(c.Args, ""); err != nil {
		return 0, err // before any plaintext is written
	}
	dir, err := privdir.Make(getenv, "ksec-exec-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return 0, fmt.Errorf("write the temporary file: %w", err)
	}
	if c.Args, err = Substitute(c.Args, path); err != nil {
		return 0, err
	}
	return Run(c)
}

// Values returns a decrypted Secret's values in document order: data
// decoded from base64, stringData as written. A key in both takes its
// stringData value, as the Kubernetes API server does.
func Values(s *manifest.Secret) ([]Value, error) {
	var out []Value
	index := map[string]int{}
	for _, v := range s.Values {
		var data []byte
		switch {
		case v.IsNull():
		case v.Field == "data":
			raw, err := base64.StdEncoding.DecodeString(v.Text)
			if err != nil {
				return nil, &manifest.Error{Secret: s, Value: v, Err: fmt.Errorf("%w: not valid base64", manifest.ErrBadInput)}
			}
			data = raw
		default:
			data = []byte(v.Text)
		}
		if i, ok := index[v.Key]; ok {
			if v.Field == "stringData" {
				out[i].Data = data
			}
			continue
		}
		index[v.Key] = len(out)
		out = append(out, Value{Key: v.Key, Data: data})
	}
	return out, nil
}
