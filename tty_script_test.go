//go:build linux

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ttyrunMain is the ttyrun program of the scripts:
//
//	ttyrun [-secret PROMPT=ANSWER]... [-answer PROMPT=ANSWER]... [-log FILE] [-notty] COMMAND [ARG...]
//
// It runs COMMAND in a session of its own whose controlling terminal is a
// new pseudo-terminal, with ttyrun's stdin, stdout and stderr, so that
// what goes to /dev/tty and what goes to the pipes can be told apart. It
// answers the prompts in order: it waits until the terminal shows PROMPT,
// then types ANSWER and Enter; for -secret, only once the terminal stopped
// echoing, which it must do within seconds. -log FILE receives everything
// the terminal showed. -notty runs COMMAND without a controlling terminal
// (as under CI, whatever terminal the tests themselves run in). It exits
// with COMMAND's status.
func ttyrunMain() {
	os.Exit(ttyrun(os.Args[1:]))
}

type ttyAnswer struct {
	prompt, answer string
	secret         bool
}

type answersFlag struct {
	list   *[]ttyAnswer
	secret bool
}

func (a answersFlag) String() string { return "" }
func (a answersFlag) Set(v string) error {
	p, ans, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want PROMPT=ANSWER")
	}
	*a.list = append(*a.list, ttyAnswer{prompt: p, answer: ans, secret: a.secret})
	return nil
}

func ttyrun(args []string) int {
	fs := flag.NewFlagSet("ttyrun", flag.ContinueOnError)
	var answers []ttyAnswer
	fs.Var(answersFlag{&answers, true}, "secret", "PROMPT=ANSWER, typed with echo off")
	fs.Var(answersFlag{&answers, false}, "answer", "PROMPT=ANSWER")
	logFile := fs.String("log", "", "file for what the terminal showed")
	noTTY := fs.Bool("notty", false, "no controlling terminal")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ttyrun [-secret P=A] [-answer P=A] [-log FILE] [-notty] COMMAND [ARG...]")
		return 2
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if *noTTY {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return runStatus(cmd.Run())
	}
	master, slave, err := openPTY()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttyrun:", err)
		return 2
	}
	defer master.Close()
	cmd.ExtraFiles = []*os.File{slave} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "ttyrun:", err)
		return 2
	}
	var mu sync.Mutex
	var shown bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			shown.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	failed := ""
	from := 0
	for _, a := range answers {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			i := strings.Index(shown.String()[from:], a.prompt)
			if i >= 0 {
				from += i + len(a.prompt)
			}
			mu.Unlock()
			if i >= 0 {
				break
			}
			if time.Now().After(deadline) {
				failed = fmt.Sprintf("the terminal never showed %q", a.prompt)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for a.secret && failed == "" {
			t, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err == nil && t.Lflag&unix.ECHO == 0 {
				break
			}
			if time.Now().After(deadline) {
				failed = fmt.Sprintf("the terminal still echoes at %q", a.prompt)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if failed != "" {
			break
		}
		if _, err := master.Write([]byte(a.answer + "\n")); err != nil {
			failed = err.Error()
			break
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		werr = <-waited
		failed += " (killed after 60s)"
	}
	slave.Close() // the master reads EOF once no one holds the terminal
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
	}
	if *logFile != "" {
		mu.Lock()
		text := strings.ReplaceAll(shown.String(), "\r", "")
		mu.Unlock()
		if err := os.WriteFile(*logFile, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "ttyrun:", err)
			return 2
		}
	}
	if failed != "" {
		fmt.Fprintln(os.Stderr, "ttyrun:", failed)
		return 2
	}
	return runStatus(werr)
}

func runStatus(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "ttyrun:", err)
	return 2
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}
