//go:build !linux

package redisproc

import "syscall"

// SysProcAttr returns nil: outside Linux there is no parent-death signal;
// the normal exit paths (the end of the run, Ctrl-C) still stop the server.
func SysProcAttr() *syscall.SysProcAttr { return nil }
