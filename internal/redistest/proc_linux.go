//go:build linux

package redistest

import "syscall"

// sysProcAttr asks the kernel to SIGKILL the child when the thread that
// forked it exits. Children are forked from the spawner goroutine, which is
// locked to its OS thread for the life of the process (see spawn), so in
// practice the signal fires exactly when the test binary exits or dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
