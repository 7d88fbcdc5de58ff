package keyring

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ksec-dev/ksec/internal/hint"
)

// SOPS users keep their age keys where SOPS looks for them. ksec looks
// there too, after its own places, so a team moving from SOPS decrypts
// with the keys it already has, without copying them.

// SOPSAgeIdentities returns the age identities in SOPS's places, in this
// order: the file SOPS_AGE_KEY_FILE names, the keys SOPS_AGE_KEY holds
// (one per line or comma-separated), and SOPS's default key file
// (DefaultSOPSAgeKeyFile), when it exists. Each is read only when a Secret
// has an age recipient, so a broken SOPS setting never gets in the way of
// other key types. getenv reads the environment.
func SOPSAgeIdentities(getenv func(string) string) []Identity {
	var ids []Identity
	if path := getenv("SOPS_AGE_KEY_FILE"); path != "" {
		ids = append(ids, &sopsAgeIdentity{label: "SOPS_AGE_KEY_FILE (" + path + ")", load: func() (Identity, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, hint.Wrap(fmt.Errorf("SOPS_AGE_KEY_FILE: %w", err), "SOPS_AGE_KEY_FILE names an age key file; unset it if it is stale")
			}
			return ParseIdentityFile(data, path)
		}})
	}
	if key := getenv("SOPS_AGE_KEY"); key != "" {
		ids = append(ids, &sopsAgeIdentity{label: "SOPS_AGE_KEY", load: func() (Identity, error) {
			// SOPS takes several keys on a line, separated by commas.
			return ParseIdentityString(strings.ReplaceAll(key, ",", "\n"), "SOPS_AGE_KEY")
		}})
	}
	if path := DefaultSOPSAgeKeyFile(getenv); path != "" {
		// Only an existing file is tried: SOPS's default place is not
		// ksec's, so its absence says nothing worth reporting.
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			ids = append(ids, &sopsAgeIdentity{label: "SOPS's age key file " + path, load: func() (Identity, error) {
				data, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("SOPS's age key file: %w", err)
				}
				return ParseIdentityFile(data, path)
			}})
		}
	}
	return ids
}

// DefaultSOPSAgeKeyFile is where SOPS reads age keys when no variable names
// them: sops/age/keys.txt in the user's configuration directory
// ($XDG_CONFIG_HOME, else ~/.config; on macOS ~/Library/Application Support
// unless XDG_CONFIG_HOME is set; on Windows %AppData%). "" when no home is
// known.
func DefaultSOPSAgeKeyFile(getenv func(string) string) string {
	const rel = "sops/age/keys.txt"
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, filepath.FromSlash(rel))
	}
	switch runtime.GOOS {
	case "windows":
		if dir := getenv("AppData"); dir != "" {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		return ""
	case "darwin":
		if home := getenv("HOME"); home != "" {
			return filepath.Join(home, "Library", "Application Support", filepath.FromSlash(rel))
		}
		return ""
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", filepath.FromSlash(rel))
	}
	return ""
}

// sopsAgeIdentity reads its keys on first use.
type sopsAgeIdentity struct {
	label string
	load  func() (Identity, error)

	once sync.Once
	id   Identity
	err  error
}

func (s *sopsAgeIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	subset := stanzasOfType(stanzas, ageType)
	if len(subset) == 0 {
		return nil, fmt.Errorf("%s holds age keys, but the Secret has no age recipient: %w", s.label, ErrIncorrectIdentity)
	}
	s.once.Do(func() {
		s.id, s.err = s.load()
		if a, ok := s.id.(*ageIdentities); ok {
			a.label = s.label
		}
		if errors.Is(s.err, fs.ErrNotExist) {
			s.err = fmt.Errorf("%w: %w", s.err, ErrIncorrectIdentity)
		}
	})
	if s.err != nil {
		return nil, s.err
	}
	return s.id.Unwrap(ctx, subset, scope)
}

func (s *sopsAgeIdentity) describeTry(ctx context.Context, stanzas []Stanza, errs []error) (string, bool) {
	if d, ok := s.id.(triedDescriber); ok {
		return d.describeTry(ctx, stanzas, errs)
	}
	if len(errs) > 0 {
		return strings.TrimSuffix(errs[0].Error(), ": "+ErrIncorrectIdentity.Error()), s.id == nil
	}
	return "", true
}
