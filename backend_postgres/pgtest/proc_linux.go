//go:build linux

package pgtest

import "syscall"

// sysProcAttr asks the kernel to SIGKILL the server when the thread that
// forked it exits (see spawner), that is when the test binary dies. The
// Go runtime sets the signal after switching to the server's user, so the
// change of credentials does not clear it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
