package main

import (
	"os"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/vaulttest"
)

// vault start | createkey PREFIX NAME TYPE | rotate PREFIX NAME | seal |
// unseal | fault F | token TOKEN PATH...
//
// start runs the transit test server (tools/vaulttransit, on Vault's own
// keysutil) over HTTPS on 127.0.0.1 for this script with keys transit/k1,
// transit/k2, team1/transit/k1 (all aes256-gcm96) and transit/rsa
// (rsa-2048), and sets VAULT_TOKEN and VAULT_CACERT for it, $VAULT_ADDR_T
// (its base URL), $VAULT_KEY, $VAULT_KEY2, $VAULT_NSKEY and $VAULT_RSA, and
// $VAULT_TOKEN_SAVED and $VAULT_CACERT_SAVED to restore the environment.
// token adds a token with only the update capability on the given full
// paths (e.g. transit/decrypt/k1).
func cmdVault(ts *testscript.TestScript, neg bool, args []string) {
	k := kmsOf(ts)
	if neg || len(args) == 0 {
		ts.Fatalf("usage: vault start|createkey PREFIX NAME TYPE|rotate PREFIX NAME|seal|unseal|fault F|token TOKEN PATH...")
	}
	if args[0] != "start" && k.vault == nil {
		ts.Fatalf("vault: not started")
	}
	switch args[0] {
	case "start":
		if k.vault != nil {
			ts.Fatalf("vault: already started")
		}
		dir := ts.MkAbs(".vault")
		ts.Check(os.MkdirAll(dir, 0o700))
		s, err := vaulttest.Start(dir, false)
		ts.Check(err)
		k.vault = s
		ts.Defer(s.Stop)
		setenvAll(ts, s.Env())
		// To put them back after a script removes them.
		ts.Setenv("VAULT_TOKEN_SAVED", s.Token)
		ts.Setenv("VAULT_CACERT_SAVED", s.CACert)
		ts.Setenv("VAULT_ADDR_T", s.Addr)
		for _, key := range []struct{ env, prefix, name, typ string }{
			{"VAULT_KEY", "transit", "k1", "aes256-gcm96"},
			{"VAULT_KEY2", "transit", "k2", "aes256-gcm96"},
			{"VAULT_NSKEY", vaulttest.Namespace + "/transit", "k1", "aes256-gcm96"},
			{"VAULT_RSA", "transit", "rsa", "rsa-2048"},
		} {
			ts.Check(s.CreateKey(key.prefix, key.name, key.typ))
			ts.Setenv(key.env, s.KeyURL(key.prefix, key.name))
		}
	case "createkey":
		if len(args) != 4 {
			ts.Fatalf("usage: vault createkey PREFIX NAME TYPE")
		}
		ts.Check(k.vault.CreateKey(args[1], args[2], args[3]))
	case "rotate":
		if len(args) != 3 {
			ts.Fatalf("usage: vault rotate PREFIX NAME")
		}
		ts.Check(k.vault.Rotate(args[1], args[2]))
	case "seal":
		ts.Check(k.vault.Seal())
	case "unseal":
		ts.Check(k.vault.Unseal())
	case "fault":
		f := ""
		if len(args) > 1 {
			f = args[1]
		}
		ts.Check(k.vault.SetFault(f))
	case "token":
		if len(args) < 2 {
			ts.Fatalf("usage: vault token TOKEN PATH...")
		}
		paths := map[string][]string{}
		for _, p := range args[2:] {
			paths[p] = []string{"update"}
		}
		ts.Check(k.vault.AddToken(args[1], paths))
	default:
		ts.Fatalf("vault: unknown subcommand %q", args[0])
	}
}
