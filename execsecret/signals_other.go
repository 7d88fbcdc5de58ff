//go:build !unix

package execsecret

import (
	"os"
	"syscall"
)

// forwarded are the signals passed on to the child while it runs; outside
// Unix a process can only be killed, so forwarding does what it can.
var forwarded = []os.Signal{syscall.SIGTERM}
