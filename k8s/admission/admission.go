// Package admission writes the Kubernetes ValidatingAdmissionPolicy that
// refuses, inside the API server, any Secret still holding ksec tokens: the
// guard for a forgotten `ksec decrypt` that kubectl's own checks miss (a
// Secret whose tokens are under stringData is stored as it is under
// --validate=false or by a client that ignores unknown fields).
//
// The policy is CEL evaluated by the API server itself (Kubernetes 1.30 and
// later): no webhook, no pod, nothing to run.
package admission

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Name names the policy and its binding.
const Name = "ksec-refuse-encrypted-secrets"

// tokenStart begins every ksec token of every format version
// ("ENC[ksec.v1,…]").
const tokenStart = "ENC[ksec."

// EncodedTokenStart is how a value that begins with a ksec token begins in
// the policy's view of a Secret. The API server has already merged
// stringData into data, and CEL sees a data value as its standard base64
// text; tokenStart is 9 bytes, a whole number of 3-byte base64 groups, so
// its encoding is the exact prefix of every such value's encoding.
var EncodedTokenStart = base64.StdEncoding.EncodeToString([]byte(tokenStart))

// Policy returns the manifest of the policy and its binding, both named
// Name: two YAML documents for kubectl apply.
func Policy() string {
	holds := fmt.Sprintf("object.data[k].startsWith('%s')", EncodedTokenStart)
	return strings.NewReplacer(
		"NAME", Name,
		"EXPR", "!has(object.data) || object.data.all(k, !"+holds+")",
		"MSGEXPR", "'Secret ' + object.metadata.name + ' still holds values encrypted by ksec (' + "+
			"object.data.filter(k, "+holds+").join(', ') + '): decrypt it first: ksec decrypt FILE | kubectl apply -f -'",
	).Replace(template)
}

// The message is for whoever applied the Secret: what is wrong and the
// command that fixes it. The messageExpression adds the Secret and the keys
// (names only, never values); the API server falls back to the message if
// it cannot be evaluated.
const template = `# Refuses any Secret that still holds values encrypted by ksec (ENC[ksec.…]
# tokens), whatever the client's validation: a forgotten "ksec decrypt" is
# an error instead of a Secret of ciphertext. Install it once per cluster
# (cluster admin): ksec admission-policy | kubectl apply -f -
# Needs Kubernetes 1.30 or later; evaluated inside the API server.
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: NAME
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["secrets"]
  validations:
  - expression: "EXPR"
    message: "the Secret still holds values encrypted by ksec: decrypt it first: ksec decrypt FILE | kubectl apply -f -"
    messageExpression: "MSGEXPR"
    reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: NAME
spec:
  policyName: NAME
  validationActions: [Deny]
`
