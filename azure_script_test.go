package main

import (
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/azuretest"
)

// The Key Vault of each script that started one. (A map of its own rather
// than a field of scriptKMS, so adding the command touches no shared file.)
var (
	azureVaultsMu sync.Mutex
	azureVaults   = map[*testscript.TestScript]*azuretest.Vault{}
)

func init() { scriptCommands["azurekv"] = cmdAzureKV }

// azurekv start | deny KEY | allow KEY | rotate KEY | reply MODE | calls OP N | reset
//
// start serves a Key Vault over TLS on 127.0.0.1 in this test process with
// keys k1 and k2, and sets the environment a ksec process needs to reach
// it: the credential chain limited to a managed identity whose token
// endpoint is in this process too, and the vault's certificate as the only
// trusted root. It sets $AZURE_KEY and $AZURE_KEY2 (azure:URL) and
// $AZURE_URL and $AZURE_URL2 (the bare URLs, as stanzas name them), and
// $AZURE_TEST_TENANT, $AZURE_TEST_SECRET and $AZURE_TEST_AUTHORITY for
// signing in with a client secret instead.
func cmdAzureKV(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: azurekv start|deny KEY|allow KEY|rotate KEY|reply MODE|calls OP N|reset")
	}
	azureVaultsMu.Lock()
	v := azureVaults[ts]
	azureVaultsMu.Unlock()
	if args[0] != "start" && v == nil {
		ts.Fatalf("azurekv: not started")
	}
	switch args[0] {
	case "start":
		if v != nil {
			ts.Fatalf("azurekv: already started")
		}
		v, err := azuretest.Start(ts.MkAbs("."))
		ts.Check(err)
		azureVaultsMu.Lock()
		azureVaults[ts] = v
		azureVaultsMu.Unlock()
		ts.Defer(func() {
			v.Close()
			azureVaultsMu.Lock()
			delete(azureVaults, ts)
			azureVaultsMu.Unlock()
		})
		setenvAll(ts, v.Env())
		// For the environment credential (client secret at an Entra ID
		// style token endpoint), which scripts switch to themselves.
		ts.Setenv("AZURE_TEST_TENANT", azuretest.Tenant)
		ts.Setenv("AZURE_TEST_SECRET", v.Secret)
		ts.Setenv("AZURE_TEST_AUTHORITY", v.AuthorityHost())
		for i, name := range []string{"k1", "k2"} {
			_, err := v.AddKey(name)
			ts.Check(err)
			suffix := map[int]string{0: "", 1: "2"}[i]
			ts.Setenv("AZURE_KEY"+suffix, "azure:"+v.KeyURL(name))
			ts.Setenv("AZURE_URL"+suffix, v.KeyURL(name))
		}
	case "deny", "allow":
		if len(args) != 2 {
			ts.Fatalf("usage: azurekv %s KEY", args[0])
		}
		v.Deny(args[1], args[0] == "deny")
	case "rotate":
		if len(args) != 2 {
			ts.Fatalf("usage: azurekv rotate KEY")
		}
		ver, err := v.Rotate(args[1])
		ts.Check(err)
		ts.Setenv("AZURE_VERSION", ver)
	case "reply":
		if len(args) != 2 {
			ts.Fatalf("usage: azurekv reply normal|huge|malformed|wrong-kid")
		}
		v.SetReply(strings.TrimPrefix(args[1], "normal"))
	case "reset":
		v.ResetCalls()
	case "calls":
		if len(args) != 3 {
			ts.Fatalf("usage: azurekv calls OP N")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		if got := v.Calls(args[1]); got != want {
			ts.Fatalf("%d %s calls to Key Vault, want %d", got, args[1], want)
		}
	default:
		ts.Fatalf("azurekv: unknown subcommand %q", args[0])
	}
}
