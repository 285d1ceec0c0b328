// Package lifetimetest proves on a backend that per-session absolute
// lifetimes (session.Manager.CreateWithLifetime, RenewWithLifetime) hold:
// it is shared by the tests of the session package (memory backend) and
// of backend_redis, so that no module that imports session for its tests
// needs the Redis client in its go.sum.
package lifetimetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Check proves on b that sessions given a lifetime outlive the
// absolute timeout, and never the maximum, with the deadline kept in the
// store.
func Check(t *testing.T, b backend.Backend) {
	const (
		day      = 24 * time.Hour
		absolute = day
		max      = 30 * day
	)
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	m, err := session.NewManager[int](b,
		session.WithClock(clock.Now),
		session.WithIdleTimeout(60*day), // so that only the absolute deadline counts
		session.WithAbsoluteTimeout(absolute),
		session.WithMaxAbsoluteTimeout(max))
	require.NoError(t, err)
	assert.Equal(t, max, m.MaxAbsoluteTimeout())

	plain, err := m.Create(ctx, "ada", 1)
	require.NoError(t, err)
	long, err := m.CreateWithLifetime(ctx, "ada", 2, max)
	require.NoError(t, err)
	assert.Equal(t, long.CreatedAt.Add(max), long.AbsoluteDeadline)

	// Login with "remember me": an anonymous session renewed with a
	// lifetime of 10 days, counted from its creation.
	anon, err := m.Create(ctx, "", 3)
	require.NoError(t, err)
	anon.Owner = "bob"
	require.NoError(t, m.RenewWithLifetime(ctx, anon, 10*day))
	assert.Equal(t, anon.CreatedAt.Add(10*day), anon.AbsoluteDeadline)

	// The store holds the deadlines: a read on its own says so.
	for _, s := range []*session.Session[int]{plain, long, anon} {
		rec, err := b.Load(ctx, s.Handle())
		require.NoError(t, err)
		assert.True(t, rec.AbsoluteDeadline.Equal(s.AbsoluteDeadline), "stored %v, session %v", rec.AbsoluteDeadline, s.AbsoluteDeadline)
	}

	alive := func(s *session.Session[int]) bool {
		t.Helper()
		_, err := m.Get(ctx, s.ID)
		if err != nil {
			require.ErrorIs(t, err, session.ErrNotFound)
		}
		return err == nil
	}
	clock.Advance(absolute + time.Minute)
	assert.False(t, alive(plain), "the absolute timeout ends a plain session")
	assert.True(t, alive(long), "a session with a lifetime outlives the absolute timeout")
	assert.True(t, alive(anon))

	// A write keeps the stored deadline: Update reads it from the store.
	s, err := m.Update(ctx, long.ID, func(s *session.Session[int]) error { s.Data++; return nil })
	require.NoError(t, err)
	assert.True(t, s.AbsoluteDeadline.Equal(long.AbsoluteDeadline))

	clock.Advance(10 * day)
	assert.False(t, alive(anon), "ends at its own lifetime")
	assert.True(t, alive(long))
	clock.Advance(max - 11*day - 2*time.Minute)
	assert.True(t, alive(long), "a minute before the maximum")
	clock.Advance(2 * time.Minute)
	assert.False(t, alive(long), "never past the maximum")
}
