package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// loadCounter counts the reads a Manager makes. It embeds the
// backend.Backend interface, so it has no capability but the core. With
// plain set its conflicts carry no record (a plain backend.ErrConflict).
type loadCounter struct {
	backend.Backend
	loads atomic.Int64
	plain bool
}

func (c *loadCounter) Load(ctx context.Context, key string) (backend.Record, error) {
	c.loads.Add(1)
	return c.Backend.Load(ctx, key)
}

func (c *loadCounter) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	stored, err := c.Backend.Update(ctx, rec)
	if c.plain && errors.Is(err, backend.ErrConflict) {
		err = fmt.Errorf("plain: %w", backend.ErrConflict)
	}
	return stored, err
}

func increment(s *session.Session[Profile]) error { s.Data.Counter++; return nil }

// TestUpdateStartsFromWhatItWrote: an Update of a session this Manager
// created or wrote last reads nothing, only writes; when another instance
// wrote in between, the write conflicts and the retry starts from the
// record the conflict carries, or from a read where it carries none. No
// update is lost either way.
func TestUpdateStartsFromWhatItWrote(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			ctx := context.Background()
			b := &loadCounter{Backend: newMemory(t, nil), plain: plain}
			m := newManager[Profile](t, b)
			other := newManager[Profile](t, b)
			s, err := m.Create(ctx, "ada", Profile{Name: "Ada"})
			require.NoError(t, err)
			for range 3 {
				_, err := m.Update(ctx, s.ID, increment)
				require.NoError(t, err)
			}
			assert.Zero(t, b.loads.Load(), "Updates of a session this Manager wrote last")

			_, err = other.Update(ctx, s.ID, increment)
			require.NoError(t, err)
			assert.EqualValues(t, 1, b.loads.Load(), "the other Manager never saw the session")

			b.loads.Store(0)
			got, err := m.Update(ctx, s.ID, increment)
			require.NoError(t, err)
			assert.Equal(t, 5, got.Data.Counter, "no update lost")
			wantLoads := 0 // the conflict carried the record
			if plain {
				wantLoads = 1
			}
			assert.EqualValues(t, wantLoads, b.loads.Load(), "after another instance's write")

			fresh, err := newManager[Profile](t, b).Get(ctx, s.ID)
			require.NoError(t, err)
			assert.Equal(t, 5, fresh.Data.Counter)
			assert.Equal(t, "Ada", fresh.Data.Name)
		})
	}
}

// TestUpdateRememberedButGone: a session this Manager remembers but that
// is gone from the store (destroyed elsewhere, or past a deadline) is
// ErrNotFound for Update and is not recreated.
func TestUpdateRememberedButGone(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	mem := newMemory(t, clk)
	m := newManager[Profile](t, mem, session.WithClock(clk.Now))
	other := newManager[Profile](t, mem, session.WithClock(clk.Now))

	s, err := m.Create(ctx, "ada", Profile{})
	require.NoError(t, err)
	require.NoError(t, other.Destroy(ctx, s.ID))
	_, err = m.Update(ctx, s.ID, increment)
	require.ErrorIs(t, err, session.ErrNotFound)
	_, err = mem.Load(ctx, s.Handle())
	require.ErrorIs(t, err, backend.ErrNotFound, "recreated")

	s, err = m.Create(ctx, "ada", Profile{})
	require.NoError(t, err)
	clk.Advance(session.DefaultIdleTimeout)
	_, err = m.Update(ctx, s.ID, increment)
	require.ErrorIs(t, err, session.ErrNotFound, "past its idle deadline")
}

// TestUpdateWithoutDecodeCache: with the decode cache off nothing is
// remembered, and every Update reads first.
func TestUpdateWithoutDecodeCache(t *testing.T) {
	ctx := context.Background()
	b := &loadCounter{Backend: newMemory(t, nil)}
	m := newManager[Profile](t, b, session.WithDecodeCache(0))
	s, err := m.Create(ctx, "", Profile{})
	require.NoError(t, err)
	for range 3 {
		_, err := m.Update(ctx, s.ID, increment)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, b.loads.Load())
}

// TestUpdateConflictCarriesOtherKey: a ConflictError whose record is
// stored under another key (a broken backend) is not trusted; the retry
// reads.
func TestUpdateConflictCarriesOtherKey(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	b := &wrongConflict{Backend: mem}
	m := newManager[Profile](t, b, session.WithUpdateAttempts(3))
	s, err := m.Create(ctx, "", Profile{})
	require.NoError(t, err)
	b.conflicts.Store(1)
	got, err := m.Update(ctx, s.ID, increment)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Data.Counter)
	assert.EqualValues(t, 1, b.loads.Load(), "the retry read the session")
}

// wrongConflict fails the next conflicts Updates with a ConflictError that
// holds a record of another key.
type wrongConflict struct {
	backend.Backend
	conflicts, loads atomic.Int64
}

func (w *wrongConflict) Load(ctx context.Context, key string) (backend.Record, error) {
	w.loads.Add(1)
	return w.Backend.Load(ctx, key)
}

func (w *wrongConflict) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if w.conflicts.Add(-1) >= 0 {
		cur := rec
		cur.Key = "another key"
		cur.Version++
		cur.IdleDeadline = time.Now().Add(time.Hour)
		return backend.Record{}, &backend.ConflictError{Current: cur}
	}
	return w.Backend.Update(ctx, rec)
}
