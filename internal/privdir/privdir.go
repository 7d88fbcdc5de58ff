// Package privdir makes private temporary directories for plaintext that
// must touch a file system (ksec edit's buffer, ksec exec-file's file).
package privdir

import (
	"fmt"
	"os"
)

// Make creates a directory only the user can enter, named prefix plus a
// random part, on a memory file system when one is available
// ($XDG_RUNTIME_DIR, /dev/shm), else in the system's temporary directory.
// The caller removes it.
func Make(getenv func(string) string, prefix string) (string, error) {
	var bases []string
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		bases = append(bases, d)
	}
	bases = append(bases, "/dev/shm", os.TempDir())
	var lastErr error
	for _, base := range bases {
		if st, err := os.Stat(base); err != nil || !st.IsDir() {
			continue
		}
		dir, err := os.MkdirTemp(base, prefix)
		if err == nil {
			if err = os.Chmod(dir, 0o700); err == nil {
				return dir, nil
			}
			os.RemoveAll(dir)
		}
		lastErr = err
	}
	return "", fmt.Errorf("make a private temporary directory: %w", lastErr)
}
