// Package prompt asks the person at the terminal for a passphrase, a PIN or
// a confirmation. It talks to the terminal itself (/dev/tty), never to
// standard input or output, so `ksec decrypt FILE | kubectl apply -f -` can
// still ask, and nothing typed or asked ends up in the pipe.
package prompt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// ErrNoTerminal says there is no terminal to ask on (CI, a cron job, a
// program that started ksec without one).
var ErrNoTerminal = errors.New("there is no terminal to ask on")

// maxLine bounds an answer typed at the terminal.
const maxLine = 4096

// Terminal asks on a terminal device. Its methods may be called from
// several goroutines: one question is asked at a time.
type Terminal struct {
	// Path is the terminal device; "" means /dev/tty, the process's
	// controlling terminal.
	Path string
	// Messages receives what is only shown (a plugin's messages) when
	// there is no terminal; nil drops them.
	Messages io.Writer

	mu sync.Mutex
}

func (t *Terminal) open() (*os.File, error) {
	path := t.Path
	if path == "" {
		path = "/dev/tty"
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrNoTerminal, path, errors.Unwrap(err))
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, fmt.Errorf("%w (%s is not a terminal)", ErrNoTerminal, path)
	}
	return f, nil
}

// Secret shows prompt and reads one line without echoing it.
func (t *Terminal) Secret(prompt string) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := t.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "%s ", strings.TrimRight(prompt, " "))
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(f) // the Enter that was not echoed
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	if len(b) > maxLine {
		clear(b)
		return nil, fmt.Errorf("the answer is longer than %d bytes", maxLine)
	}
	return b, nil
}

// Line shows prompt and reads one line, echoed as typed.
func (t *Terminal) Line(prompt string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := t.open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	fmt.Fprintf(f, "%s ", strings.TrimRight(prompt, " "))
	return readLine(f)
}

// readLine reads up to a newline byte by byte, so nothing after it is
// taken from the terminal.
func readLine(r io.Reader) (string, error) {
	var buf bytes.Buffer
	b := make([]byte, 1)
	for buf.Len() <= maxLine {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return strings.TrimSuffix(buf.String(), "\r"), nil
			}
			buf.WriteByte(b[0])
			continue
		}
		if err == io.EOF {
			return "", errors.New("the terminal was closed")
		}
		if err != nil {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
	}
	return "", fmt.Errorf("the answer is longer than %d bytes", maxLine)
}

// Confirm asks a yes/no question with the given choices; when no is "",
// Enter confirms and there is nothing to refuse with.
func (t *Terminal) Confirm(prompt, yes, no string) (bool, error) {
	if no == "" {
		_, err := t.Line(fmt.Sprintf("%s (press Enter for %q)", prompt, yes))
		return err == nil, err
	}
	for range 3 {
		ans, err := t.Line(fmt.Sprintf("%s [1: %s, 2: %s]", prompt, yes, no))
		if err != nil {
			return false, err
		}
		switch strings.TrimSpace(ans) {
		case "1", yes:
			return true, nil
		case "2", no:
			return false, nil
		}
	}
	return false, errors.New("no valid answer: expected 1 or 2")
}

// Message shows one line on the terminal, or writes it to Messages when
// there is none.
func (t *Terminal) Message(msg string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := t.open()
	if err != nil {
		if t.Messages == nil {
			return err
		}
		_, err = fmt.Fprintln(t.Messages, msg)
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, msg)
	return err
}
