// Package foreign recognises files written by other secret tools (SOPS,
// shyiko/kubesec), so ksec can refuse them with advice instead of passing
// their ciphertext through as if it were a plain manifest.
//
// Detection is strict: a file is foreign only on a marker that the other
// tool writes and that a plain manifest does not hold by chance — a whole
// SOPS token, a SOPS metadata block with its mac and version, or a kubesec
// version footer line together with a key footer line. A value that merely
// mentions "sops" or "kubesec" is not a marker.
package foreign

import (
	"bytes"
	"fmt"
	"regexp"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Format names another tool's file format.
type Format string

// The formats recognised.
const (
	SOPS    Format = "sops"
	Kubesec Format = "kubesec"
)

// Finding is the evidence that a file is in another tool's format.
type Finding struct {
	Format Format
	Line   int    // 1-based line of the marker
	Marker string // what was found, for messages: never a value
}

func (f *Finding) String() string {
	tool := "SOPS"
	if f.Format == Kubesec {
		tool = "kubesec"
	}
	return fmt.Sprintf("a %s-encrypted file (%s at line %d), not a ksec file", tool, f.Marker, f.Line)
}

// Hints are the ways forward for file (a name, or "FILE" for standard
// input): how to move the file to ksec with the other tool's help.
func (f *Finding) Hints(file string) []string {
	if f.Format == Kubesec {
		return []string{
			"ksec decrypt, edit and inspect read kubesec files; convert it to a ksec file first with: ksec encrypt -i " + file,
		}
	}
	return []string{
		"convert it to a ksec file, for the same recipients, with: ksec import -i " + file + " (it needs the sops program)",
	}
}

// sopsToken is one SOPS-encrypted value as SOPS writes it: base64 data
// (empty for an empty string), a 32-byte IV, a 16-byte tag and a type.
// Regular expressions here are compiled on first use, not at start-up
// (every ksec run would pay for them: see startup_test.go).
var sopsToken = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`ENC\[AES256_GCM,data:[A-Za-z0-9+/]*=*,iv:[A-Za-z0-9+/]{16,}=*,tag:[A-Za-z0-9+/]{16,}=*,type:(?:str|int|float|bool|bytes|comment)\]`)
})

// kubesecVersion and kubesecKey are kubesec's footer lines.
var (
	kubesecVersion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^# kubesec:v:[1-9][0-9]*\r?$`) })
	kubesecKey     = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^# kubesec:(?:pgp|gcp|aws):\S+:[A-Za-z0-9+/]+=*\r?$`)
	})
)

// Detect returns the evidence that src was written by SOPS or kubesec, or
// nil for anything else (ksec files and plain manifests alike).
func Detect(src []byte) *Finding {
	if loc := kubesecVersion().FindIndex(src); loc != nil && kubesecKey().Match(src) {
		return &Finding{Format: Kubesec, Line: lineAt(src, loc[0]), Marker: "a # kubesec:v: footer"}
	}
	if f := sopsBlock(src); f != nil {
		return f
	}
	if loc := sopsToken().FindIndex(src); loc != nil {
		return &Finding{Format: SOPS, Line: lineAt(src, loc[0]), Marker: "an ENC[AES256_GCM,…] value"}
	}
	return nil
}

// sopsBlock finds a top-level sops: mapping holding mac and version, in
// any document of a YAML stream or in a JSON document.
func sopsBlock(src []byte) *Finding {
	if !bytes.Contains(src, []byte("sops")) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			return nil // the end, or not YAML: the manifest reader says which
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		top := doc.Content[0].Content
		for i := 0; i+1 < len(top); i += 2 {
			if top[i].Value == "sops" && hasKeys(top[i+1], "mac", "version") {
				return &Finding{Format: SOPS, Line: top[i].Line, Marker: "a sops: metadata block"}
			}
		}
	}
}

func hasKeys(n *yaml.Node, keys ...string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	found := 0
	for _, k := range keys {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				found++
				break
			}
		}
	}
	return found == len(keys)
}

func lineAt(src []byte, off int) int { return bytes.Count(src[:off], []byte("\n")) + 1 }
