package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/shlex"
	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/childenv"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/privdir"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// EditOptions are the parsed flags of ksec edit.
type EditOptions struct {
	kubesecOptions
	File           string
	Keys           []string
	Identities     []string
	PassphraseFile string
	Base64         bool
	Rotate         bool
	Force          bool
}

// NewCmdEdit builds ksec edit; runF replaces the work in tests.
func NewCmdEdit(sys *System, runF func(*cobra.Command, *EditOptions) error) *cobra.Command {
	opts := &EditOptions{}
	c := &cobra.Command{
		Use:     "edit [-k KEY]... [-I FILE]... [-b] FILE",
		Aliases: []string{"ee"}, // kubesec's
		Short:   "Edit an encrypted manifest in your editor, re-encrypted on save",
		Long: `Decrypt FILE into a private temporary file, open it in your editor, and
encrypt it again when the editor exits. Unchanged values keep their
ciphertext byte for byte, so the git diff shows only what you changed.

data values are shown decoded when they are text, and base64-encoded again
on save; values that are not text stay base64, tagged !!binary. With
-b/--base64 every data value stays base64.

A Secret keeps its data key and recipients by its namespace and name. A
renamed Secret keeps them when the rename is unambiguous (same namespace,
same place in the file, no other Secret added or removed); any other new
Secret needs keys from -k, KSEC_KEYS or .ksec.yaml.

With -r/--rotate every Secret gets a new data key on save: every value is
sealed afresh and the key wrapped again for the same recipients. Use it
when you did not write the file yourself (whoever did knows its data key;
see docs/SECURITY.md).

The editor is $KSEC_EDITOR, $KUBE_EDITOR, $EDITOR or $VISUAL, else vi.
A new FILE starts from a small Secret template (needs -k or KSEC_KEYS).`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("edit takes exactly one FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(c, opts)
			}
			return runEdit(c, sys, opts)
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&opts.Keys, "key", "k", nil, "recipient key spec for a new file or a new Secret (repeatable)")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	f.BoolVarP(&opts.Base64, "base64", "b", false, "show data values base64-encoded, as stored")
	f.BoolVarP(&opts.Rotate, "rotate", "r", false, "give every Secret a new data key on save (re-seals every value)")
	f.BoolVar(&opts.Force, "force", false, "replace a file that has other hard links (they keep the old content)")
	opts.kubesecOptions.bind(f)
	// kubesec's habits: edit -i (ksec edit always writes FILE back) and
	// -f (create FILE if missing, which ksec edit does with -k).
	var inPlace, create bool
	f.BoolVarP(&inPlace, "in-place", "i", false, "accepted for kubesec's edit -i: FILE is always written back")
	f.BoolVarP(&create, "create", "f", false, "accepted for kubesec's edit -f: a missing FILE is created (needs -k)")
	_ = f.MarkHidden("in-place")
	_ = f.MarkHidden("create")
	return c
}

// editHeader is shown above the manifest; lines starting with
// editMarker are removed again before encrypting.
const editMarker = "# ksec: "

func editHeader(file string, base64 bool) string {
	h := editMarker + "editing " + filepath.Base(file) + ": save and quit to encrypt it, or save an empty file to abort.\n"
	if !base64 {
		h += editMarker + "data values are shown decoded and will be base64-encoded on save;\n" +
			editMarker + "values tagged !!binary are not text and stay base64.\n"
	}
	return h
}

func runEdit(c *cobra.Command, sys *System, opts *EditOptions) error {
	ctx := c.Context()
	editor, err := findEditor(sys)
	if err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	forSecret, _, err := recipientsFor(ctx, sys, kr, opts.Keys, opts.File)
	if err != nil {
		return err
	}

	original, snap, err := readManifestFileSnap(opts.File)
	exists := err == nil
	switch {
	case errors.Is(err, os.ErrNotExist):
		snap = outfile.Absent()
		tmpl, err := manifest.Parse(secretTemplate(opts.File))
		if err != nil {
			return err
		}
		if checkRecipients(tmpl, forSecret) != nil {
			return hint.Wrap(usagef("%s does not exist, and no keys were given to encrypt a new one for", opts.File),
				"to start a new encrypted Secret: ksec edit -k KEY "+opts.File+" (or add a rule to .ksec.yaml)")
		}
		original = nil
	case err != nil:
		return err
	}
	// A file ksec could not write back is refused before the editor opens.
	if err := outfile.Check(opts.File, outfile.Options{BreakLinks: opts.Force}); err != nil {
		return err
	}

	sess := &envelope.Session{}
	plain := secretTemplate(opts.File)
	if exists {
		src := original
		if isKubesec(src) {
			// Converted in memory: the editor shows the values, and saving
			// writes a ksec file.
			if src, err = convertKubesec(ctx, sys, kr, opts.File, src, opts.kubesecOptions, flagSpecs(sys, opts.Keys), true); err != nil {
				return err
			}
		}
		st, err := parseManifest(opts.File, src)
		if err != nil {
			return err
		}
		if len(st.Secrets) == 0 {
			return explainNoSecrets(envelope.ErrNoSecrets, opts.File, st)
		}
		if sess, err = envelope.DecryptSession(ctx, st, kr); err != nil {
			return err
		}
		defer sess.Close()
		plain = st.Bytes()
	}
	view := plain
	if !opts.Base64 {
		if view, err = decodedView(plain); err != nil {
			return err
		}
	}

	dir, err := privdir.Make(sys.Getenv, "ksec-edit-")
	if err != nil {
		return err
	}
	keepDir := false
	// A second signal ends ksec at once: the plaintext goes with it,
	// never left behind unnamed.
	sys.Temps.HoldDir(dir)
	defer func() {
		if !keepDir {
			os.RemoveAll(dir)
		}
		sys.Temps.ReleaseDir(dir)
	}()
	tmp := filepath.Join(dir, filepath.Base(opts.File))
	content := []byte(editHeader(opts.File, opts.Base64) + string(view))

	for {
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			return fmt.Errorf("write temporary file: %w", err)
		}
		if err := runEditor(c, sys, editor, tmp); err != nil {
			return err
		}
		edited, err := readManifestFile(tmp)
		if err != nil {
			return fmt.Errorf("read temporary file: %w", err)
		}
		if bytes.Equal(edited, content) && !(opts.Rotate && exists) {
			fmt.Fprintf(sys.Err, "ksec: no changes; %s left as it was\n", opts.File)
			return nil
		}
		if len(bytes.TrimSpace(dropEditLines(edited))) == 0 {
			fmt.Fprintf(sys.Err, "ksec: edit aborted (empty file); %s left as it was\n", opts.File)
			return nil
		}
		header := editHeader(opts.File, opts.Base64)
		out, err := reencrypt(c, sys, kr, sess, forSecret, edited, opts, strings.Count(header, "\n")+2)
		if errors.Is(err, manifest.ErrBadInput) {
			// Like kubectl edit: show the problem above the user's edits,
			// in exactly two lines (reencrypt counts on it).
			content = append([]byte(header+editErrorLines(err)), dropEditLines(edited)...)
			continue
		}
		if err != nil {
			keepDir = true
			return hint.Wrap(err, fmt.Sprintf("%s was left as it was; your edits are kept, unencrypted and readable only by you, in %s: "+
				"run ksec edit again once the problem is fixed and paste them in, then delete that directory", opts.File, tmp))
		}
		if exists && bytes.Equal(out, original) {
			fmt.Fprintf(sys.Err, "ksec: no changes; %s left as it was\n", opts.File)
			return nil
		}
		if st, err := manifest.Parse(out); err == nil {
			warnComments(sys, "", st)
		}
		err = checkOutputSize(out)
		if err == nil {
			// Refused if the file changed since it was read (a ksec patch,
			// a git pull): the user's edits are kept to re-apply.
			err = writeFile(sys, opts.File, out, outfile.Options{BreakLinks: opts.Force, Expect: snap})
		}
		if err != nil {
			keepDir = true
			return hint.Wrap(err, fmt.Sprintf("your edits are kept, unencrypted and readable only by you, in %s: "+
				"run 'ksec edit %s' again and re-apply them to the file as it is now (diff %s against the new buffer shows them), then delete %s",
				tmp, opts.File, tmp, dir))
		}
		return nil
	}
}

// reencrypt turns the edited text back into an encrypted manifest.
func reencrypt(c *cobra.Command, sys *System, kr *keyring.Keyring, sess *envelope.Session, forSecret func(*manifest.Secret) (envelope.Recipients, error), edited []byte, opts *EditOptions, padLines int) ([]byte, error) {
	// ksec's lines are replaced by blank lines, as many as ksec's lines
	// above the manifest when an error is shown in the editor, so that every
	// line number in the error is that line in the editor's buffer; the
	// blank lines are cut off the result.
	pad := bytes.Repeat([]byte("\n"), padLines)
	text := append(slices.Clone(pad), dropEditLines(edited)...)
	parse := manifest.ParseView // data values may be tagged !!binary
	if opts.Base64 {
		parse = manifest.Parse
	}
	st, err := parse(text)
	if err != nil {
		return nil, err
	}
	if !opts.Base64 {
		for _, s := range st.Secrets {
			for _, v := range s.Values {
				if err := st.EncodeShown(v); err != nil {
					return nil, &manifest.Error{Secret: s, Err: err}
				}
			}
		}
		if st, err = manifest.Parse(st.Bytes()); err != nil {
			return nil, err
		}
	}
	if len(st.Secrets) == 0 {
		return nil, explainNoSecrets(envelope.ErrNoSecrets, "the edited file", st)
	}
	if err := st.CheckNames(); err != nil {
		return nil, err
	}
	if err := st.CheckShadows(); err != nil {
		return nil, err
	}
	inherited, err := sess.Reseal(c.Context(), st, kr, forSecret, envelope.ResealOptions{AllowRename: true, Rotate: opts.Rotate})
	if errors.Is(err, envelope.ErrNoKeysForNew) {
		return nil, usageError{err} // keys missing from the command line
	}
	if err != nil {
		return nil, err
	}
	for _, in := range inherited {
		if in.Renamed() {
			fmt.Fprintf(sys.Err, "ksec: note: %s: renamed from %s, keeps its data key and recipients\n", in.Secret, scopeName(in.From))
		}
	}
	if opts.Rotate {
		fmt.Fprintf(sys.Err, "ksec: rotated the data key of %s\n", countOf(len(inherited), "Secret", "Secrets"))
	}
	out, ok := bytes.CutPrefix(st.Bytes(), pad)
	if !ok {
		return nil, errors.New("the encrypted result lost the edit header's place (a ksec bug); nothing was saved")
	}
	return out, nil
}

// editErrorLines is the error shown above the manifest in the editor: two
// lines, the error and what to do, with the error's hints.
func editErrorLines(err error) string {
	oneLine := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace
	next := "fix it and save, or save an empty file to abort."
	if hints := hint.All(err); len(hints) > 0 {
		next = "hint: " + oneLine(strings.Join(hints, "; ")) + "; " + next
	}
	return editMarker + "error: " + oneLine(err.Error()) + "\n" + editMarker + next + "\n"
}

// scopeName writes a Secret's scope as NAMESPACE/NAME, or NAME without one.
func scopeName(s keyring.Scope) string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// dropEditLines removes the lines ksec put at the top of the edit file.
func dropEditLines(b []byte) []byte {
	for bytes.HasPrefix(b, []byte(editMarker)) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

// decodedView shows every data value of every Secret as text.
func decodedView(plain []byte) ([]byte, error) {
	st, err := manifest.Parse(plain)
	if err != nil {
		return nil, err
	}
	for _, s := range st.Secrets {
		for _, v := range s.Values {
			if err := st.ShowDecoded(v); err != nil {
				return nil, &manifest.Error{Secret: s, Err: err}
			}
		}
	}
	// The view is read back and must show exactly the decrypted values.
	if err := st.VerifyShown(st.Bytes()); err != nil {
		return nil, err
	}
	return st.Bytes(), nil
}

func secretTemplate(file string) []byte {
	name := strings.ToLower(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, name)
	return []byte(`apiVersion: v1
kind: Secret
metadata:
  name: ` + strings.Trim(name, "-.") + `
type: Opaque
stringData:
  key: value
`)
}

// findEditor returns the editor command line, split like a shell would.
func findEditor(sys *System) ([]string, error) {
	line, from := "vi", "the default"
	for _, v := range []string{"KSEC_EDITOR", "KUBE_EDITOR", "EDITOR", "VISUAL"} {
		if e := strings.TrimSpace(sys.Getenv(v)); e != "" {
			line, from = e, "$"+v
			break
		}
	}
	args, err := shlex.Split(line)
	if err != nil || len(args) == 0 {
		return nil, hint.Wrap(fmt.Errorf("editor %q (from %s) cannot be parsed", line, from), "set KSEC_EDITOR or EDITOR, e.g. 'code --wait' or vim")
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		return nil, hint.Wrap(fmt.Errorf("editor %q (from %s) not found", args[0], from), "set KSEC_EDITOR or EDITOR to an installed editor, e.g. 'code --wait' or nano")
	}
	return args, nil
}

// runEditor runs the editor on file with the terminal, keeping Ctrl-C for
// the editor; SIGTERM and SIGHUP end the edit (the caller cleans up).
func runEditor(c *cobra.Command, sys *System, editor []string, file string) error {
	ctx := c.Context()
	cmd := exec.CommandContext(ctx, editor[0], append(editor[1:], file)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The editor's environment is readable by the user's other processes.
	cmd.Env = childenv.Environ()
	if sys.ShieldInterrupt != nil {
		sys.ShieldInterrupt(true)
		defer sys.ShieldInterrupt(false)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() < 0 { // ended by a signal
			return fmt.Errorf("the editor was stopped (%s); nothing was saved", exit)
		}
		return fmt.Errorf("the editor exited with status %d; nothing was saved", exit.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("run editor: %w", err)
	}
	return nil
}
