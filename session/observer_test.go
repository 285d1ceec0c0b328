package session_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/session"
)

// recorder is an Observer that keeps every event and checks that each
// comes with the context of the call.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	events []session.Observation
}

type ctxKey struct{}

func (r *recorder) Observe(ctx context.Context, e session.Observation) {
	if ctx.Value(ctxKey{}) != "call" {
		r.t.Errorf("event %+v came without the call's context", e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// take returns the events since the last take.
func (r *recorder) take() []session.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func loaded(op session.Op, o session.Outcome) session.Observation {
	return session.Observation{Kind: session.ObservedLoaded, Op: op, Outcome: o}
}

func TestObserverEvents(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "call")
	clk := &clock{now: time.Now()}
	f := newFaulty(t, nil) // the backend's clock is real time, the Manager's is clk
	rec := &recorder{t: t}
	m := newManager[Profile](t, f, session.WithClock(clk.Now), session.WithObserver(rec), session.WithUpdateAttempts(3))
	other := newManager[Profile](t, f, session.WithClock(clk.Now))

	s, err := m.Create(ctx, "ada", Profile{Name: "Ada"})
	require.NoError(t, err)
	rec0, err := f.Backend.Load(ctx, s.Handle())
	require.NoError(t, err)
	size := len(rec0.Payload)
	assert.Equal(t, []session.Observation{{Kind: session.ObservedCreated, Op: session.OpCreate, Bytes: size}}, rec.take(), "Create")

	_, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	_, err = m.GetFresh(ctx, s.ID)
	require.NoError(t, err)
	found := func(op session.Op, c session.CacheResult) session.Observation {
		return session.Observation{Kind: session.ObservedLoaded, Op: op, Outcome: session.OutcomeFound, Cache: c, Bytes: size}
	}
	assert.Equal(t, []session.Observation{found(session.OpGet, session.CacheMiss), found(session.OpGetFresh, session.CacheHit)}, rec.take(), "Get, GetFresh")

	_, err = m.Get(ctx, "not-an-id")
	require.Error(t, err)
	_, err = m.Get(ctx, "00000000-0000-4000-8000-000000000000")
	require.Error(t, err)
	f.failing("Load", errDown)
	_, err = m.Get(ctx, s.ID)
	require.Error(t, err)
	f.failing("Load", nil)
	_, err = m.Update(ctx, "not-an-id", func(*session.Session[Profile]) error { return nil })
	require.Error(t, err)
	assert.Equal(t, []session.Observation{
		loaded(session.OpGet, session.OutcomeMalformed),
		loaded(session.OpGet, session.OutcomeNotFound),
		loaded(session.OpGet, session.OutcomeFailed),
		loaded(session.OpUpdate, session.OutcomeMalformed),
	}, rec.take(), "Get that find nothing")

	stale, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	require.NoError(t, m.Save(ctx, s))
	require.ErrorIs(t, m.Save(ctx, stale), session.ErrConflict)
	require.ErrorIs(t, m.Renew(ctx, stale), session.ErrConflict)
	assert.Equal(t, []session.Observation{
		found(session.OpGet, session.CacheHit),
		{Kind: session.ObservedSaved, Op: session.OpSave, Bytes: size},
		{Kind: session.ObservedConflict, Op: session.OpSave},
		{Kind: session.ObservedConflict, Op: session.OpRenew},
	}, rec.take(), "Save, Save and Renew of a stale copy")

	_, err = m.Update(ctx, s.ID, func(*session.Session[Profile]) error {
		_, err := other.Update(ctx, s.ID, func(o *session.Session[Profile]) error { o.Data.Counter++; return nil })
		return err
	})
	require.ErrorIs(t, err, session.ErrConflict)
	var want []session.Observation
	for attempt := 1; attempt <= 3; attempt++ {
		// The first attempt starts from what Save wrote, remembered; the
		// others from what the other instance wrote, a new payload, which
		// the conflict carries.
		c := session.CacheMiss
		if attempt == 1 {
			c = session.CacheHit
		}
		want = append(want, found(session.OpUpdate, c), session.Observation{Kind: session.ObservedConflict, Op: session.OpUpdate})
		if attempt < 3 {
			want = append(want, session.Observation{Kind: session.ObservedRetry, Op: session.OpUpdate, N: attempt + 1})
		}
	}
	want = append(want, session.Observation{Kind: session.ObservedExhausted, Op: session.OpUpdate, N: 3})
	assert.Equal(t, want, rec.take(), "Update that gives up")

	s, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	rec.take()
	require.NoError(t, m.Renew(ctx, s))
	assert.Equal(t, []session.Observation{{Kind: session.ObservedRenewed, Op: session.OpRenew, Bytes: size}}, rec.take(), "Renew")

	list, err := m.ListByOwner(ctx, "ada")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, m.Revoke(ctx, list[0]))
	require.NoError(t, m.Destroy(ctx, s.ID))
	for range 2 {
		_, err := m.Create(ctx, "ada", Profile{})
		require.NoError(t, err)
	}
	rec.take()
	n, err := m.DestroyByOwner(ctx, "ada")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	assert.Equal(t, []session.Observation{{Kind: session.ObservedDestroyed, Op: session.OpDestroyByOwner, N: 2}}, rec.take(), "DestroyByOwner")

	exp, err := m.Create(ctx, "", Profile{})
	require.NoError(t, err)
	clk.Advance(session.DefaultIdleTimeout) // by the Manager's clock only
	rec.take()
	_, err = m.Get(ctx, exp.ID)
	require.ErrorIs(t, err, session.ErrNotFound)
	assert.Equal(t, []session.Observation{loaded(session.OpGet, session.OutcomeExpired)}, rec.take(), "expired")
}

func TestObserverCorruptAndList(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "call")
	f := newFaulty(t, nil)
	rec := &recorder{t: t}
	m := newManager[Profile](t, f, session.WithObserver(rec))
	s, err := m.Create(ctx, "ada", Profile{Name: "Ada"})
	require.NoError(t, err)
	list, err := m.ListByOwner(ctx, "ada")
	require.NoError(t, err)
	require.NoError(t, m.Revoke(ctx, list[0]))
	require.NoError(t, m.Destroy(ctx, s.ID))
	events := rec.take()[1:]
	size := events[0].Bytes
	assert.Positive(t, size)
	assert.Equal(t, []session.Observation{
		{Kind: session.ObservedLoaded, Op: session.OpListByOwner, Outcome: session.OutcomeFound, Bytes: size},
		{Kind: session.ObservedDestroyed, Op: session.OpRevoke, N: 1},
		{Kind: session.ObservedDestroyed, Op: session.OpDestroy, N: 1},
	}, events)

	s, err = m.Create(ctx, "ada", Profile{Name: "Ada"})
	require.NoError(t, err)
	corrupt(t, &env{ctx: ctx, f: f, s: s})
	rec.take()
	_, err = m.Get(ctx, s.ID)
	require.ErrorIs(t, err, session.ErrCorrupt)
	_, err = m.ListByOwner(ctx, "ada")
	require.ErrorIs(t, err, session.ErrCorrupt)
	assert.Equal(t, []session.Observation{
		loaded(session.OpGet, session.OutcomeCorrupt),
		loaded(session.OpListByOwner, session.OutcomeCorrupt),
	}, rec.take())
}

func TestEventNames(t *testing.T) {
	assert.Equal(t, "get_fresh", session.OpGetFresh.String())
	assert.Equal(t, "destroy_by_owner", session.OpDestroyByOwner.String())
	assert.Equal(t, "not_found", session.OutcomeNotFound.String())
	assert.Equal(t, "exhausted", session.ObservedExhausted.String())
	assert.Equal(t, "hit", session.CacheHit.String())
	assert.Equal(t, "unknown", session.Op(200).String())
	assert.Equal(t, "unknown", session.Op(0).String())
	for op := session.Op(1); int(op) < session.NumOps; op++ {
		assert.NotEqual(t, "unknown", op.String(), "op %d", op)
	}
	for o := session.Outcome(1); int(o) < session.NumOutcomes; o++ {
		assert.NotEqual(t, "unknown", o.String(), "outcome %d", o)
	}
}
