//go:build !unix

package kubetest

import "syscall"

const supported = false

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, bool) error { return errUnsupported }
