//go:build unix && !linux

package kubetest

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}
