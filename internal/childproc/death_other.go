//go:build !linux

package childproc

import "syscall"

// setDeathSignal does nothing: outside Linux there is no parent-death
// signal.
func setDeathSignal(*syscall.SysProcAttr) {}
