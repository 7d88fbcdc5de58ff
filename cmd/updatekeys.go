package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// UpdatekeysOptions are the parsed flags of ksec updatekeys.
type UpdatekeysOptions struct {
	dirOptions
	Files          []string
	Yes            bool
	Force          bool
	Identities     []string
	PassphraseFile string
}

// NewCmdUpdatekeys builds ksec updatekeys; runF replaces the work in tests.
func NewCmdUpdatekeys(sys *System, runF func(*cobra.Command, *UpdatekeysOptions) error) *cobra.Command {
	opts := &UpdatekeysOptions{}
	c := &cobra.Command{
		Use:   "updatekeys [-y] [-I FILE]... FILE... | -R DIR",
		Short: "Bring encrypted files' recipients in line with .ksec.yaml",
		Long: `For every encrypted Secret in each FILE, find the .ksec.yaml rule for the
file and the Secret's namespace (see ksec init) and make the Secret's
recipients exactly the rule's keys. The changes are shown first (+ added,
- removed, = kept) and applied only once you confirm; -y applies them
without asking, which is needed when standard input is not a terminal.

Adding a recipient wraps the existing data key for it: the values stay as
they are. Removing one makes a new data key and re-seals every value, since
the removed party had the old one. Both need a key that can decrypt the
file (-I/--identity, KSEC_IDENTITY_FILE, KSEC_AGE_KEY, gpg or a KMS).

Every file is checked and re-encrypted before any is written; a file with
nothing to change is left untouched. Secrets that no rule matches are
reported and left as they are, and ksec then exits with status 1.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && len(opts.Recursive) == 0 {
				return usagef("updatekeys needs at least one FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(c, opts)
			}
			return runUpdatekeys(c, sys, opts)
		},
	}
	f := c.Flags()
	f.BoolVarP(&opts.Yes, "yes", "y", false, "apply the changes without asking")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	opts.dirOptions.bind(f)
	f.BoolVar(&opts.Force, "force", false, "replace a file that has other hard links (they keep the old content)")
	return c
}

// keyUpdate is one file whose Secrets get new recipient sets.
type keyUpdate struct {
	file   string
	st     *manifest.Stream
	snap   *outfile.Snapshot
	wanted map[*manifest.Secret][]keyring.Recipient
}

func runUpdatekeys(c *cobra.Command, sys *System, opts *UpdatekeysOptions) error {
	ctx := c.Context()
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	found, err := opts.walk(sys)
	if err != nil {
		return err
	}
	var updates []*keyUpdate
	unmatched, changes := 0, 0
	for _, file := range oncePerFile(sys, append(slices.Clone(opts.Files), found...)) {
		u, skipped, err := planKeyUpdate(ctx, sys, kr, file)
		if err != nil {
			return err
		}
		unmatched += skipped
		if len(u.wanted) > 0 {
			updates = append(updates, u)
			changes += len(u.wanted)
		}
	}
	if changes > 0 {
		if err := confirmKeyUpdate(sys, opts.Yes, changes, len(updates)); err != nil {
			return err
		}
		// Everything is re-encrypted before anything is written, so a
		// failure (a key that cannot decrypt, a KMS error) changes no file.
		outputs := make([][]byte, len(updates))
		for i, u := range updates {
			err := envelope.EncryptEach(ctx, u.st, kr, func(s *manifest.Secret) (envelope.Recipients, error) {
				if wanted, ok := u.wanted[s]; ok {
					return envelope.Recipients{Set: wanted}, nil
				}
				if s.Meta == nil {
					return envelope.Recipients{Rotate: true}, nil // leaves a plaintext Secret alone
				}
				return envelope.Recipients{}, nil // keeps an encrypted Secret as it is
			})
			if err != nil {
				return fileError(u.file, err)
			}
			outputs[i] = u.st.Bytes()
		}
		// A write that fails (the file changed meanwhile) does not stop
		// the others: each failure is named.
		errs := make([]error, len(updates))
		for i, u := range updates {
			out := ioOptions{Input: u.file, InPlace: true, Force: opts.Force, snap: u.snap}
			if errs[i] = out.write(sys, outputs[i], false); errs[i] == nil {
				fmt.Fprintf(sys.Err, "%s: updated\n", u.file)
			}
		}
		if err := firstWriteError(sys, errs, len(updates)); err != nil {
			return err
		}
	} else if unmatched == 0 {
		fmt.Fprintln(sys.Err, "Nothing to change.")
	}
	if unmatched > 0 {
		return hint.Wrap(fmt.Errorf("%s no matching rule and left as they were", countOf(unmatched, "Secret had", "Secrets had")),
			"add a rule for them to .ksec.yaml (see docs/CONFIG.md), or set their recipients with ksec encrypt -k KEY")
	}
	return nil
}

// planKeyUpdate reads one file, prints what would change for each of its
// Secrets and returns the wanted recipients of those that change, with the
// number of encrypted Secrets that no rule covers.
func planKeyUpdate(ctx context.Context, sys *System, kr *keyring.Keyring, file string) (*keyUpdate, int, error) {
	in := ioOptions{Input: file}
	st, err := in.parse(sys)
	if err != nil {
		return nil, 0, fileError(file, err)
	}
	u := &keyUpdate{file: file, st: st, snap: in.snap, wanted: map[*manifest.Secret][]keyring.Recipient{}}
	encrypted := 0
	for _, s := range st.Secrets {
		if s.Meta != nil {
			encrypted++
		}
	}
	if encrypted == 0 {
		fmt.Fprintf(sys.Err, "%s: no encrypted Secret, skipped\n", file)
		return u, 0, nil
	}
	team, err := findTeamKeys(kr, file)
	if err != nil {
		return nil, 0, err
	}
	if team == nil {
		fmt.Fprintf(sys.Err, "%s: no %s in its directory or above, skipped\n", file, config.FileName)
		return u, encrypted, nil
	}
	unmatched := 0
	for _, s := range st.Secrets {
		if s.Meta == nil {
			fmt.Fprintf(sys.Err, "%s: %s: not encrypted, skipped\n", file, s)
			continue
		}
		wanted, rule, err := team.recipients(ctx, s)
		if errors.Is(err, errNoRule) {
			fmt.Fprintf(sys.Err, "%s: %s: no rule of %s matches, skipped\n", file, s, displayPath(team.cfg.Path()))
			unmatched++
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if printRecipientChange(sys.Err, file, s, displayPath(team.cfg.Where(rule.Line)), wanted) {
			u.wanted[s] = wanted
		}
	}
	if len(u.wanted) == 0 {
		return u, unmatched, nil
	}
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		if i := slices.IndexFunc(s.Values, func(v *manifest.Value) bool { return !v.IsEncrypted() }); i >= 0 {
			// Re-encrypting would seal it too: that is encrypt's job, and
			// more than the change of recipients the user confirms.
			return nil, 0, hint.Wrap(fileError(file, &manifest.Error{Secret: s, Value: s.Values[i],
				Err: fmt.Errorf("%w: the value is not encrypted", manifest.ErrBadInput)}),
				"seal it first with: ksec encrypt -i "+file)
		}
	}
	return u, unmatched, nil
}

// printRecipientChange shows a Secret's recipients against the wanted set
// and reports whether they differ.
func printRecipientChange(w io.Writer, file string, s *manifest.Secret, rule string, wanted []keyring.Recipient) bool {
	want := map[keyring.Ref]bool{}
	for _, r := range wanted {
		want[keyring.RefOf(r)] = true
	}
	have := map[keyring.Ref]bool{}
	var lines []string
	removed := false
	for _, st := range s.Meta.Recipients {
		ref := keyring.Ref{Type: st.Type, ID: st.ID}
		have[ref] = true
		if want[ref] {
			lines = append(lines, "  = "+st.Type+":"+st.ID)
		} else {
			lines = append(lines, "  - "+st.Type+":"+st.ID)
			removed = true
		}
	}
	added := false
	for _, r := range wanted {
		if !have[keyring.RefOf(r)] {
			lines = append(lines, "  + "+r.Type()+":"+r.ID())
			added = true
		}
	}
	if !added && !removed {
		fmt.Fprintf(w, "%s: %s: unchanged (rule %s)\n", file, s, rule)
		return false
	}
	fmt.Fprintf(w, "%s: %s: rule %s\n%s\n", file, s, rule, strings.Join(lines, "\n"))
	if removed {
		fmt.Fprintln(w, "  (a recipient is removed: a new data key is made and every value re-sealed)")
	}
	return true
}

func confirmKeyUpdate(sys *System, yes bool, secrets, files int) error {
	if yes {
		return nil
	}
	if !sys.StdinIsTerminal() {
		return hint.Wrap(usagef("updatekeys asks before changing files, and standard input is not a terminal"),
			"check the changes above, then run again with -y to apply them")
	}
	yes, err := askYes(sys, fmt.Sprintf("Update %s in %s?", countOf(secrets, "Secret", "Secrets"), countOf(files, "file", "files")))
	if err != nil || yes {
		return err
	}
	return errors.New("not confirmed: no file was changed")
}

// askYes asks question on the terminal and reports whether the answer was
// yes; anything else, an empty line included, is no.
func askYes(sys *System, question string) (bool, error) {
	fmt.Fprintf(sys.Err, "%s [y/N] ", question)
	answer, err := bufio.NewReader(sys.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func countOf(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

// displayPath shortens an absolute path to one relative to the working
// directory when it lies below it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}
