package execsecret

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/manifest"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"A", "_", "a_b", "API_TOKEN", "x1", "_9"} {
		if !ValidName(ok) {
			t.Errorf("ValidName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "1st", "tls.crt", "api-key", "A=B", "ü", "a b", "a\x00"} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "user=shell", "HOME=/h"}
	values := []Value{{"user", []byte("admin")}, {"tls.crt", []byte("x")}, {"pw", []byte("a=b\nc")}}
	_, _, err := Environ(base, values, false)
	if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), `"tls.crt"`) {
		t.Errorf("invalid name: %v", err)
	}
	env, skipped, err := Environ(base, values, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "HOME=/h", "user=admin", "pw=a=b\nc"}
	if !slices.Equal(env, want) || !slices.Equal(skipped, []string{"tls.crt"}) {
		t.Errorf("env %q skipped %q", env, skipped)
	}
	if _, _, err := Environ(nil, []Value{{"A", []byte("a\x00b")}}, true); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("NUL: %v", err)
	}
	if _, _, err := Environ(nil, []Value{{"A", nil}, {"A", nil}}, true); err == nil {
		t.Error("a key twice was accepted")
	}
}

func TestSubstitute(t *testing.T) {
	got, err := Substitute([]string{"kubectl", "apply", "-f", "{}", "--x={}{}"}, "/p")
	if err != nil || !slices.Equal(got, []string{"kubectl", "apply", "-f", "/p", "--x=/p/p"}) {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := Substitute([]string{"cat"}, "/p"); err == nil {
		t.Error("a command without {} was accepted")
	}
}

func TestValues(t *testing.T) {
	st, err := manifest.Parse([]byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: aGk=\n  e:\nstringData:\n  b: text\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Values(st.Secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{{"a", []byte("hi")}, {"e", nil}, {"b", []byte("text")}}
	if !slices.EqualFunc(got, want, func(x, y Value) bool { return x.Key == y.Key && string(x.Data) == string(y.Data) }) {
		t.Errorf("got %q", got)
	}
}

func TestRunWithFile(t *testing.T) {
	run := t.TempDir()
	getenv := func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return run
		}
		return ""
	}
	out := filepath.Join(t.TempDir(), "out")
	status, err := RunWithFile(Command{
		Args: []string{"sh", "-c", `cat "$1" > "$2"; stat -c %a "$1" "$(dirname "$1")" >> "$2"; exit 5`, "sh", "{}", out},
		Env:  []string{"PATH=" + os.Getenv("PATH")},
	}, getenv, "dir/x.yaml", []byte("plain\n"))
	if err != nil || status != 5 {
		t.Fatalf("status %d, %v", status, err)
	}
	data, err := os.ReadFile(out)
	if err != nil || string(data) != "plain\n600\n700\n" {
		t.Errorf("the child saw %q (%v)", data, err)
	}
	if entries, _ := os.ReadDir(run); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	// No placeholder: nothing is written, nothing runs.
	if _, err := RunWithFile(Command{Args: []string{"true"}}, getenv, "x", []byte("p")); err == nil {
		t.Error("a command without {} ran")
	}
	if entries, _ := os.ReadDir(run); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestStartError(t *testing.T) {
	_, err := Run(Command{Args: []string{"no-such-command-ksec"}})
	var start *StartError
	if !errors.As(err, &start) || start.Code != 127 {
		t.Errorf("not found: %v", err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "noexec")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Run(Command{Args: []string{f}})
	if !errors.As(err, &start) || start.Code != 126 {
		t.Errorf("not executable: %v", err)
	}
}
