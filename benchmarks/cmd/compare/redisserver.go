package main

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

// redisServer is a redis-server child process on 127.0.0.1 that this
// program started and stops by pid. It never uses 6379, so a developer's
// own Redis is never touched. It writes no files: no persistence, and its
// log goes to a bounded buffer in memory.
type redisServer struct {
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

// startRedis starts binary (redis-server) without persistence on a free
// port. It returns when the server answers and reports the child's pid in
// INFO, so we never talk to some other server that happened to own the
// port.
func startRedis(binary string) (*redisServer, error) {
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
		s, err := tryStart(path, port)
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

func tryStart(path string, port int) (*redisServer, error) {
	cmd := exec.Command(path,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", os.TempDir(), // nothing is written there without persistence
		"--logfile", "", // stdout
		"--daemonize", "no",
	)
	log := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &redisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		info, err := redisCommand(s.Addr, "INFO", "server")
		if err == nil && infoField(info, "process_id") == strconv.Itoa(cmd.Process.Pid) {
			s.Version = infoField(info, "redis_version")
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
func (s *redisServer) Stop() {
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

func (s *redisServer) kill() {
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

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// redisCommand sends one command on a fresh connection and returns a
// simple-string, integer or bulk-string reply as text. It is all the RESP
// the harness needs for start-up checks, so that they depend on no client.
func redisCommand(addr string, args ...string) (string, error) {
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
func (s *redisServer) CPU() (time.Duration, bool) {
	info, err := redisCommand(s.Addr, "INFO", "cpu")
	if err != nil {
		return 0, false
	}
	var total float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(infoField(info, f), 64)
		if err != nil {
			return 0, false
		}
		total += v
	}
	return time.Duration(total * float64(time.Second)), true
}
