package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
)

func TestBatchCounts(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := func(n string) string { return filepath.Join(dir, n) }
	failWork := func(ctx context.Context, file string, st *manifest.Stream) ([]byte, bool, error) {
		return nil, false, errors.New("work failed")
	}
	okWork := func(ctx context.Context, file string, st *manifest.Stream) ([]byte, bool, error) {
		return []byte("x\n"), false, nil
	}
	for _, c := range []struct {
		name     string
		files    []string
		work     func(context.Context, string, *manifest.Stream) ([]byte, bool, error)
		keep     bool
		cancel   bool
		msg      string
		hint     string
		reported int
	}{
		{"all missing", []string{missing("a"), missing("b"), missing("c")}, okWork, false, false, "3 of 3 files failed", "", 3},
		{"missing after a failure", []string{good, missing("a"), good, good}, failWork, false, false, "2 of 4 files failed",
			"2 files were not worked on after the first failure; --keep-going goes on with them", 2},
		{"keep going", []string{good, missing("a"), good}, failWork, true, false, "3 of 3 files failed", "", 3},
		{"no failure", []string{good, good}, okWork, false, false, "", "", 0},
		{"interrupted", []string{good, good}, okWork, false, true, "2 files not worked on: context canceled", "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancel {
				cancel()
			}
			b := &batchOptions{Jobs: 1, KeepGoing: c.keep}
			var stderr bytes.Buffer
			err := batchErrors(&System{Err: &stderr}, b.runBatch(ctx, c.files, c.work))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.msg {
				t.Errorf("error %q, want %q", got, c.msg)
			}
			if hints := strings.Join(hint.All(err), "\n"); hints != c.hint {
				t.Errorf("hints %q, want %q", hints, c.hint)
			}
			if n := strings.Count(stderr.String(), "ksec: error: "); n != c.reported {
				t.Errorf("%d files reported, want %d:\n%s", n, c.reported, stderr.String())
			}
		})
	}
}
