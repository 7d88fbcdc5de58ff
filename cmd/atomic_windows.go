//go:build windows

package cmd

import (
	"os"

	"github.com/google/renameio/v2/maybe"
)

// writeFileAtomic is best effort on Windows, where renaming over an open
// file is not atomic.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	return maybe.WriteFile(name, data, mode)
}
