//go:build linux

package main

import "syscall"

// sysProcAttr makes the kernel kill redis-server if this program dies
// without stopping it (SIGKILL, a crash). The signal fires when the thread
// that forked the child exits; main forks from a thread it keeps locked for
// the life of the process (see main).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
