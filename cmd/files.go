package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

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
		return io.ReadAll(sys.In)
	}
	data, err := os.ReadFile(o.Input)
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return data, nil
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
	return nil
}

// fileError names the file an error is about when a command takes several.
func fileError(file string, err error) error {
	return fmt.Errorf("%s: %w", file, err)
}
