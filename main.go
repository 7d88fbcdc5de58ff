// Command ksec keeps Kubernetes Secret manifests safe to commit: it
// encrypts only their values and leaves the rest readable.
package main

import (
	"os"

	"github.com/ksec-dev/ksec/cmd"
)

// version is set at release time with -ldflags "-X main.version=…". Left
// empty, ksec reports what Go recorded at build time (see cmd.Main).
var version string

func main() {
	os.Exit(cmd.Main(version))
}
