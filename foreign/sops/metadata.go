// Package sops moves SOPS-encrypted Kubernetes Secrets to ksec: it reads
// the recipients of a SOPS file's sops: block and maps them to ksec key
// specs, decrypts the file through the real sops program (ksec implements
// none of SOPS's cryptography), says which values SOPS kept secret that
// ksec's format leaves readable, and turns a .sops.yaml into a .ksec.yaml.
package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Metadata is what ksec takes from a SOPS file's sops: block(s).
type Metadata struct {
	Version string
	// Specs are the recipients as ksec key specs, in the file's order.
	Specs []string
	// Unmapped names recipients ksec cannot encrypt for, with the reason.
	Unmapped []string
	// Notes are settings that do not carry over, for the user to know.
	Notes []string
	// Groups is the number of SOPS key groups (Shamir shares) when more
	// than one; ksec's recipients are "any one of", so they cannot map.
	Groups    int
	Threshold int
}

// sopsBlock mirrors the fields of SOPS's metadata that matter here.
type sopsBlock struct {
	KeyGroups         []keyGroup `yaml:"key_groups"`
	ShamirThreshold   int        `yaml:"shamir_threshold"`
	keyGroup          `yaml:",inline"`
	LastModified      string `yaml:"lastmodified"`
	MAC               string `yaml:"mac"`
	Version           string `yaml:"version"`
	UnencryptedSuffix string `yaml:"unencrypted_suffix"`
	EncryptedSuffix   string `yaml:"encrypted_suffix"`
	UnencryptedRegex  string `yaml:"unencrypted_regex"`
	EncryptedRegex    string `yaml:"encrypted_regex"`
	UnencryptedCRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCRegex   string `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted  bool   `yaml:"mac_only_encrypted"`
}

type keyGroup struct {
	PGP []struct {
		FP string `yaml:"fp"`
	} `yaml:"pgp"`
	KMS []struct {
		ARN        string            `yaml:"arn"`
		Role       string            `yaml:"role"`
		Context    map[string]string `yaml:"context"`
		AWSProfile string            `yaml:"aws_profile"`
	} `yaml:"kms"`
	GCPKMS []struct {
		ResourceID string `yaml:"resource_id"`
	} `yaml:"gcp_kms"`
	Age []struct {
		Recipient string `yaml:"recipient"`
	} `yaml:"age"`
	AzureKV []struct {
		VaultURL string `yaml:"vault_url"`
		Name     string `yaml:"name"`
	} `yaml:"azure_kv"`
	Vault []struct {
		Address string `yaml:"vault_address"`
		Engine  string `yaml:"engine_path"`
		Key     string `yaml:"key_name"`
	} `yaml:"hc_vault"`
	HCKMS []struct {
		KeyID string `yaml:"key_id"`
	} `yaml:"hckms"`
}

// ErrNotSOPS says a file has no SOPS metadata block.
var ErrNotSOPS = errors.New("no SOPS metadata (a top-level sops: block with mac and version)")

// ReadMetadata reads the sops: block of every document of a SOPS file
// (YAML or JSON) and maps its recipients. SOPS writes the same block into
// each document of a stream; blocks that name different recipients are
// refused, since one conversion gives one set.
func ReadMetadata(src []byte) (*Metadata, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var first *Metadata
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not YAML or JSON SOPS can have written: %w", err)
		}
		n := sopsNode(&root)
		if n == nil {
			continue
		}
		var b sopsBlock
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("document %d: the sops: block is not one SOPS writes: %w", doc, err)
		}
		if b.MAC == "" || b.Version == "" {
			return nil, fmt.Errorf("document %d: %w", doc, ErrNotSOPS)
		}
		m := b.metadata()
		if first == nil {
			first = m
			continue
		}
		if !slices.Equal(first.Specs, m.Specs) || !slices.Equal(first.Unmapped, m.Unmapped) || first.Groups != m.Groups {
			return nil, fmt.Errorf("document %d of the stream has other recipients than the first: convert the documents one by one", doc)
		}
	}
	if first == nil {
		return nil, ErrNotSOPS
	}
	return first, nil
}

// sopsNode returns the value of a document's top-level sops: key, or nil.
func sopsNode(root *yaml.Node) *yaml.Node {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := root.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value == "sops" {
			return top[i+1]
		}
	}
	return nil
}

func (b *sopsBlock) metadata() *Metadata {
	m := &Metadata{Version: b.Version}
	groups := b.KeyGroups
	if len(groups) == 0 {
		groups = []keyGroup{b.keyGroup}
	}
	if len(groups) > 1 {
		m.Groups, m.Threshold = len(groups), b.ShamirThreshold
		if m.Threshold == 0 {
			m.Threshold = len(groups) // SOPS's default: every group
		}
	}
	for _, g := range groups {
		g.mapKeys(m)
	}
	for _, o := range []struct{ name, value string }{
		{"unencrypted_suffix", b.UnencryptedSuffix}, {"encrypted_suffix", b.EncryptedSuffix},
		{"unencrypted_regex", b.UnencryptedRegex}, {"encrypted_regex", b.EncryptedRegex},
		{"unencrypted_comment_regex", b.UnencryptedCRegex}, {"encrypted_comment_regex", b.EncryptedCRegex},
	} {
		// _unencrypted is SOPS's default suffix, written into every file.
		if o.value != "" && (o.name != "unencrypted_suffix" || o.value != "_unencrypted") {
			m.Notes = append(m.Notes, o.name+" does not carry over: ksec encrypts every data and stringData value and nothing else")
		}
	}
	if b.MACOnlyEncrypted {
		m.Notes = append(m.Notes, "mac_only_encrypted does not carry over: ksec's MAC covers every value, the recipients and the Secret's namespace and name")
	}
	return m
}

// mapKeys adds a key group's recipients to m.
func (g *keyGroup) mapKeys(m *Metadata) {
	add := func(spec string) {
		if !slices.Contains(m.Specs, spec) {
			m.Specs = append(m.Specs, spec)
		}
	}
	for _, k := range g.Age {
		add("age:" + strings.TrimSpace(k.Recipient))
	}
	for _, k := range g.PGP {
		add("pgp:" + strings.ToUpper(strings.ReplaceAll(k.FP, " ", "")))
	}
	for _, k := range g.KMS {
		spec := "aws:" + strings.TrimSpace(k.ARN)
		if k.Role != "" {
			spec += "+" + k.Role
		}
		add(spec)
		if len(k.Context) > 0 {
			m.Notes = append(m.Notes, "the encryption context of "+k.ARN+" is not kept: ksec puts the Secret's namespace and name into its own")
		}
		if k.AWSProfile != "" {
			m.Notes = append(m.Notes, "aws_profile "+k.AWSProfile+" of "+k.ARN+" is not kept: run ksec with AWS_PROFILE="+k.AWSProfile+" to use it")
		}
	}
	for _, k := range g.GCPKMS {
		add("gcp:" + strings.TrimSpace(k.ResourceID))
	}
	for _, k := range g.AzureKV {
		m.Unmapped = append(m.Unmapped, "azure_kv "+k.VaultURL+" key "+k.Name+" (ksec has no Azure Key Vault recipients yet)")
	}
	for _, k := range g.Vault {
		m.Unmapped = append(m.Unmapped, "hc_vault "+k.Address+"/v1/"+k.Engine+"/keys/"+k.Key+" (ksec has no HashiCorp Vault recipients yet)")
	}
	for _, k := range g.HCKMS {
		m.Unmapped = append(m.Unmapped, "hckms "+k.KeyID+" (ksec has no Huawei Cloud KMS recipients)")
	}
}
