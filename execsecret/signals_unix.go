//go:build unix

package execsecret

import (
	"os"
	"syscall"
)

// forwarded are the signals passed on to the child while it runs (SIGINT
// is handled apart, see Command.ForwardInterrupt).
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
