package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// The kinds of the two layers are one list.
func TestEventKindsMatchBackend(t *testing.T) {
	pairs := []struct {
		s session.EventKind
		b backend.EventKind
	}{
		{session.EventCreated, backend.EventCreated},
		{session.EventRenewed, backend.EventRekeyed},
		{session.EventDestroyed, backend.EventDeleted},
		{session.EventExpired, backend.EventExpired},
		{session.EventMissed, backend.EventMissed},
	}
	for _, p := range pairs {
		require.Equal(t, uint8(p.b), uint8(p.s), p.s.String())
	}
	require.Equal(t, "renewed", session.EventRenewed.String())
	require.Equal(t, "destroyed", session.EventDestroyed.String())
	require.Equal(t, "expired", session.EventExpired.String())
}

func TestSubscribe(t *testing.T) {
	ctx := t.Context()
	m := newManager[Profile](t, newMemory(t, nil))
	events := make(chan session.Event, 16)
	require.NoError(t, m.Subscribe(ctx, func(e session.Event) { events <- e }))

	s, err := m.Create(ctx, "ada", Profile{Name: "Ada"})
	require.NoError(t, err)
	id, created := s.ID, s.Handle()
	require.NoError(t, m.Renew(ctx, s))
	require.NoError(t, m.Destroy(ctx, s.ID))

	want := []session.Event{
		{Kind: session.EventCreated, Handle: created, Owner: "ada"},
		{Kind: session.EventRenewed, Handle: s.Handle(), OldHandle: created, Owner: "ada"},
		{Kind: session.EventDestroyed, Handle: s.Handle(), Owner: "ada"},
	}
	for _, w := range want {
		select {
		case e := <-events:
			require.WithinDuration(t, time.Now(), e.At, time.Minute)
			e.At = time.Time{}
			require.Equal(t, w, e)
			require.NotContains(t, e.Handle+e.OldHandle+e.Owner, id)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v event", w.Kind)
		}
	}
}

// noNotifier is a backend without the capability.
type noNotifier struct{ backend.Backend }

func TestSubscribeUnsupported(t *testing.T) {
	m := newManager[Profile](t, noNotifier{newMemory(t, nil)})
	err := m.Subscribe(context.Background(), func(session.Event) {})
	require.ErrorIs(t, err, session.ErrUnsupported)
	require.True(t, errors.Is(err, errors.ErrUnsupported))
}
