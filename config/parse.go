package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
)

const (
	hintFormat   = "a .ksec.yaml holds rules: a list of rules, each with path (a glob) or path_regex, an optional namespace, and keys; see docs/CONFIG.md"
	hintSOPSKeys = "ksec lists every key of a rule under keys:, each with its type, e.g. keys: [age:age1…, pgp:FINGERPRINT, aws:arn:aws:kms:…, gcp:projects/…/cryptoKeys/…, vault:https://HOST/v1/MOUNT/keys/NAME]"
)

// sopsKeyFields are .sops.yaml rule fields that name keys, to point SOPS
// users at keys: rather than just calling the field unknown.
var sopsKeyFields = map[string]bool{
	"age": true, "pgp": true, "kms": true, "gcp_kms": true, "azure_keyvault": true,
	"hc_vault_transit_uri": true, "key_groups": true,
}

// Parse reads a configuration file's content; path names the file (its
// directory is where the rules' patterns and relative key files start).
func Parse(data []byte, path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	p := &parser{path: abs}
	c := &Config{path: abs, dir: filepath.Dir(abs)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return c, nil // an empty file: no rules
	} else if err != nil {
		return nil, p.yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, p.errorf(next.Line, "a second YAML document: a configuration file holds one")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, hint.Wrap(p.errorf(root.Line, "want a mapping with a rules: list, found %s", kindName(root)), hintFormat)
	}
	fields, err := p.fields(root, "the file", func(name string) string {
		if name == "creation_rules" {
			return `ksec's rules are under rules:, not creation_rules: (ksec init --from-sops converts a .sops.yaml)`
		}
		return ""
	}, "rules")
	if err != nil {
		return nil, err
	}
	rules := fields["rules"]
	if rules == nil || isNull(rules) {
		return c, nil
	}
	if rules.Kind != yaml.SequenceNode {
		return nil, hint.Wrap(p.errorf(rules.Line, "rules must be a list, found %s", kindName(rules)), hintFormat)
	}
	for i, n := range rules.Content {
		r, err := p.rule(c.dir, i+1, deref(n))
		if err != nil {
			return nil, err
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

type parser struct{ path string }

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{Path: p.path, Line: line, Err: fmt.Errorf(format, args...)}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return p.errorf(line, "not valid YAML: %s", m[2])
	}
	return &Error{Path: p.path, Err: fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))}
}

// fields checks a mapping's keys against the known ones (no unknown, none
// twice) and returns their values. explain may give a hint for an
// unknown field.
func (p *parser) fields(n *yaml.Node, where string, explain func(string) string, known ...string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, hint.Wrap(p.errorf(k.Line, "%s: a field name must be a string, found %s", where, kindName(k)), hintFormat)
		}
		if !slices.Contains(known, k.Value) {
			err := p.errorf(k.Line, "%s: unknown field %s (known: %s)", where, keyring.QuoteSpec(k.Value), strings.Join(known, ", "))
			if why := explain(k.Value); why != "" {
				return nil, hint.Wrap(err, why)
			}
			return nil, hint.Wrap(err, hintFormat)
		}
		if first, dup := lines[k.Value]; dup {
			return nil, p.errorf(k.Line, "%s: field %q given twice (first on line %d)", where, k.Value, first)
		}
		lines[k.Value] = k.Line
		out[k.Value] = v
	}
	return out, nil
}

func (p *parser) rule(dir string, num int, n *yaml.Node) (*Rule, error) {
	where := fmt.Sprintf("rule %d", num)
	if n.Kind != yaml.MappingNode {
		return nil, hint.Wrap(p.errorf(n.Line, "%s: want a mapping (path:, keys:, …), found %s", where, kindName(n)), hintFormat)
	}
	f, err := p.fields(n, where, func(name string) string {
		if sopsKeyFields[name] {
			return hintSOPSKeys
		}
		return ""
	}, "path", "path_regex", "namespace", "keys")
	if err != nil {
		return nil, err
	}
	r := &Rule{Line: n.Line}
	if v := f["path"]; v != nil {
		if r.Path, err = p.scalar(v, where, "path"); err != nil {
			return nil, err
		}
		if r.glob, err = compileGlob(r.Path); err != nil {
			return nil, p.errorf(v.Line, "%s: path %s: %v", where, keyring.QuoteSpec(r.Path), err)
		}
	}
	if v := f["path_regex"]; v != nil {
		if f["path"] != nil {
			return nil, p.errorf(v.Line, "%s: give path or path_regex, not both", where)
		}
		if r.PathRegex, err = p.scalar(v, where, "path_regex"); err != nil {
			return nil, err
		}
		if r.regex, err = regexp.Compile(r.PathRegex); err != nil {
			return nil, p.errorf(v.Line, "%s: path_regex: %v", where, err)
		}
	}
	if v := f["namespace"]; v != nil {
		if r.Namespace, err = p.scalar(v, where, "namespace"); err != nil {
			return nil, err
		}
		if _, err := matchSegment(r.Namespace, ""); err != nil {
			return nil, p.errorf(v.Line, "%s: namespace %s: malformed pattern", where, keyring.QuoteSpec(r.Namespace))
		}
	}
	if r.Keys, err = p.keys(dir, where, n.Line, f["keys"]); err != nil {
		return nil, err
	}
	return r, nil
}

// keys reads a rule's keys: a list of key specs, or one string of
// comma-separated specs as -k and KSEC_KEYS take them.
func (p *parser) keys(dir, where string, ruleLine int, n *yaml.Node) ([]Key, error) {
	noKeys := func(line int) error {
		return hint.Wrap(p.errorf(line, "%s has no keys", where), "list the recipients under keys:, e.g. keys: [age:age1…]")
	}
	if n == nil {
		return nil, noKeys(ruleLine)
	}
	var items []*yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		items = n.Content
	case yaml.ScalarNode:
		if isNull(n) {
			return nil, noKeys(n.Line)
		}
		items = []*yaml.Node{n}
	default:
		return nil, hint.Wrap(p.errorf(n.Line, "%s: keys must be a list of key specs, found %s", where, kindName(n)), hintSOPSKeys)
	}
	var keys []Key
	for _, item := range items {
		item = deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return nil, hint.Wrap(p.errorf(item.Line, "%s: a key must be a string, found %s", where, kindName(item)), hintSOPSKeys)
		}
		for _, spec := range strings.Split(item.Value, ",") {
			if spec = strings.TrimSpace(spec); spec == "" {
				return nil, p.errorf(item.Line, "%s: empty key spec", where)
			}
			if looksSecret(spec) {
				// Never repeat it: the message may end up in a CI log.
				return nil, hint.Wrap(p.errorf(item.Line, "%s: a secret key is written here (not shown)", where),
					"list public keys only (age1…, a fingerprint): remove the secret key from this file and treat it as leaked")
			}
			keys = append(keys, Key{Spec: resolveSpec(dir, spec), Line: item.Line})
		}
	}
	if len(keys) == 0 {
		return nil, noKeys(n.Line)
	}
	return keys, nil
}

func (p *parser) scalar(n *yaml.Node, where, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", hint.Wrap(p.errorf(n.Line, "%s: %s must be a string, found %s", where, field, kindName(n)), hintFormat)
	}
	if n.Value == "" {
		return "", p.errorf(n.Line, "%s: %s is empty (leave the field out to match everything)", where, field)
	}
	return n.Value, nil
}

// resolveSpec makes an OpenPGP key-file path relative to the configuration
// file's directory, so a rule means the same from any working directory.
// Other specs are returned as they are.
func resolveSpec(dir, spec string) string {
	typ, rest, err := keyring.SplitSpec(spec)
	if err == nil && typ == "pgp" && !keyring.IsFingerprint(rest) && !filepath.IsAbs(rest) {
		return "pgp:" + filepath.Join(dir, filepath.FromSlash(rest))
	}
	if err != nil && !filepath.IsAbs(spec) {
		// A bare file name that the working directory lacks: try it
		// beside the config file, where a team keeps its public keys.
		joined := filepath.Join(dir, filepath.FromSlash(spec))
		if typ, _, err := keyring.SplitSpec(joined); err == nil && typ == "pgp" {
			return "pgp:" + joined
		}
	}
	return spec
}

func looksSecret(spec string) bool {
	upper := strings.ToUpper(spec)
	return strings.Contains(upper, "AGE-SECRET-KEY-") || strings.Contains(upper, "AGE-PLUGIN-") || strings.Contains(upper, "PRIVATE KEY")
}

// deref follows an alias to its anchored node, so teams can write a key
// list once (&admins) and reuse it (*admins).
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		// Never the value itself: it could be a key pasted by mistake.
		return "a single value"
	}
	return "something else"
}
