// Package childproc starts the servers that the test helpers run
// (redis-server for internal/redistest, postgres for
// backend_postgres/pgtest) so that they die with the test binary, and
// holds the small file and port helpers both need.
//
// On Linux, Start asks the kernel to SIGKILL the child when the thread
// that forked it exits (Pdeathsig). Children are forked from one
// goroutine locked to its OS thread for the life of the process, so the
// signal fires exactly when the test binary exits or dies, also when it
// dies without running its cleanups (a timeout panic, SIGKILL). Elsewhere
// there is no parent-death signal, and only the helpers' cleanups stop
// the servers.
package childproc

import (
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Stop ends process p, whose Wait closes done when it returns: it sends
// sig and waits up to grace, then sends SIGKILL (unless sig was SIGKILL)
// and waits up to killWait more. A SIGKILLed child not reaped by then is
// stuck in the kernel; nothing more can be done from here.
func Stop(p *os.Process, done <-chan struct{}, sig os.Signal, grace, killWait time.Duration) {
	_ = p.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	if sig == os.Kill {
		return
	}
	_ = p.Kill()
	select {
	case <-done:
	case <-time.After(killWait):
	}
}

// Start starts cmd (cmd.Start) from the spawner thread, with the
// parent-death signal set in cmd.SysProcAttr, keeping what the caller set
// there (credentials).
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setDeathSignal(cmd.SysProcAttr)
	spawnOnce.Do(func() { go spawner() })
	req := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnCh <- req
	return <-req.done
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawnCh   = make(chan spawnReq)
)

func spawner() {
	runtime.LockOSThread() // never unlocked: this thread must outlive every child
	for req := range spawnCh {
		req.done <- req.cmd.Start()
	}
}

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FileSize returns the size of the file at path, 0 if it cannot be read.
func FileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ReadFrom returns at most 1 MiB of the file at path from offset off, ""
// if it cannot be read.
func ReadFrom(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}
