//go:build linux

package prompt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal whose slave the Terminal under test opens by
// path; the test plays the person at the master side.
type pty struct {
	master *os.File
	path   string
	mu     sync.Mutex
	shown  bytes.Buffer
}

func newPTY(t *testing.T) *pty {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	p := &pty{master: master, path: fmt.Sprintf("/dev/pts/%d", n)}
	// Hold the slave open so the master does not see a hang-up between
	// the Terminal's opens.
	slave, err := os.OpenFile(p.path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close(); master.Close() })
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.shown.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// answer waits for prompt on the terminal, then types line and Enter.
func (p *pty) answer(t *testing.T, prompt, line string) {
	t.Helper()
	p.answerNth(t, prompt, line, 1)
}

// answerNth waits until prompt has been shown n times in all, then types
// line and Enter. Counting, rather than clearing what was shown between
// answers, cannot miss a prompt that arrives while the test clears.
func (p *pty) answerNth(t *testing.T, prompt, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.text(), prompt) < n {
		if time.Now().After(deadline) {
			t.Errorf("the terminal never showed %q; it showed %q", prompt, p.text())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := p.master.Write([]byte(line + "\n")); err != nil {
		t.Error(err)
	}
}

func (p *pty) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.ReplaceAll(p.shown.String(), "\r", "")
}

func TestSecretNotEchoed(t *testing.T) {
	p := newPTY(t)
	term := &Terminal{Path: p.path}
	done := make(chan struct{})
	var got []byte
	var err error
	go func() {
		defer close(done)
		got, err = term.Secret("Passphrase:")
	}()
	// Typed only once echo is off, as a person would after the prompt.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, terr := unix.IoctlGetTermios(int(p.master.Fd()), unix.TCGETS)
		if terr == nil && tio.Lflag&unix.ECHO == 0 && strings.Contains(p.text(), "Passphrase: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo never went off; terminal showed %q", p.text())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.answer(t, "Passphrase: ", "hunter2 with spaces")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Secret did not return; the terminal showed %q", p.text())
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hunter2 with spaces" {
		t.Errorf("Secret = %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(p.text(), "hunter2") {
		t.Errorf("the secret was echoed: %q", p.text())
	}
	tio, err := unix.IoctlGetTermios(int(p.master.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("echo not restored (%v)", err)
	}
}

func TestLineAndConfirm(t *testing.T) {
	p := newPTY(t)
	term := &Terminal{Path: p.path}
	for _, tc := range []struct {
		typed []string
		want  bool
		err   string
	}{
		{typed: []string{"1"}, want: true},
		{typed: []string{"2"}, want: false},
		{typed: []string{"touched"}, want: true},
		{typed: []string{"x", "2"}, want: false},
		{typed: []string{"x", "y", "z"}, err: "no valid answer"},
	} {
		const prompt = "Touch the key [1: touched, 2: cancel] "
		// Counted before Confirm starts: counted after, its first prompt
		// may already be in the count, and the test would wait for one
		// more that never comes.
		shown := strings.Count(p.text(), prompt)
		done := make(chan struct{})
		var got bool
		var err error
		go func() {
			defer close(done)
			got, err = term.Confirm("Touch the key", "touched", "cancel")
		}()
		for i, ans := range tc.typed {
			p.answerNth(t, prompt, ans, shown+i+1)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("typed %q: Confirm did not return; the terminal showed %q", tc.typed, p.text())
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("typed %q: err = %v, want %q", tc.typed, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("typed %q: Confirm = %v, %v; want %v", tc.typed, got, err, tc.want)
		}
	}
	if err := term.Message("a plugin says hello"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.text(), "a plugin says hello\n") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(p.text(), "a plugin says hello\n") {
		t.Errorf("message not shown: %q", p.text())
	}
}

func TestNoTerminal(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-tty")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, filepath.Join(t.TempDir(), "missing")} {
		term := &Terminal{Path: path}
		if _, err := term.Secret("Passphrase:"); !errors.Is(err, ErrNoTerminal) {
			t.Errorf("%s: Secret err = %v, want ErrNoTerminal", path, err)
		}
		if _, err := term.Confirm("ok?", "yes", ""); !errors.Is(err, ErrNoTerminal) {
			t.Errorf("%s: Confirm err = %v, want ErrNoTerminal", path, err)
		}
		if err := term.Message("hi"); !errors.Is(err, ErrNoTerminal) {
			t.Errorf("%s: Message err = %v, want ErrNoTerminal", path, err)
		}
		var buf bytes.Buffer
		term.Messages = &buf
		if err := term.Message("hi"); err != nil || buf.String() != "hi\n" {
			t.Errorf("%s: Message with fallback = %v, %q", path, err, buf.String())
		}
	}
}
