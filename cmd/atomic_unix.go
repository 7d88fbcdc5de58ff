//go:build !windows

package cmd

import (
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// writeFileAtomic writes a temporary file next to name, fsyncs it and renames
// it over name, so readers see the old file or the new one, never a part.
// The temporary file is always in name's directory: renameio would
// otherwise prefer $TMPDIR, and a decrypted file must not pass through it.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	return renameio.WriteFile(name, data, mode,
		renameio.WithStaticPermissions(mode), renameio.WithTempDir(filepath.Dir(name)))
}
