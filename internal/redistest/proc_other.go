//go:build !linux

package redistest

import "syscall"

// sysProcAttr returns nil: outside Linux there is no parent-death signal, so
// a redis-server survives a test binary that dies without running its
// cleanups (a timeout panic, SIGKILL). Normal test endings still stop it.
func sysProcAttr() *syscall.SysProcAttr { return nil }
