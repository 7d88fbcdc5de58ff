package cmd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/outfile"
)

func testSys() (*System, *bytes.Buffer) {
	errb := new(bytes.Buffer)
	return &System{In: strings.NewReader(""), Out: new(bytes.Buffer), Err: errb, Getenv: func(string) string { return "" }, StdinIsTerminal: func() bool { return false }}, errb
}

// An in-place write is refused, with exit code 7, when the file changed
// after it was read; the change is kept.
func TestInPlaceWriteRefusesChangedFile(t *testing.T) {
	sys, _ := testSys()
	name := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(name, []byte("v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	io := ioOptions{Input: name, InPlace: true}
	if _, err := io.read(sys); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte("theirs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := io.write(sys, []byte("mine\n"), false)
	if !errors.Is(err, outfile.ErrChanged) || exitCode(err) != ExitChanged {
		t.Fatalf("got %v (exit %d)", err, exitCode(err))
	}
	var msg bytes.Buffer
	reportError(&msg, err)
	if !strings.Contains(msg.String(), "ksec: hint: run the command again: it works on the file as it is now\n") {
		t.Fatalf("message %q", msg.String())
	}
	if got, _ := os.ReadFile(name); string(got) != "theirs\n" {
		t.Fatalf("file holds %q", got)
	}
	// Read again, the write goes through.
	if _, err := io.read(sys); err != nil {
		t.Fatal(err)
	}
	if err := io.write(sys, []byte("mine\n"), false); err != nil {
		t.Fatal(err)
	}

	// The batch path (encrypt -i -R, decrypt -i with many files) too.
	_, snap, err := parseFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte("theirs again\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b batchOptions
	err = b.writeInPlace(sys, []batchResult{{file: name, out: []byte("mine\n"), changed: true, snap: snap}}, ioOptions{})
	if !errors.Is(err, outfile.ErrChanged) {
		t.Fatalf("batch: got %v", err)
	}
}

func TestCheckOutputName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, name := range []string{"yaml", "json", "wide", "name", "jsonpath", "jsonpath={.data}", "go-template={{.}}", "custom-columns=A:.a", "template=x", "jsonpath-as-json={.x}"} {
		err := checkOutputName(name)
		if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "-o "+name+": ksec's -o/--output names the FILE to write, not an output format") {
			t.Errorf("-o %s: %v", name, err)
		}
	}
	for _, name := range []string{"", "-", "out.yaml", "./json", "dir/yaml", "json.yaml", "YAML"} {
		if err := checkOutputName(name); err != nil {
			t.Errorf("-o %s: %v", name, err)
		}
	}
	if err := os.WriteFile("json", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkOutputName("json"); err != nil {
		t.Errorf("an existing file named json: %v", err)
	}
}

// In a batch, every file whose write is refused is named, not only the
// first: the user must know each file that was not written.
func TestBatchNamesEveryUnwrittenFile(t *testing.T) {
	sys, errb := testSys()
	dir := t.TempDir()
	var results []batchResult
	for _, n := range []string{"a.yaml", "b.yaml", "c.yaml"} {
		name := filepath.Join(dir, n)
		if err := os.WriteFile(name, []byte("v1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, snap, err := parseFile(name)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, batchResult{file: name, out: []byte("mine\n"), changed: true, snap: snap})
	}
	for _, n := range []string{"a.yaml", "c.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("theirs\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := batchOptions{Jobs: 1}
	err := b.writeInPlace(sys, results, ioOptions{})
	if !errors.Is(err, outfile.ErrChanged) || exitCode(err) != ExitChanged || !strings.Contains(err.Error(), "a.yaml") {
		t.Fatalf("got %v", err)
	}
	var msg bytes.Buffer
	reportError(&msg, err)
	if !strings.Contains(msg.String(), "ksec: hint: 2 of 3 files could not be written (each is named above); the others were written\n") {
		t.Fatalf("message %q", msg.String())
	}
	if !strings.Contains(errb.String(), "ksec: error: write "+filepath.Join(dir, "c.yaml")+": changed on disk") {
		t.Fatalf("c.yaml not named: %q", errb.String())
	}
	for n, want := range map[string]string{"a.yaml": "theirs\n", "b.yaml": "mine\n", "c.yaml": "theirs\n"} {
		if got, _ := os.ReadFile(filepath.Join(dir, n)); string(got) != want {
			t.Errorf("%s holds %q, want %q", n, got, want)
		}
	}
}
