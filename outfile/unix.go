//go:build !windows

package outfile

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ksec-dev/ksec/internal/hint"
)

// maxLinks is how many symbolic links are followed, as the kernel does.
const maxLinks = 40

// target is where a write goes once links are followed.
type target struct {
	path string       // the file to replace or write to
	fd   int          // >= 0: write to this open file descriptor instead
	info *unix.Stat_t // the file's lstat; nil when it does not exist
	mode os.FileMode  // info's type, for messages
	keep bool         // keep the existing file's mode and group
	link string       // the name given, when it was a link to path
}

func fileID(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	// Dev and Ino are not uint64 on every system.
	return uint64(st.Dev), uint64(st.Ino), true
}

// fdNumber recognises the names of open file descriptors: /dev/fd/N,
// /proc/self/fd/N and /proc/PID/fd/N of this process.
func fdNumber(p string) (int, bool) {
	for _, dir := range []string{"/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/"} {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			n, err := strconv.Atoi(rest)
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

// resolve follows name's symbolic links to the file a write must change.
func resolve(name string) (target, error) {
	p := filepath.Clean(name)
	for hops := 0; ; hops++ {
		if n, ok := fdNumber(p); ok {
			return target{path: name, fd: n}, nil
		}
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if errors.Is(err, unix.ENOENT) {
			if hops > 0 {
				return target{}, hint.Wrap(fmt.Errorf("it is a symbolic link to %s, which does not exist", p),
					"create the link's target first, or write to another name")
			}
			return target{path: p, fd: -1}, nil
		}
		if err != nil {
			return target{}, &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		if uint32(st.Mode)&unix.S_IFMT != unix.S_IFLNK {
			t := target{path: p, fd: -1, info: &st, mode: typeOf(uint32(st.Mode))}
			if hops > 0 {
				t.link = name
			}
			return t, nil
		}
		if hops == maxLinks {
			return target{}, errors.New("too many levels of symbolic links (a link loop?)")
		}
		if err := checkLinkOwner(p, &st); err != nil {
			return target{}, err
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return target{}, err
		}
		if !filepath.IsAbs(dest) {
			// Relative to the link's real directory, as the kernel reads it.
			dir, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return target{}, err
			}
			dest = filepath.Join(dir, dest)
		}
		p = filepath.Clean(dest)
	}
}

// checkLinkOwner applies the kernel's protected_symlinks rule, which a
// path followed by hand would bypass: in a sticky directory anyone can
// write to (/tmp), only links of the user's own or of the directory's
// owner are followed.
func checkLinkOwner(p string, link *unix.Stat_t) error {
	var dir unix.Stat_t
	if err := unix.Stat(filepath.Dir(p), &dir); err != nil {
		return nil
	}
	euid := uint32(os.Geteuid())
	if uint32(dir.Mode)&unix.S_ISVTX == 0 || dir.Mode&0o002 == 0 || link.Uid == euid || link.Uid == dir.Uid {
		return nil
	}
	return hint.Wrap(fmt.Errorf("%s is a symbolic link of another user (uid %d) in a shared directory; ksec does not follow it", p, link.Uid),
		"anyone could have planted it there: write to a file in a directory of your own")
}

func typeOf(m uint32) os.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return 0
}

// plan decides how a write to name goes, refusing what must not be done.
func plan(name string, opts *Options) (target, error) {
	t, err := resolve(name)
	if err != nil || t.fd >= 0 || t.info == nil {
		return t, err
	}
	euid := uint32(os.Geteuid())
	switch {
	case t.mode&fs.ModeDir != 0:
		return t, hint.Wrap(errors.New("it is a directory"), "name a file, e.g. -o DIR/secret.yaml")
	case t.mode&fs.ModeSocket != 0:
		return t, errors.New("it is a socket")
	case t.mode != 0: // a device or a FIFO: written straight through
		if opts.Plaintext && t.mode&fs.ModeNamedPipe != 0 && t.info.Uid != euid {
			return t, fmt.Errorf("it is a FIFO of another user (uid %d); ksec does not send plaintext to it", t.info.Uid)
		}
		return t, nil
	}
	if opts.CreateOnly {
		return t, ErrExists
	}
	if t.info.Uid != euid {
		if opts.Plaintext {
			return t, hint.Wrap(fmt.Errorf("%s belongs to another user (uid %d): ksec does not write plaintext into a file that is not yours", t.path, t.info.Uid),
				"write to a new file of your own in a directory of your own, or remove that file first")
		}
		var dir unix.Stat_t
		if euid != 0 && unix.Stat(filepath.Dir(t.path), &dir) == nil && uint32(dir.Mode)&unix.S_ISVTX != 0 && dir.Uid != euid {
			return t, hint.Wrap(fmt.Errorf("%s belongs to another user (uid %d) in a sticky directory, where only its owner may replace it", t.path, t.info.Uid),
				"write to a new file of your own")
		}
	} else {
		t.keep = true
	}
	if t.info.Nlink > 1 && !opts.BreakLinks {
		return t, hint.Wrap(fmt.Errorf("%s has %d hard links: replacing it would leave the other names with the old content", t.path, t.info.Nlink),
			"pass --force to replace it anyway (the other names keep the old content), or remove the other links first")
	}
	return t, nil
}

func write(ctx context.Context, name string, data []byte, opts *Options) error {
	t, err := plan(name, opts)
	if err != nil {
		// A directory or a socket where the file read was is a change.
		if t.info != nil && t.mode != 0 {
			if cerr := opts.Expect.checkStat(t.info); cerr != nil {
				return cerr
			}
		}
		return err
	}
	switch {
	case t.fd >= 0:
		return writeFD(t.fd, name, data)
	case t.info != nil && t.mode != 0:
		// A FIFO or a device put where the file read was (or where
		// nothing was) is a change like any other: refused, not written
		// through, and never waited on.
		if err := opts.Expect.checkStat(t.info); err != nil {
			return err
		}
		if opts.Plaintext && t.mode&fs.ModeNamedPipe != 0 && t.info.Mode&0o044 != 0 {
			// Whoever opens it first reads it, not only the reader meant.
			opts.warn("%s is a FIFO other users may open for reading (mode %#o): one of them could read the plaintext instead of your reader", t.path, t.info.Mode&0o777)
		}
		return writeThrough(t.path, data)
	}
	return replace(ctx, t, data, opts)
}

// writeFD writes to an open descriptor (a pipe of the shell's process
// substitution, standard output), through a copy so it stays open.
func writeFD(n int, name string, data []byte) error {
	dup, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("file descriptor %d is not open: %w", n, err)
	}
	f := os.NewFile(uintptr(dup), name)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeThrough writes to a device or a FIFO without replacing it.
func writeThrough(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tempPrefix is the start of the names of ksec's temporary files for a
// target named base, kept within the 255-byte limit of a name.
func tempPrefix(base string) string {
	if len(base) > 200 {
		base = base[:200]
	}
	return "." + base + tempMarker
}

func isTempSuffix(s string) bool {
	return len(s) == 6 && strings.Trim(s, suffixChars) == ""
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b)
}

// replace writes data into a temporary file beside t.path and renames it
// over t.path.
func replace(ctx context.Context, t target, data []byte, opts *Options) (err error) {
	dir, base := filepath.Split(t.path)
	if dir == "" {
		dir = "."
	}
	cleanLeftovers(dir, base, opts)

	// The temporary file is created private: with the umask it is never
	// wider than the final mode, and plaintext is never readable by
	// others while it is written.
	perm := uint32(0o666)
	if opts.Plaintext || t.keep {
		perm = 0o600
	}
	var f *os.File
	var tmp string
	err = opts.Temps.create(func() (string, error) {
		var err error
		f, tmp, err = createTemp(dir, base, perm)
		return tmp, err
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
		opts.Temps.remove(tmp)
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if t.keep {
		if err := keepModeAndGroup(f, t, opts); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.Expect != nil {
		// The check and the rename happen under ksec's lock on the file
		// read, so two ksec writes of one file are one after the other:
		// the second sees the first's result and refuses.
		locked, err := opts.Expect.lockAndCheck(t.path)
		if err != nil {
			return err
		}
		if locked != nil {
			defer locked.Close()
		}
	}
	if opts.CreateOnly || opts.Expect != nil && opts.Expect.absent {
		// No-replace: a link fails if the name exists by now.
		if err := os.Link(tmp, t.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if opts.CreateOnly {
					return ErrExists
				}
				return errAppeared
			}
			return err
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, t.path); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

var errAppeared = fmt.Errorf("%w: the file was created by someone else while ksec worked; it was left as it is", ErrChanged)

// keepModeAndGroup gives the temporary file the target's group and mode.
func keepModeAndGroup(f *os.File, t target, opts *Options) error {
	mode := uint32(t.info.Mode) & 0o7777
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Gid != t.info.Gid {
		if err := unix.Fchown(int(f.Fd()), -1, int(t.info.Gid)); err != nil {
			// Not a member of that group any more: do not hand the
			// group's rights to the directory's group instead.
			mode &^= 0o070 | unix.S_ISGID
			opts.warn("%s: its group (gid %d) could not be kept (%v); the group has no access to the new file", t.path, t.info.Gid, err)
		}
	}
	if opts.Plaintext && mode&0o077 != 0 {
		opts.warn("%s is readable by other users (mode %#o), as it was before; the plaintext was written with that mode", t.path, mode&0o777)
	}
	// The ACL first: the new mode must never open the temporary file to
	// a user the inherited default ACL names, even for a moment.
	if err := keepACL(f, t.path); err != nil {
		return err
	}
	return unix.Fchmod(int(f.Fd()), mode)
}

// aclAccess is the extended attribute that holds a file's POSIX ACL.
const aclAccess = "system.posix_acl_access"

// keepACL gives the temporary file the target's access ACL, or none when
// the target has none. The temporary file otherwise has the directory's
// default ACL: with the target's mode kept, a user the default ACL names
// would read the new file although the target's own ACL (or its lack of
// one) did not let them.
func keepACL(f *os.File, path string) error {
	fd := int(f.Fd())
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(path, aclAccess, buf)
	switch {
	case err == nil:
		if err := unix.Fsetxattr(fd, aclAccess, buf[:n], 0); err != nil && !aclUnsupported(err) {
			return fmt.Errorf("keep the ACL of %s: %w", path, err)
		}
		return nil
	case errors.Is(err, unix.ENODATA):
		if err := unix.Fremovexattr(fd, aclAccess); err != nil && !errors.Is(err, unix.ENODATA) && !aclUnsupported(err) {
			return fmt.Errorf("remove the inherited ACL of the new %s: %w", path, err)
		}
		return nil
	case aclUnsupported(err):
		return nil
	}
	return fmt.Errorf("read the ACL of %s: %w", path, err)
}

func aclUnsupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// createTemp makes a new temporary file for base in dir, locked so that
// another ksec knows it is in use.
func createTemp(dir, base string, perm uint32) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, tempPrefix(base)+randomSuffix())
		fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "create temporary file", Path: name, Err: err}
		}
		f := os.NewFile(uintptr(fd), name)
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil && !lockUnsupported(err) {
			f.Close()
			os.Remove(name)
			return nil, "", err
		}
		// Another ksec may have taken it for a leftover before it was
		// locked, and removed it: then make another.
		if sameFile(name, fd) {
			return f, name, nil
		}
		f.Close()
	}
	return nil, "", errors.New("could not create a temporary file")
}

func lockUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EINVAL)
}

// sameFile reports whether name is the file open as fd.
func sameFile(name string, fd int) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Lstat(name, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// cleanLeftovers removes ksec's temporary files for base that no running
// ksec holds (a write killed by SIGKILL or a crash leaves them; they may
// hold plaintext), and points at those of older ksec versions, whose names
// (".NAME" and digits) cannot be told from a user's.
func cleanLeftovers(dir, base string, opts *Options) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		name := e.Name()
		if suffix, ok := strings.CutPrefix(name, prefix); ok && isTempSuffix(suffix) {
			removeLeftover(filepath.Join(dir, name), opts)
			continue
		}
		digits, ok := strings.CutPrefix(name, "."+base)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		// A concurrent older ksec may be writing it right now.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Minute {
			continue
		}
		opts.warn("%s looks like the temporary file of a write by an older ksec that was interrupted; it may hold plaintext: check it and delete it",
			filepath.Join(dir, name))
	}
}

func removeLeftover(path string, opts *Options) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG || st.Uid != uint32(os.Geteuid()) {
		return
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if !errors.Is(err, unix.EWOULDBLOCK) {
			opts.warn("%s is a temporary file of an interrupted ksec write; it may hold plaintext: check it and delete it", path)
		}
		return // a running ksec is writing it
	}
	if !sameFile(path, fd) {
		return
	}
	if os.Remove(path) == nil {
		opts.warn("removed %s, a temporary file left by an interrupted ksec write (it may have held plaintext)", path)
	}
}

// lockWait is how long a write waits for another ksec's lock on the file.
const lockWait = 30 * time.Second

// check compares the file at path with what was read.
func (s *Snapshot) check(path string) error {
	f, err := s.lockAndCheck(path)
	if f != nil {
		f.Close()
	}
	return err
}

// lockAndCheck takes ksec's write lock on the file at path (an exclusive
// flock, which every ksec write of that file takes before its check) and
// compares the file with what was read. The caller renames over it while
// holding the lock, then closes the file returned (nil when the file was
// expected absent).
func (s *Snapshot) lockAndCheck(path string) (*os.File, error) {
	if s.absent {
		if _, err := os.Lstat(path); err == nil {
			return nil, errAppeared
		}
		return nil, nil
	}
	// Not blocking and not following a link: a FIFO or a link put there
	// since is a change, not something to wait on or read through.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("%w: the file was removed after ksec read it; nothing was written", ErrChanged)
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, errChangedContent
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || s.hasID && s.typ != 0 {
		return nil, errChangedContent
	}
	if err := lockFile(fd, path); err != nil {
		return nil, err
	}
	// Another ksec may have replaced the file while this one waited.
	if !sameFile(path, fd) {
		return nil, errChangedContent
	}
	if dev, ino, ok := fileID(fi); ok && s.hasID && (dev != s.dev || ino != s.ino) {
		return nil, errChangedContent
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if [sha256.Size]byte(h.Sum(nil)) != s.sum {
		return nil, errChangedContent
	}
	ok = true
	return f, nil
}

// lockFile takes an exclusive flock on fd, waiting up to lockWait: another
// ksec holds it only for its check and rename. Where flock is not
// supported the write goes on without it.
func lockFile(fd int, path string) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil, lockUnsupported(err):
			return nil
		case !errors.Is(err, unix.EWOULDBLOCK):
			return &fs.PathError{Op: "lock", Path: path, Err: err}
		case time.Now().After(deadline):
			return hint.Wrap(fmt.Errorf("another program has held a lock on %s for %v; nothing was written", path, lockWait),
				"a ksec writing the file holds it for milliseconds: look for a program that keeps the file locked (lsof, fuser), then run the command again")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkStat compares a target that is not a regular file (a FIFO, a
// device), as plan found it, with what was read. A nil Snapshot expects
// nothing.
func (s *Snapshot) checkStat(st *unix.Stat_t) error {
	switch {
	case s == nil, s.absent:
		// Absent means no regular file: create -o /dev/null or -o FIFO
		// writes through.
		return nil
	case s.hasID && typeOf(uint32(st.Mode)) != s.typ:
		return errChangedContent
	case s.hasID && (uint64(st.Dev) != s.dev || uint64(st.Ino) != s.ino):
		return errChangedContent
	}
	return nil
}

var errChangedContent = fmt.Errorf("%w: another program (another ksec, git, an editor) wrote the file after ksec read it; it was left as that change made it", ErrChanged)
