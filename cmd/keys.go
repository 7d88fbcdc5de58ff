package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// newKeyring sets up the key providers of this run and the identities named
// with -I/--identity, then in KSEC_IDENTITY_FILE. Identity files are read
// here, once; providers contact nothing until a recipient needs them.
// passphraseFile is --passphrase-file (see identityOptions).
func newKeyring(sys *System, identityFiles []string, passphraseFile string) (*keyring.Keyring, error) {
	idOpts, err := identityOptions(sys, passphraseFile)
	if err != nil {
		return nil, err
	}
	// Unwrapping tries identities first (files, then the env key), then
	// providers in this order: local gpg before any network KMS.
	providers := []keyring.Provider{
		keyring.NewAgeWith(idOpts.Age),
		keyring.NewPGP(keyring.PGPOptions{}),
		keyring.NewAWS(keyring.AWSOptions{}),
		keyring.NewGCP(keyring.GCPOptions{Endpoint: sys.Getenv("KSEC_GCP_KMS_ENDPOINT")}),
		keyring.NewVault(keyring.VaultOptions{Getenv: sys.Getenv}),
		keyring.NewAzure(keyring.AzureOptions{Loopback: sys.Getenv("KSEC_AZURE_LOOPBACK") == "1"}),
	}
	files := append([]string(nil), identityFiles...)
	if env := sys.Getenv("KSEC_IDENTITY_FILE"); env != "" {
		files = append(files, filepath.SplitList(env)...)
	}
	var identities []keyring.Identity
	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("identity file: %w", err), "identity files come from -I/--identity and KSEC_IDENTITY_FILE")
		}
		id, err := keyring.ParseIdentityFileWith(data, f, idOpts)
		if err != nil {
			return nil, err
		}
		identities = append(identities, id)
	}
	if key := sys.Getenv("KSEC_AGE_KEY"); key != "" {
		id, err := keyring.ParseIdentityStringWith(key, "KSEC_AGE_KEY", idOpts)
		if err != nil {
			return nil, err
		}
		identities = append(identities, id)
	}
	identities = append(identities, keyring.NewDefaultAgeIdentity(keyring.DefaultAgeIdentityFile(sys.Getenv)))
	// Then where SOPS users keep their age keys (see docs/MIGRATING.md).
	identities = append(identities, keyring.SOPSAgeIdentities(sys.Getenv)...)
	return keyring.New(providers, identities), nil
}

// keySpecs returns the key specs from -k flags, else from KSEC_KEYS; both
// accept comma-separated lists.
func keySpecs(sys *System, flags []string) []string {
	var specs []string
	source := flags
	if len(source) == 0 {
		source = []string{sys.Getenv("KSEC_KEYS")}
	}
	for _, f := range source {
		for _, s := range strings.Split(f, ",") {
			if s = strings.TrimSpace(s); s != "" {
				specs = append(specs, s)
			}
		}
	}
	return specs
}

// envDecrypter returns what decrypts for the commands another tool runs
// (the kustomize generator, the Helm post-renderer): keys from the
// environment only, as for decrypt without -I.
func envDecrypter(sys *System) (func(context.Context, *manifest.Stream) error, error) {
	kr, err := newKeyring(sys, nil, "")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, st *manifest.Stream) error {
		_, err := envelope.Decrypt(ctx, st, kr)
		return err
	}, nil
}
