//go:build unix

package kubetest

import "syscall"

const supported = true

// sysProcAttr puts the child in a process group of its own, and on Linux
// has it killed when the test binary dies (a test timeout's panic, say), so
// no server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(attr)
	return attr
}

// signalGroup sends SIGTERM, or SIGKILL when kill, to the process group.
func signalGroup(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-pid, sig)
}
