package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Vault transit keys are accepted in both forms, as written: the vault:
// spec and the bare URL SOPS users have in .sops.yaml.
func TestVaultKeys(t *testing.T) {
	c := parse(t, `rules:
  - path: "prod/**"
    keys:
      - vault:https://vault.example.com:8200/v1/transit/keys/prod
      - https://vault.example.com:8200/v1/team1/transit/keys/prod
  - path: "dev/**"
    keys: "vault:http://127.0.0.1:8200/v1/transit/keys/dev, https://vault.example.com/v1/transit/keys/dev"
`)
	require.Equal(t, []string{
		"vault:https://vault.example.com:8200/v1/transit/keys/prod",
		"https://vault.example.com:8200/v1/team1/transit/keys/prod",
	}, c.Rules[0].Specs())
	require.Equal(t, []string{
		"vault:http://127.0.0.1:8200/v1/transit/keys/dev",
		"https://vault.example.com/v1/transit/keys/dev",
	}, c.Rules[1].Specs())
}
