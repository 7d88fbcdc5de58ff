package cmd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// kubesecOptions are the flags of the commands that read kubesec files.
type kubesecOptions struct {
	AllowNoMAC bool
}

func (k *kubesecOptions) bind(f interface {
	BoolVar(*bool, string, bool, string)
}) {
	f.BoolVar(&k.AllowNoMAC, "allow-no-mac", false, "read kubesec v1/v2 files, which have no MAC (a deleted or rolled-back value goes unnoticed)")
}

// isKubesec reports whether src is a kubesec-encrypted file.
func isKubesec(src []byte) bool {
	f := foreign.Detect(src)
	return f != nil && f.Format == foreign.Kubesec
}

// flagSpecs are the key specs of -k only: converting a kubesec file keeps
// its own recipients unless -k names others (KSEC_KEYS does not).
func flagSpecs(sys *System, flags []string) []string {
	if len(flags) == 0 {
		return nil
	}
	return keySpecs(sys, flags)
}

// displayInput names an input in messages.
func displayInput(name string) string {
	if name == "" || name == "-" {
		return "standard input"
	}
	return name
}

// openKubesec decrypts a kubesec file into the manifest kubesec decrypt
// prints, and says on stderr what could not be checked.
func openKubesec(ctx context.Context, sys *System, kr foreign.Unwrapper, name string, src []byte, opts kubesecOptions) (*foreign.KubesecFile, []byte, error) {
	f, err := foreign.ParseKubesec(src)
	if err != nil {
		return nil, nil, err
	}
	p, err := f.Decrypt(ctx, kr, foreign.KubesecOptions{AllowNoMAC: opts.AllowNoMAC})
	if err != nil {
		return nil, nil, err
	}
	if !f.HasMAC {
		fmt.Fprintf(sys.Err, "ksec: warning: %s is a kubesec v%d file: it has no MAC, so a value deleted or rolled back by anyone who could write the file would go unnoticed\n",
			displayInput(name), f.Version)
	}
	for _, s := range p.Signatures {
		if s.State == keyring.SignatureUnchecked {
			fmt.Fprintf(sys.Err, "ksec: note: %s: the signature kubesec put on the data key wrapped for pgp:%s (by key %s) was not checked: that public key is not at hand (gpg --import it, or add it to the -I file)\n",
				displayInput(name), s.Stanza, s.Signer)
		}
	}
	return f, p.Manifest, nil
}

// kubesecRecipients maps a kubesec file's recipients to ksec's: a PGP key
// ID or fingerprint to the key's primary fingerprint (through gpg's
// keyring), AWS and GCP keys as they are (wrapped anew, with binding). A
// PGP ID that is not the primary key's fingerprint or long key ID (a
// subkey's key ID) is resolved by gpg alone: the mapping is printed so the
// user can check it.
func kubesecRecipients(ctx context.Context, sys *System, kr *keyring.Keyring, name string, f *foreign.KubesecFile) ([]keyring.Recipient, error) {
	var out []keyring.Recipient
	for _, r := range f.Recipients {
		rec, err := kr.ParseRecipient(ctx, r.Type+":"+r.ID)
		if err != nil {
			h := "or name the recipients yourself with -k KEY (repeatable)"
			if r.Type == "pgp" {
				h = "import the public key of pgp:" + r.ID + " into gpg (gpg --import KEY.asc), " + h
			}
			return nil, hint.Wrap(fmt.Errorf("kubesec recipient %s:%s: %w", r.Type, r.ID, err), h)
		}
		// A full fingerprint is checked against the key gpg returns (a
		// subkey's too); a key ID is only looked up.
		if r.Type == "pgp" && len(r.ID) != 40 && !strings.HasSuffix(rec.ID(), strings.ToUpper(r.ID)) {
			fmt.Fprintf(sys.Err, "ksec: warning: %s: kubesec's pgp:%s is not a primary key's fingerprint or key ID; gpg resolved it to pgp:%s: check that this is the key you mean, or name the recipients with -k\n",
				displayInput(name), r.ID, rec.ID())
		}
		if !slices.ContainsFunc(out, func(o keyring.Recipient) bool { return keyring.RefOf(o) == keyring.RefOf(rec) }) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// convertKubesec turns a kubesec file into a ksec one: the values
// decrypted, sealed anew under a new data key for the same recipients (or
// those of keys: KEY... replaces them, +KEY / -KEY change them), in the
// layout of kubesec's body.
// forEdit only changes the note: the file is written once the edit is saved.
func convertKubesec(ctx context.Context, sys *System, kr *keyring.Keyring, name string, src []byte, opts kubesecOptions, keys []string, forEdit bool) ([]byte, error) {
	f, plain, err := openKubesec(ctx, sys, kr, name, src, opts)
	if err != nil {
		return nil, err
	}
	st, err := manifest.Parse(plain)
	if err != nil {
		return nil, err
	}
	if err := st.CheckNames(); err != nil {
		return nil, err
	}
	rs, err := parseRecipientFlags(ctx, kr, keys)
	if err != nil {
		return nil, err
	}
	if rs.Set == nil {
		mapped, err := kubesecRecipients(ctx, sys, kr, name, f)
		if err != nil {
			return nil, err
		}
		for _, a := range rs.Add {
			if !slices.ContainsFunc(mapped, func(o keyring.Recipient) bool { return keyring.RefOf(o) == keyring.RefOf(a) }) {
				mapped = append(mapped, a)
			}
		}
		mapped = slices.DeleteFunc(mapped, func(o keyring.Recipient) bool { return slices.Contains(rs.Remove, keyring.RefOf(o)) })
		if len(mapped) == 0 {
			return nil, usagef("-k leaves %s with no recipient", displayInput(name))
		}
		rs = envelope.Recipients{Set: mapped}
	}
	if err := envelope.Encrypt(ctx, st, kr, rs); err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range rs.Set {
		ids = append(ids, r.Type()+":"+r.ID())
	}
	if forEdit {
		fmt.Fprintf(sys.Err, "ksec: note: %s is a kubesec v%d file: on save it is written in ksec's format, for %s\n", displayInput(name), f.Version, strings.Join(ids, ", "))
	} else {
		fmt.Fprintf(sys.Err, "ksec: note: %s: converted from kubesec v%d to ksec, for %s\n", displayInput(name), f.Version, strings.Join(ids, ", "))
	}
	fmt.Fprintf(sys.Err, "ksec: note: every value is sealed anew under a new data key, bound to its Secret, field and key; the MAC now also covers the Secret's namespace and name and the recipient list; AWS and GCP keys are wrapped with the Secret's namespace and name as context. kubesec's files stay readable to whoever had them: rotate the values if they leaked\n")
	return st.Bytes(), nil
}

// kubesecDataFlag adds kubesec's -d/--data (create, patch), hidden: the
// ksec forms are --from-literal / --set KEY=VALUE and --from-file /
// --set-file KEY=PATH.
func kubesecDataFlag(f *pflag.FlagSet, data *[]string) {
	f.StringArrayVarP(data, "data", "d", nil, "kubesec's form: KEY=VALUE, file:PATH or file:KEY=PATH (repeatable)")
	_ = f.MarkHidden("data")
}

// fromKubesecData splits one kubesec -d value: a literal KEY=VALUE, or
// file:[KEY=]PATH (the key defaulting to the file's name).
func fromKubesecData(d string) (literal, file string) {
	rest, ok := strings.CutPrefix(d, "file:")
	if !ok {
		return d, ""
	}
	if !strings.Contains(rest, "=") {
		rest = filepath.Base(rest) + "=" + rest
	}
	return "", rest
}
