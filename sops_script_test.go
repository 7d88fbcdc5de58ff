package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

// sopsTool is the real sops, pinned in tools/sops.
var sopsTool = tooltest.Tool{Dir: "sops", Package: "github.com/getsops/sops/v3/cmd/sops"}

func init() { scriptCommands["usesops"] = cmdUseSOPS }

// usesops
//
// puts the real sops on PATH as "sops" (for exec sops … and for ksec
// import), with SOPS_DISABLE_VERSION_CHECK=1 so it never reaches the
// network, and $AGE_ALICE_SECRET to alice's age secret key. (Scripts start without SOPS's own settings: testscript's
// environment holds only what setupScript gives it.)
func cmdUseSOPS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: usesops")
	}
	bin := sopsBinary(ts)
	dir := ts.MkAbs("sopsbin")
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Check(os.Symlink(bin, filepath.Join(dir, "sops")))
	ts.Setenv("PATH", dir+string(os.PathListSeparator)+ts.Getenv("PATH"))
	ts.Setenv("SOPS_DISABLE_VERSION_CHECK", "1")
	// alice's age secret key, for SOPS_AGE_KEY.
	for _, line := range strings.Split(ts.ReadFile("alice.agekey"), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			ts.Setenv("AGE_ALICE_SECRET", line)
		}
	}
}

// sopsBinary builds (or finds in the cache) the real sops.
func sopsBinary(ts *testscript.TestScript) string {
	bin, err := tooltest.Binary(sopsTool)
	if err != nil {
		ts.Fatalf("building sops: %v", err)
	}
	return bin
}

// sopsFor returns the real sops for a Go test.
func sopsFor(t *testing.T) string {
	t.Helper()
	return tooltest.Require(t, sopsTool)
}
