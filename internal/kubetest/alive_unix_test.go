//go:build unix

package kubetest

import "syscall"

// alive reports whether a process with the pid exists (and is not a zombie
// that Wait has reaped: the harness waits for its children).
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
