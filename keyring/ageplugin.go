package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/ksec-dev/ksec/internal/childenv"
	"github.com/ksec-dev/ksec/internal/hint"
)

// Prompter asks the person at the terminal. ksec's is the terminal itself
// (/dev/tty), never standard input or output.
type Prompter interface {
	// Secret reads an answer without echoing it (a passphrase, a PIN).
	Secret(prompt string) ([]byte, error)
	// Line reads an answer that may be echoed.
	Line(prompt string) (string, error)
	// Confirm asks to choose between yes and no (no may be "").
	Confirm(prompt, yes, no string) (bool, error)
	// Message shows a line of information.
	Message(msg string) error
}

// AgeOptions configure the age provider for age plugins (age1NAME1…
// recipients, AGE-PLUGIN-NAME-1… identities).
type AgeOptions struct {
	// Prompter answers a plugin's requests for a PIN or a confirmation;
	// nil means nobody can answer, and a plugin that asks fails.
	Prompter Prompter
	// PluginTimeout bounds each plugin run, not counting the time the
	// person takes to answer it; 0 means DefaultPluginTimeout.
	PluginTimeout time.Duration
}

// DefaultPluginTimeout bounds a plugin run. It is long because a hardware
// key may wait for a touch, which the plugin protocol does not announce.
const DefaultPluginTimeout = 2 * time.Minute

// maxPluginMessage bounds what ksec repeats of a plugin's own words.
const maxPluginMessage = 300

// NewAgeWith returns the age provider (see NewAge) with plugin support
// configured by opts.
func NewAgeWith(opts AgeOptions) Provider {
	return ageProvider{plugins: &pluginRunner{prompter: opts.Prompter, timeout: opts.PluginTimeout}}
}

const (
	hintPluginMissing = "install the plugin program age-plugin-%s into a directory on $PATH (it serves age1%s1… keys and AGE-PLUGIN-%s-1… identities)"
	hintPluginTimeout = "the plugin may be waiting for a hardware key that is not plugged in or not touched; try again"
)

// isPluginRecipient reports whether s (lower case) is a plugin recipient:
// Bech32 data never holds a '1', so another one after "age1" means the
// plugin form age1NAME1….
func isPluginRecipient(lower string) bool {
	rest, ok := strings.CutPrefix(lower, "age1")
	return ok && strings.Contains(rest, "1") && !strings.HasPrefix(lower, "age1pq1")
}

// parsePluginRecipient checks a plugin recipient's encoding; the plugin is
// first run when a key is wrapped for it.
func (r *pluginRunner) parseRecipient(s string) (*ageRecipient, error) {
	s = strings.ToLower(s)
	name, _, err := plugin.ParseRecipient(s)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("not a valid age plugin recipient: %w", err), hintAgeRecipient)
	}
	return &ageRecipient{id: s, r: &pluginRecipient{name: name, encoding: s, run: r}}, nil
}

// pluginRecipient is an age recipient served by a plugin program, bound to
// the context of one Wrap call.
type pluginRecipient struct {
	name, encoding string
	run            *pluginRunner
	ctx            context.Context
}

func (p *pluginRecipient) withContext(ctx context.Context) age.Recipient {
	c := *p
	c.ctx = ctx
	return &c
}

func (p *pluginRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	return runPlugin(p.run, p.ctx, p.name, func(ui *plugin.ClientUI) ([]*age.Stanza, error) {
		r, err := plugin.NewRecipient(p.encoding, ui)
		if err != nil {
			return nil, err
		}
		return r.Wrap(fileKey)
	})
}

// pluginKey is an AGE-PLUGIN-NAME-1… identity line. Its recipient cannot be
// known without running the plugin, so it is tried on the age stanzas whose
// recipient names the same plugin.
type pluginKey struct {
	name, encoding string
	run            *pluginRunner
	ctx            context.Context
}

func (r *pluginRunner) parseIdentity(line string) (*pluginKey, error) {
	name, _, err := plugin.ParseIdentity(line)
	if err != nil {
		return nil, err
	}
	return &pluginKey{name: name, encoding: line, run: r}, nil
}

// fits reports whether the plugin may hold the key of a stanza ID.
func (k *pluginKey) fits(stanzaID string) bool {
	return strings.HasPrefix(stanzaID, "age1"+k.name+"1")
}

func (k *pluginKey) withContext(ctx context.Context) age.Identity {
	c := *k
	c.ctx = ctx
	return &c
}

func (k *pluginKey) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	return runPlugin(k.run, k.ctx, k.name, func(ui *plugin.ClientUI) ([]byte, error) {
		id, err := plugin.NewIdentity(k.encoding, ui)
		if err != nil {
			return nil, err
		}
		return id.Unwrap(stanzas)
	})
}

// parsePluginLines takes the AGE-PLUGIN- lines out of an age identity file:
// it returns them as keys and the rest of the file for age's own parser.
func (r *pluginRunner) parsePluginLines(data []byte) (rest []byte, keys []ageKey, err error) {
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "AGE-PLUGIN-") {
			rest = append(rest, line...)
			continue
		}
		k, err := r.parseIdentity(t)
		if err != nil {
			// plugin's parse errors do not quote the key.
			return nil, nil, fmt.Errorf("line %d: not a valid age plugin identity: %w", n, err)
		}
		keys = append(keys, ageKey{identity: k})
		rest = append(rest, '\n') // keeps age's line numbers right
	}
	return rest, keys, nil
}

// PluginError is a failure of an age plugin program (as opposed to a key
// that does not fit). Its hints, if any, are on Err.
type PluginError struct {
	Name string
	Err  error
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("age plugin %s: %v", e.Name, e.Err)
}

func (e *PluginError) Unwrap() error { return e.Err }

// pluginRunner runs plugin programs: bounded in time, with their requests
// for a PIN or a confirmation sent to the terminal.
type pluginRunner struct {
	prompter Prompter
	timeout  time.Duration
}

// runPlugin runs f, a call into filippo.io/age/plugin that starts the
// plugin program, with a UI of its own. The library takes no context and
// runs the program itself, so: the program inherits ksec's environment,
// from which key material is removed first; and when ctx ends or the
// plugin is silent for longer than the timeout (time spent answering its
// questions does not count), ksec stops waiting and reports it, leaving f
// to finish on its own. The program's pipes close when ksec exits.
func runPlugin[T any](r *pluginRunner, ctx context.Context, name string, f func(ui *plugin.ClientUI) (T, error)) (T, error) {
	var zero T
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	childenv.ScrubProcess()
	timeout := r.timeout
	if timeout <= 0 {
		timeout = DefaultPluginTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var uiErr error
	asking := func() func() {
		timer.Stop()
		return func() { timer.Reset(timeout) }
	}
	ui := &plugin.ClientUI{
		DisplayMessage: func(name, msg string) error {
			if r.prompter == nil {
				return errors.New("no terminal")
			}
			return r.prompter.Message(fmt.Sprintf("age-plugin-%s: %s", name, clean(msg)))
		},
		RequestValue: func(name, prompt string, secret bool) (string, error) {
			defer asking()()
			if r.prompter == nil {
				uiErr = errors.New("nobody can answer it here")
				return "", uiErr
			}
			p := fmt.Sprintf("age-plugin-%s: %s", name, clean(prompt))
			if secret {
				b, err := r.prompter.Secret(p)
				if err != nil {
					uiErr = err
					return "", err
				}
				defer clear(b)
				return string(b), nil
			}
			s, err := r.prompter.Line(p)
			if err != nil {
				uiErr = err
			}
			return s, err
		},
		Confirm: func(name, prompt, yes, no string) (bool, error) {
			defer asking()()
			if r.prompter == nil {
				uiErr = errors.New("nobody can answer it here")
				return false, uiErr
			}
			ok, err := r.prompter.Confirm(fmt.Sprintf("age-plugin-%s: %s", name, clean(prompt)), clean(yes), clean(no))
			if err != nil {
				uiErr = err
			}
			return ok, err
		},
		WaitTimer: func(name string) {
			if r.prompter != nil {
				_ = r.prompter.Message(fmt.Sprintf("waiting for age-plugin-%s (a hardware key may want a touch)…", name))
			}
		},
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // f may finish after ksec stopped waiting
	go func() {
		v, err := f(ui)
		done <- result{v, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-timer.C:
		return zero, &PluginError{Name: name, Err: hint.Wrap(fmt.Errorf("no answer within %s", timeout), hintPluginTimeout)}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if res.err == nil {
		return res.v, nil
	}
	return zero, explainPluginError(name, res.err, uiErr)
}

// explainPluginError turns the error of a plugin run into one that says what to do.
// uiErr is why a question of the plugin's could not be answered, if one
// could not.
func explainPluginError(name string, err, uiErr error) error {
	var notFound *plugin.NotFoundError
	said := clean(strings.TrimPrefix(fmt.Sprint(err), name+" plugin: "))
	switch {
	case errors.Is(err, age.ErrIncorrectIdentity):
		return err
	case errors.As(err, &notFound):
		upper := strings.ToUpper(name)
		return &PluginError{Name: name, Err: hint.Wrap(fmt.Errorf("the plugin program age-plugin-%s is not on $PATH", name),
			fmt.Sprintf(hintPluginMissing, name, name, upper))}
	case uiErr != nil:
		// The library only tells the plugin the question failed; say why.
		return &PluginError{Name: name, Err: fmt.Errorf("it asked a question that could not be answered: %w (the plugin said: %s)", uiErr, said)}
	}
	return &PluginError{Name: name, Err: errors.New(said)}
}

// clean makes a plugin's words safe to show: one line, printable, bounded.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if r := []rune(s); len(r) > maxPluginMessage {
		s = string(r[:maxPluginMessage]) + "…"
	}
	return s
}
