package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/internal/race"
)

// The start-up budget (issue 15): what every ksec run pays before main,
// whatever keys it uses. Go runs the init of every package linked into the
// binary, so a key provider's SDK costs every run, not only the runs that
// use it. GODEBUG=inittrace=1 prints one line per package init with the
// bytes it allocated; both numbers below are deterministic for a given
// build (the bytes within about 1 %), unlike wall time on a shared machine.
//
// Measured with `GODEBUG=inittrace=1 ksec --version` (go1.26.8, linux/amd64):
//
//	main before issue 15 (cbcf6ba)                      287 inits  1.96 MB  12,576 allocs
//	+ azidentity + azkeys (Azure Key Vault)             307 inits  2.02 MB  12,910 allocs
//	  AWS key-spec regexps compiled on first use        307 inits  2.00 MB  12,630 allocs
//	merged with main (Vault, age plugins, kubesec and   310 inits  2.09 MB
//	  SOPS readers: foreign's 11 regexps took 90 KB)
//	  foreign's regexps compiled on first use           310 inits  1.97 MB
//	main at 974f924 (more of issue 15 merged)           312 inits  1.97 MB  12,480 allocs
//	  azidentity replaced by keyring/azurecred.go       295 inits  1.92 MB  12,145 allocs
//
// azidentity and MSAL also cost every run ~1 MiB of peak RSS and 2.3 MB of
// binary, which this trace does not see (docs/PERFORMANCE.md, "Why a
// credential chain of ksec's own"). The budget is the last measurement
// plus 5 inits and ~80 KB for small additions.
//
// When this test fails, it lists the costliest packages. A new dependency
// with a heavy init belongs out of the main binary (a helper executable
// exec'd on first use, like age plugins), or its tables built on first use
// (sync.OnceValue instead of a package-level regexp.MustCompile or map
// literal). Raise the budget only with the new measurement in
// docs/PERFORMANCE.md ("Start-up budget") and the reason it is worth it.
const (
	startupMaxInits     = 300
	startupMaxInitBytes = 2_000_000
)

func TestStartupBudget(t *testing.T) {
	if race.Enabled {
		t.Skip("race detector: its runtime links and allocates more; the ordinary go test checks the budget")
	}
	bin := filepath.Join(t.TempDir(), "ksec")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ksec --version: %v\n%s", err, stderr.Bytes())
	}
	inits, err := parseInitTrace(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, in := range inits {
		total += in.bytes
	}
	t.Logf("%d package inits, %d bytes allocated (budget: %d, %d)", len(inits), total, startupMaxInits, startupMaxInitBytes)
	if len(inits) < 100 {
		t.Fatalf("only %d init lines: is GODEBUG=inittrace=1 still honoured?\n%s", len(inits), stderr.Bytes())
	}
	if len(inits) <= startupMaxInits && total <= startupMaxInitBytes {
		return
	}
	slices.SortFunc(inits, func(a, b initTrace) int { return cmp.Compare(b.bytes, a.bytes) })
	var top strings.Builder
	for _, in := range inits[:min(15, len(inits))] {
		fmt.Fprintf(&top, "\n  %8d bytes  %s", in.bytes, in.pkg)
	}
	t.Errorf("ksec --version runs %d package inits allocating %d bytes; the budget is %d inits and %d bytes "+
		"(see the comment above startupMaxInits). Costliest inits:%s", len(inits), total, startupMaxInits, startupMaxInitBytes, top.String())
}

type initTrace struct {
	pkg   string
	bytes int
}

// parseInitTrace reads lines such as
// "init crypto/tls @1.2 ms, 0.011 ms clock, 1696 bytes, 21 allocs".
func parseInitTrace(s string) ([]initTrace, error) {
	var out []initTrace
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(line, "init ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		// PKG @T ms, T ms clock, B bytes, A allocs
		if len(f) != 10 || f[7] != "bytes," || f[9] != "allocs" {
			return nil, fmt.Errorf("unexpected inittrace line %q", line)
		}
		n, err := strconv.Atoi(f[6])
		if err != nil {
			return nil, fmt.Errorf("inittrace line %q: %v", line, err)
		}
		out = append(out, initTrace{pkg: f[0], bytes: n})
	}
	return out, nil
}
