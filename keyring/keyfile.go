package keyring

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"

	"github.com/ksec-dev/ksec/internal/hint"
)

// explainKeyFile says why a file given as a recipient (-k FILE) is not an
// OpenPGP public key when it holds something else people confuse with one:
// an age identity or recipient, an SSH key, a manifest given in the wrong
// place. It returns nil for files that look like OpenPGP data or nothing
// known, so the OpenPGP reader's own error stands. Messages never quote
// secret content; public keys are quoted so the next step can be copied.
func explainKeyFile(data []byte, path string) error {
	if IsPGPKeyData(data) {
		return nil
	}
	first := firstKeyLine(data)
	pemType := pemBlockType(data)
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return hint.Wrap(errors.New("the key file is empty"), hintKeyFile)
	case strings.HasPrefix(first, "AGE-SECRET-KEY-") || strings.HasPrefix(first, "AGE-PLUGIN-"):
		h := []string{"to decrypt with this key, pass it with -I/--identity " + path}
		if pubs := agePublicKeys(data); len(pubs) > 0 {
			h = append([]string{"encrypt to its public key instead: -k " + strings.Join(pubs, " -k ")}, h...)
		} else {
			h = append([]string{"encrypt to its public key instead: -k age:$(age-keygen -y " + path + ")"}, h...)
		}
		return hint.Wrap(errors.New("this is an age identity (a secret key); -k wants a recipient (a public key)"), h...)
	case first == "age-encryption.org/v1" || pemType == "AGE ENCRYPTED FILE":
		return hint.Wrap(errors.New("this is a file encrypted with age, not a key"), hintKeyFile)
	case strings.HasPrefix(strings.ToLower(first), "age1"):
		keys := strings.Fields(first)
		return hint.Wrap(errors.New("this file holds an age public key, but a key file is read as an OpenPGP key"),
			"name the age key itself: -k "+keys[0])
	case isSSHPublicKeyLine(first):
		return hint.Wrap(errors.New("this file holds an SSH public key, but a key file is read as an OpenPGP key"),
			"name the SSH key itself, as age encrypts to it: -k \"age:$(cat "+path+")\"")
	case strings.HasSuffix(pemType, "PRIVATE KEY"):
		return hint.Wrap(fmt.Errorf("this is a private key (%s); -k wants a public key", strings.ToLower(pemType)),
			"for an SSH key, encrypt to the public key: -k \"age:$(cat "+path+".pub)\"; to decrypt with this key, pass it with -I/--identity "+path)
	case strings.HasSuffix(pemType, "PUBLIC KEY") || strings.HasPrefix(pemType, "CERTIFICATE"):
		return hint.Wrap(fmt.Errorf("this file holds a PEM %s, not an OpenPGP key", strings.ToLower(pemType)), hintKeyFile)
	case looksLikeManifest(data):
		return hint.Wrap(errors.New("this file looks like a Kubernetes manifest, not a key"),
			"-k names a key: ksec encrypt -k KEY FILE")
	}
	return nil
}

// agePublicKeys returns the public keys of the X25519 identities in an age
// identity file, or nil when it cannot be read.
func agePublicKeys(data []byte) []string {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			out = append(out, x.Recipient().String())
		}
	}
	return out
}

// looksLikeManifest reports whether data has top-level apiVersion: and kind:
// lines, as a Kubernetes manifest does.
func looksLikeManifest(data []byte) bool {
	var api, kind bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		api = api || strings.HasPrefix(line, "apiVersion:") || strings.HasPrefix(line, `"apiVersion"`) || strings.Contains(line, `{"apiVersion"`)
		kind = kind || strings.HasPrefix(line, "kind:") || strings.Contains(line, `"kind"`)
	}
	return api && kind
}
