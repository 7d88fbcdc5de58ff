package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ksec-dev/ksec/k8s/admission"
)

// NewCmdAdmissionPolicy builds ksec admission-policy; runF replaces the
// work in tests.
func NewCmdAdmissionPolicy(sys *System, runF func(*cobra.Command) error) *cobra.Command {
	c := &cobra.Command{
		Use:   "admission-policy",
		Short: "Print a Kubernetes admission policy that refuses Secrets still encrypted by ksec",
		Long: `Print a ValidatingAdmissionPolicy and its binding (` + admission.Name + `)
that make the API server refuse to create or update any Secret still
holding ksec-encrypted values, whatever the client's validation, with a
message that says to run ksec decrypt. Without it, kubectl apply
--validate=false (or any client that drops unknown fields) stores a Secret
whose encrypted values are under stringData with the ciphertext as its
values.

A cluster admin installs it once:

  ksec admission-policy | kubectl apply -f -

It needs Kubernetes 1.30 or later and runs inside the API server (CEL): no
webhook, no pod. It takes a few seconds to become active after it is
applied.`,
		Args: maxArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c)
			}
			_, err := fmt.Fprint(sys.Out, admission.Policy())
			return err
		},
	}
	return c
}
