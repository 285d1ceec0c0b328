package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const helperEnv = "REDISTEST_PDEATHSIG_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		pdeathsigHelper()
		return // not reached: the helper kills itself
	}
	os.Exit(m.Run())
}

func TestStandaloneLifecycle(t *testing.T) {
	t.Parallel()
	s := Standalone(t, "--maxmemory", "10mb")
	require.Equal(t, "127.0.0.1:"+strconv.Itoa(s.Port), s.Addr)
	require.NotEqual(t, reservedPort, s.Port)
	assert.Equal(t, "PONG", s.Do(t, "PING"))
	assert.Equal(t, "OK", s.Do(t, "SET", "k", "v"))
	assert.Equal(t, "v", s.Do(t, "GET", "k"))
	assert.Equal(t, "", s.Do(t, "GET", "missing"))
	assert.Equal(t, "1", s.Do(t, "DBSIZE"))
	assert.Equal(t, "maxmemory\n10485760", s.Do(t, "CONFIG", "GET", "maxmemory"))
	assert.Equal(t, "save\n", s.Do(t, "CONFIG", "GET", "save"))
	assert.Equal(t, "appendonly\nno", s.Do(t, "CONFIG", "GET", "appendonly"))
	assert.Equal(t, "bind\n127.0.0.1", s.Do(t, "CONFIG", "GET", "bind"))
	pid := s.Pid()
	require.NotZero(t, pid)
	assert.Equal(t, strconv.Itoa(pid), infoField(s.Do(t, "INFO", "server"), "process_id"))

	_, err := s.Exec("NOSUCHCOMMAND")
	var re ReplyError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Error(), "unknown command")

	s.Kill()
	assert.Zero(t, s.Pid())
	_, err = s.Exec("PING")
	require.Error(t, err)
	assert.False(t, errors.As(err, &re), "after Kill the error is a network error: %v", err)
	s.Kill() // idempotent

	start := time.Now()
	s.Restart(t)
	t.Logf("restart on the same port after Kill: %v", time.Since(start))
	assert.Equal(t, "PONG", s.Do(t, "PING"))
	assert.NotEqual(t, pid, s.Pid())
	assert.Equal(t, "0", s.Do(t, "DBSIZE"), "no persistence: a restarted server is empty")
	assert.Equal(t, "maxmemory\n10485760", s.Do(t, "CONFIG", "GET", "maxmemory"), "Restart keeps the arguments")

	// Restart of a running server kills it first; a live client
	// connection (TIME_WAIT on the server side afterwards) does not block
	// the port.
	c, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer c.Close()
	pid = s.Pid()
	s.Restart(t)
	assert.NotEqual(t, pid, s.Pid())
	assert.Equal(t, "PONG", s.Do(t, "PING"))
}

func TestStandaloneConcurrentKill(t *testing.T) {
	t.Parallel()
	s := Standalone(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Kill()
			_, err := s.Exec("PING") // every Kill returns after the process is gone
			assert.Error(t, err)
		}()
	}
	wg.Wait()
	s.Restart(t)
	assert.Equal(t, "PONG", s.Do(t, "PING"))
}

func TestStandaloneRequirePass(t *testing.T) {
	t.Parallel()
	s := Standalone(t, "--requirepass", "s3cret")
	assert.Equal(t, "PONG", s.Do(t, "PING"))
	_, err := roundTrip(s.Addr, "", cmdTimeout, "GET", "k")
	var re ReplyError
	require.ErrorAs(t, err, &re)
	assert.True(t, strings.HasPrefix(string(re), "NOAUTH"), "%v", re)
}

// A port somebody else owns must be detected as busy, never mistaken for
// our server being up: here the owner is another redis-server.
func TestLaunchOnBusyPort(t *testing.T) {
	t.Parallel()
	owner := Standalone(t)
	ownerPid := owner.Pid()

	s := newServer(t, "intruder", "", nil, nil)
	t.Cleanup(s.stop)
	s.Port, s.Addr = owner.Port, owner.Addr
	s.mu.Lock()
	err := s.launchLocked()
	s.mu.Unlock()
	require.ErrorIs(t, err, errPortBusy)
	assert.Zero(t, s.Pid())
	assert.Equal(t, strconv.Itoa(ownerPid), infoField(owner.Do(t, "INFO", "server"), "process_id"))

	// startFresh moves on to another port.
	s.startFresh(t, false)
	assert.NotEqual(t, owner.Port, s.Port)
	assert.Equal(t, "PONG", s.Do(t, "PING"))
}

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := NewCluster(t)
	t.Logf("cluster of %d masters up (cluster_state:ok everywhere) in %v", len(c.Nodes), time.Since(start))
	require.Len(t, c.Addrs, 3)
	require.Len(t, c.Nodes, 3)
	for i, n := range c.Nodes {
		assert.Equal(t, c.Addrs[i], n.Addr)
		assert.Equal(t, "ok", infoField(n.Do(t, "CLUSTER", "INFO"), "cluster_state"))
		assert.Equal(t, "3", infoField(n.Do(t, "CLUSTER", "INFO"), "cluster_known_nodes"))
	}

	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs[:1]})
	require.NoError(t, err)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const n = 30
	slots := map[string]bool{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		slots[c.Nodes[0].Do(t, "CLUSTER", "KEYSLOT", k)] = true
		require.NoError(t, client.Do(ctx, client.B().Set().Key(k).Value("v"+k).Build()).Error())
	}
	require.Greater(t, len(slots), 1)
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		v, err := client.DoCache(ctx, client.B().Get().Key(k).Cache(), time.Minute).ToString()
		require.NoError(t, err)
		assert.Equal(t, "v"+k, v)
	}
	total := 0
	for _, node := range c.Nodes {
		size, err := strconv.Atoi(node.Do(t, "DBSIZE"))
		require.NoError(t, err)
		assert.Positive(t, size, "keys spread over every master (%s)", node.Addr)
		total += size
	}
	assert.Equal(t, n, total)

	// A node restarted on its port keeps its identity and slots
	// (nodes.conf in its directory) but, without persistence, not its keys.
	node := c.Nodes[1]
	id := node.Do(t, "CLUSTER", "MYID")
	node.Kill()
	start = time.Now()
	node.Restart(t)
	c.WaitOK(t)
	t.Logf("cluster node restarted and cluster_state:ok again in %v", time.Since(start))
	assert.Equal(t, id, node.Do(t, "CLUSTER", "MYID"))
	assert.Equal(t, "0", node.Do(t, "DBSIZE"))
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		var err error
		for try := 0; try < 20; try++ { // the client reconnects to the restarted node
			if err = client.Do(ctx, client.B().Set().Key(k).Value("w").Build()).Error(); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		require.NoError(t, err, k)
	}
	size, err := strconv.Atoi(node.Do(t, "DBSIZE"))
	require.NoError(t, err)
	assert.Positive(t, size)
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	g := NewSentinel(t)
	t.Logf("sentinel group up in %v", time.Since(start))
	assert.Equal(t, "mymaster", g.MasterName)
	assert.Equal(t, []string{g.Sentinel.Addr}, g.SentinelAddrs)
	assert.Equal(t, g.Master.Addr, g.MasterAddr(t))
	assert.Equal(t, "up", infoField(g.Replica.Do(t, "INFO", "replication"), "master_link_status"))

	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: g.SentinelAddrs,
		Sentinel:    rueidis.SentinelOption{MasterSet: g.MasterName},
	})
	require.NoError(t, err)
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, client.Do(ctx, client.B().Set().Key("before").Value("1").Build()).Error())
	assert.Equal(t, "1", g.Master.Do(t, "GET", "before"), "the client writes to the master")
	// Replication is asynchronous: wait for the key on the replica before
	// killing the master, or the failover may lose it.
	for deadline := time.Now().Add(5 * time.Second); g.Replica.Do(t, "GET", "before") != "1"; {
		require.False(t, time.Now().After(deadline), "key not replicated within 5 s")
		time.Sleep(10 * time.Millisecond)
	}

	old := g.Master.Addr
	g.Master.Kill()
	start = time.Now()
	newAddr := g.WaitFailover(t, old)
	t.Logf("failover after Master.Kill: %v", time.Since(start))
	assert.Equal(t, g.Replica.Addr, newAddr)
	assert.Equal(t, newAddr, g.MasterAddr(t))
	assert.Equal(t, "master", infoField(g.Replica.Do(t, "INFO", "replication"), "role"))

	// The same client follows the failover (+switch-master); the first
	// writes may still hit the dead connection, so retry, bounded.
	start = time.Now()
	var werr error
	for i := 0; i < 50; i++ {
		wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
		werr = client.Do(wctx, client.B().Set().Key("after").Value("2").Build()).Error()
		wcancel()
		if werr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, werr)
	t.Logf("client writing again %v after the sentinel reported the new master", time.Since(start))
	assert.Equal(t, "2", g.Replica.Do(t, "GET", "after"))
	v, err := client.Do(ctx, client.B().Get().Key("before").Build()).ToString()
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

// fakeTB stands in for testing.TB where a real one cannot be used: to watch
// Require skip or fail, and in the Pdeathsig helper process.
type fakeTB struct {
	testing.TB // nil: calling anything not overridden panics
	mu         sync.Mutex
	skipped    string
	fatal      string
	dirs       []string
}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Cleanup(func())      {}
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) TempDir() string {
	d, err := os.MkdirTemp("", "redistest-helper-")
	if err != nil {
		panic(err)
	}
	f.dirs = append(f.dirs, d)
	return d
}

// run calls fn(f) on a goroutine of its own, as Skipf/Fatalf end it.
func (f *fakeTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

func TestRequire(t *testing.T) {
	// Not parallel: it empties PATH.
	t.Setenv("PATH", t.TempDir())

	t.Setenv(RequireEnv, "")
	f := &fakeTB{}
	f.run(Require)
	assert.Contains(t, f.skipped, "redis-server not found on PATH")
	assert.Contains(t, f.skipped, InstallHint)
	assert.Empty(t, f.fatal)

	t.Setenv(RequireEnv, "1")
	f = &fakeTB{}
	f.run(Require)
	assert.Contains(t, f.fatal, InstallHint)
	assert.Contains(t, f.fatal, RequireEnv)
	assert.Empty(t, f.skipped)

	f = &fakeTB{}
	f.run(func(tb testing.TB) { Standalone(tb) })
	assert.NotEmpty(t, f.fatal, "constructors call Require")
}

// pdeathsigHelper runs in a child test binary: it starts a server, reports
// its pid and directory, and dies by SIGKILL without any cleanup.
func pdeathsigHelper() {
	f := &fakeTB{}
	var s *Server
	f.run(func(tb testing.TB) { s = Standalone(tb) })
	if s == nil {
		fmt.Printf("FAIL %s%s\n", f.fatal, f.skipped)
		os.Exit(3)
	}
	// Start it from a goroutine that is locked to its thread and then
	// exits, the case a plain cmd.Start would get wrong: the server must
	// survive that and die only with the process.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		s.Restart(f)
	}()
	<-done
	time.Sleep(100 * time.Millisecond) // let the runtime tear that thread down
	if _, err := s.Exec("PING"); err != nil {
		fmt.Printf("FAIL server died with its starting thread: %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("PID %d %s\n", s.Pid(), s.Dir())
	os.Stdout.Sync()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // not reached
}

func TestServersDieWithTestBinary(t *testing.T) {
	t.Parallel()
	Require(t)
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output: %s", out)
	require.Equal(t, "signal: killed", ee.Error(), "output: %s", out)

	line, _, _ := strings.Cut(string(out), "\n")
	fields := strings.Fields(line)
	require.Len(t, fields, 3, "helper output: %q", out)
	require.Equal(t, "PID", fields[0], "helper output: %q", out)
	pid, err := strconv.Atoi(fields[1])
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(fields[2]) })

	gone := func() bool {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		// Dead but not yet reaped by init counts as gone too.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		_, rest, _ := strings.Cut(string(st), ") ")
		return strings.HasPrefix(rest, "Z") || !strings.Contains(string(st), "redis-server")
	}
	for deadline := time.Now().Add(5 * time.Second); !gone(); {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // our grandchild: do not leak it
			t.Fatalf("redis-server pid %d outlived the test binary that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReadReply(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+OK\r\n":                              "OK",
		":42\r\n":                              "42",
		"$3\r\nabc\r\n":                        "abc",
		"$0\r\n\r\n":                           "",
		"$-1\r\n":                              "",
		"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n": "a\n1\n",
		"*0\r\n":                               "",
	} {
		var out []string
		require.NoError(t, readReply(bufio.NewReader(strings.NewReader(in)), &out, 0), "%q", in)
		assert.Equal(t, want, strings.Join(out, "\n"), "%q", in)
	}
	var out []string
	err := readReply(bufio.NewReader(strings.NewReader("-ERR boom\r\n")), &out, 0)
	assert.Equal(t, ReplyError("ERR boom"), err)
	for _, bad := range []string{"?x\r\n", "$99999999999\r\n", "$5\r\nab", "\r\n", ""} {
		out = nil
		assert.Error(t, readReply(bufio.NewReader(strings.NewReader(bad)), &out, 0), "%q", bad)
	}
}
