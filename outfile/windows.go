//go:build windows

package outfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// On Windows the write is best effort: links are followed by the system,
// there are no Unix owners and modes, and renaming over an open file is
// not atomic.

type target struct{ path string }

func fileID(os.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }

func plan(name string, opts *Options) (target, error) {
	p := name
	if r, err := filepath.EvalSymlinks(name); err == nil {
		p = r
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return target{p}, nil
	case err != nil:
		return target{}, err
	case fi.IsDir():
		return target{}, errors.New("it is a directory")
	case opts.CreateOnly:
		return target{}, ErrExists
	}
	return target{p}, nil
}

func write(ctx context.Context, name string, data []byte, opts *Options) error {
	t, err := plan(name, opts)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(t.path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".ksec-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	opts.Temps.add(tmp)
	defer opts.Temps.remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && opts.Expect != nil {
		err = opts.Expect.check(t.path)
	}
	if err == nil && opts.CreateOnly {
		if _, serr := os.Stat(t.path); serr == nil {
			err = ErrExists
		}
	}
	if err == nil {
		err = os.Rename(tmp, t.path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (s *Snapshot) check(path string) error {
	data, err := os.ReadFile(path)
	switch {
	case s.absent && err == nil:
		return fmt.Errorf("%w: the file was created by someone else while ksec worked; it was left as it is", ErrChanged)
	case s.absent:
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrChanged, err)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], s.sum[:]) {
		return fmt.Errorf("%w: another program wrote the file after ksec read it; it was left as that change made it", ErrChanged)
	}
	return nil
}
