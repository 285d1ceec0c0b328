// Package redistest starts real redis-server processes for tests: a
// standalone server ([Standalone]), a three-master Redis Cluster
// ([NewCluster]) and a Sentinel group of one master, one replica and one
// sentinel ([NewSentinel]). Nothing is mocked; every server is a child
// process of the test binary.
//
// # Ports, directories, lifetime
//
// Every server listens on 127.0.0.1 only, on a port picked by listening on
// 127.0.0.1:0 and closing the listener (for Cluster nodes the bus port,
// port+10000, is checked too). Another process can take the port in
// between; a server that fails to bind is detected from its log and started
// again on another port, a bounded number of times. A server counts as up
// only when the process answering INFO on its port reports our child's pid,
// so a test never talks to some other redis that happened to own the port.
// The well-known port 6379 is never used.
//
// Each server runs with --save "" --appendonly no in its own directory from
// tb.TempDir (its log is redis.log there; early start-up errors land in
// stdout.log), and is stopped by pid in a tb.Cleanup: SIGTERM, then SIGKILL
// if it has not exited within a few seconds, and always reaped with Wait,
// so no zombie is left behind. Cleanups run before the temporary
// directories are removed.
//
// If the test binary dies without running its cleanups (a -timeout panic,
// SIGKILL), the servers die with it on Linux: they are started with
// Pdeathsig = SIGKILL. The kernel sends that signal when the *thread* that
// forked the child exits, not the process, and Go may run cmd.Start on any
// thread; a thread is only ever torn down by the Go runtime when a goroutine
// exits while locked to it. To make that case impossible, every process is
// forked by one spawner goroutine that locks its OS thread at start and
// never unlocks or returns, so that thread lives exactly as long as the test
// binary. (Locking only around cmd.Start in the caller's goroutine would not
// help: the hazard is a caller that is itself locked and later exits.)
// internal/childproc does this, for backend_postgres/pgtest too. On other
// systems there is no such signal and a crashed test binary can leave
// servers behind.
//
// # Skipping
//
// Every constructor calls [Require]: without redis-server on PATH the test
// is skipped with the install command in the message, or fails when the
// environment variable SESSIONKIT_REQUIRE_REDIS is 1 (CI sets it so that
// nothing is skipped silently).
//
// Every wait in this package is bounded in time and attempts; failures
// report the server's log.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/internal/childproc"
)

// RequireEnv is the environment variable that turns a missing redis-server
// from a skip into a failure when it is set to "1".
const RequireEnv = "SESSIONKIT_REQUIRE_REDIS"

// InstallHint is the command, quoted in skip messages, that installs
// redis-server (and redis-cli) on Debian and Ubuntu.
const InstallHint = "apt-get install -y redis-server"

const (
	readyTimeout    = 10 * time.Second       // process start until it answers
	readyPoll       = 20 * time.Millisecond  // pause between readiness probes
	probeTimeout    = 500 * time.Millisecond // one readiness probe
	stopTimeout     = 5 * time.Second        // SIGTERM until SIGKILL
	killTimeout     = 10 * time.Second       // SIGKILL until we give up waiting
	cmdTimeout      = 5 * time.Second        // one Do/Exec round trip
	portAttempts    = 8                      // fresh ports tried per server
	restartAttempts = 20                     // same-port starts tried by Restart
	restartPause    = 100 * time.Millisecond // between those attempts
	logTailBytes    = 4096                   // log bytes quoted in failures
	reservedPort    = 6379                   // the shared Redis: never ours
	clusterBusShift = 10000                  // cluster bus port = port + this
)

// errPortBusy reports that redis-server exited because its port (or its
// cluster bus port) was taken.
var errPortBusy = errors.New("redistest: port already in use")

// Require skips tb when redis-server is not on PATH, with a message that
// says how to install it (apt-get install -y redis-server). When the
// environment variable SESSIONKIT_REQUIRE_REDIS is "1" it fails tb instead.
// Every constructor in this package calls it.
func Require(tb testing.TB) {
	tb.Helper()
	requireBinary(tb, "redis-server")
}

func requireBinary(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("redistest: %s not found on PATH; install it with: %s", name, InstallHint)
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s (%s=1: a missing Redis is a failure, not a skip)", msg, RequireEnv)
	}
	tb.Skipf("%s (set %s=1 to fail instead of skipping)", msg, RequireEnv)
}

// Server is one redis-server process (a standalone server, a Cluster node,
// a Sentinel master or replica, or a sentinel) owned by a test. Its methods
// are safe for concurrent use; Kill and Restart are serialised.
type Server struct {
	// Addr is "127.0.0.1:PORT", stable across Kill and Restart.
	Addr string
	// Port is the TCP port the server listens on.
	Port int

	name     string   // for messages: "standalone", "cluster node 1", ...
	dir      string   // working directory, --dir, logs
	conf     string   // config file passed first, "" for none
	mode     []string // arguments right after the config file ("--sentinel")
	extra    []string // caller's arguments, after ours so they win
	password string   // from --requirepass in extra, used by Exec

	mu sync.Mutex
	p  *proc // nil when not running
}

type proc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, valid after done
}

func newServer(tb testing.TB, name, conf string, mode, extra []string) *Server {
	s := &Server{
		name:  name,
		dir:   tb.TempDir(),
		conf:  conf,
		mode:  mode,
		extra: append([]string(nil), extra...),
	}
	for i := 0; i+1 < len(extra); i++ {
		if strings.EqualFold(extra[i], "--requirepass") {
			s.password = extra[i+1]
		}
	}
	return s
}

// Standalone starts one redis-server for tb with --save "" --appendonly no,
// bound to 127.0.0.1 on a free port and working in its own temporary
// directory, waits until it answers, and stops it when tb ends. args are
// extra command-line options appended after the package's own, for example
// "--maxmemory", "10mb"; they are kept for Restart. A "--requirepass", PW
// pair among them makes Do and Exec authenticate. Standalone calls Require.
func Standalone(tb testing.TB, args ...string) *Server {
	tb.Helper()
	Require(tb)
	s := newServer(tb, "standalone", "", nil, args)
	tb.Cleanup(s.stop)
	s.startFresh(tb, false)
	return s
}

// Pid returns the pid of the running process, or 0 after Kill.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0
	}
	return s.p.pid
}

// Dir returns the server's working directory (its --dir, with redis.log).
func (s *Server) Dir() string { return s.dir }

// Kill sends SIGKILL to the process and waits until it has been reaped, so
// the port is closed when Kill returns. Killing a server that is not
// running does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.p == nil {
		return
	}
	childproc.Stop(s.p.cmd.Process, s.p.done, syscall.SIGKILL, killTimeout, 0)
	s.p = nil
}

// stop is the cleanup: SIGTERM, then SIGKILL after stopTimeout.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return
	}
	childproc.Stop(s.p.cmd.Process, s.p.done, syscall.SIGTERM, stopTimeout, killTimeout)
	s.p = nil
}

// Restart starts the server again on the same port, with the same
// arguments and directory, and waits until it answers; a running server is
// killed first. Redis binds with SO_REUSEADDR, so connections of the killed
// process left in TIME_WAIT do not block the port; if the port is
// nevertheless taken, Restart retries a bounded number of times and then
// fails tb. A Cluster node comes back with its identity and slots (its
// nodes.conf is kept); a standalone server comes back empty.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	var err error
	for i := 0; i < restartAttempts; i++ {
		if err = s.launchLocked(); err == nil {
			return
		}
		if !errors.Is(err, errPortBusy) {
			break
		}
		time.Sleep(restartPause) // nothing signals that a foreign socket let go
	}
	tb.Fatalf("redistest: restart %s on %s: %v", s.name, s.Addr, err)
}

// Do sends one command to the server and returns the reply as text: a
// status or bulk string as is, an integer in decimal, a nil reply as "",
// and an array as its elements (flattened) joined by "\n". An error reply
// or a network failure fails tb, so use Do from the test's goroutine only;
// use Exec to expect errors or from other goroutines. Each call opens its
// own connection, bounded by a few seconds.
func (s *Server) Do(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := s.Exec(args...)
	if err != nil {
		tb.Fatalf("redistest: %s on %s: %s: %v", s.name, s.Addr, strings.Join(args, " "), err)
	}
	return out
}

// Exec is Do without tb: it returns the reply text, or a [ReplyError] for
// an error reply, or the network error (for instance after Kill).
func (s *Server) Exec(args ...string) (string, error) {
	return roundTrip(s.Addr, s.password, cmdTimeout, args...)
}

// startFresh picks a free port and starts the server, moving to another
// port when the chosen one turns out to be taken.
func (s *Server) startFresh(tb testing.TB, clusterBus bool) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for i := 0; i < portAttempts; i++ {
		var port int
		if port, err = freePort(clusterBus); err != nil {
			break
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.launchLocked(); err == nil {
			return
		}
		if !errors.Is(err, errPortBusy) {
			break
		}
	}
	tb.Fatalf("redistest: start %s: %v", s.name, err)
}

// freePort returns a port that was free on 127.0.0.1 a moment ago (and
// port+10000 too when clusterBus is set).
func freePort(clusterBus bool) (int, error) {
	var lastErr error
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := port != reservedPort && port != reservedPort+clusterBusShift
		if ok && clusterBus {
			bus := port + clusterBusShift
			ok = bus <= 65535
			if ok {
				lb, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(bus)))
				if err != nil {
					ok, lastErr = false, err
				} else {
					lb.Close()
				}
			}
		}
		l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("redistest: no free port found (last error: %v)", lastErr)
}

// argv is the full redis-server command line for the current port.
func (s *Server) argv() []string {
	var a []string
	if s.conf != "" {
		a = append(a, s.conf)
	}
	a = append(a, s.mode...)
	a = append(a,
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
		"--save", "",
		"--appendonly", "no",
		// A replica that becomes master (Sentinel failover) must not make
		// the next sync wait the default 5 s.
		"--repl-diskless-sync-delay", "0",
	)
	if serverMajor() >= 7 {
		// By default Redis 7 delays a SIGTERM shutdown up to 10 s for
		// lagging replicas; a test server has nothing to keep.
		a = append(a, "--shutdown-on-sigterm", "nosave now")
	}
	return append(a, s.extra...)
}

var (
	majorOnce sync.Once
	major     int
)

// serverMajor returns the major version of the redis-server on PATH, or 0
// when it cannot be told.
func serverMajor() int {
	majorOnce.Do(func() {
		out, err := exec.Command("redis-server", "--version").Output()
		if err != nil {
			return
		}
		// "Redis server v=7.0.15 sha=..."
		_, v, ok := strings.Cut(string(out), "v=")
		if !ok {
			return
		}
		v, _, _ = strings.Cut(v, ".")
		major, _ = strconv.Atoi(v)
	})
	return major
}

// launchLocked starts the process on s.Port and waits until it answers. On
// failure the process is gone again; errPortBusy means it could not bind.
// s.mu is held.
func (s *Server) launchLocked() error {
	logPath := filepath.Join(s.dir, "redis.log")
	outPath := filepath.Join(s.dir, "stdout.log")
	logOff, outOff := childproc.FileSize(logPath), childproc.FileSize(outPath)

	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server", s.argv()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out // an *os.File: no copying goroutines
	err = childproc.Start(cmd)
	out.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.p = p

	err = s.waitReady(p)
	if err == nil {
		return nil
	}
	s.killLocked()
	newLog := childproc.ReadFrom(logPath, logOff) + childproc.ReadFrom(outPath, outOff)
	if strings.Contains(newLog, "Address already in use") {
		return fmt.Errorf("%w: %s", errPortBusy, s.Addr)
	}
	return fmt.Errorf("%v\n%s", err, s.logs())
}

// waitReady polls INFO server until the process on s.Addr is p, p exits,
// or readyTimeout passes. There is no readiness signal from redis-server
// (its log is not one), so polling with short pauses is the mechanism.
func (s *Server) waitReady(p *proc) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server (pid %d) exited during start-up: %v", p.pid, p.err)
		default:
		}
		info, err := roundTrip(s.Addr, s.password, probeTimeout, "INFO", "server")
		switch {
		case err != nil:
			last = err
		case infoField(info, "process_id") == strconv.Itoa(p.pid):
			return nil
		default:
			// Another server owns the port; ours will fail to bind.
			last = fmt.Errorf("%s answered with process_id %s, not our pid %d",
				s.Addr, infoField(info, "process_id"), p.pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server (pid %d) not answering on %s after %v: %v",
				p.pid, s.Addr, readyTimeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(readyPoll):
		}
	}
}

// logs returns the tails of the server's log files for failure messages.
func (s *Server) logs() string {
	var b strings.Builder
	for _, f := range []string{"redis.log", "stdout.log"} {
		path := filepath.Join(s.dir, f)
		off := childproc.FileSize(path) - logTailBytes
		if off < 0 {
			off = 0
		}
		if txt := childproc.ReadFrom(path, off); txt != "" {
			fmt.Fprintf(&b, "--- %s %s (last %d bytes at most) ---\n%s", s.name, path, logTailBytes, txt)
		}
	}
	if b.Len() == 0 {
		return "(no log output)"
	}
	return b.String()
}
