package cmd

import "golang.org/x/sys/unix"

// preventCoreDumps marks the process non-dumpable: no core file is written
// if it crashes, and other processes of the same user cannot ptrace it or
// read its /proc/PID/mem, so plaintext and data keys in memory stay out of
// reach. Failure is ignored: it only removes a defence in depth.
func preventCoreDumps() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
