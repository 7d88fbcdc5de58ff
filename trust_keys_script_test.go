package main

import (
	"encoding/base64"
	"os"
	"regexp"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/gpgtest"
)

func init() {
	scriptCommands["pgpbomb"] = cmdPGPBomb
}

// cmdPGPBomb: pgpbomb PUBKEY FILE replaces the wrapped data key of every
// recipient in FILE with an OpenPGP message for PUBKEY that is a few KB and
// inflates to 2 GiB of zeros.
func cmdPGPBomb(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pgpbomb PUBKEY FILE")
	}
	bomb, err := gpgtest.BombE([]byte(ts.ReadFile(args[0])), 2048)
	ts.Check(err)
	file := ts.MkAbs(args[1])
	src, err := os.ReadFile(file)
	ts.Check(err)
	wrapped := regexp.MustCompile(`(?m)^(\s+wrapped: ).*$`)
	if !wrapped.Match(src) {
		ts.Fatalf("%s has no wrapped data key", args[1])
	}
	out := wrapped.ReplaceAll(src, []byte("${1}"+base64.StdEncoding.EncodeToString(bomb)))
	ts.Check(os.WriteFile(file, out, 0o644))
}
