//go:build linux

package redisproc

import "syscall"

// SysProcAttr makes the kernel kill a child (redis-server, redis-benchmark)
// if this program dies without stopping it (SIGKILL, a crash). The signal
// fires when the thread that forked the child exits; the caller forks from
// a thread it keeps locked for the life of the process (see the package
// documentation).
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
