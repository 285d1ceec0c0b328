//go:build linux

package childproc

import "syscall"

// setDeathSignal makes the kernel SIGKILL the child when its forking
// thread exits. The Go runtime sets the signal after switching to the
// child's credentials, so a change of user does not clear it.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
