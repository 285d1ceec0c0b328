package redisproc

import (
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestStartStop starts a server of its own the way the commands do and
// stops it by pid.
func TestStartStop(t *testing.T) {
	redistest.Require(t)
	// The server dies with the thread that forked it (Pdeathsig): keep
	// this goroutine on its thread until the test ends.
	runtime.LockOSThread()
	s, err := Start("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	info, err := Command(s.Addr, "INFO", "server")
	if err != nil || InfoField(info, "process_id") != strconv.Itoa(s.Pid()) || s.Version == "" {
		t.Fatalf("INFO server: %v, pid %d, version %q", err, s.Pid(), s.Version)
	}
	if s.Addr == "127.0.0.1:6379" {
		t.Fatal("started on the shared port")
	}
	s.Stop()
	if _, err := Command(s.Addr, "PING"); err == nil {
		t.Error("the server still answers after Stop")
	}
	if err := exec.Command("kill", "-0", strconv.Itoa(s.Pid())).Run(); err == nil {
		t.Error("the process still exists after Stop")
	}
}

// TestServerFigures reads what the commands read from a server.
func TestServerFigures(t *testing.T) {
	srv := redistest.Standalone(t)
	for i := range 20 {
		srv.Do(t, "SET", "k:"+strconv.Itoa(i), "v")
	}
	srv.Do(t, "SET", "other", "v")
	if k, err := RandomKeyWithPrefix(srv.Addr, "k:", 1000); err != nil || k[:2] != "k:" {
		t.Errorf("RandomKeyWithPrefix = %q, %v", k, err)
	}
	if _, err := RandomKeyWithPrefix(srv.Addr, "none:", 10); err == nil {
		t.Error("RandomKeyWithPrefix found a key that is not there")
	}
	if n, err := DBSize(srv.Addr); n != 21 || err != nil {
		t.Errorf("DBSize = %d, %v", n, err)
	}
	if m, err := UsedMemory(srv.Addr); m <= 0 || err != nil {
		t.Errorf("UsedMemory = %d, %v", m, err)
	}
	if c, ok := CPU(srv.Addr); c <= 0 || !ok {
		t.Errorf("CPU = %v, %v", c, ok)
	}
	set, script, err := Yardsticks(srv.Addr, 300, 200)
	if err != nil || set <= 0 || script <= 0 {
		t.Fatalf("Yardsticks = %v, %v, %v", set, script, err)
	}
	if n, err := DBSize(srv.Addr); n != 21 || err != nil {
		t.Errorf("Yardsticks left keys behind: DBSize = %d, %v", n, err)
	}
}
