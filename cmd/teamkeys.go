package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/envelope"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/keyring"
	"github.com/ksec-dev/ksec/manifest"
)

// errNoRule says a configuration has no rule for a Secret.
var errNoRule = errors.New("no rule matches")

// teamKeys gives Secrets their recipients from the .ksec.yaml that covers
// a target file. encrypt, edit and create use it when no key is named.
type teamKeys struct {
	cfg    *config.Config
	target string
	kr     *keyring.Keyring
	parsed map[*config.Rule][]keyring.Recipient
}

// findTeamKeys looks up the configuration for target; nil when none.
func findTeamKeys(kr *keyring.Keyring, target string) (*teamKeys, error) {
	cfg, err := config.Find(target)
	if err != nil || cfg == nil {
		return nil, err
	}
	return &teamKeys{cfg: cfg, target: target, kr: kr, parsed: map[*config.Rule][]keyring.Recipient{}}, nil
}

// recipients returns the recipients of the rule for s, or an error
// wrapping errNoRule.
func (t *teamKeys) recipients(ctx context.Context, s *manifest.Secret) ([]keyring.Recipient, *config.Rule, error) {
	rule, ok := t.cfg.Match(t.target, s.Namespace)
	if !ok {
		ns := "no namespace"
		if s.Namespace != "" {
			ns = "namespace " + s.Namespace
		}
		return nil, nil, hint.Wrap(fmt.Errorf("%w %s (%s) in %s", errNoRule, t.target, ns, displayPath(t.cfg.Path())),
			"add a rule to "+config.FileName+" (see docs/CONFIG.md), or name keys with -k/--key or KSEC_KEYS")
	}
	if rs, ok := t.parsed[rule]; ok {
		return rs, rule, nil
	}
	rs, err := t.kr.ParseRecipients(ctx, rule.Specs())
	if err != nil {
		return nil, nil, fmt.Errorf("keys of the rule at %s: %w", displayPath(t.cfg.Where(rule.Line)), err)
	}
	t.parsed[rule] = rs
	return rs, rule, nil
}

// forEncrypt is the envelope.EncryptEach callback for encrypting with the
// team's keys: Secrets not encrypted yet get their rule's recipients,
// encrypted ones keep theirs (changing those is updatekeys' job).
func (t *teamKeys) forEncrypt(ctx context.Context) func(*manifest.Secret) (envelope.Recipients, error) {
	return func(s *manifest.Secret) (envelope.Recipients, error) {
		if s.Meta != nil {
			return envelope.Recipients{}, nil
		}
		rs, _, err := t.recipients(ctx, s)
		return envelope.Recipients{Set: rs}, err
	}
}

// recipientsFor decides who the Secrets of target are encrypted for: the
// keys named with -k, else in KSEC_KEYS, else the team configuration
// (.ksec.yaml) that covers target. named says whether keys were named;
// with neither keys nor configuration, the Recipients are empty.
func recipientsFor(ctx context.Context, sys *System, kr *keyring.Keyring, flags []string, target string) (forSecret func(*manifest.Secret) (envelope.Recipients, error), named envelope.Recipients, err error) {
	if specs := keySpecs(sys, flags); len(specs) > 0 || target == "" || target == "-" {
		rs, err := parseRecipientFlags(ctx, kr, specs)
		if err != nil {
			return nil, rs, err
		}
		return func(*manifest.Secret) (envelope.Recipients, error) { return rs, nil }, rs, nil
	}
	team, err := findTeamKeys(kr, target)
	if err != nil || team == nil {
		return func(*manifest.Secret) (envelope.Recipients, error) { return envelope.Recipients{}, nil }, envelope.Recipients{}, err
	}
	return team.forEncrypt(ctx), envelope.Recipients{}, nil
}
