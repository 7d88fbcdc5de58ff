package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
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
	data, _, err := readManifestFileSnap(name)
	return data, err
}

// readManifestFileSnap reads a manifest file and remembers what it read, so
// a write back can tell whether the file changed meanwhile.
func readManifestFileSnap(name string) ([]byte, *outfile.Snapshot, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("read input: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxInputSize {
		return nil, nil, errTooLarge(name)
	}
	data, err := readManifest(f, name)
	if err != nil {
		return nil, nil, err
	}
	return data, outfile.Remember(f, data), nil
}

func errTooLarge(name string) error {
	return hint.Wrap(fmt.Errorf("%w: %s is larger than %d MiB, the most ksec reads", manifest.ErrBadInput, name, MaxInputSize>>20),
		"a Kubernetes Secret holds at most 1 MiB: split the stream into several files")
}

// parseFile reads and parses one manifest file, and remembers what it read.
func parseFile(name string) (*manifest.Stream, *outfile.Snapshot, error) {
	src, snap, err := readManifestFileSnap(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := parseManifest(name, src)
	return st, snap, err
}

// parseManifest parses src, read from the file name ("" or "-" for
// standard input; the name goes into the hint), after refusing another
// tool's encrypted file: its ciphertext must never pass through as if it
// were plaintext.
func parseManifest(name string, src []byte) (*manifest.Stream, error) {
	if f := foreign.Detect(src); f != nil {
		return nil, foreignFileError(name, f)
	}
	return manifest.Parse(src)
}

// foreignFileError is bad input with the way to move the file to ksec.
func foreignFileError(name string, f *foreign.Finding) error {
	if name == "" || name == "-" {
		name = "FILE"
	}
	return hint.Wrap(fmt.Errorf("%w: %s", manifest.ErrBadInput, f), f.Hints(name)...)
}

// ioOptions are the input and output flags every transforming command shares.
type ioOptions struct {
	Input   string // file name, or "" / "-" for stdin
	InPlace bool
	Output  string
	Force   bool // replace a file that has other hard links

	plaintext bool              // the output holds secret values in the clear
	snap      *outfile.Snapshot // what read took from Input
	outSnap   *outfile.Snapshot // what was read from Output, when it was (encrypt's implicit parent)
}

// bindForce adds --force, which lets -i and -o replace a hard-linked file.
func (o *ioOptions) bindForce(f interface {
	BoolVar(*bool, string, bool, string)
}) {
	f.BoolVar(&o.Force, "force", false, "replace a file that has other hard links (they keep the old content)")
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
	if err := checkOutputName(o.Output); err != nil {
		return err
	}
	// A target ksec must refuse is refused before any work.
	if target := o.target(); target != "" {
		return outfile.Check(target, o.fileOptions(nil))
	}
	return nil
}

// target is the file the output goes to, "" for standard output.
func (o *ioOptions) target() string {
	target := o.Output
	if o.InPlace {
		target = o.Input
	}
	if target == "-" {
		return ""
	}
	return target
}

func (o *ioOptions) fileOptions(expect *outfile.Snapshot) outfile.Options {
	return outfile.Options{Plaintext: o.plaintext, BreakLinks: o.Force, Expect: expect}
}

// kubectlFormats are kubectl's -o output formats; ksec's -o is a file.
var kubectlFormats = []string{"yaml", "json", "wide", "name", "jsonpath", "jsonpath-as-json", "go-template", "template", "custom-columns", "templatefile", "go-template-file", "jsonpath-file", "custom-columns-file"}

// checkOutputName refuses -o yaml, -o json and the other kubectl output
// formats, unless a file of that name exists: a kubectl user means "print
// as", and would get a file named json holding the result.
func checkOutputName(name string) error {
	format, _, _ := strings.Cut(name, "=")
	if !slices.Contains(kubectlFormats, format) {
		return nil
	}
	if _, err := os.Lstat(name); err == nil {
		return nil
	}
	return hint.Wrap(usagef("-o %s: ksec's -o/--output names the FILE to write, not an output format", name),
		"to print the result, leave out -o or use -o -; to write a file of that name, use -o ./"+name)
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
	data, snap, err := readManifestFileSnap(o.Input)
	o.snap = snap
	return data, err
}

// parse reads the input and parses it.
func (o *ioOptions) parse(sys *System) (*manifest.Stream, error) {
	src, err := o.read(sys)
	if err != nil {
		return nil, err
	}
	return parseManifest(o.Input, src)
}

// write sends out to stdout, or writes the target file through outfile.
// With unchanged set, an in-place target is left alone (same bytes, same
// mtime). An in-place write is refused if the file changed since read.
func (o *ioOptions) write(sys *System, out []byte, unchanged bool) error {
	var expect *outfile.Snapshot
	if o.InPlace {
		if unchanged {
			return nil
		}
		expect = o.snap
	} else if o.Output != "" {
		expect = o.outSnap
	}
	if err := checkOutputSize(out); err != nil {
		return err
	}
	target := o.target()
	if target == "" {
		_, err := sys.Out.Write(out)
		return err
	}
	err := writeFile(sys, target, out, o.fileOptions(expect))
	if errors.Is(err, outfile.ErrChanged) {
		err = hint.Wrap(err, "run the command again: it works on the file as it is now")
	}
	return err
}

// checkOutputSize refuses to write what ksec would refuse to read back.
func checkOutputSize(out []byte) error {
	if len(out) > MaxInputSize {
		return hint.Wrap(fmt.Errorf("%w: the result would be %d MiB, more than the %d MiB ksec reads; nothing was written",
			manifest.ErrBadInput, len(out)>>20, MaxInputSize>>20),
			"encrypted values take more room than plaintext: split the stream into several files")
	}
	return nil
}

// writeFile writes a named file through the output layer, with ksec's
// warnings on stderr and its temporary file known to the signal handler.
// The write is short and atomic, so it is not cancelled: a first signal
// lets it finish, a second removes the temporary file before ksec ends.
func writeFile(sys *System, name string, data []byte, opts outfile.Options) error {
	opts.Warn = func(msg string) { fmt.Fprintf(sys.Err, "ksec: warning: %s\n", msg) }
	opts.Temps = sys.Temps
	return outfile.Write(context.Background(), name, data, opts)
}

// fileError names the file an error is about when a command takes several.
func fileError(file string, err error) error {
	return fmt.Errorf("%s: %w", file, err)
}
