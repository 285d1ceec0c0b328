// Package redisproc starts and stops the redis-server that a benchmark
// command of this module runs against, and reads what the commands report
// from it (INFO cpu, memory, commandstats), with a few lines of RESP on a
// fresh connection so that no client library is involved.
//
// The server listens on a free 127.0.0.1 port, never 6379, so a
// developer's own Redis is never touched; it runs without persistence and
// keeps its log in a bounded buffer in memory. It is stopped by pid. On
// Linux it is started with a parent-death signal, which the kernel sends
// when the forking thread exits: call [Start] from a goroutine locked to
// its thread for the life of the process (the main goroutine after
// runtime.LockOSThread in an init function).
//
// (Tests use internal/redistest of the library module instead, which needs
// a testing.TB.)
package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a redis-server child process on 127.0.0.1 that this program
// started and stops by pid.
type Server struct {
	Addr    string
	Version string
	cmd     *exec.Cmd
	log     *tailBuffer
	exited  chan struct{}
}

const (
	startAttempts = 5               // ports taken in between pick and bind
	startTimeout  = 5 * time.Second // per attempt, until INFO answers
	stopTimeout   = 5 * time.Second // SIGTERM, then SIGKILL
)

// Start starts binary (redis-server) without persistence on a free port,
// with extra arguments appended to its own. It returns when the server
// answers and reports the child's pid in INFO, so we never talk to some
// other server that happened to own the port.
func Start(binary string, extra ...string) (*Server, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return nil, fmt.Errorf("%s not found (apt-get install -y redis-server): %w", binary, err)
	}
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := tryStart(path, port, extra)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("start %s: %w", binary, errors.Join(errs...))
}

func freePort() (int, error) {
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port, nil
		}
	}
	return 0, errors.New("no free port other than 6379")
}

func tryStart(path string, port int, extra []string) (*Server, error) {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", os.TempDir(), // nothing is written there without persistence
		"--logfile", "", // stdout
		"--daemonize", "no",
	}
	cmd := exec.Command(path, append(args, extra...)...)
	log := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		info, err := Command(s.Addr, "INFO", "server")
		if err == nil && InfoField(info, "process_id") == strconv.Itoa(cmd.Process.Pid) {
			s.Version = InfoField(info, "redis_version")
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on port %d exited: %s", port, log)
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("redis-server on port %d did not answer within %v (last error %v): %s", port, startTimeout, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server by pid: SIGTERM, then SIGKILL if it has not exited
// within a few seconds, and waits for the process.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.kill()
		}
	}
}

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// tailBuffer keeps the last few KiB written to it: the server's log, for
// error messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailSize = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// InfoField returns the value of field in an INFO reply.
func InfoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// Command sends one command on a fresh connection and returns a
// simple-string, integer or bulk-string reply as text. It is all the RESP
// the harness needs for checks and INFO, so that they depend on no client.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// CPU returns the CPU time (user + system, all threads) the server has
// used, from INFO cpu.
func (s *Server) CPU() (time.Duration, bool) { return CPU(s.Addr) }

// CPU returns the CPU time (user + system, all threads) that the server at
// addr has used, from INFO cpu.
func CPU(addr string) (time.Duration, bool) {
	info, err := Command(addr, "INFO", "cpu")
	if err != nil {
		return 0, false
	}
	var total float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(InfoField(info, f), 64)
		if err != nil {
			return 0, false
		}
		total += v
	}
	return time.Duration(total * float64(time.Second)), true
}
