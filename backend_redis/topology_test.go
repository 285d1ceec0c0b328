package redisbackend_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// TestCluster runs the suite on a three-master Redis Cluster through a
// client seeded with one node, plus what only a Cluster shows: sessions
// spread over the nodes, cached reads, WAIT on a dedicated connection.
func TestCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	client := newClient(t, rueidis.ClientOption{InitAddress: c.Addrs[:1]})
	if client.Mode() != rueidis.ClientModeCluster {
		t.Fatalf("client mode %s, want cluster", client.Mode())
	}

	t.Run("Conformance", func(t *testing.T) { conformance.Run(t, factory(client)) })
	t.Run("ConformanceNearCache", func(t *testing.T) { conformance.Run(t, urlFactory(c.Addrs[0])) })
	t.Run("OwnerRaces", func(t *testing.T) { testOwnerRaces(t, client) })
	t.Run("LibraryLost", func(t *testing.T) { testLibraryLost(t, client, c.Nodes...) })

	t.Run("SpreadAndCached", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		b := newBackend(t, client, redisbackend.WithWriteGuard(20*time.Millisecond))
		const n = 30
		for i := 0; i < n; i++ {
			if _, err := b.Create(ctx, record(fmt.Sprint("k", i), "owner", "p")); err != nil {
				t.Fatal(err)
			}
		}
		for _, node := range c.Nodes {
			if keys, _ := strconv.Atoi(node.Do(t, "DBSIZE")); keys == 0 {
				t.Errorf("node %s holds no key after %d sessions: keys are not spread over slots", node.Addr, n)
			}
		}
		time.Sleep(30 * time.Millisecond) // past the write guard
		for i := 0; i < n; i++ {
			if _, err := b.Load(ctx, fmt.Sprint("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		before := clusterGets(t, c)
		for r := 0; r < 10; r++ {
			for i := 0; i < n; i++ {
				if _, err := b.Load(ctx, fmt.Sprint("k", i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := clusterGets(t, c) - before; got > 0 {
			t.Errorf("%d Loads of cached sessions sent %d GETs to the Cluster, want 0", 10*n, got)
		}
		if recs, err := b.ListByOwner(ctx, "owner"); err != nil || len(recs) != n {
			t.Fatalf("ListByOwner = %d records, %v; want %d", len(recs), err, n)
		}
		if got, err := b.DeleteByOwner(ctx, "owner"); err != nil || got != n {
			t.Fatalf("DeleteByOwner = %d, %v; want %d", got, err, n)
		}
	})

	t.Run("NotReplicated", func(t *testing.T) {
		// No replicas: WAIT on the session's node reports 0.
		ctx := ctxT(t, time.Minute)
		b := newBackend(t, client, redisbackend.WithWaitReplicas(1, 10*time.Millisecond))
		rec, err := b.Create(ctx, record("k", "o", "p"))
		if !errors.Is(err, redisbackend.ErrNotReplicated) {
			t.Fatalf("Create = %v, want ErrNotReplicated", err)
		}
		if _, err := b.Rekey(ctx, rec, "k2"); !errors.Is(err, redisbackend.ErrNotReplicated) {
			t.Fatalf("Rekey = %v, want ErrNotReplicated", err)
		}
		if _, err := b.LoadFresh(ctx, "k2"); err != nil {
			t.Fatalf("LoadFresh after Rekey: %v", err)
		}
	})
}

// clusterGets sums the GETs executed by the nodes of c.
func clusterGets(t *testing.T, c *redistest.Cluster) int {
	n := 0
	for _, node := range c.Nodes {
		n += getCalls(t, node)
	}
	return n
}

// getCalls returns how many GETs srv has executed.
func getCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	for _, line := range strings.Split(srv.Do(t, "INFO", "commandstats"), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest+",", ',')])
			return n
		}
	}
	return 0
}

// TestSentinel runs the suite through Sentinel, then kills the master:
// sessions written with WithWaitReplicas(1, 1s) before the failover are
// readable after it through the same client and Manager, and sessions
// destroyed before it stay destroyed.
func TestSentinel(t *testing.T) {
	g := redistest.NewSentinel(t)
	client := newClient(t, rueidis.ClientOption{
		InitAddress: g.SentinelAddrs,
		Sentinel:    rueidis.SentinelOption{MasterSet: g.MasterName},
	})

	t.Run("Conformance", func(t *testing.T) { conformance.Run(t, factory(client)) })
	t.Run("OwnerRaces", func(t *testing.T) { testOwnerRaces(t, client) })

	t.Run("Failover", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		b := newBackend(t, client, redisbackend.WithWaitReplicas(1, time.Second))
		m, err := session.NewManager[counter](b)
		if err != nil {
			t.Fatal(err)
		}
		type liveSession struct {
			id string
			n  int
		}
		var live []liveSession
		var gone []string
		for i := 0; i < 20; i++ {
			s, err := m.Create(ctx, "grace", counter{N: i})
			if err != nil {
				t.Fatalf("Create with WAIT 1: %v", err)
			}
			if i%4 == 3 {
				if err := m.Destroy(ctx, s.ID); err != nil {
					t.Fatalf("Destroy with WAIT 1: %v", err)
				}
				gone = append(gone, s.ID)
				continue
			}
			live = append(live, liveSession{s.ID, i})
		}

		old := g.Master.Addr
		g.Master.Kill()
		newAddr := g.WaitFailover(t, old)
		t.Logf("failover from %s to %s", old, newAddr)

		// rueidis follows the +switch-master event; give it a bounded time.
		deadline := time.Now().Add(30 * time.Second)
		for _, l := range live {
			for {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				s, err := m.Get(cctx, l.id)
				cancel()
				if err == nil {
					if s.Data.N != l.n {
						t.Fatalf("session %d after the failover holds %d", l.n, s.Data.N)
					}
					break
				}
				if !errors.Is(err, backend.ErrUnavailable) || time.Now().After(deadline) {
					t.Fatalf("Get of a session written before the failover: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for _, id := range gone {
			if _, err := m.GetFresh(ctx, id); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("Get of a session destroyed before the failover = %v, want ErrNotFound", err)
			}
		}
		if list, err := m.ListByOwner(ctx, "grace"); err != nil || len(list) != len(live) {
			t.Fatalf("ListByOwner after the failover = %d sessions, %v; want %d", len(list), err, len(live))
		}
		// And writes work on the new master (no replica now: WAIT reports it).
		if _, err := m.Create(ctx, "grace", counter{}); !errors.Is(err, redisbackend.ErrNotReplicated) {
			t.Fatalf("Create on the new master without replica = %v, want ErrNotReplicated", err)
		}
	})
}
