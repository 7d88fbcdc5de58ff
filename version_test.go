package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/internal/race"
)

// TestVersionOfAGoBuild builds ksec as go build and go install do (no
// -ldflags version) and checks that --version reports what Go recorded
// instead of a bare "dev": in a git clone, the commit (as a pseudo-version,
// or the tag when HEAD is tagged) and whether the checkout was modified.
// Go records nothing in a git worktree (.git is a file there) or outside
// git; then "dev" is right. The mapping of every kind of build information
// to a version is tested in cmd (TestVersionOf).
func TestVersionOfAGoBuild(t *testing.T) {
	if race.Enabled {
		t.Skip("race detector: nothing concurrent; the ordinary go test builds and checks it")
	}
	bin := filepath.Join(t.TempDir(), "ksec")
	// -buildvcs=true: a GOFLAGS=-buildvcs=false in the environment must not
	// change what this test checks.
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	must(t, err)
	got, ok := strings.CutPrefix(strings.TrimSuffix(string(out), "\n"), "ksec version ")
	if !ok {
		t.Fatalf("--version printed %q", out)
	}

	if st, err := os.Stat(".git"); err != nil || !st.IsDir() {
		if got != "dev" {
			t.Fatalf("outside a git clone Go records no version, yet --version says %q", got)
		}
		t.Logf("not a git clone (a worktree, or no git): version %q", got)
		return
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	rev := git("rev-parse", "HEAD")
	dirty := git("status", "--porcelain") != ""
	if got == "dev" || !regexp.MustCompile(`^v\d+\.\d+\.\d+`).MatchString(got) {
		t.Fatalf("--version %q: want a module version for commit %s", got, rev)
	}
	if strings.HasSuffix(got, "+dirty") != dirty {
		t.Fatalf("--version %q: the checkout is modified: %v", got, dirty)
	}
	if !strings.Contains(got, rev[:12]) {
		// Not a pseudo-version: HEAD must carry the tag it names.
		tag := strings.TrimSuffix(got, "+dirty")
		if !strings.Contains("\n"+git("tag", "--points-at", "HEAD")+"\n", "\n"+tag+"\n") {
			t.Fatalf("--version %q names neither commit %s nor one of its tags", got, rev[:12])
		}
	}
	t.Logf("version %q (commit %s, modified: %v)", got, rev[:12], dirty)
}
