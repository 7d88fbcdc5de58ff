package cmd

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/mergedriver"
	"github.com/ksec-dev/ksec/outfile"
)

// MergeDriverOptions are the parsed flags of ksec merge-driver.
type MergeDriverOptions struct {
	Base, Ours, Theirs string
	Path               string // %P, for messages; Ours when not given
	Identities         []string
	MarkerSize         int
}

// NewCmdMergeDriver builds ksec merge-driver; runF replaces the work in tests.
func NewCmdMergeDriver(sys *System, runF func(*cobra.Command, *MergeDriverOptions) error) *cobra.Command {
	opts := &MergeDriverOptions{}
	c := &cobra.Command{
		Use:   "merge-driver [-I FILE]... [--marker-size N] BASE OURS THEIRS [PATH]",
		Short: "Merge an encrypted manifest per Secret and per key, for git merge",
		Long: `Merge three versions of an encrypted manifest as git's merge driver: BASE
(%O), OURS (%A, where the result goes) and THEIRS (%B); PATH (%P) names the
file in messages.

  echo '*.enc.yaml merge=ksec' >> .gitattributes
  git config merge.ksec.name "ksec per-key merge"
  git config merge.ksec.driver "ksec merge-driver %O %A %B %P"

Each side is decrypted and verified (every value and the MAC) first; a
tampered side is refused and OURS is left as it was. A value changed on one
side only takes that side; unchanged values keep their token; the MAC is
computed afresh. A key changed on both sides differently is a conflict:
the markers hold tokens only, never plaintext. Recipients are merged as a
set; a side that removed one rotated the data key, and the other side's
changes are sealed under the new key. The keys come from -I,
KSEC_IDENTITY_FILE, KSEC_AGE_KEY, the default age identity file, gpg and
its agent, or the cloud KMS, as for decrypt. Without a key the file is
merged as text, as git would, and left as a conflict.

Exit status: 0 merged, 1 conflict (git's convention), other codes as for
decrypt (OURS untouched).`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return usagef("merge-driver takes BASE OURS THEIRS [PATH] (git passes %%O %%A %%B %%P)")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Base, opts.Ours, opts.Theirs = args[0], args[1], args[2]
			opts.Path = opts.Ours
			if len(args) == 4 {
				opts.Path = args[3]
			}
			if opts.MarkerSize < 0 {
				return usagef("--marker-size must be positive")
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runMergeDriver(c, sys, opts)
		},
	}
	c.Flags().StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	c.Flags().IntVar(&opts.MarkerSize, "marker-size", 7, "length of conflict markers (git's %L)")
	return c
}

func runMergeDriver(c *cobra.Command, sys *System, opts *MergeDriverOptions) error {
	base, _, err := readMergeSide(opts.Base)
	if err != nil {
		return err
	}
	ours, snap, err := readMergeSide(opts.Ours)
	if err != nil {
		return err
	}
	theirs, _, err := readMergeSide(opts.Theirs)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, "")
	if err != nil {
		return err
	}
	res, err := mergedriver.Merge(c.Context(), mergedriver.Input{Base: base, Ours: ours, Theirs: theirs, Path: opts.Path},
		mergedriver.Options{Keyring: kr, MarkerSize: opts.MarkerSize})
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Path, err)
	}
	if err := writeFile(sys, opts.Ours, res.Merged, outfile.Options{Expect: snap}); err != nil {
		return err
	}
	if !res.Conflict {
		return nil
	}
	// One line and its hints: git shows them among its own messages.
	switch {
	case res.Fallback != nil:
		fmt.Fprintf(sys.Err, "ksec: merge-driver: %s: merged as plain text, left as a conflict: %s\n", opts.Path, oneLine(res.Fallback.Error()))
		hints := hint.All(res.Fallback)
		if len(hints) == 0 {
			hints = []string{"resolve it by hand; a conflict inside a Secret's values is best settled with git checkout --ours (or --theirs) " + opts.Path + " and ksec edit"}
		}
		for _, h := range hints {
			fmt.Fprintf(sys.Err, "ksec: hint: %s\n", h)
		}
	case len(res.Conflicts) > 0:
		fmt.Fprintf(sys.Err, "ksec: merge-driver: %s: changed on both sides: %s (the conflict markers hold tokens only)\n", opts.Path, strings.Join(res.Conflicts, ", "))
		fmt.Fprintf(sys.Err, "ksec: hint: keep one side of every conflict of a Secret, its mac line included, or take one file (git checkout --ours %s) and redo the other change with ksec edit\n", opts.Path)
	default:
		fmt.Fprintf(sys.Err, "ksec: merge-driver: %s: conflicting lines outside the values (the conflict markers hold tokens only)\n", opts.Path)
		fmt.Fprintf(sys.Err, "ksec: hint: keep one side of every conflict of a Secret, its mac line included\n")
	}
	return childExit(ExitError)
}

// readMergeSide reads one of the files git hands the driver.
func readMergeSide(name string) ([]byte, *outfile.Snapshot, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxInputSize {
		return nil, nil, fmt.Errorf("%w: %s is larger than %d MiB", manifest.ErrBadInput, name, MaxInputSize>>20)
	}
	return data, outfile.Remember(f, data), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
