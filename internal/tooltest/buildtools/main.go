//go:build ignore

// Command buildtools builds every tool under tools/ into the test cache
// (see tooltest.Binary), so that the test run that follows never waits for
// a build inside a test's timeout. .ci/run calls it before the tests.
//
// The ignore constraint keeps it out of `go install ./...`, which is how
// pre-commit's language: golang installs the hooks: only ksec may land
// there. Run it by its file name: go run ./internal/tooltest/buildtools/main.go.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

func main() {
	tools, err := tooltest.All()
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildtools:", err)
		os.Exit(1)
	}
	for _, tool := range tools {
		start := time.Now()
		bin, err := tooltest.Binary(tool)
		if err != nil {
			fmt.Fprintf(os.Stderr, "buildtools: %s: %v\n", tool.Name(), err)
			os.Exit(1)
		}
		fmt.Printf("%-16s %s (%.1fs)\n", tool.Name(), bin, time.Since(start).Seconds())
	}
}
