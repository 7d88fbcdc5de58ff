//go:build linux

package outfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	must(t, err)
	return string(b)
}

func mode(t *testing.T, name string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(name)
	must(t, err)
	return fi.Mode()
}

// onlyEntries fails unless dir holds exactly names (no temporary file).
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func withUmask(t *testing.T, m int) {
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes device nodes or files of another user")
	}
}

func TestNewFileModes(t *testing.T) {
	for _, tc := range []struct {
		umask     int
		plaintext bool
		want      os.FileMode
	}{
		{0o022, true, 0o600},
		{0o022, false, 0o644},
		{0o077, true, 0o600},
		{0o077, false, 0o600},
		{0o277, true, 0o400},
		{0o002, false, 0o664},
	} {
		dir := t.TempDir() // before the umask, which may forbid writing in it
		name := filepath.Join(dir, "out.yaml")
		old := syscall.Umask(tc.umask)
		err := Write(ctx, name, []byte("x\n"), Options{Plaintext: tc.plaintext})
		syscall.Umask(old)
		must(t, err)
		if got := mode(t, name); got != tc.want {
			t.Errorf("umask %#o, plaintext %v: mode %v, want %v", tc.umask, tc.plaintext, got, tc.want)
		}
		onlyEntries(t, dir, "out.yaml")
	}
}

func TestReplaceKeepsModeOfOwnFile(t *testing.T) {
	withUmask(t, 0o022)
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("old\n"), 0o640))
	must(t, os.Chmod(name, 0o640|os.ModeSetgid))
	var warned []string
	must(t, Write(ctx, name, []byte("new\n"), Options{Plaintext: true, Warn: func(m string) { warned = append(warned, m) }}))
	if got := readFile(t, name); got != "new\n" {
		t.Fatalf("content %q", got)
	}
	if got := mode(t, name); got != 0o640|os.ModeSetgid {
		t.Fatalf("mode %v, want the old 0640 and setgid", got)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "is readable by other users (mode 0640), as it was before") {
		t.Fatalf("warnings %q", warned)
	}
	// Encrypted content into a shared-mode file: no warning.
	warned = nil
	must(t, Write(ctx, name, []byte("enc\n"), Options{Warn: func(m string) { warned = append(warned, m) }}))
	if len(warned) != 0 {
		t.Fatalf("warnings %q", warned)
	}
	onlyEntries(t, dir, "s.yaml")
}

func TestReplaceKeepsGroup(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("old\n"), 0o640))
	must(t, os.Chown(name, 0, 65534))
	must(t, Write(ctx, name, []byte("new\n"), Options{Plaintext: true}))
	fi, err := os.Stat(name)
	must(t, err)
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 65534 || fi.Mode() != 0o640 {
		t.Fatalf("gid %d mode %v, want 65534 and 0640", gid, fi.Mode())
	}
}

func TestSymlinkTargetReplacedLinkKept(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "real"), 0o700))
	real := filepath.Join(dir, "real", "s.yaml")
	must(t, os.WriteFile(real, []byte("old\n"), 0o600))
	// link -> link2 -> real/s.yaml, one relative and one absolute.
	must(t, os.Symlink("real/s.yaml", filepath.Join(dir, "link2")))
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(filepath.Join(dir, "link2"), link))
	must(t, Write(ctx, link, []byte("new\n"), Options{Plaintext: true}))
	if mode(t, link)&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
	if got := readFile(t, real); got != "new\n" {
		t.Fatalf("target holds %q", got)
	}
	onlyEntries(t, dir, "link", "link2", "real")
	onlyEntries(t, filepath.Join(dir, "real"), "s.yaml")
}

func TestSymlinkErrors(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "a")
	must(t, os.Symlink("b", loop))
	must(t, os.Symlink("a", filepath.Join(dir, "b")))
	err := Write(ctx, loop, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Fatalf("loop: %v", err)
	}
	dangling := filepath.Join(dir, "d")
	must(t, os.Symlink("nowhere.yaml", dangling))
	err = Write(ctx, dangling, []byte("x"), Options{})
	if err == nil || !regexp.MustCompile(`^write .*/d: it is a symbolic link to .*/nowhere\.yaml, which does not exist$`).MatchString(err.Error()) {
		t.Fatalf("dangling: %v", err)
	}
	onlyEntries(t, dir, "a", "b", "d")
}

func TestDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	err := Write(ctx, dir, []byte("x"), Options{})
	if err == nil || !strings.HasSuffix(err.Error(), ": it is a directory") {
		t.Fatalf("got %v", err)
	}
	if Check(dir, Options{}) == nil {
		t.Fatal("Check accepted a directory")
	}
	onlyEntries(t, dir)
}

func TestHardLinks(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	must(t, os.WriteFile(a, []byte("old\n"), 0o600))
	must(t, os.Link(a, b))
	err := Write(ctx, a, []byte("new\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "has 2 hard links: replacing it would leave the other names with the old content") {
		t.Fatalf("got %v", err)
	}
	if Check(a, Options{}) == nil {
		t.Fatal("Check accepted a hard link")
	}
	if readFile(t, a) != "old\n" {
		t.Fatal("changed")
	}
	must(t, Write(ctx, a, []byte("new\n"), Options{BreakLinks: true}))
	if readFile(t, a) != "new\n" || readFile(t, b) != "old\n" {
		t.Fatal("BreakLinks did not replace a alone")
	}
}

func TestCharDeviceWrittenThrough(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	// 1:3 is /dev/null; the real /dev/null is never touched.
	must(t, unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, Write(ctx, null, []byte("plaintext\n"), Options{Plaintext: true}))
	fi, err := os.Lstat(null)
	must(t, err)
	if fi.Mode()&os.ModeCharDevice == 0 || fi.Sys().(*syscall.Stat_t).Rdev != unix.Mkdev(1, 3) {
		t.Fatalf("the device was replaced: %v", fi.Mode())
	}
	onlyEntries(t, dir, "null")
}

func TestFIFOWithReader(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	must(t, unix.Mkfifo(fifo, 0o600))
	got := make(chan string)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	var warned []string
	must(t, Write(ctx, fifo, []byte("through the pipe\n"), Options{Plaintext: true, Warn: func(m string) { warned = append(warned, m) }}))
	if len(warned) != 0 {
		t.Errorf("a private FIFO warned: %q", warned)
	}
	select {
	case s := <-got:
		if s != "through the pipe\n" {
			t.Fatalf("reader got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader got nothing")
	}
	if mode(t, fifo)&os.ModeNamedPipe == 0 {
		t.Fatal("the FIFO was replaced")
	}
	onlyEntries(t, dir, "fifo")
}

func TestFileDescriptorNames(t *testing.T) {
	for _, form := range []string{"/dev/fd/%d", "/proc/self/fd/%d", "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/%d"} {
		r, w, err := os.Pipe()
		must(t, err)
		name := strings.Replace(form, "%d", strconv.Itoa(int(w.Fd())), 1)
		must(t, Write(ctx, name, []byte("to the pipe\n"), Options{Plaintext: true}))
		// The descriptor stays open: a second write goes through too.
		must(t, Write(ctx, name, []byte("again\n"), Options{Plaintext: true}))
		w.Close()
		b, err := io.ReadAll(r)
		must(t, err)
		r.Close()
		if string(b) != "to the pipe\nagain\n" {
			t.Fatalf("%s: read %q", name, b)
		}
	}
	err := Write(ctx, "/dev/fd/987", []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "file descriptor 987 is not open") {
		t.Fatalf("closed descriptor: %v", err)
	}
}

func TestOtherUsersFile(t *testing.T) {
	needRoot(t)
	withUmask(t, 0o022)
	dir := t.TempDir()
	name := filepath.Join(dir, "pre.yaml")
	must(t, os.WriteFile(name, []byte("bait\n"), 0o666))
	must(t, os.Chmod(name, 0o666))
	must(t, os.Chown(name, 65534, 65534))
	err := Write(ctx, name, []byte("plaintext\n"), Options{Plaintext: true})
	if err == nil || !strings.Contains(err.Error(), "belongs to another user (uid 65534): ksec does not write plaintext into a file that is not yours") {
		t.Fatalf("got %v", err)
	}
	if readFile(t, name) != "bait\n" {
		t.Fatal("written")
	}
	onlyEntries(t, dir, "pre.yaml")
	// Encrypted content replaces it with a file of one's own, mode from the umask.
	must(t, Write(ctx, name, []byte("enc\n"), Options{}))
	fi, err := os.Stat(name)
	must(t, err)
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 0 || fi.Mode() != 0o644 {
		t.Fatalf("uid %d mode %v", uid, fi.Mode())
	}
}

func TestExpect(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("v1\n"), 0o600))
	snap := func() *Snapshot {
		f, err := os.Open(name)
		must(t, err)
		defer f.Close()
		b, err := io.ReadAll(f)
		must(t, err)
		return Remember(f, b)
	}
	s := snap()
	must(t, Write(ctx, name, []byte("v2\n"), Options{Expect: s}))
	// s is stale now: the file was replaced (same content would not help,
	// the inode changed).
	err := Write(ctx, name, []byte("v3\n"), Options{Expect: s})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("got %v", err)
	}
	s = snap()
	must(t, os.WriteFile(name, []byte("v2 changed in place\n"), 0o600))
	err = Write(ctx, name, []byte("v3\n"), Options{Expect: s})
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "another program (another ksec, git, an editor) wrote the file after ksec read it") {
		t.Fatalf("got %v", err)
	}
	if readFile(t, name) != "v2 changed in place\n" {
		t.Fatal("overwritten")
	}
	onlyEntries(t, dir, "s.yaml")
	// A file expected absent that appeared.
	other := filepath.Join(dir, "new.yaml")
	s = Absent()
	must(t, os.WriteFile(other, []byte("theirs\n"), 0o600))
	if err := Write(ctx, other, []byte("mine\n"), Options{Expect: s}); !errors.Is(err, ErrChanged) || readFile(t, other) != "theirs\n" {
		t.Fatalf("got %v", err)
	}
	must(t, Write(ctx, filepath.Join(dir, "fresh.yaml"), []byte("mine\n"), Options{Expect: Absent()}))
}

func TestCreateOnly(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "key.txt")
	must(t, Write(ctx, name, []byte("k1\n"), Options{Plaintext: true, CreateOnly: true}))
	if err := Write(ctx, name, []byte("k2\n"), Options{Plaintext: true, CreateOnly: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v", err)
	}
	if readFile(t, name) != "k1\n" {
		t.Fatal("overwritten")
	}
	onlyEntries(t, dir, "key.txt")
}

func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("old\n"), 0o600))
	stale := filepath.Join(dir, ".s.yaml.ksec-tmp-abc123")
	must(t, os.WriteFile(stale, []byte("plaintext of a killed write\n"), 0o600))
	// One held by a running ksec (locked) is left alone.
	busy := filepath.Join(dir, ".s.yaml.ksec-tmp-zzz999")
	must(t, os.WriteFile(busy, nil, 0o600))
	held, err := os.Open(busy)
	must(t, err)
	defer held.Close()
	must(t, unix.Flock(int(held.Fd()), unix.LOCK_EX))
	// Names that are not ksec's exactly are left alone too.
	for _, n := range []string{".s.yaml.ksec-tmp-ABC123", ".s.yaml.ksec-tmp-abc1234", ".other.yaml.ksec-tmp-abc123", ".s.yaml.notes"} {
		must(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	legacy := filepath.Join(dir, ".s.yaml123456")
	must(t, os.WriteFile(legacy, nil, 0o600))
	long := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(legacy, long, long))

	var warned []string
	must(t, Write(ctx, name, []byte("new\n"), Options{Warn: func(m string) { warned = append(warned, m) }}))
	want := []string{
		"removed " + stale + ", a temporary file left by an interrupted ksec write (it may have held plaintext)",
		legacy + " looks like the temporary file of a write by an older ksec that was interrupted; it may hold plaintext: check it and delete it",
	}
	if strings.Join(warned, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings %q", warned)
	}
	onlyEntries(t, dir, ".other.yaml.ksec-tmp-abc123", ".s.yaml.ksec-tmp-ABC123", ".s.yaml.ksec-tmp-abc1234", ".s.yaml.ksec-tmp-zzz999", ".s.yaml.notes", ".s.yaml123456", "s.yaml")
}

func TestTempFileNameAndMode(t *testing.T) {
	withUmask(t, 0o022)
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("old\n"), 0o644))
	temps := &Temps{}
	// A cancelled context stops before the rename: the temporary file is
	// seen by Temps while it exists, and removed.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := Write(cctx, name, []byte("new\n"), Options{Plaintext: true, Temps: temps})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if readFile(t, name) != "old\n" || len(temps.files) != 0 {
		t.Fatal("not rolled back")
	}
	onlyEntries(t, dir, "s.yaml")

	f, tmp, err := createTemp(dir, "s.yaml", 0o600)
	must(t, err)
	defer f.Close()
	if !regexp.MustCompile(`/\.s\.yaml\.ksec-tmp-[a-z0-9]{6}$`).MatchString(tmp) {
		t.Fatalf("name %s", tmp)
	}
	if m := mode(t, tmp); m != 0o600 {
		t.Fatalf("temporary file mode %v", m)
	}
	temps.add(tmp)
	temps.RemoveAll()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("RemoveAll left it")
	}
	if !bytes.Equal([]byte(tempPrefix(strings.Repeat("x", 250))), []byte("."+strings.Repeat("x", 200)+".ksec-tmp-")) {
		t.Fatal("long names are not shortened")
	}
}

func TestSharedDirectoryForeignSymlink(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o777|os.ModeSticky))
	victim := filepath.Join(t.TempDir(), "victim")
	must(t, os.WriteFile(victim, []byte("keep\n"), 0o600))
	link := filepath.Join(dir, "out.yaml")
	must(t, os.Symlink(victim, link))
	must(t, os.Lchown(link, 65534, 65534))
	err := Write(ctx, link, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link of another user (uid 65534) in a shared directory; ksec does not follow it") {
		t.Fatalf("got %v", err)
	}
	if readFile(t, victim) != "keep\n" {
		t.Fatal("followed")
	}
}

// A file read and then replaced by a FIFO (no reader) or a device is a
// change: refused with ErrChanged at once, never written through and never
// waited on (an open of a FIFO without a reader blocks).
func TestExpectTargetReplacedByFIFO(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("v1\n"), 0o600))
	f, err := os.Open(name)
	must(t, err)
	s := Remember(f, []byte("v1\n"))
	f.Close()
	must(t, os.Remove(name))
	must(t, unix.Mkfifo(name, 0o600))
	for _, tc := range []struct {
		what   string
		expect *Snapshot
	}{{"read file replaced", s}} {
		done := make(chan error, 1)
		go func() { done <- Write(ctx, name, []byte("v2\n"), Options{Expect: tc.expect}) }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("%s: got %v, want ErrChanged", tc.what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Write blocked on the FIFO instead of refusing it", tc.what)
		}
		if mode(t, name)&os.ModeNamedPipe == 0 {
			t.Fatalf("%s: the FIFO was replaced", tc.what)
		}
	}
	onlyEntries(t, dir, "s.yaml")
	// The check itself never blocks on a FIFO that took the file's place.
	if err := s.check(name); !errors.Is(err, ErrChanged) {
		t.Fatalf("check: got %v", err)
	}
	// Absent means no regular file: a device is written through
	// (create -o /dev/null).
	must(t, Write(ctx, "/dev/null", []byte("x\n"), Options{Expect: Absent()}))
}

// Writers that read the same file race to write it back: exactly one
// wins, every other is refused with ErrChanged. Without the lock around
// the check and the rename, two could both pass the check and one's
// change was lost with exit 0 (ksec patch -i racing ksec patch -i lost an
// update about one run in eight).
func TestConcurrentWritersOneWins(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	for round := range 60 {
		must(t, os.WriteFile(name, []byte("v1\n"), 0o600))
		f, err := os.Open(name)
		must(t, err)
		s := Remember(f, []byte("v1\n"))
		f.Close()
		const writers = 4
		errs := make(chan error, writers)
		start := make(chan struct{})
		for w := range writers {
			go func() {
				<-start
				errs <- Write(ctx, name, []byte("writer "+strconv.Itoa(w)+"\n"), Options{Expect: s})
			}()
		}
		close(start)
		won := 0
		for range writers {
			switch err := <-errs; {
			case err == nil:
				won++
			case !errors.Is(err, ErrChanged):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d writers succeeded, want exactly 1 (an update was lost)", round, won)
		}
	}
	onlyEntries(t, dir, "s.yaml")
}

// A signal handler's RemoveAll, while several writers run (a batch writes
// with a pool), leaves no temporary file: none is created after it, and
// none between its creation and its registration. Each write either
// happened or left its target as it was.
func TestTempsRemoveAllDuringWrites(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		temps := &Temps{}
		const writers = 8
		errs := make(chan error, writers)
		for w := range writers {
			name := filepath.Join(dir, "s"+strconv.Itoa(w)+".yaml")
			must(t, os.WriteFile(name, []byte("old\n"), 0o600))
			go func() {
				var err error
				for range 20 {
					if err = Write(ctx, name, []byte("new\n"), Options{Temps: temps}); err != nil {
						break
					}
				}
				errs <- err
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		temps.RemoveAll()
		for range writers {
			<-errs
		}
		entries, err := os.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".ksec-tmp-") {
				t.Fatalf("round %d: %s left behind", round, e.Name())
			}
			if got := readFile(t, filepath.Join(dir, e.Name())); got != "old\n" && got != "new\n" {
				t.Fatalf("round %d: %s holds %q", round, e.Name(), got)
			}
		}
	}
	var temps Temps
	temps.RemoveAll()
	dir := t.TempDir()
	if err := Write(ctx, filepath.Join(dir, "late.yaml"), []byte("x\n"), Options{Temps: &temps}); !errors.Is(err, errEnding) {
		t.Fatalf("a write after RemoveAll: %v", err)
	}
	onlyEntries(t, dir)
}

// A file read and then replaced by a directory is a change (exit 7 in
// ksec), not "it is a directory": the user did not name a directory.
func TestExpectTargetReplacedByDirectory(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(name, []byte("v1\n"), 0o600))
	f, err := os.Open(name)
	must(t, err)
	s := Remember(f, []byte("v1\n"))
	f.Close()
	must(t, os.Remove(name))
	must(t, os.Mkdir(name, 0o700))
	if err := Write(ctx, name, []byte("v2\n"), Options{Expect: s}); !errors.Is(err, ErrChanged) {
		t.Fatalf("got %v, want ErrChanged", err)
	}
	// Without a snapshot a directory is the usual error.
	if err := Write(ctx, name, []byte("v2\n"), Options{}); err == nil || errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "it is a directory") {
		t.Fatalf("got %v", err)
	}
	onlyEntries(t, name)
}

// A replaced file keeps its own access ACL, and does not take the
// directory's default ACL: with the mode kept (0640), a user the default
// ACL names could otherwise read plaintext the old file did not let them
// read.
func TestReplaceKeepsACL(t *testing.T) {
	setfacl, err := exec.LookPath("setfacl")
	if err != nil {
		t.Fatal("setfacl is not installed: this test needs it (Debian: apt-get install acl)")
	}
	acl := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(setfacl, args...).CombinedOutput(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("setfacl %v: %v: %s", args, err, out)
			}
			t.Skipf("no ACLs here: setfacl %v: %v: %s", args, err, out)
		}
	}
	get := func(name string) string {
		buf := make([]byte, 4096)
		n, err := unix.Lgetxattr(name, "system.posix_acl_access", buf)
		if errors.Is(err, unix.ENODATA) {
			return ""
		}
		must(t, err)
		return string(buf[:n])
	}
	dir := t.TempDir()
	// uid 4242: a user who is not the file's owner, named only in ACLs.
	acl("-d", "-m", "u:4242:r", dir)
	withACL := filepath.Join(dir, "with.yaml")
	without := filepath.Join(dir, "without.yaml")
	for _, name := range []string{withACL, without} {
		must(t, os.WriteFile(name, []byte("old\n"), 0o600))
		must(t, unix.Removexattr(name, "system.posix_acl_access"))
		must(t, os.Chmod(name, 0o640))
	}
	acl("-m", "u:4243:r", withACL)
	wantWith := get(withACL)
	if wantWith == "" || get(without) != "" {
		t.Fatal("test setup: ACLs not as meant")
	}
	for _, name := range []string{withACL, without} {
		must(t, Write(ctx, name, []byte("new\n"), Options{Plaintext: true}))
	}
	if got := get(withACL); got != wantWith {
		t.Errorf("with.yaml: ACL %q, want %q", got, wantWith)
	}
	if got := get(without); got != "" {
		t.Errorf("without.yaml: took the directory's default ACL %q", got)
	}
	if m := mode(t, without); m.Perm() != 0o640 {
		t.Errorf("without.yaml: mode %v", m)
	}
}

// Plaintext into a FIFO others may open for reading is written (the user
// named it) with a warning: the first reader gets it, whoever that is.
func TestFIFOReadableByOthersWarns(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	must(t, unix.Mkfifo(fifo, 0o600))
	must(t, os.Chmod(fifo, 0o644))
	go func() {
		if f, err := os.Open(fifo); err == nil {
			io.Copy(io.Discard, f)
			f.Close()
		}
	}()
	var warned []string
	must(t, Write(ctx, fifo, []byte("x\n"), Options{Plaintext: true, Warn: func(m string) { warned = append(warned, m) }}))
	if len(warned) != 1 || !strings.Contains(warned[0], "is a FIFO other users may open for reading (mode 0644)") {
		t.Fatalf("warnings %q", warned)
	}
}

// RemoveAll also removes the private directories held (edit's plaintext
// buffer), so a second signal never leaves them behind; a released one
// (kept on purpose and named to the user) stays.
func TestTempsHoldDir(t *testing.T) {
	base := t.TempDir()
	held := filepath.Join(base, "ksec-edit-1")
	released := filepath.Join(base, "ksec-edit-2")
	for _, d := range []string{held, released} {
		must(t, os.Mkdir(d, 0o700))
		must(t, os.WriteFile(filepath.Join(d, "s.yaml"), []byte("plaintext\n"), 0o600))
	}
	var temps Temps
	temps.HoldDir(held)
	temps.HoldDir(released)
	temps.ReleaseDir(released)
	temps.RemoveAll()
	onlyEntries(t, base, "ksec-edit-2")
}

func TestIsTempName(t *testing.T) {
	for name, want := range map[string]string{
		".s.yaml.ksec-tmp-abc123":       "s.yaml",
		".s.yaml.ksec-tmp-4711":         "s.yaml", // os.CreateTemp on Windows
		".a.ksec-tmp-b.ksec-tmp-zzzzzz": "a.ksec-tmp-b",
		"s.yaml.ksec-tmp-abc123":        "",
		".s.yaml.ksec-tmp-":             "",
		".s.yaml.ksec-tmp-ABC123":       "",
		".ksec-tmp-abc123":              "",
		".s.yaml":                       "",
	} {
		got, ok := IsTempName(name)
		if got != want || ok != (want != "") {
			t.Errorf("IsTempName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
