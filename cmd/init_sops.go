package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/foreign/sops"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/outfile"
)

// sopsConfigName is SOPS's configuration file.
const sopsConfigName = ".sops.yaml"

// runInitFromSOPS writes a .ksec.yaml converted from a .sops.yaml, next to it.
func runInitFromSOPS(sys *System, opts *InitOptions) error {
	src, err := os.ReadFile(opts.FromSOPS)
	if errors.Is(err, fs.ErrNotExist) {
		return hint.Wrap(fmt.Errorf("%w: no %s", config.ErrInvalid, opts.FromSOPS),
			"run ksec init --from-sops in the directory that holds .sops.yaml, or name it: ksec init --from-sops PATH")
	}
	if err != nil {
		return err
	}
	conv, err := sops.ConvertConfig(src, opts.FromSOPS)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	target := filepath.Join(filepath.Dir(opts.FromSOPS), config.FileName)
	// What is written must be a configuration ksec reads.
	if _, err := config.Parse(conv.YAML, target); err != nil {
		return fmt.Errorf("the converted configuration does not read back: %w", err)
	}
	err = writeFile(sys, target, conv.YAML, outfile.Options{BreakLinks: opts.Force, CreateOnly: !opts.Force})
	if errors.Is(err, outfile.ErrExists) {
		return hint.Wrap(fmt.Errorf("%s already exists; it was left as it is", target),
			"pass --force to replace it with the converted rules")
	}
	if err != nil {
		return err
	}
	for _, p := range conv.Problems {
		fmt.Fprintf(sys.Err, "ksec: warning: not converted: %s\n", p)
	}
	fmt.Fprintf(sys.Err, "Wrote %s with %s from %s.\n", target, countOf(conv.Rules, "rule", "rules"), opts.FromSOPS)
	fmt.Fprintln(sys.Err, "Review it, commit it, then convert the SOPS files with: ksec import -i FILE...")
	return nil
}
