package privdir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMake(t *testing.T) {
	run := t.TempDir()
	dir, err := Make(func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return run
		}
		return ""
	}, "ksec-test-")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != run || !filepath.IsAbs(dir) {
		t.Errorf("made %s, want it under %s", dir, run)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
	// A missing XDG_RUNTIME_DIR falls back to the next place.
	other, err := Make(func(string) string { return filepath.Join(run, "missing") }, "ksec-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(other)
	if filepath.Dir(other) == filepath.Join(run, "missing") {
		t.Errorf("made %s in a directory that does not exist", other)
	}
}
