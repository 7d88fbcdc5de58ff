package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// PatchOptions are the parsed flags of ksec patch.
type PatchOptions struct {
	ioOptions
	Set            []string
	SetFile        []string
	Unset          []string
	StringData     bool
	Secret         string
	Identities     []string
	PassphraseFile string
	Rotate         bool
}

// NewCmdPatch builds ksec patch; runF replaces the work in tests.
func NewCmdPatch(sys *System, runF func(*cobra.Command, *PatchOptions) error) *cobra.Command {
	opts := &PatchOptions{}
	var kubesecData []string
	c := &cobra.Command{
		Use:     "patch [--set KEY=VALUE]... [--set-file KEY=PATH]... [--unset KEY]... [-i | -o FILE] FILE",
		Aliases: []string{"p"}, // kubesec's
		Short:   "Set or remove single values of an encrypted Secret, without an editor",
		Long: `Change single values of an encrypted Secret in place: --set and --set-file
seal a new value where the key is (a new key goes under data,
base64-encoded, or under stringData with --string-data, which also moves a
data key there), --unset removes a key. Only the changed values and the MAC
line change; every other line stays as it was. It needs a key that can
decrypt the file (the whole Secret is verified first).

A file with several Secrets needs --secret [NAMESPACE/]NAME.

With --rotate the Secret also gets a new data key: every value is sealed
afresh and the key wrapped again for the same recipients. Use it when you
did not write the file yourself: whoever did knows its data key and could
read what you add (see docs/SECURITY.md). --rotate alone only rotates.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("patch takes exactly one FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Input = args[0]
			for _, d := range kubesecData {
				lit, file := fromKubesecData(d)
				if lit != "" {
					opts.Set = append(opts.Set, lit)
				} else {
					opts.SetFile = append(opts.SetFile, file)
				}
			}
			if runF != nil {
				return runF(c, opts)
			}
			return runPatch(c, sys, opts)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&opts.Set, "set", nil, "set KEY to VALUE (repeatable)")
	f.StringArrayVar(&opts.SetFile, "set-file", nil, "set KEY to the content of PATH (repeatable)")
	f.StringArrayVar(&opts.Unset, "unset", nil, "remove KEY (repeatable)")
	f.BoolVar(&opts.StringData, "string-data", false, "put set values under stringData instead of data")
	f.StringVar(&opts.Secret, "secret", "", "the Secret to patch, as NAME or NAMESPACE/NAME, when FILE has several")
	f.BoolVarP(&opts.InPlace, "in-place", "i", false, "replace FILE with the result")
	f.StringVarP(&opts.Output, "output", "o", "", "write the result to this file")
	f.StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(f, &opts.PassphraseFile)
	f.BoolVar(&opts.Rotate, "rotate", false, "also give the Secret a new data key (re-seals every value)")
	opts.bindForce(f)
	kubesecDataFlag(f, &kubesecData)
	return c
}

// changes turns the flags into changes, reading --set-file files once.
func (o *PatchOptions) changes() ([]envelope.Change, error) {
	field := "" // where the key is; data for a new key
	if o.StringData {
		field = "stringData"
	}
	var out []envelope.Change
	seen := map[string]bool{}
	add := func(key string, c envelope.Change) error {
		if err := checkKeyName(key); err != nil {
			return err
		}
		if seen[key] {
			return usagef("key %q is named more than once", key)
		}
		seen[key] = true
		out = append(out, c)
		return nil
	}
	for _, kv := range o.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--set %q: want KEY=VALUE", kv)
		}
		if err := add(k, envelope.Change{Field: field, Key: k, Value: []byte(v)}); err != nil {
			return nil, err
		}
	}
	for _, kp := range o.SetFile {
		k, path, ok := strings.Cut(kp, "=")
		if !ok {
			return nil, usagef("--set-file %q: want KEY=PATH", kp)
		}
		data, err := readSourceFile("--set-file "+k, path)
		if err != nil {
			return nil, err
		}
		if err := add(k, envelope.Change{Field: field, Key: k, Value: data}); err != nil {
			return nil, err
		}
	}
	for _, k := range o.Unset {
		if err := add(k, envelope.Change{Key: k, Unset: true}); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 && !o.Rotate {
		return nil, usagef("nothing to do: give --set, --set-file, --unset or --rotate")
	}
	return out, nil
}

func runPatch(c *cobra.Command, sys *System, opts *PatchOptions) error {
	if err := opts.validate(sys); err != nil {
		return err
	}
	changes, err := opts.changes()
	if err != nil {
		return err
	}
	st, err := opts.parse(sys)
	if err != nil {
		return err
	}
	index, err := pickSecret(st, opts.Secret)
	if err != nil {
		return explainNoSecrets(err, opts.inputName(), st)
	}
	if err := st.CheckNames(); err != nil {
		return err
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	out, err := envelope.Patch(c.Context(), st, kr, index, changes)
	if err != nil {
		return err
	}
	if opts.Rotate {
		// The data key unwrapped for the patch is cached: no second
		// unwrap (gpg run, KMS call) happens here.
		next, err := manifest.Parse(out)
		if err != nil {
			return err
		}
		if err := envelope.RotateSecret(c.Context(), next, kr, index); err != nil {
			return err
		}
		out = next.Bytes()
		fmt.Fprintf(sys.Err, "ksec: rotated the data key of %s\n", next.Secrets[index])
	}
	return opts.write(sys, out, slices.Equal(out, st.Source()))
}

// pickSecret finds the Secret a command works on: the only one, or the one
// named NAME or NAMESPACE/NAME.
func pickSecret(st *manifest.Stream, name string) (int, error) {
	if len(st.Secrets) == 0 {
		return 0, envelope.ErrNoSecrets
	}
	if name == "" {
		if len(st.Secrets) > 1 {
			return 0, hint.Wrap(usagef("the file has %d Secrets: say which with --secret", len(st.Secrets)), "name it as NAME or NAMESPACE/NAME")
		}
		return 0, nil
	}
	ns, n, hasNS := strings.Cut(name, "/")
	if !hasNS {
		ns, n = "", name
	}
	// A bare NAME must name one Secret: a file may hold db in several
	// namespaces (or someone put a db of their own first), and picking the
	// first would show, or patch a value into, another Secret than meant.
	var found []int
	var scopes []string
	for i, s := range st.Secrets {
		if s.Name == n && (!hasNS || s.Namespace == ns) {
			found = append(found, i)
			scopes = append(scopes, s.Namespace+"/"+s.Name)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return 0, hint.Wrap(usagef("--secret %q matches %d Secrets (%s)", name, len(found), strings.Join(scopes, ", ")), "name it as NAMESPACE/NAME")
	}
	return 0, fmt.Errorf("%w: no Secret named %q in the file", manifest.ErrBadInput, name)
}
