package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Placeholder is the key written for a rule whose SOPS keys cannot be
// mapped: not a valid age recipient, so encrypting a file the rule covers
// fails, rather than the file falling through to a later rule's keys.
const Placeholder = "age:age1replace-with-your-age-public-key"

// ConvertedConfig is a .ksec.yaml made from a .sops.yaml.
type ConvertedConfig struct {
	YAML  []byte
	Rules int
	// Problems name what could not be mapped, by rule; each is also a
	// comment in YAML.
	Problems []string
}

// creation rule fields that say which parts SOPS encrypts: ksec always
// encrypts every data and stringData value, nothing else.
var partFields = []string{"unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
	"unencrypted_comment_regex", "encrypted_comment_regex", "mac_only_encrypted"}

// ConvertConfig turns a .sops.yaml's creation_rules into .ksec.yaml rules
// in the same order: path_regex stays (both tools match it, unanchored,
// against the path relative to the configuration file), age, pgp, kms and
// gcp_kms keys become key specs. What cannot be mapped (key groups with
// Shamir, Azure Key Vault, Vault, encrypted_regex and the like) is listed in
// Problems and as comments; a rule left without any key gets Placeholder.
// source names the .sops.yaml in the header comment.
func ConvertConfig(src []byte, source string) (*ConvertedConfig, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is not YAML: %w", source, err)
	}
	var file struct {
		CreationRules    []yaml.Node `yaml:"creation_rules"`
		DestinationRules []yaml.Node `yaml:"destination_rules"`
		Stores           yaml.Node   `yaml:"stores"`
	}
	if err := root.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s is not a SOPS configuration: %w", source, err)
	}
	if len(file.CreationRules) == 0 {
		return nil, fmt.Errorf("%s has no creation_rules", source)
	}
	c := &ConvertedConfig{}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# ksec team configuration, converted from %s by ksec init --from-sops.\n", source)
	out.WriteString("# Rules are tried in order, as SOPS's creation_rules are; path_regex matches the\n")
	out.WriteString("# path relative to this file, unanchored, as in SOPS. Format: docs/CONFIG.md.\n")
	if len(file.DestinationRules) > 0 {
		c.problem(&out, "", "destination_rules (publishing to S3, GCS or Vault) have no ksec counterpart and are left out")
	}
	if file.Stores.Kind != 0 {
		c.problem(&out, "", "stores (SOPS's output formatting) has no ksec counterpart: ksec keeps each file's own layout")
	}
	out.WriteString("rules:\n")
	for i := range file.CreationRules {
		if err := c.rule(&out, i+1, &file.CreationRules[i]); err != nil {
			return nil, fmt.Errorf("%s: creation rule %d: %w", source, i+1, err)
		}
	}
	c.YAML = out.Bytes()
	return c, nil
}

func (c *ConvertedConfig) problem(out *bytes.Buffer, rule, msg string) {
	if rule != "" {
		msg = rule + ": " + msg
	}
	c.Problems = append(c.Problems, msg)
	fmt.Fprintf(out, "# NOT CONVERTED: %s\n", msg)
}

type sopsRule struct {
	PathRegex  string         `yaml:"path_regex"`
	AWSProfile string         `yaml:"aws_profile"`
	Shamir     int            `yaml:"shamir_threshold"`
	KeyGroups  []sopsCfgGrp   `yaml:"key_groups"`
	Rest       map[string]any `yaml:",inline"`
}

type sopsCfgGrp struct {
	KMS []struct {
		ARN        string            `yaml:"arn"`
		Role       string            `yaml:"role"`
		Context    map[string]string `yaml:"context"`
		AWSProfile string            `yaml:"aws_profile"`
	} `yaml:"kms"`
	GCPKMS []struct {
		ResourceID string `yaml:"resource_id"`
	} `yaml:"gcp_kms"`
	Age   []string       `yaml:"age"`
	PGP   []string       `yaml:"pgp"`
	Merge []any          `yaml:"merge"`
	Rest  map[string]any `yaml:",inline"`
}

// Regular expressions here are compiled on first use, not at start-up
// (every ksec run would pay for them: see startup_test.go).
var plainSpec = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:/._+@=-]*$`) })

func quote(s string) string {
	if plainSpec().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (c *ConvertedConfig) rule(out *bytes.Buffer, num int, n *yaml.Node) error {
	var r sopsRule
	if err := n.Decode(&r); err != nil {
		return err
	}
	c.Rules++
	name := fmt.Sprintf("creation rule %d (line %d)", num, n.Line)
	var body bytes.Buffer // problems go above the rule
	var specs []string
	add := func(spec string) {
		if !slices.Contains(specs, spec) {
			specs = append(specs, spec)
		}
	}
	list := func(field string) ([]string, error) {
		v, ok := r.Rest[field]
		delete(r.Rest, field)
		if !ok || v == nil {
			return nil, nil
		}
		switch v := v.(type) {
		case string:
			var items []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			return items, nil
		case []any:
			var items []string
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("%s: a list of strings, please", field)
				}
				items = append(items, strings.TrimSpace(s))
			}
			return items, nil
		}
		return nil, fmt.Errorf("%s: a string or a list of strings, please", field)
	}
	var problems []string
	keys := map[string][]string{}
	for _, f := range []string{"age", "pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hckms"} {
		items, err := list(f)
		if err != nil {
			return err
		}
		keys[f] = items
	}
	for _, k := range keys["age"] {
		add("age:" + k)
	}
	for _, k := range keys["pgp"] {
		add("pgp:" + strings.ToUpper(strings.ReplaceAll(k, " ", "")))
	}
	for _, k := range keys["kms"] {
		add("aws:" + strings.ReplaceAll(k, " ", ""))
	}
	for _, k := range keys["gcp_kms"] {
		add("gcp:" + k)
	}
	for _, f := range []string{"azure_keyvault", "hc_vault_transit_uri", "hckms"} {
		for _, k := range keys[f] {
			problems = append(problems, fmt.Sprintf("%s key %s: ksec has no such recipients yet", f, k))
		}
	}
	if r.AWSProfile != "" {
		problems = append(problems, "aws_profile "+r.AWSProfile+": run ksec with AWS_PROFILE="+r.AWSProfile+" instead")
	}
	switch {
	case len(r.KeyGroups) > 1:
		threshold := r.Shamir
		if threshold == 0 {
			threshold = len(r.KeyGroups)
		}
		problems = append(problems, fmt.Sprintf("%d key_groups with a Shamir threshold of %d: any one ksec recipient can decrypt, so the split cannot be kept; choose the keys yourself", len(r.KeyGroups), threshold))
		specs = nil // never silently weaker: a placeholder below
	case len(r.KeyGroups) == 1:
		g := r.KeyGroups[0]
		for _, k := range g.Age {
			add("age:" + strings.TrimSpace(k))
		}
		for _, k := range g.PGP {
			add("pgp:" + strings.ToUpper(strings.ReplaceAll(k, " ", "")))
		}
		for _, k := range g.KMS {
			spec := "aws:" + k.ARN
			if k.Role != "" {
				spec += "+" + k.Role
			}
			add(spec)
			if len(k.Context) > 0 {
				problems = append(problems, "the encryption context of "+k.ARN+" is not kept: ksec puts the Secret's namespace and name into its own")
			}
			if k.AWSProfile != "" {
				problems = append(problems, "aws_profile "+k.AWSProfile+" of "+k.ARN+": run ksec with AWS_PROFILE="+k.AWSProfile+" instead")
			}
		}
		for _, k := range g.GCPKMS {
			add("gcp:" + k.ResourceID)
		}
		if len(g.Merge) > 0 {
			problems = append(problems, "merge in key_groups is not converted: list those keys in the rule yourself")
		}
		var other []string
		for f := range g.Rest {
			other = append(other, f)
		}
		slices.Sort(other)
		for _, f := range other {
			problems = append(problems, "key_groups "+f+": ksec has no such recipients yet")
		}
	}
	for _, f := range partFields {
		if v, ok := r.Rest[f]; ok {
			delete(r.Rest, f)
			if v != nil && v != false && v != "" {
				problems = append(problems, f+" does not carry over: ksec encrypts every data and stringData value of a Secret, and nothing else")
			}
		}
	}
	var rest []string
	for f := range r.Rest {
		rest = append(rest, f)
	}
	slices.Sort(rest)
	for _, f := range rest {
		problems = append(problems, "field "+f+" is not known to ksec and left out")
	}
	for _, p := range problems {
		c.problem(out, name, p)
	}
	if len(specs) == 0 {
		c.problem(out, name, "no key ksec can use: the rule gets a placeholder key, so encrypting a file it covers fails until you replace it")
		specs = []string{Placeholder}
	}
	if r.PathRegex != "" {
		fmt.Fprintf(&body, "  - path_regex: %s\n", quote(r.PathRegex))
		body.WriteString("    keys:\n")
	} else {
		body.WriteString("  - keys:                # no path_regex: every file\n")
	}
	for _, s := range specs {
		fmt.Fprintf(&body, "      - %s\n", quote(s))
	}
	out.Write(body.Bytes())
	return nil
}
