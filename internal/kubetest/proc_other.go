//go:build !unix

package kubetest

import (
	"errors"
	"syscall"
)

const supported = false

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, bool) error { return errUnsupported }

var errUnsupported = errors.New("process groups are not supported on this system")
