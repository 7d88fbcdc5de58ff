package cmd

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/kustomizefn"
)

// KustomizeName is the name under which ksec runs as the kustomize
// generator with no arguments, for kustomize before 5.7, whose exec
// functions take none: a link ksec-kustomize -> ksec.
const KustomizeName = "ksec-kustomize"

// argsFor returns the command line to run for the process's os.Args.
func argsFor(osArgs []string) []string {
	if len(osArgs) == 0 {
		return nil
	}
	name := osArgs[0]
	if i := strings.LastIndexAny(name, `/\`); i >= 0 { // either separator: the name as Windows gives it too
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, ".exe")
	if name == KustomizeName {
		return append([]string{"kustomize"}, osArgs[1:]...)
	}
	return osArgs[1:]
}

// KustomizeOptions are the parsed flags of ksec kustomize and its
// subcommands.
type KustomizeOptions struct {
	Dir    string
	Output string   // verify: the build output's file, or "-"
	Args   []string // build: more arguments for kustomize build
}

// NewCmdKustomize builds ksec kustomize (the generator) with its build and
// verify subcommands; runF replaces the generator's work in tests.
func NewCmdKustomize(sys *System, runF func(*cobra.Command, *KustomizeOptions) error) *cobra.Command {
	opts := &KustomizeOptions{}
	c := &cobra.Command{
		Use:   "kustomize",
		Short: "Generator for kustomize build: decrypt the Secrets a SecretDecryptor lists",
		Long: `Run by kustomize as a KRM exec function: read the ResourceList kustomize
writes to standard input, decrypt the files the SecretDecryptor lists
(relative to the kustomization's directory; absolute paths, ".." and
symlinks leading out are refused) exactly as ksec decrypt does, and write
the Secrets as a ResourceList. Each Secret gets the annotation
ksec.dev/sealed-for: NAMESPACE/NAME (what its values were sealed for).
kustomize then applies namePrefix, namespace, patches and the rest.

  # secrets.yaml, listed under generators: in kustomization.yaml
  apiVersion: ksec.dev/v1alpha1
  kind: SecretDecryptor
  metadata:
    name: secrets
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: ksec
          args: [kustomize]
  files:
    - db.enc.yaml

  kustomize build --enable-alpha-plugins --enable-exec .

BOTH flags are needed: with --enable-alpha-plugins alone kustomize skips
the generator SILENTLY, and the Secrets are missing from a build that
succeeds. ksec kustomize build DIR passes both and checks the output;
ksec kustomize verify DIR FILE checks a build made otherwise.

kustomize before 5.7 passes no args: use path: ksec-kustomize, a link to
ksec by that name, which runs this command.

Keys come from the environment, as for decrypt (KSEC_IDENTITY_FILE,
KSEC_AGE_KEY, the default age identity file, gpg, the cloud KMS). An error
is one line on standard error, naming the file, the Secret and the key,
never a value.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c, opts)
			}
			if err := notFromTerminal(sys, "kustomize"); err != nil {
				return err
			}
			return kustomizefn.OneLine(runKustomizeFn(c, sys))
		},
	}
	c.AddCommand(newCmdKustomizeBuild(sys, opts, runF), newCmdKustomizeVerify(sys, opts, runF))
	return c
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("ksec %s takes no arguments: it reads standard input", c.Name())
	}
	return nil
}

// notFromTerminal refuses to wait for input typed at a terminal: the tool
// that runs the command writes its input.
func notFromTerminal(sys *System, what string) error {
	if sys.StdinIsTerminal != nil && sys.StdinIsTerminal() {
		return usagef("ksec %s reads what %s writes to its standard input, not a terminal", what, map[string]string{"kustomize": "kustomize build", "post-render": "helm"}[what])
	}
	return nil
}

func runKustomizeFn(c *cobra.Command, sys *System) error {
	return kustomizefn.Generate(c.Context(), sys.In, sys.Out, kustomizefn.Options{
		Dir:       ".",
		MaxSize:   MaxInputSize,
		Warn:      sys.Err,
		Decrypter: func() (kustomizefn.Decrypter, error) { return envDecrypter(sys) },
	})
}

func newCmdKustomizeBuild(sys *System, opts *KustomizeOptions, runF func(*cobra.Command, *KustomizeOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "build [DIR] [-- KUSTOMIZE-ARGS...]",
		Short: "Run kustomize build with both flags the generator needs, and check the output",
		Long: `Run kustomize build --enable-alpha-plugins --enable-exec DIR (DIR is "."
by default; arguments after -- go to kustomize build) and write the output
only if it verifies as ksec kustomize verify does: every Secret the
SecretDecryptors of the kustomization tree generate is there once, in the
namespace it was sealed for (when it was sealed with one), and nothing is
left encrypted. The kustomize program is $KSEC_KUSTOMIZE, or kustomize on
PATH; it runs with ksec's environment, keys included, since it runs the
generator.`,
		Args: func(c *cobra.Command, args []string) error {
			if dash := c.ArgsLenAtDash(); dash > 1 || (dash < 0 && len(args) > 1) {
				return usagef("ksec kustomize build takes one DIR")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Dir = "."
			dash := c.ArgsLenAtDash()
			if dash < 0 {
				dash = len(args)
			}
			if dash > 0 {
				opts.Dir = args[0]
			}
			opts.Args = args[dash:]
			if runF != nil {
				return runF(c, opts)
			}
			kustomize := sys.Getenv("KSEC_KUSTOMIZE")
			if kustomize == "" {
				kustomize = "kustomize"
			}
			out, err := kustomizefn.Build(c.Context(), opts.Dir, kustomizefn.BuildOptions{
				Kustomize: kustomize, Args: opts.Args, Env: os.Environ(), Stderr: sys.Err, MaxSize: 4 * MaxInputSize,
			})
			if err != nil {
				return kustomizefn.OneLine(err)
			}
			_, err = sys.Out.Write(out)
			return err
		},
	}
}

func newCmdKustomizeVerify(sys *System, opts *KustomizeOptions, runF func(*cobra.Command, *KustomizeOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "verify DIR [FILE | -]",
		Short: "Check a kustomize build output against the kustomization's SecretDecryptors (no key needed)",
		Long: `Check the output of kustomize build DIR (in FILE, or standard input) without
any key: every Secret the SecretDecryptors of the kustomization tree in DIR
generate must be there once (by its ksec.dev/sealed-for annotation), in the
namespace it was sealed for when it was sealed with one; no document may
still hold a ksec block or be a SecretDecryptor (listed under resources:).
It catches the build that silently generated nothing because
--enable-exec was missing. Local resources, components and generators are
followed; remote ones are not. Prints nothing when the output is right;
exit status 3 and one line naming every problem otherwise.

  kustomize build --enable-alpha-plugins --enable-exec overlays/prod > out.yaml
  ksec kustomize verify overlays/prod out.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("ksec kustomize verify takes DIR and an optional FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Dir, opts.Output = args[0], "-"
			if len(args) == 2 {
				opts.Output = args[1]
			}
			if runF != nil {
				return runF(c, opts)
			}
			return kustomizefn.OneLine(runKustomizeVerify(sys, opts))
		},
	}
}

func runKustomizeVerify(sys *System, opts *KustomizeOptions) error {
	var out []byte
	var err error
	if opts.Output == "-" {
		out, err = readManifest(sys.In, "standard input")
	} else {
		out, err = readManifestFile(opts.Output)
	}
	if err != nil {
		return err
	}
	expected, err := kustomizefn.Walk(opts.Dir, MaxInputSize)
	if err != nil {
		return err
	}
	return kustomizefn.VerifyError(out, expected)
}
