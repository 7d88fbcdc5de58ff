//go:build !linux

package main

import (
	"fmt"
	"os"
)

// ttyrunMain needs Linux's pseudo-terminals; scripts that use it skip
// elsewhere ([!linux] skip).
func ttyrunMain() {
	fmt.Fprintln(os.Stderr, "ttyrun: only on Linux")
	os.Exit(2)
}
