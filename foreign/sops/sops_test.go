package sops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ksec-dev/ksec/config"
)

const sopsFlat = `apiVersion: v1
kind: Secret
metadata:
    name: db
data:
    password: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    kms:
        - arn: arn:aws:kms:eu-west-1:111122223333:key/k1
          role: arn:aws:iam::111122223333:role/r
          context:
            app: db
          created_at: "2026-01-01T00:00:00Z"
          enc: AQICAH
          aws_profile: ops
    gcp_kms:
        - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k
          created_at: "2026-01-01T00:00:00Z"
          enc: CiQA
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    pgp:
        - created_at: "2026-01-01T00:00:00Z"
          enc: |
            -----BEGIN PGP MESSAGE-----
            -----END PGP MESSAGE-----
          fp: 0123456789abcdef0123456789abcdef01234567
    encrypted_regex: ^(data|stringData)$
    version: 3.13.2
`

func TestReadMetadata(t *testing.T) {
	m, err := ReadMetadata([]byte(sopsFlat))
	require.NoError(t, err)
	require.Equal(t, "3.13.2", m.Version)
	require.Equal(t, []string{
		"age:age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
		"pgp:0123456789ABCDEF0123456789ABCDEF01234567",
		"aws:arn:aws:kms:eu-west-1:111122223333:key/k1+arn:aws:iam::111122223333:role/r",
		"gcp:projects/p/locations/global/keyRings/r/cryptoKeys/k",
	}, m.Specs)
	require.Empty(t, m.Unmapped)
	require.Zero(t, m.Groups)
	notes := strings.Join(m.Notes, "\n")
	require.Contains(t, notes, "encrypted_regex does not carry over")
	require.Contains(t, notes, "encryption context of arn:aws:kms:eu-west-1:111122223333:key/k1 is not kept")
	require.Contains(t, notes, "AWS_PROFILE=ops")

	t.Run("unmapped", func(t *testing.T) {
		src := strings.Replace(sopsFlat, "    lastmodified:", `    azure_kv:
        - vault_url: https://v.vault.azure.net
          name: k
          version: "1"
          enc: x
    hc_vault:
        - vault_address: http://127.0.0.1:8200
          engine_path: transit
          key_name: k
          enc: x
    lastmodified:`, 1)
		m, err := ReadMetadata([]byte(src))
		require.NoError(t, err)
		require.Len(t, m.Specs, 4)
		require.Equal(t, []string{
			"azure_kv https://v.vault.azure.net key k (ksec has no Azure Key Vault recipients yet)",
			"hc_vault http://127.0.0.1:8200/v1/transit/keys/k (ksec has no HashiCorp Vault recipients yet)",
		}, m.Unmapped)
	})
	t.Run("shamir", func(t *testing.T) {
		src := "a: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops:\n" +
			"    shamir_threshold: 2\n    key_groups:\n        - age:\n            - recipient: age1a\n              enc: x\n" +
			"        - pgp:\n            - fp: ABCD\n              enc: x\n    mac: m\n    version: 3.13.2\n"
		m, err := ReadMetadata([]byte(src))
		require.NoError(t, err)
		require.Equal(t, 2, m.Groups)
		require.Equal(t, 2, m.Threshold)
		require.Equal(t, []string{"age:age1a", "pgp:ABCD"}, m.Specs)
	})
	t.Run("documents must agree", func(t *testing.T) {
		other := strings.Replace(sopsFlat, "age1ql3z7", "age1zzzz7", 1)
		_, err := ReadMetadata([]byte(sopsFlat + "---\n" + other))
		require.ErrorContains(t, err, "document 2 of the stream has other recipients than the first")
		_, err = ReadMetadata([]byte(sopsFlat + "---\n" + sopsFlat))
		require.NoError(t, err)
	})
	t.Run("not sops", func(t *testing.T) {
		_, err := ReadMetadata([]byte("a: b\n"))
		require.ErrorIs(t, err, ErrNotSOPS)
		_, err = ReadMetadata([]byte("a: b\nsops:\n    version: 3\n"))
		require.ErrorIs(t, err, ErrNotSOPS)
	})
	t.Run("json", func(t *testing.T) {
		m, err := ReadMetadata([]byte(`{"data":{"a":"ENC[…]"},"sops":{"age":[{"recipient":"age1x","enc":"y"}],"mac":"m","version":"3.13.2"}}`))
		require.NoError(t, err)
		require.Equal(t, []string{"age:age1x"}, m.Specs)
	})
}

func TestExposed(t *testing.T) {
	const tok = "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
	const com = "#ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:comment]"
	enc := "apiVersion: " + tok + "\nkind: " + tok + "\nmetadata:\n    name: " + tok + "\n    namespace: " + tok + "\ndata:\n    " + com + "\n    a: " + tok + "\n" +
		"---\napiVersion: v1\nkind: " + tok + "\ndata:\n    b: " + tok + "\n" +
		"---\nkind: List\nitems:\n    - kind: Secret\n      metadata:\n        name: s\n      stringData:\n        c: " + tok + "\n    - kind: ConfigMap\n      data:\n        d: " + tok + "\n" +
		"---\nkind: ConfigMap\ndata:\n    e: plain\n"
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: prod\ndata:\n    # hi\n    a: eA==\n" +
		"---\napiVersion: v1\nkind: ConfigMap\ndata:\n    b: x\n" +
		"---\nkind: List\nitems:\n    - kind: Secret\n      metadata:\n        name: s\n      stringData:\n        c: x\n    - kind: ConfigMap\n      data:\n        d: x\n" +
		"---\nkind: ConfigMap\ndata:\n    e: plain\n"
	e, err := Exposed([]byte(enc), []byte(plain))
	require.NoError(t, err)
	require.Equal(t, []string{"document 2 (ConfigMap)", "document 3, item 2 (ConfigMap)"}, e.NotSecrets)
	require.Equal(t, []string{"Secret prod/db (apiVersion, kind, metadata.name, metadata.namespace)"}, e.Fields)
	require.Equal(t, 1, e.Comments)

	_, err = Exposed([]byte(enc), []byte("a: b\n"))
	require.ErrorContains(t, err, "sops printed 1 documents for the file's 4")
}

func TestReason(t *testing.T) {
	got := reason([]byte("some detail\nMAC mismatch. File has 0123456789ABCDEF0123456789ABCDEF0123, computed 9876543210ABCDEF0123456789ABCDEF0123\x1b[0m\n\n"))
	require.Equal(t, "MAC mismatch. File has …, computed …[0m", got)
}

func TestConvertConfig(t *testing.T) {
	src := `creation_rules:
  - path_regex: prod/.*\.ya?ml$
    kms: "arn:aws:kms:eu-west-1:1:key/a+arn:aws:iam::1:role/r, arn:aws:kms:eu-west-1:1:key/b"
    pgp: 0123456789abcdef0123456789abcdef01234567
    encrypted_regex: ^(data|stringData)$
  - path_regex: 'it''s/.*'
    age:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k
    azure_keyvault: https://v.vault.azure.net/keys/k/1
  - path_regex: 'shamir/.*'
    shamir_threshold: 2
    key_groups:
      - age: [age1a]
      - pgp: [ABCD]
  - path_regex: 'groups/.*'
    key_groups:
      - age: [age1b]
        kms:
          - arn: arn:aws:kms:eu-west-1:1:key/c
            context: {a: b}
  - age: age1c,age1d
destination_rules:
  - s3_bucket: x
`
	c, err := ConvertConfig([]byte(src), ".sops.yaml")
	require.NoError(t, err)
	require.Equal(t, 5, c.Rules)
	want := `# ksec team configuration, converted from .sops.yaml by ksec init --from-sops.
# Rules are tried in order, as SOPS's creation_rules are; path_regex matches the
# path relative to this file, unanchored, as in SOPS. Format: docs/CONFIG.md.
# NOT CONVERTED: destination_rules (publishing to S3, GCS or Vault) have no ksec counterpart and are left out
rules:
# NOT CONVERTED: creation rule 1 (line 2): encrypted_regex does not carry over: ksec encrypts every data and stringData value of a Secret, and nothing else
  - path_regex: 'prod/.*\.ya?ml$'
    keys:
      - pgp:0123456789ABCDEF0123456789ABCDEF01234567
      - aws:arn:aws:kms:eu-west-1:1:key/a+arn:aws:iam::1:role/r
      - aws:arn:aws:kms:eu-west-1:1:key/b
# NOT CONVERTED: creation rule 2 (line 6): azure_keyvault key https://v.vault.azure.net/keys/k/1: ksec has no such recipients yet
  - path_regex: 'it''s/.*'
    keys:
      - age:age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
      - gcp:projects/p/locations/global/keyRings/r/cryptoKeys/k
# NOT CONVERTED: creation rule 3 (line 11): 2 key_groups with a Shamir threshold of 2: any one ksec recipient can decrypt, so the split cannot be kept; choose the keys yourself
# NOT CONVERTED: creation rule 3 (line 11): no key ksec can use: the rule gets a placeholder key, so encrypting a file it covers fails until you replace it
  - path_regex: 'shamir/.*'
    keys:
      - age:age1replace-with-your-age-public-key
# NOT CONVERTED: creation rule 4 (line 16): the encryption context of arn:aws:kms:eu-west-1:1:key/c is not kept: ksec puts the Secret's namespace and name into its own
  - path_regex: 'groups/.*'
    keys:
      - age:age1b
      - aws:arn:aws:kms:eu-west-1:1:key/c
  - keys:                # no path_regex: every file
      - age:age1c
      - age:age1d
`
	require.Equal(t, want, string(c.YAML))
	require.Len(t, c.Problems, 6)
	cfg, err := config.Parse(c.YAML, "/repo/.ksec.yaml")
	require.NoError(t, err)
	keys, ok := cfg.KeysFor("/repo/prod/a/db.yaml", "")
	require.True(t, ok)
	require.Len(t, keys, 3)
	keys, ok = cfg.KeysFor("/repo/other.yaml", "")
	require.True(t, ok)
	require.Equal(t, []string{"age:age1c", "age:age1d"}, keys)

	for src, msg := range map[string]string{
		"stores: {}\n":                      "has no creation_rules",
		"creation_rules: [{age: [1, 2]}]\n": "age: a list of strings",
		"creation_rules: x\n":               "not a SOPS configuration",
	} {
		_, err := ConvertConfig([]byte(src), ".sops.yaml")
		require.ErrorContains(t, err, msg, src)
	}
}
