package redisbackend_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// countingClient counts the round trips a Backend makes: every Do and
// DoMulti, every DoCache that is not a cache hit.
type countingClient struct {
	rueidis.Client
	n atomic.Int64
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

func (c *countingClient) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	res := c.Client.DoCache(ctx, cmd, ttl)
	if !res.IsCacheHit() {
		c.n.Add(1)
	}
	return res
}

func (c *countingClient) Dedicated(fn func(rueidis.DedicatedClient) error) error {
	c.n.Add(1) // the write and its WAIT, pipelined
	return c.Client.Dedicated(fn)
}

// TestRoundTrips: how many round trips each Manager operation costs on a
// standalone server, cache on. A change that adds one fails here.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Standalone(t)
	cc := &countingClient{Client: standaloneClient(t, srv.Addr)}
	ctx := ctxT(t, time.Minute)
	m, err := session.NewManager[counter](newBackend(t, cc))
	if err != nil {
		t.Fatal(err)
	}
	var s *session.Session[counter]
	steps := []struct {
		name string
		max  int64
		do   func() error
	}{
		{"Create, anonymous", 1, func() (err error) { _, err = m.Create(ctx, "", counter{}); return err }},
		{"Create, owned", 1, func() (err error) { s, err = m.Create(ctx, "ada", counter{}); return err }},
		{"Get after this instance's write", 1, func() error { _, err := m.Get(ctx, s.ID); return err }},
		{"Get, cached", 0, func() error { _, err := m.Get(ctx, s.ID); return err }},
		{"Save", 1, func() error { s.Data.N++; return m.Save(ctx, s) }},
		{"Get after Save (refills the cache)", 1, func() error { _, err := m.Get(ctx, s.ID); return err }},
		// The invalidation of the Save may arrive after that refill and
		// empty the cache again (rueidis issue #534): read until a Get is
		// served from the cache, at most 100 times.
		{"Gets until one is a cache hit", 100, func() error {
			for range 100 {
				before := cc.n.Load()
				if _, err := m.Get(ctx, s.ID); err != nil {
					return err
				}
				if cc.n.Load() == before {
					return nil
				}
			}
			return errors.New("100 Gets of an unchanged session, none served from the cache")
		}},
		{"Update of a cached session", 1, func() (err error) {
			s, err = m.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N++; return nil })
			return err
		}},
		{"Renew, owned", 1, func() error { return m.Renew(ctx, s) }},
		{"Destroy", 1, func() error { return m.Destroy(ctx, s.ID) }},
		{"DestroyByOwner, 10 sessions", 6, func() error {
			for range 10 {
				if _, err := m.Create(ctx, "babbage", counter{}); err != nil {
					return err
				}
			}
			cc.n.Store(0)
			_, err := m.DestroyByOwner(ctx, "babbage")
			return err
		}},
	}
	for _, st := range steps {
		cc.n.Store(0)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n := cc.n.Load(); n > st.max {
			t.Errorf("%s: %d round trips, want at most %d", st.name, n, st.max)
		} else {
			t.Logf("%s: %d round trips", st.name, n)
		}
	}
}
