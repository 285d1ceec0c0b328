package otelsession_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/otelsession"
	"github.com/sessionkit/sessionkit/session"
)

// cacheCounting is a rueidis.Client that wraps another and counts the
// client-side cache hits and misses of DoCache and DoMultiCache, the way
// rueidisotel.NewClient does for rueidis_do_cache_hits and
// rueidis_do_cache_miss (rueidisotel is not in this module's go.mod; see
// README.md for the real call).
type cacheCounting struct {
	rueidis.Client
	hits, misses atomic.Int64
}

func (c *cacheCounting) count(r rueidis.RedisResult) {
	if r.IsCacheHit() {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
}

func (c *cacheCounting) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	r := c.Client.DoCache(ctx, cmd, ttl)
	c.count(r)
	return r
}

func (c *cacheCounting) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	rs := c.Client.DoMultiCache(ctx, multi...)
	for _, r := range rs {
		c.count(r)
	}
	return rs
}

// TestWrappedRedisClient is the README's rueidisotel setup with a wrapper
// of the same shape: redisbackend.New takes any rueidis.Client, the
// backend's reads go through the wrapper's DoCache, and a hot session is a
// cache hit there. With otelsession.WrapBackend on top, both layers
// measure.
func TestWrappedRedisClient(t *testing.T) {
	ctx := context.Background()
	client := &cacheCounting{Client: newRedisClient(t)}
	rb, err := redisbackend.New(client, redisbackend.WithPrefix("t"+uniq()+":"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rb.Close() })
	tel := newTelemetry(t)
	m, err := session.NewManager[cart](otelsession.WrapBackend(rb, tel.opts...),
		session.WithObserver(otelsession.NewObserver(tel.opts...)))
	require.NoError(t, err)

	s, err := m.Create(ctx, "", cart{N: 1})
	require.NoError(t, err)
	// The first read after the write fills the cache; a bounded number of
	// Gets must then be served by it.
	for i := 0; i < 1000 && client.hits.Load() < 3; i++ {
		_, err := m.Get(ctx, s.ID)
		require.NoError(t, err)
	}
	assert.GreaterOrEqual(t, client.hits.Load(), int64(3), "cached Gets through the wrapped client")
	assert.Positive(t, value(tel.collect(t), otelsession.BackendDurationMetric, "operation", "load", "outcome", "ok"))
}
