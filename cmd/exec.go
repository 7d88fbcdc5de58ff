package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/execsecret"
	"github.com/ksec-dev/ksec/internal/childenv"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

// ExecOptions are the parsed flags of ksec exec-env and exec-file.
type ExecOptions struct {
	File           string
	Command        []string
	AsFile         bool // exec-file, else exec-env
	Secret         string
	Identities     []string
	PassphraseFile string
	SkipInvalid    bool
}

// childExit ends ksec with the exit status of the program it ran, without
// a message of its own.
type childExit int

func (c childExit) Error() string { return fmt.Sprintf("the program exited with status %d", int(c)) }

// NewCmdExecEnv builds ksec exec-env; runF replaces the work in tests.
func NewCmdExecEnv(sys *System, runF func(*cobra.Command, *ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{}
	c := &cobra.Command{
		Use:   "exec-env [--secret [NS/]NAME] [-I FILE]... FILE [--] CMD [ARG]...",
		Short: "Run a program with a Secret's values in its environment",
		Long: `Decrypt FILE and run CMD with each value of the Secret as an environment
variable: the key is the variable's name, data values are decoded. Nothing
is written to disk. A file with several Secrets needs --secret.

A key that is not a valid variable name (letters, digits, _; not starting
with a digit: tls.crt, api-key) is an error; --skip-invalid leaves such keys
out and names them on standard error. A value replaces a variable of the
same name that ksec's own environment has (the Secret wins). CMD itself is
found with ksec's PATH. KSEC_AGE_KEY and other age secret keys in ksec's
environment are not passed on.

Signals (TERM, HUP, QUIT, USR1, USR2; INT unless standard input is a
terminal, which sends Ctrl-C to CMD itself) are passed on to CMD, and ksec
exits with CMD's exit status (128+N when signal N ended it).

  ksec exec-env db.yaml -- sh -c 'psql "postgres://$user:$password@db/app"'`,
		Args: execArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.File, opts.Command = splitExecArgs(args)
			if runF != nil {
				return runF(c, opts)
			}
			return runExec(c, sys, opts)
		},
	}
	bindExecFlags(c, opts)
	c.Flags().StringVar(&opts.Secret, "secret", "", "the Secret to use, as NAME or NAMESPACE/NAME (when FILE has several)")
	c.Flags().BoolVar(&opts.SkipInvalid, "skip-invalid", false, "leave out keys that are not valid variable names instead of failing")
	return c
}

// NewCmdExecFile builds ksec exec-file; runF replaces the work in tests.
func NewCmdExecFile(sys *System, runF func(*cobra.Command, *ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{AsFile: true}
	c := &cobra.Command{
		Use:   "exec-file [-I FILE]... FILE [--] CMD [ARG]...",
		Short: "Run a program with the decrypted manifest in a private temporary file",
		Long: `Decrypt FILE into a private temporary file and run CMD with every {} in
its arguments replaced by that file's path; the file is removed when CMD
ends, also when a signal ends it. The file holds the manifest as ksec
decrypt prints it, and has the name FILE has.

The file is created with mode 0600 in a new directory only you can enter
(mode 0700), under $XDG_RUNTIME_DIR or /dev/shm (memory, not disk) when
they exist, else the system's temporary directory. If ksec itself is
killed with SIGKILL it cannot remove the file.

Signals and the exit status work as for exec-env; CMD's environment is
ksec's, without KSEC_AGE_KEY and other age secret keys.

  ksec exec-file db.yaml -- kubectl apply -f {}`,
		Args: execArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.File, opts.Command = splitExecArgs(args)
			if runF != nil {
				return runF(c, opts)
			}
			return runExec(c, sys, opts)
		},
	}
	bindExecFlags(c, opts)
	return c
}

func bindExecFlags(c *cobra.Command, opts *ExecOptions) {
	// Flags after FILE belong to CMD.
	c.Flags().SetInterspersed(false)
	c.Flags().StringArrayVarP(&opts.Identities, "identity", "I", nil, "secret key file to decrypt with (repeatable)")
	addPassphraseFlag(c.Flags(), &opts.PassphraseFile)
}

func execArgs(c *cobra.Command, args []string) error {
	file, command := splitExecArgs(args)
	switch {
	case file == "" || file == "--":
		return usagef("%s needs FILE and a command: %s", c.Name(), c.Use)
	case file == "-":
		return usagef("%s reads FILE from a file, not standard input (the command gets standard input)", c.Name())
	case len(command) == 0:
		return usagef("%s needs a command to run after FILE", c.Name())
	}
	return nil
}

// splitExecArgs splits FILE [--] CMD...; "--" before FILE was taken by
// the flag parser already.
func splitExecArgs(args []string) (string, []string) {
	if len(args) == 0 {
		return "", nil
	}
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return args[0], rest
}

func runExec(c *cobra.Command, sys *System, opts *ExecOptions) error {
	if opts.AsFile {
		// Checked before anything is decrypted.
		if _, err := execsecret.Substitute(opts.Command, ""); err != nil {
			return hint.Wrap(usageError{err}, "put {} where the command takes the file, e.g. ksec exec-file "+opts.File+" -- kubectl apply -f {}")
		}
	}
	src, err := readManifestFile(opts.File)
	if err != nil {
		return err
	}
	st, err := parseManifest(opts.File, src)
	if err != nil {
		return err
	}
	index := 0
	if !opts.AsFile {
		if index, err = pickSecret(st, opts.Secret); err != nil {
			return explainNoSecrets(err, opts.File, st)
		}
	}
	kr, err := newKeyring(sys, opts.Identities, opts.PassphraseFile)
	if err != nil {
		return err
	}
	n, err := envelope.Decrypt(c.Context(), st, kr)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(sys.Err, "ksec: warning: no encrypted Secret in %s; using it as it is\n", opts.File)
	}
	plain := st.Bytes()
	command := execsecret.Command{
		Args: opts.Command, Env: childenv.Environ(),
		Stdin: os.Stdin, Stdout: sys.Out, Stderr: sys.Err,
		ForwardInterrupt: sys.StdinIsTerminal == nil || !sys.StdinIsTerminal(),
	}
	if !opts.AsFile {
		decrypted, err := manifest.Parse(plain)
		if err != nil {
			return err
		}
		values, err := execsecret.Values(decrypted.Secrets[index])
		if err != nil {
			return err
		}
		var skipped []string
		command.Env, skipped, err = execsecret.Environ(command.Env, values, opts.SkipInvalid)
		if errors.Is(err, execsecret.ErrInvalidName) {
			return hint.Wrap(fmt.Errorf("%w: %s: %w", manifest.ErrBadInput, decrypted.Secrets[index], err),
				"--skip-invalid leaves such keys out; exec-file gives the program the whole manifest")
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", manifest.ErrBadInput, decrypted.Secrets[index], err)
		}
		if len(skipped) > 0 {
			fmt.Fprintf(sys.Err, "ksec: note: left out keys that are not variable names: %s\n", strings.Join(skipped, ", "))
		}
	}
	if sys.ForwardSignals != nil {
		sys.ForwardSignals(true)
		defer sys.ForwardSignals(false)
	}
	var status execsecret.ExitStatus
	if opts.AsFile {
		status, err = execsecret.RunWithFile(command, sys.Getenv, opts.File, plain)
	} else {
		status, err = execsecret.Run(command)
	}
	var start *execsecret.StartError
	if errors.As(err, &start) {
		return &exitError{code: start.Code, msg: start.Error()}
	}
	if err != nil {
		return err
	}
	if status != 0 {
		return childExit(status)
	}
	return nil
}
