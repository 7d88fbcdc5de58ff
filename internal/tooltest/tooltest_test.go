package tooltest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestToolDirectives(t *testing.T) {
	gomod := []byte("module x\n\ntool example.com/a/cmd/a // pinned\n\ntool (\n\texample.com/b\n\t// comment\n\texample.com/c/v2\n)\n\nrequire example.com/a v1.0.0\n")
	got := toolDirectives(gomod)
	want := []string{"example.com/a/cmd/a", "example.com/b", "example.com/c/v2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("toolDirectives = %q, want %q", got, want)
	}
}

func TestName(t *testing.T) {
	for _, c := range []struct {
		tool Tool
		want string
	}{
		{Tool{Dir: "localkms", Package: "github.com/nsmithuk/local-kms"}, "local-kms"},
		{Tool{Dir: "sops", Package: "github.com/getsops/sops/v3/cmd/sops"}, "sops"},
		{Tool{Dir: "kustomize", Package: "sigs.k8s.io/kustomize/kustomize/v5"}, "kustomize"},
		{Tool{Dir: "vaulttransit", Package: "."}, "vaulttransit"},
	} {
		if got := c.tool.Name(); got != c.want {
			t.Errorf("%+v.Name() = %q, want %q", c.tool, got, c.want)
		}
	}
}

// A pin changes with any of the module's files, and only with them.
func TestPin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pin := func() string {
		t.Helper()
		p, err := Pin(dir)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("go.mod", "module x\n")
	p1 := pin()
	write("README", "not a source")
	write("testdata/x.go", "package ignored")
	if p := pin(); p != p1 {
		t.Fatalf("pin changed with a file that does not build: %s -> %s", p1, p)
	}
	write("main.go", "package main\n")
	p2 := pin()
	if p2 == p1 {
		t.Fatal("pin did not change with a new source file")
	}
	write("go.mod", "module x\n\ngo 1.26\n")
	if p := pin(); p == p2 {
		t.Fatal("pin did not change with go.mod")
	}
}

func TestAllFindsLocalKMS(t *testing.T) {
	tools, err := All()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		if tool.Dir == "localkms" && tool.Package == "github.com/nsmithuk/local-kms" {
			return
		}
	}
	t.Fatalf("All() = %+v, want local-kms among them", tools)
}
