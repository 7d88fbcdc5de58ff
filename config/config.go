// Package config reads a team's .ksec.yaml: ordered rules that say which
// keys the Secret manifests under a directory are encrypted for. It only
// reads and matches; resolving the key specs is the keyring's job.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// FileName is the name of the configuration file.
const FileName = ".ksec.yaml"

// ErrInvalid marks a configuration file that cannot be used as written.
var ErrInvalid = errors.New("invalid configuration")

// Error is a problem in a configuration file, located by line when known.
type Error struct {
	Path string
	Line int // 0 when the problem is with the file as a whole
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Config is one parsed .ksec.yaml.
type Config struct {
	path  string // absolute
	dir   string // absolute; patterns are relative to it
	Rules []*Rule
}

// Rule maps the files matching a path pattern (and, when given, the Secrets
// in matching namespaces) to the keys they are encrypted for.
type Rule struct {
	Line      int    // line of the rule in the file
	Path      string // glob, "" when not given
	PathRegex string // Go regexp, "" when not given
	Namespace string // glob on metadata.namespace, "" for any
	Keys      []Key

	glob  []string // Path split on "/", consecutive "**" merged
	regex *regexp.Regexp
}

// Key is one key spec of a rule, as ksec encrypt -k takes it. Relative
// OpenPGP key-file paths have been made relative to the config file's
// directory rather than the working directory.
type Key struct {
	Spec string
	Line int
}

// Specs returns the rule's key specs.
func (r *Rule) Specs() []string {
	specs := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		specs[i] = k.Spec
	}
	return specs
}

// Path returns the absolute path of the configuration file.
func (c *Config) Path() string { return c.path }

// Where names a line of the file, as "PATH:LINE", for messages.
func (c *Config) Where(line int) string { return fmt.Sprintf("%s:%d", c.path, line) }

// Find looks for .ksec.yaml in the directory of target (a file that need
// not exist yet; relative to the working directory) and then in each parent
// directory. It stops after a directory that holds .git, so a repository's
// files never pick up a configuration from outside the repository. It
// returns nil and no error when there is none.
func Find(target string) (*Config, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", FileName, err)
	}
	for dir := filepath.Dir(abs); ; {
		name := filepath.Join(dir, FileName)
		st, err := os.Stat(name)
		switch {
		case err == nil && st.IsDir():
			return nil, &Error{Path: name, Err: errors.New("is a directory, not a file")}
		case err == nil:
			return Load(name)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("find %s: %w", FileName, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return nil, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, nil
		}
		dir = parent
	}
}

// Load reads and checks one configuration file.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, abs)
}

// Match returns the first rule that matches target (a path relative to the
// working directory, or absolute) and the Secret's namespace.
func (c *Config) Match(target, namespace string) (*Rule, bool) {
	rel, ok := c.relative(target)
	if !ok {
		return nil, false
	}
	for _, r := range c.Rules {
		if r.matches(rel, namespace) {
			return r, true
		}
	}
	return nil, false
}

// KeysFor returns the key specs of the first rule matching target and
// namespace.
func (c *Config) KeysFor(target, namespace string) ([]string, bool) {
	r, ok := c.Match(target, namespace)
	if !ok {
		return nil, false
	}
	return r.Specs(), true
}

// relative returns target's path relative to the config's directory with
// forward slashes, or false when target is not below it.
func (c *Config) relative(target string) (string, bool) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(c.dir, abs)
	if err != nil {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

func (r *Rule) matches(rel, namespace string) bool {
	switch {
	case r.regex != nil:
		if !r.regex.MatchString(rel) {
			return false
		}
	case r.glob != nil:
		if !matchGlob(r.glob, strings.Split(rel, "/")) {
			return false
		}
	}
	if r.Namespace == "" {
		return true
	}
	ok, _ := matchSegment(r.Namespace, namespace)
	return ok
}
