// Command ageplugin is a real age plugin for ksec's tests, installed under
// the name age-plugin-ksectest. It speaks age's plugin protocol through the
// plugin side of filippo.io/age/plugin, the package whose client side ksec
// uses, so the tests cover the whole protocol rather than a stub.
//
// Its keys are age X25519 keys in plugin clothing: the identity data is a
// flag byte followed by a native identity (AGE-SECRET-KEY-1…), the recipient
// data is the native recipient (age1…), and the stanzas it writes are X25519
// stanzas under the type "ksectest". The flag byte makes an identity ask, through the
// protocol, for a PIN (flagPIN, the PIN is "1234") or a confirmation
// (flagConfirm) before unwrapping.
//
// KSECTEST_PLUGIN_MODE makes it misbehave: "hang" waits 10 seconds without
// answering, "fail" reports an error through the protocol, "crash" exits at
// once, "flood" writes a long malformed line. KSECTEST_PLUGIN_ENV names a
// file where it writes the environment it was given.
//
//	age-plugin-ksectest -generate [-pin] [-confirm]
//
// prints a new identity and, on a "# public key:" line, its recipient.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

const (
	name        = "ksectest"
	stanzaType  = "ksectest"
	flagPIN     = 1
	flagConfirm = 2
	pin         = "1234"
)

func main() {
	p, err := plugin.New(name)
	if err != nil {
		log.Fatal(err)
	}
	fs := flag.CommandLine
	p.RegisterFlags(fs)
	generate := fs.Bool("generate", false, "print a new identity and its recipient")
	withPIN := fs.Bool("pin", false, "with -generate: the identity asks for a PIN")
	withConfirm := fs.Bool("confirm", false, "with -generate: the identity asks for a confirmation")
	flag.Parse()
	if *generate {
		var f byte
		if *withPIN {
			f |= flagPIN
		}
		if *withConfirm {
			f |= flagConfirm
		}
		if err := keygen(f); err != nil {
			log.Fatal(err)
		}
		return
	}
	if path := os.Getenv("KSECTEST_PLUGIN_ENV"); path != "" {
		if err := os.WriteFile(path, []byte(strings.Join(os.Environ(), "\n")+"\n"), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	switch os.Getenv("KSECTEST_PLUGIN_MODE") {
	case "hang":
		time.Sleep(10 * time.Second)
		os.Exit(1)
	case "crash":
		os.Exit(3)
	case "flood":
		os.Stdout.WriteString("-> " + strings.Repeat("x", 1<<20) + "\n")
		os.Exit(1)
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		x, err := age.ParseX25519Recipient(string(data))
		if err != nil {
			return nil, err
		}
		return &recipient{x: x}, nil
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		if len(data) < 2 {
			return nil, errors.New("identity data too short")
		}
		x, err := age.ParseX25519Identity(string(data[1:]))
		if err != nil {
			return nil, err
		}
		return &identity{p: p, flags: data[0], x: x}, nil
	})
	os.Exit(p.Main())
}

func keygen(f byte) error {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	fmt.Printf("# public key: %s\n", plugin.EncodeRecipient(name, []byte(x.Recipient().String())))
	fmt.Println(plugin.EncodeIdentity(name, append([]byte{f}, x.String()...)))
	return nil
}

type recipient struct{ x *age.X25519Recipient }

func (r *recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	if os.Getenv("KSECTEST_PLUGIN_MODE") == "fail" {
		return nil, errors.New("the test plugin was told to fail")
	}
	stanzas, err := r.x.Wrap(fileKey)
	if err != nil {
		return nil, err
	}
	for _, s := range stanzas {
		s.Type = stanzaType
	}
	return stanzas, nil
}

type identity struct {
	p     *plugin.Plugin
	flags byte
	x     *age.X25519Identity
}

func (id *identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if os.Getenv("KSECTEST_PLUGIN_MODE") == "fail" {
		return nil, errors.New("the test plugin was told to fail")
	}
	var ours []*age.Stanza
	for _, s := range stanzas {
		if s.Type == stanzaType {
			c := *s
			c.Type = "X25519"
			ours = append(ours, &c)
		}
	}
	if len(ours) == 0 {
		return nil, age.ErrIncorrectIdentity
	}
	if id.flags&flagPIN != 0 {
		got, err := id.p.RequestValue("Enter the PIN of the ksectest key:", true)
		if err != nil {
			return nil, fmt.Errorf("could not ask for the PIN: %w", err)
		}
		if got != pin {
			return nil, errors.New("wrong PIN")
		}
	}
	if id.flags&flagConfirm != 0 {
		yes, err := id.p.Confirm("Touch the ksectest key to decrypt", "touched", "cancel")
		if err != nil {
			return nil, fmt.Errorf("could not ask for a confirmation: %w", err)
		}
		if !yes {
			return nil, errors.New("cancelled")
		}
	}
	return id.x.Unwrap(ours)
}
