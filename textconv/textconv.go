// Package textconv is ksec's git diff driver: it turns an encrypted
// manifest into a readable decrypted view for git diff and git log -p.
//
// It fails open. git aborts a whole diff when a textconv program fails, so
// a reviewer without keys would lose git diff and git log -p; instead the
// file is shown as it is (encrypted) with one line on standard error. A
// file that is not ksec's is shown as it is, silently.
package textconv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ksec-dev/ksec/manifest"
)

// Decrypter decrypts every encrypted Secret of st in place.
type Decrypter func(ctx context.Context, st *manifest.Stream) error

// Options say how Convert works.
type Options struct {
	// MaxSize is the most bytes decrypted; a larger file is shown as it is.
	MaxSize int64
	// Decrypter returns the function that decrypts, or an error (no key
	// could be set up). It is called only for a file that needs it.
	Decrypter func() (Decrypter, error)
}

// header starts every decrypted view, so nobody takes it for the file.
const header = "# ksec textconv: decrypted view for git diff; the file in git is encrypted\n"

// Convert writes the view of the file name to out. Problems with the file
// go to errOut as one line and leave the file shown as it is; only a file
// that cannot be read at all or output that cannot be written is an error.
func Convert(ctx context.Context, name string, out, errOut io.Writer, opts Options) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, opts.MaxSize+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(src)) > opts.MaxSize {
		if looksEncrypted(src) {
			warn(errOut, name, fmt.Errorf("larger than %d MiB, the most ksec reads", opts.MaxSize>>20))
		}
		if _, err := out.Write(src); err != nil {
			return err
		}
		_, err := io.Copy(out, f)
		return err
	}
	view, err := decryptedView(ctx, src, opts)
	switch {
	case errors.Is(err, errNotKsec):
		view = src
	case err != nil:
		warn(errOut, name, err)
		view = src
	}
	_, err = out.Write(view)
	return err
}

var errNotKsec = errors.New("not a ksec file")

// decryptedView decrypts src and shows data values decoded, as ksec edit
// does, after a comment naming each Secret's recipients: a reviewer must
// see a recipient added or removed, which the plaintext alone would hide.
func decryptedView(ctx context.Context, src []byte, opts Options) ([]byte, error) {
	st, err := manifest.Parse(src)
	if err != nil {
		if looksEncrypted(src) {
			return nil, err
		}
		return nil, errNotKsec
	}
	var b strings.Builder
	b.WriteString(header)
	encrypted := 0
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		encrypted++
		var ids []string
		for _, r := range s.Meta.Recipients {
			ids = append(ids, r.Type+":"+r.ID)
		}
		fmt.Fprintf(&b, "# ksec textconv: %s: recipients %s\n", s, strings.Join(ids, ", "))
	}
	if encrypted == 0 {
		return nil, errNotKsec
	}
	decrypt, err := opts.Decrypter()
	if err != nil {
		return nil, err
	}
	if err := decrypt(ctx, st); err != nil {
		return nil, err
	}
	plain, err := manifest.Parse(st.Bytes())
	if err != nil {
		return nil, err
	}
	for _, s := range plain.Secrets {
		for _, v := range s.Values {
			if err := plain.ShowDecoded(v); err != nil {
				return nil, &manifest.Error{Secret: s, Err: err}
			}
		}
	}
	view := plain.Bytes()
	// The view must show exactly the decrypted values.
	if err := plain.VerifyShown(view); err != nil {
		return nil, err
	}
	return append([]byte(b.String()), view...), nil
}

// looksEncrypted reports whether src seems to hold a ksec block, so that a
// file ksec cannot read is reported rather than passed silently.
func looksEncrypted(src []byte) bool {
	return bytes.Contains(src, []byte("\n"+manifest.MetadataKey+":")) ||
		bytes.Contains(src, []byte(" "+manifest.MetadataKey+":"))
}

// warn writes err as exactly one line: git shows standard error as it is,
// once per file side, and more lines would bury the diff.
func warn(w io.Writer, name string, err error) {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(w, "ksec: textconv: %s: shown encrypted: %s\n", name, msg)
}
