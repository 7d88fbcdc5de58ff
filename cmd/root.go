// Package cmd holds ksec's commands: each parses flags into an options
// struct and calls into the envelope, manifest and keyring packages.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/outfile"
)

// System is what commands use of the outside world, so tests can supply it.
type System struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	// StdinIsTerminal reports whether In is an interactive terminal.
	StdinIsTerminal func() bool
	// ShieldInterrupt, when not nil, makes Ctrl-C (SIGINT) not end ksec while
	// on is true: an interactive editor owns the terminal then.
	ShieldInterrupt func(on bool)
	// ForwardSignals, when not nil, makes ksec's own signal handling stand
	// aside while on is true: exec-env and exec-file pass the signals on to
	// the program they run and end when it ends.
	ForwardSignals func(on bool)
	// Temps, when not nil, holds the temporary files being written, for
	// the signal handler to remove.
	Temps *outfile.Temps
}

// Main runs ksec with the process's arguments and returns the exit code.
// version is the release version stamped in at build time, or "" (see
// resolveVersion).
func Main(version string) int {
	preventCoreDumps()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var shield, forward atomic.Bool
	temps := &outfile.Temps{}
	sigs := make(chan os.Signal, 2) // room for the second signal
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		cancelled := false
		for sig := range sigs {
			if sig == os.Interrupt && shield.Load() || forward.Load() {
				continue
			}
			if !cancelled {
				// Cancel the work so it cleans up.
				cancelled = true
				cancel()
				continue
			}
			// A second signal ends ksec at once, as by default, but
			// first removes a temporary file being written (it may
			// hold plaintext).
			temps.RemoveAll()
			signal.Stop(sigs)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(sig)
			}
			time.Sleep(time.Second)
			os.Exit(ExitError)
		}
	}()
	sys := &System{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv,
		StdinIsTerminal: func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		ShieldInterrupt: shield.Store,
		ForwardSignals:  forward.Store,
		Temps:           temps,
	}
	return Run(ctx, sys, resolveVersion(version), argsFor(os.Args))
}

// Run executes one ksec command line and returns the exit code.
func Run(ctx context.Context, sys *System, version string, args []string) int {
	root := NewCmdRoot(sys, version)
	if err := unknownCommand(root, args); err != nil {
		return reportError(sys.Err, err)
	}
	root.SetArgs(args)
	root.SetIn(sys.In)
	root.SetOut(sys.Out)
	root.SetErr(sys.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var child childExit
	if errors.As(err, &child) {
		return int(child) // the program exec-env or exec-file ran said why
	}
	return reportError(sys.Err, err)
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(sys *System, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "ksec",
		Short: "Keep Kubernetes Secrets in git: encrypt their values, keep the rest readable",
		Long: `ksec encrypts only the values of Kubernetes Secret manifests (data and
stringData), with a per-Secret data key wrapped for each recipient, so the
manifest stays readable and diffable in git.

  ksec encrypt -i -k KEY secret.yaml
  ksec decrypt secret.yaml | kubectl apply -f -`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		NewCmdEncrypt(sys, nil),
		NewCmdDecrypt(sys, nil),
		NewCmdEdit(sys, nil),
		NewCmdKeygen(sys, nil),
		NewCmdRotate(sys, nil),
		NewCmdPatch(sys, nil),
		NewCmdInit(sys, nil),
		NewCmdUpdatekeys(sys, nil),
		NewCmdInspect(sys, nil),
		NewCmdCreate(sys, nil),
		NewCmdCheck(sys, nil),
		NewCmdTextconv(sys, nil),
		NewCmdExecEnv(sys, nil),
		NewCmdExecFile(sys, nil),
		NewCmdImport(sys, nil),
		NewCmdMergeDriver(sys, nil),
		NewCmdKustomize(sys, nil),
		NewCmdPostRender(sys, nil),
		NewCmdAdmissionPolicy(sys, nil),
	)
	return root
}

// unknownCommand returns a usage error when args name no command: cobra's
// own error would exit 1 and spread over several lines.
func unknownCommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil // shell completion, which cobra answers itself
	}
	// cobra adds these only as it executes.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	c, rest, err := root.Find(args)
	if err == nil || c != root || len(rest) == 0 {
		return nil
	}
	name := rest[0]
	var hints []string
	if s := root.SuggestionsFor(name); len(s) > 0 {
		hints = append(hints, "did you mean "+strings.Join(s, " or ")+"?")
	}
	return hint.Wrap(usagef("unknown command %q", name), hints...)
}

// usageError marks a mistake in the command line itself.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// maxArgs is cobra.MaximumNArgs with a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
