// Package check finds what would put a secret value into git in plaintext:
// plain or partially encrypted Secrets, kustomize secretGenerator inputs
// and ksec's leftover temporary files. It needs no key and never reads a
// value into its report: findings name files, lines, Secrets and keys only.
package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/foreign"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// MaxFileSize is the largest file checked; a Kubernetes Secret holds at
// most 1 MiB, and ksec itself reads at most 16 MiB.
const MaxFileSize = 16 << 20

// Options say what to check.
type Options struct {
	Files []string // files named on the command line
	Dirs  []string // directories walked (-R)
	// Skipped, when set, is told about what a walk passes over and why.
	Skipped func(path, why string)
}

// Problem kinds, stable in the JSON output.
const (
	KindPlain     = "plain"      // a Secret with no sealed value
	KindPartial   = "partial"    // a Secret with plaintext values next to sealed ones, or sealed ones and no ksec block
	KindGenerator = "generator"  // a kustomize secretGenerator with literals, envs or files
	KindTempFile  = "temp-file"  // a leftover temporary file of an interrupted ksec write
	KindBadInput  = "bad-input"  // a file that may hold a Secret but cannot be read as YAML
	KindReadError = "read-error" // a file that cannot be read
)

// Report is the result of a check; its JSON form is documented in the
// README and stable: add fields, never change them.
type Report struct {
	Files []File `json:"files"`
}

// File is one file checked.
type File struct {
	File     string    `json:"file"`
	OK       bool      `json:"ok"`
	Note     string    `json:"note"` // why a file passed that is worth knowing (another tool's file)
	Problems []Problem `json:"problems"`
}

// Problem is one reason a file fails. It never holds a value.
type Problem struct {
	Kind    string   `json:"kind"`
	Line    int      `json:"line"`   // 1-based; 0 when not known
	Secret  string   `json:"secret"` // "namespace/name" or "name" of the Secret or generator, "" when none
	Keys    []string `json:"keys"`   // "data.KEY", "stringData.KEY", "literals.KEY", "envs", "files.KEY"
	Message string   `json:"message"`
}

// Failed reports whether some file failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Files, func(f File) bool { return !f.OK })
}

// Count returns the number of problems of the kinds given (all when none).
func (r *Report) Count(kinds ...string) int {
	n := 0
	for _, f := range r.Files {
		for _, p := range f.Problems {
			if len(kinds) == 0 || slices.Contains(kinds, p.Kind) {
				n++
			}
		}
	}
	return n
}

// Run checks every file and every directory, in order, and the
// directories of the files for ksec's leftover temporary files.
func Run(opts Options) (*Report, error) {
	r := &Report{Files: []File{}}
	seen := map[string]bool{}
	add := func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		r.Files = append(r.Files, checkFile(path))
	}
	var dirs []string
	bases := map[string]map[string]bool{} // directory: the names given in it
	for _, f := range opts.Files {
		add(f)
		dir := filepath.Dir(f)
		if bases[dir] == nil {
			bases[dir] = map[string]bool{}
			dirs = append(dirs, dir)
		}
		bases[dir][filepath.Base(f)] = true
	}
	for _, dir := range dirs {
		for _, t := range tempFilesIn(dir, bases[dir]) {
			add(t)
		}
	}
	for _, dir := range opts.Dirs {
		found, err := walk(dir, opts.Skipped)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			add(f)
		}
	}
	return r, nil
}

// tempFilesIn returns ksec's temporary files in dir for the targets named.
func tempFilesIn(dir string, targets map[string]bool) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var found []string
	for _, e := range entries {
		if target, ok := outfile.IsTempName(e.Name()); ok && targets[target] && !e.IsDir() {
			found = append(found, filepath.Join(dir, e.Name()))
		}
	}
	return found
}

// walk returns the YAML and JSON files under dir and ksec's temporary
// files, sorted, passing over hidden directories (.git).
func walk(dir string, skipped func(path, why string)) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if path != dir && strings.HasPrefix(e.Name(), ".") {
				if skipped != nil {
					skipped(path+string(filepath.Separator), "hidden directory")
				}
				return filepath.SkipDir
			}
			return nil
		}
		if _, ok := outfile.IsTempName(e.Name()); ok {
			found = append(found, path)
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("-R %s: %w", dir, err)
	}
	slices.Sort(found)
	return found, nil
}

// checkFile checks one file.
func checkFile(path string) File {
	f := File{File: path, Problems: []Problem{}}
	if _, ok := outfile.IsTempName(filepath.Base(path)); ok {
		f.Problems = append(f.Problems, Problem{Kind: KindTempFile, Keys: []string{},
			Message: "a temporary file left by an interrupted ksec write; it may hold plaintext: check it and delete it"})
		return f
	}
	src, err := readFile(path)
	if err != nil {
		f.Problems = append(f.Problems, Problem{Kind: KindReadError, Keys: []string{}, Message: "cannot read: " + err.Error()})
		return f
	}
	f.Problems, f.Note = checkSource(filepath.Base(path), src)
	f.OK = len(f.Problems) == 0
	return f
}

func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err // the caller names the file
		}
		return nil, err
	}
	defer fh.Close()
	src, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB, the most ksec reads", MaxFileSize>>20)
	}
	return src, nil
}

// checkSource checks the content of a file named base.
func checkSource(base string, src []byte) (problems []Problem, note string) {
	problems = []Problem{}
	if f := foreign.Detect(src); f != nil {
		// Another tool's file is encrypted: failing it would block a
		// repository that moves to ksec file by file. check stops
		// plaintext; it does not judge the other tool's format.
		return problems, fmt.Sprintf("encrypted by another tool (%s), not checked further", f.Format)
	}
	if isKustomization(base) {
		gen, err := generators(src, true)
		if err != nil {
			return append(problems, badInput(err)), ""
		}
		return append(problems, gen...), ""
	}
	if !manifest.HoldsSecret(src) {
		if mayHoldSecret(src) {
			// It does not parse (a template?) yet names a Secret.
			if _, err := manifest.Parse(src); err != nil {
				return append(problems, badInput(err)), ""
			}
		}
		gen, err := generators(src, false)
		if err == nil {
			problems = append(problems, gen...)
		}
		return problems, ""
	}
	st, err := manifest.Parse(src)
	if err != nil {
		return append(problems, badInput(err)), ""
	}
	for _, s := range st.Secrets {
		if p, ok := checkSecret(s); !ok {
			problems = append(problems, p)
		}
	}
	return problems, ""
}

func badInput(err error) Problem {
	return Problem{Kind: KindBadInput, Keys: []string{},
		Message: "cannot tell whether it holds a plaintext Secret: " + err.Error()}
}

// mayHoldSecret reports whether src names the Secret kind or a ksec block
// anywhere, so that a file that does not parse is not passed unseen.
func mayHoldSecret(src []byte) bool {
	for _, w := range [][]byte{[]byte("Secret"), []byte("ksec:"), []byte(`"ksec"`), []byte("List")} {
		if bytes.Contains(src, w) {
			return true
		}
	}
	return false
}

// checkSecret reports a Secret that is not fully encrypted. A null value
// holds nothing to leak; a Secret without values has nothing to encrypt.
func checkSecret(s *manifest.Secret) (Problem, bool) {
	var plain []string
	line, sealed := 0, 0
	for _, v := range s.Values {
		switch {
		case v.IsEncrypted():
			sealed++
		case v.IsNull():
		default:
			plain = append(plain, printable(v.Field+"."+v.Key))
			if line == 0 {
				line = v.Line
			}
		}
	}
	name := printable(s.Name)
	if s.Namespace != "" {
		name = printable(s.Namespace) + "/" + name
	}
	p := Problem{Line: line, Secret: name, Keys: plain}
	switch {
	case len(plain) == 0 && (s.Meta != nil || sealed == 0):
		return Problem{}, true
	case len(plain) == 0:
		p.Kind, p.Line, p.Keys = KindPartial, s.Line, []string{}
		p.Message = "sealed values but no ksec block: it cannot be decrypted"
	case sealed == 0 && s.Meta == nil:
		p.Kind = KindPlain
		p.Message = "plaintext " + strings.Join(plain, ", ")
	default:
		p.Kind = KindPartial
		p.Message = "partially encrypted: plaintext " + strings.Join(plain, ", ")
	}
	return p, false
}

// isKustomization reports whether a file name is one kustomize reads.
func isKustomization(base string) bool {
	switch base {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// generators reports the secretGenerator entries of a kustomization (or a
// kustomize Component) that take values from git: literals are plaintext
// in the file, envs and files name plaintext files. A document of another
// file counts when its apiVersion is kustomize's; in a file named as a
// kustomization (named), apiVersion may be left out.
func generators(src []byte, named bool) ([]Problem, error) {
	var problems []Problem
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return problems, nil
		}
		if err != nil {
			return nil, err
		}
		if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
			continue
		}
		doc := root.Content[0]
		v := value(doc, "apiVersion")
		if (v == nil && !named) || (v != nil && !strings.HasPrefix(v.Value, "kustomize.config.k8s.io/")) {
			continue
		}
		gens := value(doc, "secretGenerator")
		if gens == nil || gens.Kind != yaml.SequenceNode {
			continue
		}
		for _, g := range gens.Content {
			if p, ok := generator(g); ok {
				problems = append(problems, p)
			}
		}
	}
}

func generator(g *yaml.Node) (Problem, bool) {
	if g.Kind != yaml.MappingNode {
		return Problem{}, false
	}
	name := ""
	if n := value(g, "name"); n != nil && n.Kind == yaml.ScalarNode {
		name = printable(n.Value)
		if ns := value(g, "namespace"); ns != nil && ns.Kind == yaml.ScalarNode && ns.Value != "" {
			name = printable(ns.Value) + "/" + name
		}
	}
	var keys, what []string
	if l := value(g, "literals"); l != nil && l.Kind == yaml.SequenceNode && len(l.Content) > 0 {
		var names []string
		for _, e := range l.Content {
			k, _, _ := strings.Cut(e.Value, "=") // never the value
			names = append(names, printable(strings.TrimSpace(k)))
			keys = append(keys, "literals."+names[len(names)-1])
		}
		what = append(what, "literals "+strings.Join(names, ", ")+" are plaintext in git")
	}
	for _, field := range []string{"envs", "env", "files"} {
		l := value(g, field)
		if l == nil {
			continue
		}
		var paths []string
		switch l.Kind {
		case yaml.SequenceNode:
			for _, e := range l.Content {
				paths = append(paths, printable(e.Value))
			}
		case yaml.ScalarNode:
			if l.Value != "" {
				paths = append(paths, printable(l.Value))
			}
		}
		if len(paths) == 0 {
			continue
		}
		for _, p := range paths {
			keys = append(keys, field+"."+p)
		}
		what = append(what, field+" "+strings.Join(paths, ", ")+" read plaintext files")
	}
	if len(keys) == 0 {
		return Problem{}, false
	}
	return Problem{Kind: KindGenerator, Line: g.Line, Secret: name, Keys: keys,
		Message: strings.Join(what, "; ") + " (generate the Secret with ksec instead)"}, true
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// printable escapes control characters and invalid UTF-8, so names from a
// file cannot move a terminal's cursor.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
