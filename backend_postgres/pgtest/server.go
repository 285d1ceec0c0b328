package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionkit/sessionkit/internal/childproc"
)

const (
	initdbTimeout = 60 * time.Second
	readyTimeout  = 30 * time.Second
	readyPoll     = 50 * time.Millisecond
	stopTimeout   = 10 * time.Second
	killTimeout   = 5 * time.Second
	portAttempts  = 5
	logTail       = 4 << 10
)

// Server is a private PostgreSQL server of one test: its own data folder,
// its own port. Stop and Start (or Restart) it to test how a client lives
// through a server that goes away and comes back with its data.
type Server struct {
	// Port is the server's TCP port on 127.0.0.1.
	Port int
	// URL is the postgres:// URL of its database "postgres" as the
	// superuser postgres (trust authentication).
	URL string

	bin  string // the folder of initdb and postgres
	dir  string // the temporary folder: data/, the socket, server.log
	cred *syscall.Credential

	mu sync.Mutex
	p  *proc // nil while stopped
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error
}

// StartServer creates and starts a private server, stopped and removed
// when tb ends. It skips tb (see Skip) when initdb cannot be found, or when
// the test runs as root and there is no user postgres to run it as.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		Skip(tb, err.Error())
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Skip(tb, "running as root, and PostgreSQL refuses to: no user postgres to run it as ("+err.Error()+")")
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not tb.TempDir: its parent folders are private to the test's user,
	// and the server may run as another one.
	if s.dir, err = os.MkdirTemp("", "sessionkit-pg-"); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(s.dir) })
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	s.initdb(tb)
	tb.Cleanup(s.stop)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; ; i++ {
		if s.Port, err = childproc.FreePort(); err == nil {
			s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
			if err = s.launchLocked(); err == nil {
				return s
			}
		}
		if i+1 == portAttempts {
			tb.Fatalf("pgtest: start a private server: %v", err)
		}
	}
}

// binDir finds the folder of initdb: the newest /usr/lib/postgresql/*/bin,
// or the one on PATH.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) < version(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on PATH")
}

// version is the number in /usr/lib/postgresql/<version>/bin/initdb.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "server.log") }

// command returns a command of the server's binaries, run as the server's
// user, with output appended to server.log.
func (s *Server) command(ctx context.Context, name string, args ...string) (*exec.Cmd, *os.File, error) {
	out, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out // an *os.File: no copying goroutines
	cmd.Env = []string{"LC_ALL=C", "PATH=" + s.bin + ":/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd, out, nil
}

func (s *Server) initdb(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	cmd, out, err := s.command(ctx, "initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err == nil {
		err = childproc.Start(cmd)
		out.Close()
		if err == nil {
			err = cmd.Wait()
		}
	}
	if err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, s.logs())
	}
}

// Start starts the stopped server again on its port, with its data, and
// waits until it answers. It fails tb if the server is running or does not
// come up.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		tb.Fatalf("pgtest: Start of a running server")
	}
	if err := s.launchLocked(); err != nil {
		tb.Fatalf("pgtest: start the private server again on port %d: %v", s.Port, err)
	}
}

// Stop shuts the server down by its pid: SIGINT (a fast shutdown, which
// ends every session) and SIGKILL if it has not exited within 10 s.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.stop()
}

// Restart is Stop, then Start.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.stop()
	s.Start(tb)
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return
	}
	childproc.Stop(s.p.cmd.Process, s.p.done, syscall.SIGINT, stopTimeout, killTimeout)
	s.p = nil
}

// launchLocked starts postgres and waits until it answers as our server.
// s.mu is held.
func (s *Server) launchLocked() error {
	off := childproc.FileSize(s.logPath())
	cmd, out, err := s.command(context.Background(), "postgres", "-D", s.dataDir(),
		"-p", strconv.Itoa(s.Port), "-h", "127.0.0.1", "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=60", "-c", "shared_buffers=32MB", "-c", "logging_collector=off")
	if err != nil {
		return err
	}
	err = childproc.Start(cmd)
	out.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.p = p
	if err := s.waitReady(p); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		s.p = nil
		return fmt.Errorf("%v\n%s", err, childproc.ReadFrom(s.logPath(), off))
	}
	return nil
}

// waitReady polls until the server on s.Port is ours (its data_directory
// is ours), p exits, or readyTimeout passes. There is no readiness signal
// to wait on short of parsing the log, so polling with short pauses is the
// mechanism.
func (s *Server) waitReady(p *proc) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited during start-up: %v", p.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var dir string
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir)
			conn.Close(ctx)
		}
		cancel()
		switch {
		case err != nil:
			last = err
		case dir == s.dataDir():
			return nil
		default:
			return fmt.Errorf("port %d is served by another server (data_directory %s)", s.Port, dir)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not answering on port %d after %v: %v", s.Port, readyTimeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(readyPoll):
		}
	}
}

func (s *Server) logs() string {
	off := max(childproc.FileSize(s.logPath())-logTail, 0)
	return "--- " + s.logPath() + " ---\n" + childproc.ReadFrom(s.logPath(), off)
}

// Binary returns the path of one of PostgreSQL's programs (pg_dump, psql)
// from the folder StartServer takes initdb from.
func Binary(name string) (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}
