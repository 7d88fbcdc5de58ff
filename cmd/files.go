package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// MaxInputSize is the largest manifest ksec reads or writes, 16 MiB. A
// Kubernetes Secret holds at most 1 MiB, so real files stay far below it;
// the limit keeps a hostile or mistaken input (a huge or endless stream)
// from costing unbounded time and memory: parsing YAML costs up to ~100
// bytes of memory per input byte for dense documents.
const MaxInputSize = 16 << 20

// readManifest reads at most MaxInputSize bytes from r, refusing more.
func readManifest(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(data) > MaxInputSize {
		return nil, errTooLarge(name)
	}
	return data, nil
}

// readManifestFile reads a manifest file, refusing one larger than
// MaxInputSize before reading it.
func readManifestFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxInputSize {
		return nil, errTooLarge(name)
	}
	return readManifest(f, name)
}

func errTooLarge(name string) error {
	return hint.Wrap(fmt.Errorf("%w: %s is larger than %d MiB, the most ksec reads", manifest.ErrBadInput, name, MaxInputSize>>20),
		"a Kubernetes Secret holds at most 1 MiB: split the stream into several files")
}

// parseFile reads and parses one manifest file.
func parseFile(name string) (*manifest.Stream, error) {
	src, err := readManifestFile(name)
	if err != nil {
		return nil, err
	}
	return manifest.Parse(src)
}

// ioOptions are the input and output flags every transforming command shares.
type ioOptions struct {
	Input   string // file name, or "" / "-" for stdin
	InPlace bool
	Output  string
}

func (o *ioOptions) validate(sys *System) error {
	stdin := o.Input == "" || o.Input == "-"
	switch {
	case o.InPlace && o.Output != "":
		return usagef("-i/--in-place and -o/--output cannot be used together")
	case o.InPlace && stdin:
		return usagef("-i/--in-place needs a FILE argument, not standard input")
	case stdin && o.Input == "" && sys.StdinIsTerminal():
		return usagef("no input: give a FILE, or '-' to read standard input")
	}
	return nil
}

func (o *ioOptions) inputName() string {
	if o.Input == "" || o.Input == "-" {
		return "standard input"
	}
	return o.Input
}

func (o *ioOptions) read(sys *System) ([]byte, error) {
	if o.Input == "" || o.Input == "-" {
		return readManifest(sys.In, o.inputName())
	}
	return readManifestFile(o.Input)
}

// parse reads the input and parses it.
func (o *ioOptions) parse(sys *System) (*manifest.Stream, error) {
	src, err := o.read(sys)
	if err != nil {
		return nil, err
	}
	return manifest.Parse(src)
}

// write sends out to stdout, or replaces the target file atomically. With
// unchanged set, an in-place target is left alone (same bytes, same mtime).
func (o *ioOptions) write(sys *System, out []byte, unchanged bool) error {
	target := o.Output
	if o.InPlace {
		if unchanged {
			return nil
		}
		target = o.Input
	}
	if len(out) > MaxInputSize {
		// Never write what ksec would refuse to read back.
		return hint.Wrap(fmt.Errorf("%w: the result would be %d MiB, more than the %d MiB ksec reads; nothing was written",
			manifest.ErrBadInput, len(out)>>20, MaxInputSize>>20),
			"encrypted values take more room than plaintext: split the stream into several files")
	}
	if target == "" || target == "-" {
		_, err := sys.Out.Write(out)
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := writeFileAtomic(target, out, mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Clean(target), err)
	}
	warnLeftovers(sys, target)
	return nil
}

// warnLeftovers points at temporary files an earlier write of target left
// when it was killed (".NAME" and digits, next to it): after a decrypt they
// may hold plaintext. ksec does not delete them: the name could be a user's.
func warnLeftovers(sys *System, target string) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), "."+base)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		// A concurrent ksec may be writing it right now.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Minute {
			continue
		}
		fmt.Fprintf(sys.Err, "ksec: warning: %s looks like the temporary file of an interrupted ksec write; it may hold plaintext: check it and delete it\n",
			filepath.Join(dir, e.Name()))
	}
}

// fileError names the file an error is about when a command takes several.
func fileError(file string, err error) error {
	return fmt.Errorf("%s: %w", file, err)
}
