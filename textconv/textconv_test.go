package textconv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func convert(t *testing.T, data []byte, opts Options) (string, string, error) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := Convert(context.Background(), name, &out, &errb, opts)
	return out.String(), errb.String(), err
}

func TestTooLargeShownAsIs(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, fmt.Sprintf(secretFmt, "aHVudGVyMg=="), id.Recipient().String())
	called := false
	opts := Options{MaxSize: int64(len(enc)) - 1, Decrypter: func() (Decrypter, error) {
		called = true
		return ageDecrypter(id.String())
	}}
	out, stderr, err := convert(t, enc, opts)
	if err != nil || out != string(enc) || called {
		t.Errorf("too large: err %v, decrypted %v, out:\n%s", err, called, out)
	}
	if !strings.HasPrefix(stderr, "ksec: textconv: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "larger than") {
		t.Errorf("too large, stderr %q", stderr)
	}
	// Not ksec's: silent.
	plain := bytes.Repeat([]byte("a: 1\n"), 100)
	out, stderr, err = convert(t, plain, Options{MaxSize: 10, Decrypter: opts.Decrypter})
	if err != nil || out != string(plain) || stderr != "" {
		t.Errorf("large plain file: err %v, stderr %q, same %v", err, stderr, out == string(plain))
	}
	// Exactly at the limit it is decrypted.
	opts.MaxSize = int64(len(enc))
	out, stderr, err = convert(t, enc, opts)
	if err != nil || stderr != "" || !strings.Contains(out, "  password: hunter2\n") {
		t.Errorf("at the limit: err %v, stderr %q, out:\n%s", err, stderr, out)
	}
}

func TestDecrypterErrorFailsOpen(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, fmt.Sprintf(secretFmt, "aHVudGVyMg=="), id.Recipient().String())
	out, stderr, err := convert(t, enc, Options{MaxSize: 1 << 20, Decrypter: func() (Decrypter, error) {
		return nil, errors.New("bad key\nsecond line")
	}})
	if err != nil || out != string(enc) || !strings.HasSuffix(stderr, ": shown encrypted: bad key second line\n") {
		t.Errorf("err %v, stderr %q, out:\n%s", err, stderr, out)
	}
}

func TestUnreadableFile(t *testing.T) {
	var out, errb bytes.Buffer
	err := Convert(context.Background(), filepath.Join(t.TempDir(), "missing"), &out, &errb, Options{MaxSize: 10})
	if !errors.Is(err, os.ErrNotExist) || out.Len() != 0 {
		t.Errorf("err %v, out %q", err, out.String())
	}
}
