// Package outfile is ksec's one way of writing a result to a named file.
//
// What happens depends on what the name is:
//
//   - a regular file (or none yet) is replaced atomically: a temporary file
//     named .NAME.ksec-tmp-XXXXXX in the same directory, fsync, rename,
//     fsync of the directory;
//   - a symbolic link is followed to its final target, which is replaced the
//     same way; the link stays. A link loop or a dangling link is an error;
//   - /dev/fd/N, /dev/stdout and the like are written to the open file
//     descriptor; a device or a FIFO is opened and written straight through,
//     never replaced;
//   - a directory or a socket is an error;
//   - a regular file with other hard links is refused unless BreakLinks.
//
// Modes: a new file is created 0600 for plaintext and 0666 otherwise, less
// the umask. An existing file of the user's own keeps its mode and group.
// Plaintext is never written into another user's file, nor into a
// temporary file that others can read.
//
// Read-modify-write commands pass the Snapshot of what they read: just before
// the rename the target is compared with it, and a changed target is refused
// with ErrChanged.
package outfile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// tempMarker is in the names of ksec's temporary files: .NAME.ksec-tmp-XXXXXX.
const tempMarker = ".ksec-tmp-"

// suffixChars make up the random end of a temporary file's name.
const suffixChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// IsTempName reports whether name (a base name) is that of a temporary file
// ksec writes beside a target, and returns the target's base name. A
// leftover one (a write killed by SIGKILL or a crash) may hold plaintext.
func IsTempName(name string) (target string, ok bool) {
	i := strings.LastIndex(name, tempMarker)
	if i < 2 || name[0] != '.' {
		return "", false
	}
	suffix := name[i+len(tempMarker):]
	// Unix writes six of [a-z0-9]; os.CreateTemp (Windows) writes digits.
	if suffix == "" || len(suffix) > 20 || strings.Trim(suffix, suffixChars) != "" {
		return "", false
	}
	return name[1:i], true
}

// Options say what is written and how careful to be.
type Options struct {
	// Plaintext marks secret content: new files are private (0600 less the
	// umask) and another user's file is never written into.
	Plaintext bool
	// CreateOnly refuses an existing regular file (ErrExists): key files
	// and starter configurations are never overwritten.
	CreateOnly bool
	// BreakLinks allows replacing a regular file that has other hard links;
	// the other names keep the old content.
	BreakLinks bool
	// Expect, when not nil, is what the caller read from the target: the
	// write is refused with ErrChanged if the target differs from it.
	Expect *Snapshot
	// Warn receives notes for the user (a leftover temporary file removed,
	// plaintext written into a file others can read). May be nil.
	Warn func(msg string)
	// Temps, when not nil, holds the temporary file while it exists, so a
	// signal handler can remove it.
	Temps *Temps
}

func (o *Options) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

var (
	// ErrChanged means the target changed after the caller read it.
	ErrChanged = errors.New("changed on disk")
	// ErrExists means CreateOnly met an existing file.
	ErrExists = errors.New("already exists")
)

// Snapshot is what a command read from a file: its identity and a hash of
// its content, or that it did not exist.
type Snapshot struct {
	absent   bool
	dev, ino uint64
	hasID    bool
	typ      os.FileMode // the file's type: 0 for a regular file
	sum      [sha256.Size]byte
}

// Remember records that data was read from the open file f.
func Remember(f *os.File, data []byte) *Snapshot {
	s := &Snapshot{sum: sha256.Sum256(data)}
	if fi, err := f.Stat(); err == nil {
		s.dev, s.ino, s.hasID = fileID(fi)
		// An inode number is reused at once: a FIFO made after the file
		// was removed can have the file's number, never its type.
		s.typ = fi.Mode().Type()
	}
	return s
}

// Absent records that the target did not exist when the command started:
// the write then refuses a file that appeared meanwhile.
func Absent() *Snapshot { return &Snapshot{absent: true} }

// Temps is the set of temporary files being written right now.
type Temps struct {
	mu     sync.Mutex
	files  map[string]bool
	closed bool            // RemoveAll ran: the process is ending
	dirs   map[string]bool // private directories (edit's) to remove too
}

// HoldDir adds a private directory holding plaintext (edit's) to what
// RemoveAll removes; ReleaseDir takes it out again, when it is removed or
// deliberately kept.
func (t *Temps) HoldDir(dir string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dirs == nil {
		t.dirs = map[string]bool{}
	}
	t.dirs[dir] = true
}

// ReleaseDir undoes HoldDir.
func (t *Temps) ReleaseDir(dir string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.dirs, dir)
}

// errEnding refuses a temporary file once RemoveAll ran.
var errEnding = errors.New("interrupted: ksec is ending")

// create runs mk, which creates a temporary file and returns its name,
// with the set locked, and adds the file: a signal handler's RemoveAll
// waits for a file being created, so none is created and left behind
// between its creation and its registration, or after RemoveAll (other
// writers go on while the handler ends the process).
func (t *Temps) create(mk func() (string, error)) error {
	if t == nil {
		_, err := mk()
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errEnding
	}
	name, err := mk()
	if err != nil {
		return err
	}
	if t.files == nil {
		t.files = map[string]bool{}
	}
	t.files[name] = true
	return nil
}

func (t *Temps) add(name string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.files == nil {
		t.files = map[string]bool{}
	}
	t.files[name] = true
}

func (t *Temps) remove(name string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.files, name)
}

// RemoveAll deletes every temporary file still being written, and makes
// every later write fail; a signal handler calls it before the process
// ends.
func (t *Temps) RemoveAll() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for name := range t.files {
		os.Remove(name)
		delete(t.files, name)
	}
	for dir := range t.dirs {
		os.RemoveAll(dir)
		delete(t.dirs, dir)
	}
}

// Write writes data to the file name as the package documentation says.
// On any error the target is left as it was and no temporary file stays.
func Write(ctx context.Context, name string, data []byte, opts Options) error {
	if err := write(ctx, name, data, &opts); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Check reports, before any work, whether Write could write to name: it
// refuses a directory, a socket, a dangling link or a link loop, a hard
// link without BreakLinks, another user's file for plaintext, and with
// CreateOnly an existing file. Write checks again.
func Check(name string, opts Options) error {
	if _, err := plan(name, &opts); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
