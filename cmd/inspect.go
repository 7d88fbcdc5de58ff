package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// ErrNotEncrypted is returned by ksec inspect when not everything it looked
// at is encrypted; exitCode maps it to ExitNotEncrypted.
var ErrNotEncrypted = errors.New("not encrypted")

// InspectOptions are the parsed flags of ksec inspect.
type InspectOptions struct {
	dirOptions
	Files  []string // "-" is standard input
	Format string   // "text" or "json"
}

// NewCmdInspect builds ksec inspect; runF replaces the work in tests.
func NewCmdInspect(sys *System, runF func(*cobra.Command, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{}
	c := &cobra.Command{
		Use:     "inspect [-o text|json] [FILE... | - | -R DIR]",
		Aliases: []string{"introspect", "i"}, // kubesec's
		Short:   "Show what is encrypted in a manifest, and for whom, without any key",
		Long: `Show, for every Secret in each FILE (or standard input): its namespace and
name, whether it is encrypted, partially encrypted or plain, the format
version, its values' keys (never the values) and the recipients its data key
is wrapped for. For OpenPGP recipients the user ID is shown when your gpg
keyring knows the key. No key is needed and nothing is decrypted.

A Secret is encrypted when it has a ksec block and every value is sealed;
partially encrypted when a value was added in plaintext (seal it with ksec
encrypt -i FILE) or when it has sealed values but no ksec block.

-o json prints {"files":[{"file","error","secrets":[{"document","item",
"namespace","name","status","version","values":{"data","stringData"},
"keys","plaintext","recipients":[{"type","id","user_id"}]}]}]}; status is
"encrypted", "partial" or "plain", or "sops" / "kubesec" in another tool's
file, which then also has "format": "sops" or "kubesec"; document and item
count from 1; item, version and error are null when they do not apply. A
kubesec file's Secret also has "kubesec": {"version", "mac", "convert":
[{"from", "to", "error"}]}: what ksec encrypt -i FILE would encrypt for.

Exit status: 0 when every FILE holds Secrets and all are encrypted (kubesec
files count); 6 when some Secret is plain or partially encrypted, or some
FILE holds no Secret; 3 when a FILE is not a manifest ksec can read, a SOPS
file among them (the other files are still shown); 1 when a FILE cannot be read.
Files under -R DIR that hold no Secret are passed over.`,
		Example: `  ksec inspect secrets/*.yaml
  ksec inspect -o json secret.yaml | jq -r '.files[].secrets[].recipients[].id'
  ksec inspect secret.yaml >/dev/null 2>&1 || echo "secret.yaml is not fully encrypted"`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(c, opts)
			}
			return runInspect(c.Context(), sys, opts)
		},
	}
	c.Flags().StringVarP(&opts.Format, "output", "o", "text", "output `FORMAT`: text or json")
	opts.dirOptions.bind(c.Flags())
	return c
}

// The -o json schema. Field names and meanings are stable: add, never change.
type (
	inspectReport struct {
		Files []inspectedFile `json:"files"`
	}
	inspectedFile struct {
		File    string            `json:"file"` // "-" for standard input
		Error   *string           `json:"error"`
		Format  *string           `json:"format,omitempty"` // "sops" or "kubesec": another tool's file
		Secrets []inspectedSecret `json:"secrets"`
	}
	inspectedSecret struct {
		Document   int                  `json:"document"`
		Item       *int                 `json:"item"` // 1-based index in a List, or null
		Namespace  string               `json:"namespace"`
		Name       string               `json:"name"`
		Status     string               `json:"status"`
		Version    *int                 `json:"version"` // null without a ksec block
		Values     inspectedCounts      `json:"values"`
		Keys       []string             `json:"keys"`      // "data.KEY", "stringData.KEY", in file order
		Plaintext  []string             `json:"plaintext"` // the keys whose values are not sealed
		Recipients []inspectedRecipient `json:"recipients"`
		Kubesec    *inspectedKubesec    `json:"kubesec,omitempty"` // a kubesec file: what it is, what converting it does

		foreign bool // sealed values that are not ksec tokens (SOPS?)
	}
	inspectedKubesec struct {
		Version int                   `json:"version"` // kubesec's format version, 1 to 4
		MAC     bool                  `json:"mac"`     // false for v1/v2: reading needs --allow-no-mac
		Convert []inspectedConversion `json:"convert"` // the recipients ksec encrypt -i FILE would encrypt for
	}
	inspectedConversion struct {
		From  string `json:"from"`  // TYPE:ID as kubesec wrote it
		To    string `json:"to"`    // TYPE:ID in ksec, "" when it cannot be mapped here
		Error string `json:"error"` // why not, or ""
	}
	inspectedCounts struct {
		Data       int `json:"data"`
		StringData int `json:"stringData"`
	}
	inspectedRecipient struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		UserID string `json:"user_id"` // pgp only, when the local gpg keyring knows the key; else ""
	}
)

// Secret statuses.
const (
	statusEncrypted = "encrypted"
	statusPartial   = "partial"
	statusPlain     = "plain"
)

func runInspect(ctx context.Context, sys *System, opts *InspectOptions) error {
	if opts.Format != "text" && opts.Format != "json" {
		return usagef("-o/--output must be text or json, not %q", opts.Format)
	}
	found, err := opts.walk(sys)
	if err != nil {
		return err
	}
	files := opts.Files
	if len(files) == 0 && len(opts.Recursive) == 0 {
		if sys.StdinIsTerminal() {
			return usagef("no input: give FILEs, or '-' to read standard input")
		}
		files = []string{"-"}
	}
	if i := slices.Index(files, "-"); i >= 0 && slices.Contains(files[i+1:], "-") {
		return usagef("standard input (-) can be read only once")
	}
	uids := userIDs{cache: map[string]string{}}
	report := inspectReport{Files: []inspectedFile{}}
	var failures []error
	for i, file := range append(slices.Clone(files), found...) {
		entry, err := inspectFile(ctx, sys, file, &uids)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i >= len(files) && err == nil && len(entry.Secrets) == 0 { // found by -R
			if opts.Verbose {
				fmt.Fprintf(sys.Err, "ksec: skipped %s: no Secret\n", file)
			}
			continue
		}
		if err != nil {
			msg := err.Error()
			entry.Error = &msg
			failures = append(failures, fileError(displayName(file), err))
		}
		report.Files = append(report.Files, entry)
	}
	if opts.Format == "json" {
		err = writeInspectJSON(sys.Out, report)
	} else {
		err = writeInspectText(sys.Out, report)
	}
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return failedFiles(sys, failures)
	}
	return notEncrypted(report)
}

// inspectFile reads and describes one file. On error the entry has no
// Secrets.
func inspectFile(ctx context.Context, sys *System, file string, uids *userIDs) (inspectedFile, error) {
	entry := inspectedFile{File: file, Secrets: []inspectedSecret{}}
	in := ioOptions{Input: file}
	src, err := in.read(sys)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return entry, pathErr.Err // the file name is added by the caller
	}
	if err != nil {
		return entry, err
	}
	if f := foreign.Detect(src); f != nil && f.Format == foreign.Kubesec {
		return inspectKubesec(ctx, sys, entry, src, f, uids)
	}
	if f := foreign.Detect(src); f != nil {
		return inspectForeign(entry, src, f), foreignFileError(file, f)
	}
	st, err := manifest.Parse(src)
	if err != nil {
		return entry, err
	}
	for _, s := range st.Secrets {
		is, err := inspectSecret(ctx, s, uids)
		if err != nil {
			return entry, err
		}
		entry.Secrets = append(entry.Secrets, is)
	}
	return entry, nil
}

// inspectForeign describes another tool's file: its format, and the
// Secrets that can be read as written, with that format as their status.
func inspectForeign(entry inspectedFile, src []byte, f *foreign.Finding) inspectedFile {
	format := string(f.Format)
	entry.Format = &format
	st, err := manifest.Parse(src)
	if err != nil {
		return entry // SOPS may have encrypted kind and name too
	}
	for _, s := range st.Secrets {
		is := inspectedSecret{Document: s.Doc, Namespace: s.Namespace, Name: s.Name, Status: format,
			Keys: []string{}, Plaintext: []string{}, Recipients: []inspectedRecipient{}}
		if s.Item >= 0 {
			item := s.Item + 1
			is.Item = &item
		}
		for _, v := range s.Values {
			is.Keys = append(is.Keys, v.Field+"."+v.Key)
			if v.Field == "data" {
				is.Values.Data++
			} else {
				is.Values.StringData++
			}
		}
		entry.Secrets = append(entry.Secrets, is)
	}
	return entry
}

// inspectKubesec describes a kubesec file without decrypting it: its
// footer, and what ksec encrypt -i would make of its recipients.
func inspectKubesec(ctx context.Context, sys *System, entry inspectedFile, src []byte, f *foreign.Finding, uids *userIDs) (inspectedFile, error) {
	entry = inspectForeign(entry, src, f)
	kf, err := foreign.ParseKubesec(src)
	if err != nil {
		return entry, err
	}
	if len(entry.Secrets) != 1 {
		return entry, fmt.Errorf("%w: a kubesec file holds one Secret", manifest.ErrBadInput)
	}
	kr, err := newKeyring(sys, nil, "")
	if err != nil {
		return entry, err
	}
	ks := &inspectedKubesec{Version: kf.Version, MAC: kf.HasMAC, Convert: []inspectedConversion{}}
	is := &entry.Secrets[0]
	for _, r := range kf.Recipients {
		ir := inspectedRecipient{Type: r.Type, ID: r.ID}
		conv := inspectedConversion{From: r.Type + ":" + r.ID}
		if rec, err := kr.ParseRecipient(ctx, r.Type+":"+r.ID); err == nil {
			conv.To = rec.Type() + ":" + rec.ID()
			if r.Type == "pgp" {
				if ir.UserID, err = uids.lookup(ctx, rec.ID()); err != nil {
					return entry, err
				}
			}
		} else {
			conv.Error = err.Error()
		}
		is.Recipients = append(is.Recipients, ir)
		ks.Convert = append(ks.Convert, conv)
	}
	is.Kubesec = ks
	return entry, nil
}

func inspectSecret(ctx context.Context, s *manifest.Secret, uids *userIDs) (inspectedSecret, error) {
	is := inspectedSecret{
		Document: s.Doc, Namespace: s.Namespace, Name: s.Name,
		Keys: []string{}, Plaintext: []string{}, Recipients: []inspectedRecipient{},
	}
	if s.Item >= 0 {
		item := s.Item + 1
		is.Item = &item
	}
	sealed := 0
	for _, v := range s.Values {
		key := v.Field + "." + v.Key
		is.Keys = append(is.Keys, key)
		if v.Field == "data" {
			is.Values.Data++
		} else {
			is.Values.StringData++
		}
		if v.IsEncrypted() {
			sealed++
			is.foreign = is.foreign || !crypto.IsToken(v.Text)
		} else {
			is.Plaintext = append(is.Plaintext, key)
		}
	}
	switch {
	case s.Meta != nil && sealed == len(s.Values):
		is.Status = statusEncrypted
	case s.Meta != nil || sealed > 0:
		is.Status = statusPartial
	default:
		is.Status = statusPlain
	}
	if s.Meta == nil {
		return is, nil
	}
	version := s.Meta.Version
	is.Version = &version
	for _, r := range s.Meta.Recipients {
		ir := inspectedRecipient{Type: r.Type, ID: r.ID}
		if r.Type == "pgp" {
			uid, err := uids.lookup(ctx, r.ID)
			if err != nil {
				return is, err
			}
			ir.UserID = uid
		}
		is.Recipients = append(is.Recipients, ir)
	}
	return is, nil
}

// userIDs asks gpg once per fingerprint in a run.
type userIDs struct {
	cache map[string]string
}

func (u *userIDs) lookup(ctx context.Context, fpr string) (string, error) {
	if uid, ok := u.cache[fpr]; ok {
		return uid, nil
	}
	uid, err := keyring.PGPUserID(ctx, keyring.PGPOptions{}, fpr)
	if err != nil {
		return "", err
	}
	u.cache[fpr] = uid
	return uid, nil
}

func writeInspectJSON(w io.Writer, report inspectReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // user IDs are "Name <email>"
	return enc.Encode(report)
}

// failedFiles reports every file that could not be inspected. The last
// error is returned, so it is printed last; the ones before are printed
// here. The exit status is 3 when any file is bad input, else that of the
// last error.
func failedFiles(sys *System, failures []error) error {
	last := failures[len(failures)-1]
	badInput := false
	for _, err := range failures[:len(failures)-1] {
		badInput = badInput || exitCode(err) == ExitBadInput
		reportError(sys.Err, err)
	}
	if badInput && exitCode(last) != ExitBadInput {
		return withBadInput{last}
	}
	return last
}

// withBadInput makes an error count as bad input for the exit status,
// without changing its message or its hints.
type withBadInput struct{ error }

func (w withBadInput) Unwrap() []error { return []error{w.error, manifest.ErrBadInput} }

// notEncrypted summarises what is not encrypted, as an error wrapping
// ErrNotEncrypted, or returns nil when everything is.
func notEncrypted(report inspectReport) error {
	var secrets, plain, partial int
	var empty []string
	for _, f := range report.Files {
		if len(f.Secrets) == 0 {
			empty = append(empty, displayName(f.File))
		}
		for _, s := range f.Secrets {
			secrets++
			switch s.Status {
			case statusPlain:
				plain++
			case statusPartial:
				partial++
			}
		}
	}
	var parts, hints []string
	switch {
	case secrets == 1 && plain == 1:
		parts = append(parts, "the Secret is plain")
	case secrets == 1 && partial == 1:
		parts = append(parts, "the Secret is partially encrypted")
	case plain+partial > 0:
		var kinds []string
		if plain > 0 {
			kinds = append(kinds, fmt.Sprintf("%d plain", plain))
		}
		if partial > 0 {
			kinds = append(kinds, fmt.Sprintf("%d partially encrypted", partial))
		}
		parts = append(parts, fmt.Sprintf("%d of %d Secrets (%s)", plain+partial, secrets, strings.Join(kinds, ", ")))
	}
	if plain > 0 {
		hints = append(hints, "encrypt a plain file with: ksec encrypt -i -k KEY FILE")
	}
	if partial > 0 {
		hints = append(hints, "seal the plaintext values of an encrypted file with: ksec encrypt -i FILE")
	}
	if len(empty) > 0 {
		parts = append(parts, "no Secret in "+strings.Join(empty, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return hint.Wrap(fmt.Errorf("%w: %s", ErrNotEncrypted, strings.Join(parts, "; ")), hints...)
}

func displayName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

// writeInspectText prints one block per file, one paragraph per Secret,
// with labels aligned like kubectl describe. Everything taken from the
// files or the keyring is made printable first: a manifest could carry
// terminal escape sequences in a name or a key.
func writeInspectText(w io.Writer, report inspectReport) error {
	var b strings.Builder
	for i, f := range report.Files {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(printable(displayName(f.File)) + "\n")
		switch {
		case f.Format != nil && *f.Format == string(foreign.Kubesec) && f.Error == nil:
			b.WriteString("  (a kubesec file: ksec decrypt reads it, ksec encrypt -i converts it)\n")
		case f.Format != nil:
			fmt.Fprintf(&b, "  (a %s file, not a ksec file: see the error below)\n", *f.Format)
		case f.Error != nil:
			b.WriteString("  (not inspected: see the error below)\n")
		case len(f.Secrets) == 0:
			b.WriteString("  (no Secret)\n")
		}
		for j, s := range f.Secrets {
			if j > 0 {
				b.WriteString("\n")
			}
			writeSecretText(&b, s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const labelWidth = len("  Recipients:  ")

func writeSecretText(b *strings.Builder, s inspectedSecret) {
	field := func(label string, lines ...string) {
		for i, line := range lines {
			if i == 0 {
				fmt.Fprintf(b, "%-*s%s\n", labelWidth, "  "+label+":", line)
			} else {
				fmt.Fprintf(b, "%*s%s\n", labelWidth, "", line)
			}
		}
	}
	name := s.Name
	if name == "" {
		name = "(unnamed)"
	}
	if s.Namespace != "" {
		name = s.Namespace + "/" + name
	}
	where := fmt.Sprintf("document %d", s.Document)
	if s.Item != nil {
		where += fmt.Sprintf(", item %d", *s.Item)
	}
	field("Secret", printable(name)+"  ("+where+")")

	status := "encrypted"
	switch {
	case s.Status == string(foreign.SOPS):
		status = "sops (encrypted by SOPS, not by ksec)"
	case s.Status == string(foreign.Kubesec):
		status = "kubesec (encrypted by kubesec, not by ksec)"
	case s.Status == statusPlain:
		status = "plain (not encrypted)"
	case s.Status == statusPartial && s.Version == nil && s.foreign:
		status = "partially encrypted: ENC[…] values not written by ksec (a SOPS file?), no ksec block"
	case s.Status == statusPartial && s.Version == nil:
		status = "partially encrypted: sealed values but no ksec block"
	case s.Status == statusPartial:
		status = fmt.Sprintf("partially encrypted: %d %s in plaintext", len(s.Plaintext), plural(len(s.Plaintext), "value", "values"))
	}
	field("Status", status)
	if s.Version != nil {
		field("Format", fmt.Sprintf("ksec version %d", *s.Version))
	}
	if k := s.Kubesec; k != nil {
		mac := "with a MAC"
		if !k.MAC {
			mac = "without a MAC: reading it needs --allow-no-mac"
		}
		field("Format", fmt.Sprintf("kubesec version %d, %s", k.Version, mac))
	}

	counts := []string{}
	if s.Values.Data > 0 {
		counts = append(counts, fmt.Sprintf("%d data", s.Values.Data))
	}
	if s.Values.StringData > 0 {
		counts = append(counts, fmt.Sprintf("%d stringData", s.Values.StringData))
	}
	values := []string{"none"}
	if len(s.Keys) > 0 {
		values = []string{fmt.Sprintf("%d (%s)", len(s.Keys), strings.Join(counts, ", "))}
	}
	for _, k := range s.Keys {
		line := printable(k)
		if s.Status == statusPartial && slices.Contains(s.Plaintext, k) {
			line += "  (plaintext)"
		} else if s.Status == statusPartial {
			line += "  (sealed)"
		}
		values = append(values, line)
	}
	field("Values", values...)

	if s.Kubesec != nil {
		writeKubesecText(field, s)
		return
	}
	if s.Version == nil {
		return
	}
	var typeWidth, idWidth int
	for _, r := range s.Recipients {
		typeWidth = max(typeWidth, len(printable(r.Type)))
		idWidth = max(idWidth, len(printable(r.ID)))
	}
	var recipients []string
	for _, r := range s.Recipients {
		line := fmt.Sprintf("%-*s  %-*s  %s", typeWidth, printable(r.Type), idWidth, printable(r.ID), printable(r.UserID))
		recipients = append(recipients, strings.TrimRight(line, " "))
	}
	field("Recipients", recipients...)
}

// writeKubesecText shows a kubesec file's recipients and what converting
// it would do.
func writeKubesecText(field func(string, ...string), s inspectedSecret) {
	var recipients []string
	for _, r := range s.Recipients {
		recipients = append(recipients, strings.TrimRight(printable(r.Type)+"  "+printable(r.ID)+"  "+printable(r.UserID), " "))
	}
	field("Recipients", recipients...)
	conv := []string{"ksec encrypt -i FILE would seal every value anew under a new data key, for:"}
	for _, c := range s.Kubesec.Convert {
		switch {
		case c.To == "":
			conv = append(conv, printable(c.From)+"  (cannot be mapped here: "+printable(c.Error)+"; name it with -k)")
		case c.To != c.From:
			conv = append(conv, printable(c.From)+" -> "+printable(c.To))
		case strings.HasPrefix(c.To, "pgp:"):
			conv = append(conv, printable(c.To))
		default:
			conv = append(conv, printable(c.To)+"  (wrapped again, bound to the Secret)")
		}
	}
	conv = append(conv, "values bound to the Secret, field and key; the MAC also covers namespace, name and recipients")
	field("Conversion", conv...)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printable replaces control characters and invalid UTF-8 with visible
// escapes, so text from a file cannot move the cursor or recolour a
// terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == unicode.ReplacementChar && strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteRune(r)
		case r == unicode.ReplacementChar:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r):
			q := fmt.Sprintf("%+q", string(r))
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
