//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The output layer's cases that need root (device nodes, files of another
// user) or a second user, and a SIGKILL mid-write. The rest is in
// testdata/script/output_*.txtar and outfile's own tests.

const outputPlain = hostileSecret + "stringData:\n  a: pw-one-Kq81xZ\n"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes device nodes, files of another user, or a second user")
	}
}

// TestOutputDeviceNode writes to a char device node 1:3 (what /dev/null
// is) made in a temporary directory: it is written to, never replaced.
// The real /dev/null is never touched.
func TestOutputDeviceNode(t *testing.T) {
	needRoot(t)
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	enc := b.roundTrip(id, rcpt, []byte(outputPlain))
	in := b.file("enc.yaml", enc)
	dev := filepath.Join(b.dir, "null")
	must(t, unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	for _, args := range [][]string{
		{"decrypt", "-I", id, in, "-o", dev},
		{"encrypt", "-k", rcpt, b.file("plain.yaml", []byte(outputPlain)), "-o", dev},
		{"keygen", "-o", dev},
	} {
		if r := b.run(nil, nil, args...); r.code != 0 {
			t.Fatalf("ksec %v: exit %d: %s", args, r.code, r.stderr)
		}
		var st unix.Stat_t
		must(t, unix.Lstat(dev, &st))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
			t.Fatalf("ksec %s replaced the device node (mode %o)", args[0], st.Mode)
		}
	}
	for _, e := range dirEntries(t, b.dir) {
		if strings.Contains(e, "ksec-tmp") {
			t.Fatalf("left %s", e)
		}
	}
}

// TestOutputOtherUsersFileAsRoot: a target another user pre-created 0666
// (in a sticky, world-writable directory, as /tmp) never receives
// plaintext, not even from root.
func TestOutputOtherUsersFileAsRoot(t *testing.T) {
	needRoot(t)
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	in := b.file("enc.yaml", b.roundTrip(id, rcpt, []byte(outputPlain)))
	shared := filepath.Join(b.dir, "shared")
	must(t, os.Mkdir(shared, 0o777))
	must(t, os.Chmod(shared, 0o777|os.ModeSticky))
	bait := filepath.Join(shared, "out.yaml")
	must(t, os.WriteFile(bait, []byte("bait\n"), 0o666))
	must(t, os.Chmod(bait, 0o666))
	must(t, os.Chown(bait, 65534, 65534))
	r := b.run(nil, nil, "decrypt", "-I", id, in, "-o", bait)
	checkCleanError(t, r, 1, `write .*/shared/out\.yaml: .*/shared/out\.yaml belongs to another user \(uid 65534\): ksec does not write plaintext into a file that is not yours$`)
	if got, _ := os.ReadFile(bait); string(got) != "bait\n" {
		t.Fatalf("the file now holds %q", got)
	}
	if got := dirEntries(t, shared); len(got) != 1 {
		t.Fatalf("the shared directory holds %v", got)
	}
}

// nonRoot is a second, unprivileged user and a copy of the ksec binary it
// can run.
type nonRoot struct {
	uid, gid uint32
	bin      string
}

func newNonRoot(t *testing.T) nonRoot {
	t.Helper()
	needRoot(t)
	const name = "ksec-test-user"
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v: %s", err, out)
		}
	}
	u, err := user.Lookup(name)
	must(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The test binary's own directory is private to root: copy it where
	// the user can run it, named ksec (testscript dispatches on the name).
	self, err := os.Executable()
	must(t, err)
	dir, err := os.MkdirTemp("", "ksecbin")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	src, err := os.ReadFile(self)
	must(t, err)
	bin := filepath.Join(dir, "ksec")
	must(t, os.WriteFile(bin, src, 0o755))
	return nonRoot{uid: uint32(uid), gid: uint32(gid), bin: bin}
}

// run runs ksec as the user, in dir, with umask, and returns its exit code and stderr.
func (u nonRoot) run(t *testing.T, dir string, umask int, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("umask %03o && exec \"$0\" \"$@\"", umask))
	c.Args = append([]string{"sh", "-c", c.Args[2], u.bin}, args...)
	c.Dir = dir
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_RUNTIME_DIR=" + dir, "TMPDIR=" + dir}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
	var errb bytes.Buffer
	c.Stderr = &errb
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ksec %v: %v", args, err)
	}
	return c.ProcessState.ExitCode(), errb.String()
}

func fileMode(t *testing.T, name string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Lstat(name)
	must(t, err)
	return fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid
}

// TestOutputAsNonRoot runs ksec as an unprivileged user: umask 077, a
// 0666 target another user pre-created in a sticky directory, and the
// user's own file there.
func TestOutputAsNonRoot(t *testing.T) {
	u := newNonRoot(t)
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	enc := b.roundTrip(id, rcpt, []byte(outputPlain))
	home := filepath.Join(b.dir, "user")
	must(t, os.Mkdir(home, 0o700))
	for name, data := range map[string][]byte{"enc.yaml": enc, "plain.yaml": []byte(outputPlain), "id.key": must2(os.ReadFile(id))(t)} {
		must(t, os.WriteFile(filepath.Join(home, name), data, 0o600))
		must(t, os.Chown(filepath.Join(home, name), int(u.uid), int(u.gid)))
	}
	must(t, os.Chown(home, int(u.uid), int(u.gid)))
	must(t, os.Chmod(b.dir, 0o755))
	must(t, os.Chmod(filepath.Dir(b.dir), 0o755)) // t.TempDir's parent is private

	t.Run("umask 077", func(t *testing.T) {
		for _, args := range [][]string{
			{"decrypt", "-I", "id.key", "enc.yaml", "-o", "p.yaml"},
			{"encrypt", "-k", rcpt, "plain.yaml", "-o", "e.yaml"},
		} {
			if code, stderr := u.run(t, home, 0o077, args...); code != 0 {
				t.Fatalf("ksec %v: exit %d: %s", args, code, stderr)
			}
			if m, uid := fileMode(t, filepath.Join(home, args[len(args)-1])); m != 0o600 || uid != u.uid {
				t.Fatalf("ksec %s: mode %v uid %d, want 0600 and the user's", args[0], m, uid)
			}
		}
		// umask 022: plaintext still 0600, encrypted 0644.
		for _, args := range [][]string{
			{"decrypt", "-I", "id.key", "enc.yaml", "-o", "p022.yaml"},
			{"encrypt", "-k", rcpt, "plain.yaml", "-o", "e022.yaml"},
		} {
			if code, stderr := u.run(t, home, 0o022, args...); code != 0 {
				t.Fatalf("ksec %v: exit %d: %s", args, code, stderr)
			}
		}
		if m, _ := fileMode(t, filepath.Join(home, "p022.yaml")); m != 0o600 {
			t.Fatalf("plaintext mode %v", m)
		}
		if m, _ := fileMode(t, filepath.Join(home, "e022.yaml")); m != 0o644 {
			t.Fatalf("encrypted mode %v", m)
		}
	})

	t.Run("another user's 0666 file in a sticky directory", func(t *testing.T) {
		shared := filepath.Join(b.dir, "tmp-shared")
		must(t, os.Mkdir(shared, 0o777))
		must(t, os.Chmod(shared, 0o777|os.ModeSticky))
		bait := filepath.Join(shared, "out.yaml")
		must(t, os.WriteFile(bait, []byte("bait\n"), 0o666))
		must(t, os.Chmod(bait, 0o666)) // root's, readable and writable by all
		code, stderr := u.run(t, home, 0o022, "decrypt", "-I", "id.key", "enc.yaml", "-o", bait)
		if code != 1 || !strings.Contains(stderr, "ksec: error: write "+bait+": "+bait+" belongs to another user (uid 0): ksec does not write plaintext into a file that is not yours\n") ||
			!strings.Contains(stderr, "ksec: hint: write to a new file of your own") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		// Encrypted output is no secret, but the sticky directory does
		// not let the user replace root's file: a clean error.
		code, stderr = u.run(t, home, 0o022, "encrypt", "-k", rcpt, "plain.yaml", "-o", bait)
		if code != 1 || !strings.Contains(stderr, "ksec: error: write "+bait+": "+bait+" belongs to another user (uid 0) in a sticky directory, where only its owner may replace it\n") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got, _ := os.ReadFile(bait); string(got) != "bait\n" {
			t.Fatalf("the file now holds %q", got)
		}
		if got := dirEntries(t, shared); len(got) != 1 {
			t.Fatalf("the shared directory holds %v (a temporary file left?)", got)
		}
		// The user's own file there is written, its mode kept.
		own := filepath.Join(shared, "own.yaml")
		code, stderr = u.run(t, home, 0o022, "decrypt", "-I", "id.key", "enc.yaml", "-o", own)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if m, uid := fileMode(t, own); m != 0o600 || uid != u.uid {
			t.Fatalf("mode %v uid %d", m, uid)
		}
		if got, _ := os.ReadFile(own); !bytes.Contains(got, []byte("pw-one-Kq81xZ")) {
			t.Fatal("not decrypted")
		}
	})

	t.Run("group kept", func(t *testing.T) {
		// The user's file with a group it belongs to keeps group and mode.
		f := filepath.Join(home, "g.yaml")
		must(t, os.WriteFile(f, enc, 0o640))
		must(t, os.Chmod(f, 0o640))
		must(t, os.Chown(f, int(u.uid), int(u.gid)))
		code, stderr := u.run(t, home, 0o077, "decrypt", "-i", "-I", "id.key", "g.yaml")
		if code != 0 || !strings.Contains(stderr, "is readable by other users (mode 0640), as it was before") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		fi, err := os.Stat(f)
		must(t, err)
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o640 || st.Gid != u.gid || st.Uid != u.uid {
			t.Fatalf("mode %v uid %d gid %d", fi.Mode(), st.Uid, st.Gid)
		}
	})
}

// must2 turns a (value, error) pair into a value, failing t on the error.
func must2[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		must(t, err)
		return v
	}
}

// TestSIGKILLLeftoversCleaned kills decrypt -i the moment its temporary
// file appears (seen with inotify), so a plaintext temporary file is left;
// the next write of that file removes it and says so.
func TestSIGKILLLeftoversCleaned(t *testing.T) {
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	work := filepath.Join(b.dir, "work")
	must(t, os.Mkdir(work, 0o700))
	var sb strings.Builder
	sb.WriteString(hostileSecret + "stringData:\n")
	for i := range 20000 {
		fmt.Fprintf(&sb, "  key-%05d: value %05d pw-one-Kq81xZ padding padding padding\n", i, i)
	}
	plain := sb.String()
	target := filepath.Join(work, "big.yaml")
	must(t, os.WriteFile(target, []byte(plain), 0o600))
	if r := b.run(nil, nil, "encrypt", "-i", "-k", rcpt, target); r.code != 0 {
		t.Fatalf("encrypt: %s", r.stderr)
	}
	encrypted, err := os.ReadFile(target)
	must(t, err)

	tempName := regexp.MustCompile(`^\.big\.yaml\.ksec-tmp-[a-z0-9]{6}$`)
	var left string
	for try := 0; try < 10 && left == ""; try++ {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		must(t, err)
		_, err = unix.InotifyAddWatch(fd, work, unix.IN_CREATE)
		must(t, err)
		c := exec.Command("ksec", "decrypt", "-i", "-I", id, target)
		c.Env = b.env
		must(t, c.Start())
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf) // blocks until the temporary file is created
		_ = c.Process.Signal(syscall.SIGKILL)
		_ = c.Wait()
		unix.Close(fd)
		must(t, err)
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[0]))
		name := strings.TrimRight(string(buf[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		_ = n
		if !tempName.MatchString(name) {
			t.Fatalf("ksec created %s, not named as its temporary files are", name)
		}
		if _, err := os.Stat(filepath.Join(work, name)); err == nil {
			left = name
		}
		if now, _ := os.ReadFile(target); !bytes.Equal(now, encrypted) {
			if string(now) != plain {
				t.Fatal("the killed write left a file that is neither the old nor the new one")
			}
			// It finished before the kill: encrypt again and retry.
			if r := b.run(nil, nil, "encrypt", "-i", "-k", rcpt, target); r.code != 0 {
				t.Fatalf("encrypt: %s", r.stderr)
			}
			encrypted, _ = os.ReadFile(target)
		}
	}
	if left == "" {
		t.Fatal("no kill landed before the rename in 10 tries")
	}
	if m, _ := fileMode(t, filepath.Join(work, left)); m.Perm()&0o077 != 0 {
		t.Fatalf("the temporary file has mode %v", m)
	}
	r := b.run(nil, nil, "decrypt", "-i", "-I", id, target)
	if r.code != 0 {
		t.Fatalf("decrypt: %s", r.stderr)
	}
	want := "ksec: warning: removed " + filepath.Join(work, left) + ", a temporary file left by an interrupted ksec write (it may have held plaintext)\n"
	if r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	if got := dirEntries(t, work); len(got) != 1 {
		t.Fatalf("work holds %v", got)
	}
	if now, _ := os.ReadFile(target); string(now) != plain {
		t.Fatal("not decrypted")
	}
}

// TestSecondSignalRemovesTemporaryFile sends SIGTERM twice the moment the
// temporary file of decrypt -i appears: the first lets the write go on, the
// second ends ksec, and its handler removes the temporary file first. The
// target is the old file or the complete new one.
func TestSecondSignalRemovesTemporaryFile(t *testing.T) {
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	work := filepath.Join(b.dir, "work")
	must(t, os.Mkdir(work, 0o700))
	var sb strings.Builder
	sb.WriteString(hostileSecret + "stringData:\n")
	for i := range 20000 {
		fmt.Fprintf(&sb, "  key-%05d: value %05d pw-one-Kq81xZ padding padding padding\n", i, i)
	}
	plain := sb.String()
	target := filepath.Join(work, "big.yaml")
	must(t, os.WriteFile(target, []byte(plain), 0o600))
	if r := b.run(nil, nil, "encrypt", "-i", "-k", rcpt, target); r.code != 0 {
		t.Fatalf("encrypt: %s", r.stderr)
	}
	encrypted, err := os.ReadFile(target)
	must(t, err)
	interrupted := 0
	for try := 0; try < 5; try++ {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		must(t, err)
		_, err = unix.InotifyAddWatch(fd, work, unix.IN_CREATE)
		must(t, err)
		c := exec.Command("ksec", "decrypt", "-i", "-I", id, target)
		c.Env = b.env
		must(t, c.Start())
		buf := make([]byte, 4096)
		_, err = unix.Read(fd, buf) // the temporary file was created
		_ = c.Process.Signal(syscall.SIGTERM)
		time.Sleep(2 * time.Millisecond)
		_ = c.Process.Signal(syscall.SIGTERM)
		state, _ := c.Process.Wait()
		unix.Close(fd)
		must(t, err)
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			interrupted++
		}
		if got := dirEntries(t, work); len(got) != 1 {
			t.Fatalf("try %d: work holds %v", try, got)
		}
		switch now, _ := os.ReadFile(target); {
		case bytes.Equal(now, encrypted):
		case string(now) == plain:
			if r := b.run(nil, nil, "encrypt", "-i", "-k", rcpt, target); r.code != 0 {
				t.Fatalf("encrypt: %s", r.stderr)
			}
			encrypted, _ = os.ReadFile(target)
		default:
			t.Fatalf("try %d left a file that is neither the old nor the new one", try)
		}
	}
	if interrupted == 0 {
		t.Fatal("no run was ended by the second signal while writing")
	}
	t.Logf("%d of 5 runs ended by the second signal", interrupted)
}
