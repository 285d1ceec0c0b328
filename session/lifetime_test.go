package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/internal/lifetimetest"
	"github.com/sessionkit/sessionkit/session"
)

// TestLifetime proves the lifetimes on the memory backend; backend_redis
// runs the same check on Redis.
func TestLifetime(t *testing.T) {
	store := memorybackend.New()
	defer store.Close()
	lifetimetest.Check(t, store)
}

func TestLifetimeRefused(t *testing.T) {
	store := memorybackend.New()
	defer store.Close()
	ctx := context.Background()
	m, err := session.NewManager[int](store, session.WithAbsoluteTimeout(time.Hour), session.WithMaxAbsoluteTimeout(48*time.Hour))
	require.NoError(t, err)
	for _, d := range []time.Duration{0, -time.Second, 48*time.Hour + time.Second} {
		_, err := m.CreateWithLifetime(ctx, "ada", 1, d)
		assert.ErrorIs(t, err, session.ErrLifetime, "%v", d)
	}
	s, err := m.Create(ctx, "ada", 1)
	require.NoError(t, err)
	id, deadline := s.ID, s.AbsoluteDeadline
	for _, d := range []time.Duration{0, time.Nanosecond, 49 * time.Hour} {
		err := m.RenewWithLifetime(ctx, s, d)
		assert.ErrorIs(t, err, session.ErrLifetime, "%v", d)
		assert.Equal(t, id, s.ID, "nothing renewed")
		assert.Equal(t, deadline, s.AbsoluteDeadline)
	}
	_, err = m.Get(ctx, id)
	assert.NoError(t, err, "the session is as it was")

	// Without WithMaxAbsoluteTimeout the maximum is the absolute timeout.
	m, err = session.NewManager[int](store, session.WithAbsoluteTimeout(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, time.Hour, m.MaxAbsoluteTimeout())
	_, err = m.CreateWithLifetime(ctx, "", 1, time.Hour+time.Second)
	assert.ErrorIs(t, err, session.ErrLifetime)
	_, err = m.CreateWithLifetime(ctx, "", 1, 10*time.Minute)
	assert.NoError(t, err, "shorter is fine")

	_, err = session.NewManager[int](store, session.WithAbsoluteTimeout(time.Hour), session.WithMaxAbsoluteTimeout(time.Minute))
	assert.Error(t, err, "a maximum shorter than the absolute timeout")
}
