// Package childenv gives the programs ksec starts (the editor, gpg, and
// whatever they start) an environment without ksec's key material: a
// child's environment is readable through /proc by every process of the
// same user, while ksec itself is not dumpable.
package childenv

import (
	"os"
	"strings"
)

// agePrefix starts every age secret key; a variable whose value holds one
// (SOPS_AGE_KEY, a user's own) is key material too, whatever its name.
const agePrefix = "AGE-SECRET-KEY-"

// Environ returns os.Environ() followed by extra, without key material.
func Environ(extra ...string) []string {
	return Clean(append(os.Environ(), extra...))
}

// Clean returns env (KEY=value entries) without the entries that hold key
// material. It does not change env.
func Clean(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if !isKeyMaterial(e) {
			out = append(out, e)
		}
	}
	return out
}

func isKeyMaterial(entry string) bool {
	name, value, _ := strings.Cut(entry, "=")
	// The variables that hold secret keys ksec reads. No child needs them:
	// gpg has its own keyring and agent, an editor none. Credentials of
	// cloud SDKs (AWS_SECRET_ACCESS_KEY and the like) are not ksec's: they
	// stay, as a KMS helper or an editor plugin may rely on them.
	switch name {
	case "KSEC_AGE_KEY", "KSEC_PASSPHRASE":
		return true
	}
	upper := strings.ToUpper(value)
	// KSEC_AGE_KEY may also hold an age plugin identity (for software
	// plugins, a secret key itself), an SSH or OpenPGP secret key in PEM or
	// armor form; so may a variable of the user's own that ksec's key
	// variable was copied from.
	return strings.Contains(upper, agePrefix) || strings.Contains(upper, "AGE-PLUGIN-") || strings.Contains(upper, "PRIVATE KEY-----") || strings.Contains(upper, "PRIVATE KEY BLOCK-----")
}

// ScrubProcess removes the variables that hold key material from this
// process's own environment. It is for children whose environment ksec
// cannot choose: filippo.io/age/plugin starts age plugins with the
// process's environment. ksec has read its keys from the environment by the
// time it starts any child, so nothing of ksec's needs them afterwards.
func ScrubProcess() {
	for _, e := range os.Environ() {
		if isKeyMaterial(e) {
			name, _, _ := strings.Cut(e, "=")
			os.Unsetenv(name)
		}
	}
}
