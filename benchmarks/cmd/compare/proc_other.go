//go:build !linux

package main

import "syscall"

// sysProcAttr returns nil: outside Linux there is no parent-death signal;
// the normal exit paths (the end of the run, Ctrl-C) still stop the server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
