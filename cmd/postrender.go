package cmd

import (
	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/helmpost"
)

// NewCmdPostRender builds ksec post-render; runF replaces the work in tests.
func NewCmdPostRender(sys *System, runF func(*cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:   "post-render",
		Short: "Helm post-renderer: decrypt the encrypted Secrets of a rendered release",
		Long: `Read the manifests Helm rendered from standard input and write them to
standard output with every encrypted Secret decrypted and verified exactly
as ksec decrypt does; everything else passes through byte for byte.

  helm upgrade --install app ./chart --post-renderer ksec --post-renderer-args post-render
  helm template app ./chart --post-renderer ksec --post-renderer-args post-render

Put the encrypted Secret (ksec encrypt -i) in the chart's templates/. Its
name and namespace are sealed into its values, so write them literally:
never {{ .Release.Name }} or {{ .Release.Namespace }}. A Secret whose
rendered name or namespace differs from the sealed one is refused (exit 5,
or 4 with a cloud KMS key, which is bound to the name too), with a hint.

Keys come from the environment, as for decrypt. Helm 4 runs
post-renderers as plugins: install the plugin in deploy/helm (its
plugin.yaml runs this command) and pass --post-renderer ksec.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c)
			}
			if err := notFromTerminal(sys, "post-render"); err != nil {
				return err
			}
			return helmpost.PostRender(c.Context(), sys.In, sys.Out, helmpost.Options{
				MaxSize:   MaxInputSize,
				Decrypter: func() (helmpost.Decrypter, error) { return envDecrypter(sys) },
			})
		},
	}
}
