package main

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/kubesectest"
)

// kubesec [-v N] [-foreign-signer] IN OUT KEY...
//
// writes OUT, the Secret of IN encrypted in kubesec's format (version N,
// default 3) for each KEY: pgp:ID (wrapped and signed by the script's gpg,
// or with -foreign-signer by a key made for it whose public key the
// script's gpg lacks), aws:ARN (local-kms, no encryption context) or
// gcp:NAME (the in-process Cloud KMS, no additional data).
func cmdKubesec(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! kubesec")
	}
	version, foreignSigner := 3, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-v":
			v, err := strconv.Atoi(args[1])
			ts.Check(err)
			version, args = v, args[2:]
		case "-foreign-signer":
			foreignSigner, args = true, args[1:]
		default:
			ts.Fatalf("kubesec: unknown flag %s", args[0])
		}
	}
	if len(args) < 3 {
		ts.Fatalf("usage: kubesec [-v N] [-foreign-signer] IN OUT KEY...")
	}
	in, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ctx := context.Background()
	key := kubesectest.NewDataKey()
	gpgEnv := gpgtest.Env(ts.Getenv("GNUPGHOME"))
	if foreignSigner {
		home, cleanup, err := gpgtest.NewHomeE()
		ts.Check(err)
		ts.Defer(cleanup)
		_, err = gpgtest.GenKeyE(home, gpgtest.ECC, "signer@example.test")
		ts.Check(err)
		for _, name := range []string{"alice", "bob", "carol"} {
			ts.Check(gpgtest.ImportE(home, keys.public[name]))
		}
		gpgEnv = gpgtest.Env(home)
	}
	var rs []kubesectest.Recipient
	for _, spec := range args[2:] {
		typ, id, _ := strings.Cut(spec, ":")
		var wrapped []byte
		switch typ {
		case "pgp":
			wrapped, err = kubesectest.WrapPGP(gpgEnv, id, key)
		case "aws":
			wrapped, err = kubesectest.WrapAWS(ctx, kmsOf(ts).aws.Endpoint, id, key)
		case "gcp":
			wrapped, err = kubesectest.WrapGCP(ctx, kmsOf(ts).gcp.GCPClientOptions(), id, key)
		default:
			ts.Fatalf("kubesec: unknown key type in %q", spec)
		}
		ts.Check(err)
		rs = append(rs, kubesectest.Recipient{Type: typ, ID: id, Wrapped: wrapped})
	}
	out, err := kubesectest.Write(in, kubesectest.Options{Version: version, DataKey: key, Recipients: rs})
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out, 0o644))
}
