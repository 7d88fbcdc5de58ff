// Command ksec keeps Kubernetes Secret manifests safe to commit: it
// encrypts only their values and leaves the rest readable.
package main

import (
	"os"

	"github.com/ksec-dev/ksec/cmd"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(cmd.Main(version))
}
