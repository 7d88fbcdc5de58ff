// Package tooltest builds the real programs that tests drive (local-kms,
// kube-apiserver, kustomize, helm, sops, test servers) from the modules
// under tools/, and caches each binary outside the repository, named after
// the content of its tools module and the Go version, so only the first
// build of a pin is slow.
//
// Each tools/<name> directory is a module of its own, so that the
// dependencies of a tool never reach ksec's go.mod.
package tooltest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// ksecModule is the module path that marks the repository root.
const ksecModule = "github.com/ksec-dev/ksec"

// A Tool names a program built from a tools module.
type Tool struct {
	// Dir is the tools module's folder under tools/ (e.g. "kubeapiserver").
	Dir string
	// Package is the main package to build, as an import path; "." for the
	// module's own main package.
	Package string
	// BinEnv, when not empty, is an environment variable that may name a
	// binary to use instead (built there when missing).
	BinEnv string
}

// Name is the binary's base name: the last element of its package path.
func (tool Tool) Name() string {
	if tool.Package == "." || tool.Package == "" {
		return tool.Dir
	}
	name := path.Base(tool.Package)
	if strings.HasPrefix(name, "v") && len(name) <= 3 { // .../cmd/foo/v2
		name = path.Base(path.Dir(tool.Package))
	}
	return name
}

// Require returns the tool's binary, building it when needed. A failed build
// fails the test: the modules come from the Go module proxy, which every
// machine that runs the tests reaches, so a failure is never "not installed".
func Require(t testing.TB, tool Tool) string {
	t.Helper()
	bin, err := Binary(tool)
	if err != nil {
		t.Fatalf("building %s: %v", tool.Name(), err)
	}
	return bin
}

// Missing reports a missing outside component (a Debian package, say): under
// CI=true it fails the test, since .ci/run installs every component; on a
// developer's machine it skips with the hint.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing under CI=true (.ci/run installs it): %s", what, hint)
	}
	t.Skipf("%s is missing: %s", what, hint)
}

// LookPath returns the path of a command on $PATH, or reports it missing
// (see Missing) with the hint.
func LookPath(t testing.TB, command, hint string) string {
	t.Helper()
	p, err := exec.LookPath(command)
	if err != nil {
		Missing(t, command, hint)
	}
	return p
}

// Binary returns the path of the tool's binary, building it first when it is
// not cached. Test packages that start at once build it once: a lock file
// says a build is under way, and its owner refreshes it while building.
func Binary(tool Tool) (string, error) {
	bin := ""
	if tool.BinEnv != "" {
		bin = os.Getenv(tool.BinEnv)
		if bin != "" && isFile(bin) {
			return bin, nil
		}
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "tools", tool.Dir)
	if bin == "" {
		pin, err := Pin(dir)
		if err != nil {
			return "", err
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		name := tool.Name() + "-" + pin
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		bin = filepath.Join(cache, "ksec-test", name)
		if isFile(bin) {
			return bin, nil
		}
	}
	if err := build(dir, tool.Package, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// lockStale is how long a lock may go unrefreshed before a waiter takes it
// over (its builder was killed); builders refresh it every lockRefresh.
const (
	lockStale   = time.Minute
	lockRefresh = 10 * time.Second
)

func build(dir, pkg, bin string) error {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	lock := bin + ".lock"
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			break
		}
		if isFile(bin) {
			return nil
		}
		if st, err := os.Stat(lock); err == nil && time.Since(st.ModTime()) > lockStale {
			os.Remove(lock)
			continue
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer os.Remove(lock)
	if isFile(bin) { // built by another process between our checks
		return nil
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(lockRefresh)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				_ = os.Chtimes(lock, now, now)
			}
		}
	}()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := bin + ".tmp-" + hex.EncodeToString(rnd[:])
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("installing %s: %w", bin, err)
	}
	return nil
}

// Pin names a tools module's content: its go.mod, go.sum and Go sources, and
// the Go version that builds it, so a change to any of them builds afresh.
func Pin(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if n := d.Name(); n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the tools module %s: %w", dir, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no tools module in %s", dir)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", runtime.Version())
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// RepoRoot walks up from the working directory (a test's package directory)
// to ksec's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(b) == ksecModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find ksec's go.mod above the working directory")
		}
		dir = parent
	}
}

func moduleLine(gomod []byte) string {
	for _, line := range bytes.Split(gomod, []byte("\n")) {
		if m, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("module ")); ok {
			return strings.Trim(string(bytes.TrimSpace(m)), `"`)
		}
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
