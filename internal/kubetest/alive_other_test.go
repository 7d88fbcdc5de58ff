//go:build !unix

package kubetest

func alive(int) bool { return false }
