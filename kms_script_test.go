package main

import (
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/internal/vaulttest"
)

// scriptKMS holds the KMS servers one script started.
type scriptKMS struct {
	aws *kmstest.LocalKMS
	gcp *kmstest.GCPKMS

	vault *vaulttest.Server
}

func kmsOf(ts *testscript.TestScript) *scriptKMS { return ts.Value("kms").(*scriptKMS) }

func setenvAll(ts *testscript.TestScript, env []string) {
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		ts.Setenv(k, v)
	}
}

// awskms start | deny OP... | calls OP N | reset
//
// start runs local-kms (behind a call-counting proxy on 127.0.0.1) for this
// script, sets the AWS environment (static credentials, no instance
// metadata) and $AWS_KEY, $AWS_KEY2, $AWS_ALIAS, $AWS_DISABLED.
func cmdAWSKMS(ts *testscript.TestScript, neg bool, args []string) {
	k := kmsOf(ts)
	if len(args) == 0 {
		ts.Fatalf("usage: awskms start|deny OP...|calls OP N|reset")
	}
	switch args[0] {
	case "start":
		if k.aws != nil {
			ts.Fatalf("awskms: already started")
		}
		srv, err := kmstest.StartLocalKMS(ts.MkAbs("."))
		ts.Check(err)
		k.aws = srv
		ts.Defer(srv.Stop)
		setenvAll(ts, srv.Env())
		ts.Setenv("AWS_KEY", srv.KeyARN)
		ts.Setenv("AWS_KEY2", srv.SecondKeyARN)
		ts.Setenv("AWS_ALIAS", srv.AliasARN)
		ts.Setenv("AWS_DISABLED", srv.DisabledKeyARN)
		// To put the credentials back after a script removes them.
		ts.Setenv("AWS_ID", ts.Getenv("AWS_ACCESS_KEY_ID"))
		ts.Setenv("AWS_SECRET", ts.Getenv("AWS_SECRET_ACCESS_KEY"))
	case "deny":
		k.aws.Deny(args[1:]...)
	case "reset":
		k.aws.ResetCalls()
	case "calls":
		if len(args) != 3 {
			ts.Fatalf("usage: awskms calls OP N")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		if got := k.aws.Calls(args[1]); got != want {
			ts.Fatalf("%d %s calls to AWS KMS, want %d", got, args[1], want)
		}
	default:
		ts.Fatalf("awskms: unknown subcommand %q", args[0])
	}
}

// gcpkms start | deny KEY | disable KEY | calls METHOD N | reset
//
// start serves the Cloud KMS gRPC API in this test process on 127.0.0.1,
// sets KSEC_GCP_KMS_ENDPOINT, and $GCP_KEY and $GCP_KEY2.
func cmdGCPKMS(ts *testscript.TestScript, neg bool, args []string) {
	k := kmsOf(ts)
	if len(args) == 0 {
		ts.Fatalf("usage: gcpkms start|deny KEY|disable KEY|calls METHOD N|reset")
	}
	switch args[0] {
	case "start":
		if k.gcp != nil {
			ts.Fatalf("gcpkms: already started")
		}
		srv, err := kmstest.StartGCPKMS()
		ts.Check(err)
		k.gcp = srv
		ts.Defer(srv.Stop)
		setenvAll(ts, srv.Env())
		ts.Setenv("GCP_ENDPOINT", srv.Addr)
		for i, name := range []string{"k1", "k2"} {
			key := "projects/ksec-test/locations/global/keyRings/ring/cryptoKeys/" + name
			ts.Check(srv.AddGCPKey(key))
			ts.Setenv("GCP_KEY"+map[int]string{0: "", 1: "2"}[i], key)
		}
	case "deny":
		ts.Check(k.gcp.SetGCPKeyDenied(args[1], true))
	case "disable":
		ts.Check(k.gcp.SetGCPKeyDisabled(args[1], true))
	case "reset":
		k.gcp.ResetGCPCalls()
	case "calls":
		if len(args) != 3 {
			ts.Fatalf("usage: gcpkms calls METHOD N")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		if got := k.gcp.GCPCalls(args[1]); got != want {
			ts.Fatalf("%d %s calls to Cloud KMS, want %d", got, args[1], want)
		}
	default:
		ts.Fatalf("gcpkms: unknown subcommand %q", args[0])
	}
}
