// Package k8s holds facts about Kubernetes that ksec checks before it
// writes a Secret: the API server's rules for a Secret's name, namespace
// and keys. ksec seals a Secret's namespace, name and keys into every
// value, so a manifest the API server would refuse, or one whose name is
// still a template, must be refused before it is encrypted: fixing it
// afterwards means decrypting and encrypting again.
//
// The rules are written from the Kubernetes documentation ("Object Names
// and IDs", and the Secret and ConfigMap key rules), not taken from the
// Kubernetes libraries, which ksec does not depend on.
package k8s

import (
	"fmt"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// Length limits of DNS-1123 names.
const (
	MaxSubdomainLength = 253 // a DNS-1123 subdomain: Secret names, keys
	MaxLabelLength     = 63  // a DNS-1123 label: namespaces
)

// InvalidError is a name or key the API server would refuse.
type InvalidError struct {
	What     string // "key name for a Secret", "Secret name", "namespace name"
	Value    string
	Problems []string // each "must …"; empty when Template
	// Template is set when Value looks like a Helm or Go template.
	Template bool
}

func (e *InvalidError) Error() string {
	if e.Template {
		return fmt.Sprintf("%q is not a valid %s: it looks like a Helm/Go template: encrypt the rendered manifest", e.Value, e.What)
	}
	return fmt.Sprintf("%q is not a valid %s: it %s", e.Value, e.What, strings.Join(e.Problems, " and "))
}

// TemplateHint says why a templated name cannot be encrypted.
const TemplateHint = "ksec encrypts rendered manifests: a Secret's namespace, name and keys are sealed into every value, " +
	"so a value sealed under the template text would never decrypt once rendered; " +
	"render first (helm template …) and encrypt the output"

// LooksTemplated reports whether s holds Helm/Go template actions ({{ … }}).
func LooksTemplated(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "}}")
}

// SecretKey checks a key of a Secret's data or stringData as the API
// server does (the ConfigMap key rule): 1 to 253 letters, digits, '-', '_'
// or '.', and not '.', '..' or starting with '..'.
func SecretKey(key string) error {
	var problems []string
	if len(key) > MaxSubdomainLength {
		problems = append(problems, fmt.Sprintf("must be no more than %d characters", MaxSubdomainLength))
	}
	if key == "" || strings.IndexFunc(key, func(r rune) bool { return !isAlnum(r) && r != '-' && r != '_' && r != '.' }) >= 0 {
		problems = append(problems, "must consist of letters, digits, '-', '_' or '.'")
	}
	switch {
	case key == "." || key == "..":
		problems = append(problems, fmt.Sprintf("must not be %q", key))
	case strings.HasPrefix(key, ".."):
		problems = append(problems, "must not start with '..'")
	}
	return invalid("key name for a Secret", key, problems, "") // the problems say it all
}

// SecretName checks a Secret's name: a DNS-1123 subdomain.
func SecretName(name string) error {
	return invalid("Secret name", name, subdomainProblems(name),
		"a Secret name is lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters")
}

// Namespace checks a namespace name: a DNS-1123 label.
func Namespace(ns string) error {
	return invalid("namespace name", ns, labelProblems(ns),
		"a namespace is lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters")
}

func invalid(what, value string, problems []string, rule string) error {
	if LooksTemplated(value) {
		return hint.Wrap(&InvalidError{What: what, Value: value, Template: true}, TemplateHint)
	}
	if len(problems) == 0 {
		return nil
	}
	err := error(&InvalidError{What: what, Value: value, Problems: problems})
	if rule != "" {
		err = hint.Wrap(err, rule)
	}
	return err
}

// labelProblems checks a DNS-1123 label: 1 to 63 lower-case letters,
// digits and '-', starting and ending with a letter or digit.
func labelProblems(s string) []string {
	var problems []string
	if len(s) > MaxLabelLength {
		problems = append(problems, fmt.Sprintf("must be no more than %d characters", MaxLabelLength))
	}
	if !isLabel(s) {
		problems = append(problems, "must consist of lower-case letters, digits and '-', and start and end with a letter or digit")
	}
	return problems
}

// subdomainProblems checks a DNS-1123 subdomain: at most 253 characters,
// labels (without their length limit) joined by '.'.
func subdomainProblems(s string) []string {
	var problems []string
	if len(s) > MaxSubdomainLength {
		problems = append(problems, fmt.Sprintf("must be no more than %d characters", MaxSubdomainLength))
	}
	ok := true
	for _, label := range strings.Split(s, ".") {
		ok = ok && isLabel(label)
	}
	if !ok {
		problems = append(problems, "must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit")
	}
	return problems
}

// isLabel reports whether s is lower-case letters, digits and '-',
// starting and ending with a letter or digit (length not checked).
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// MaxSecretSize is the most a Secret's values may hold in all, in bytes:
// the API server adds up the decoded data values, stringData merged in.
const MaxSecretSize = 1 << 20

// SecretSize checks the total size of a Secret's values as the API server
// does.
func SecretSize(total int) error {
	if total <= MaxSecretSize {
		return nil
	}
	return hint.Wrap(fmt.Errorf("the Secret's values hold %d bytes in all: the API server refuses more than %d bytes (1 MiB)", total, MaxSecretSize),
		"split the values over several Secrets, or keep large files out of Secrets")
}
