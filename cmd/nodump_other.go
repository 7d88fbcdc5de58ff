//go:build !linux

package cmd

// preventCoreDumps does nothing outside Linux: there is no portable way
// for a process to forbid core dumps of itself.
func preventCoreDumps() {}
