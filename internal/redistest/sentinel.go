package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	sentinelSetupTimeout = 20 * time.Second // replica link up, sentinel sees both
	failoverTimeout      = 30 * time.Second // WaitFailover
	sentinelPoll         = 50 * time.Millisecond
	sentinelMaster       = "mymaster"
)

// SentinelGroup is one master, one replica of it and one sentinel
// monitoring it with quorum 1, down-after-milliseconds 1000 and
// failover-timeout 5000, so that killing the master promotes the replica
// within a few seconds.
type SentinelGroup struct {
	// MasterName is the name the sentinel monitors the master under
	// ("mymaster"): rueidis.SentinelOption.MasterSet.
	MasterName string
	// Master is the server that was master when the group started. The
	// fields do not follow a failover: ask MasterAddr for the current
	// master. Restarted after a failover, Master comes back as an empty
	// master until the sentinel notices and reconfigures it as a replica
	// of the new one, which Sentinel does only after several seconds.
	Master *Server
	// Replica is the server that replicated Master at the start; it is the
	// one a failover promotes. Restart starts it with its original
	// --replicaof Master.
	Replica *Server
	// SentinelAddrs holds the sentinels' addresses (one):
	// rueidis.ClientOption.InitAddress for a Sentinel client.
	SentinelAddrs []string
	// Sentinel is the sentinel process; Do on it runs SENTINEL commands.
	Sentinel *Server
}

// NewSentinel starts a master, a replica (--replicaof the master) and a
// sentinel (redis-server sentinel.conf --sentinel, with a writable
// sentinel.conf in its own directory: Sentinel rewrites it). It waits
// until the replica's INFO replication shows master_link_status:up, and
// until the sentinel reports the master under MasterName and knows the
// replica with a working link (needed for a failover to have a
// candidate). All of it is bounded and stopped when tb ends; the sentinel
// is stopped first, so teardown never triggers a failover. NewSentinel
// calls Require.
func NewSentinel(tb testing.TB) *SentinelGroup {
	tb.Helper()
	Require(tb)
	g := &SentinelGroup{MasterName: sentinelMaster}

	g.Master = newServer(tb, "sentinel-group master", "", nil, nil)
	tb.Cleanup(g.Master.stop)
	g.Master.startFresh(tb, false)

	g.Replica = newServer(tb, "sentinel-group replica", "", nil,
		[]string{"--replicaof", "127.0.0.1", strconv.Itoa(g.Master.Port)})
	tb.Cleanup(g.Replica.stop)
	g.Replica.startFresh(tb, false)

	deadline := time.Now().Add(sentinelSetupTimeout)
	g.poll(tb, deadline, g.Replica, "master_link_status:up in INFO replication", func() (bool, string) {
		info, err := g.Replica.Exec("INFO", "replication")
		return err == nil && infoField(info, "master_link_status") == "up", fmt.Sprint(info, err)
	})

	// The sentinel is started after the replica is linked, so its first
	// INFO to the master already lists the replica (the next would come
	// 10 s later).
	g.Sentinel = newServer(tb, "sentinel", "", []string{"--sentinel"}, nil)
	conf := filepath.Join(g.Sentinel.dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n"+
		"sentinel parallel-syncs %[1]s 1\n", g.MasterName, g.Master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatalf("redistest: write %s: %v", conf, err)
	}
	g.Sentinel.conf = conf
	tb.Cleanup(g.Sentinel.stop)
	g.Sentinel.startFresh(tb, false)
	g.SentinelAddrs = []string{g.Sentinel.Addr}

	g.poll(tb, deadline, g.Sentinel, "the sentinel to report the master", func() (bool, string) {
		addr, err := g.masterAddr()
		return err == nil && addr == g.Master.Addr, fmt.Sprint(addr, err)
	})
	g.poll(tb, deadline, g.Sentinel, "the sentinel to see the replica linked", func() (bool, string) {
		out, err := g.Sentinel.Exec("SENTINEL", "replicas", g.MasterName)
		if err != nil {
			return false, err.Error()
		}
		f := pairs(out)
		return f["name"] == g.Replica.Addr && f["flags"] == "slave" && f["master-link-status"] == "ok", out
	})
	return g
}

// MasterAddr asks the sentinel for the current master's address
// ("127.0.0.1:PORT"), failing tb if it cannot.
func (g *SentinelGroup) MasterAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := g.masterAddr()
	if err != nil {
		tb.Fatalf("redistest: SENTINEL get-master-addr-by-name %s: %v", g.MasterName, err)
	}
	return addr
}

// WaitFailover blocks until the sentinel reports a master address other
// than oldAddr and the server there answers as a master (role:master), and
// returns that address. It fails tb after 30 s. Typically: addr :=
// g.Master.Addr; g.Master.Kill(); newAddr := g.WaitFailover(t, addr).
func (g *SentinelGroup) WaitFailover(tb testing.TB, oldAddr string) string {
	tb.Helper()
	deadline := time.Now().Add(failoverTimeout)
	var addr string
	g.poll(tb, deadline, g.Sentinel, "a failover away from "+oldAddr, func() (bool, string) {
		var err error
		addr, err = g.masterAddr()
		if err != nil || addr == oldAddr {
			return false, fmt.Sprint(addr, err)
		}
		info, err := roundTrip(addr, "", probeTimeout, "INFO", "replication")
		return err == nil && infoField(info, "role") == "master", fmt.Sprint(addr, " ", info, err)
	})
	return addr
}

func (g *SentinelGroup) masterAddr() (string, error) {
	out, err := g.Sentinel.Exec("SENTINEL", "get-master-addr-by-name", g.MasterName)
	if err != nil {
		return "", err
	}
	host, port, ok := strings.Cut(out, "\n")
	if !ok {
		return "", fmt.Errorf("unexpected reply %q", out)
	}
	return net.JoinHostPort(host, port), nil
}

// poll calls check every sentinelPoll until it reports true; past deadline
// it fails tb with check's last detail and the logs of the group.
func (g *SentinelGroup) poll(tb testing.TB, deadline time.Time, s *Server, what string, check func() (bool, string)) {
	tb.Helper()
	for {
		ok, detail := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, srv := range []*Server{g.Master, g.Replica, g.Sentinel} {
				if srv != nil {
					logs.WriteString(srv.logs())
				}
			}
			tb.Fatalf("redistest: timed out waiting on %s (%s) for %s; last: %s\n%s", s.name, s.Addr, what, detail, logs.String())
		}
		time.Sleep(sentinelPoll) // Sentinel state changes have no signal here
	}
}

// pairs reads a flattened field/value list (one SENTINEL replicas entry).
func pairs(flat string) map[string]string {
	f := strings.Split(flat, "\n")
	m := make(map[string]string, len(f)/2)
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	return m
}
