package memorybackend_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
)

// recorder collects events and lets a test wait for them.
type recorder struct {
	mu     sync.Mutex
	events []backend.Event
	more   chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) add(e backend.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// wait returns the events once there are n, failing after 5 s.
func (r *recorder) wait(t *testing.T, n int) []backend.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]backend.Event(nil), r.events...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-timeout:
			t.Fatalf("got %d events, want %d: %+v", len(got), n, got)
		}
	}
}

func rec(key, owner string, now time.Time, ttl time.Duration) backend.Record {
	return backend.Record{Key: key, Owner: owner, Payload: []byte("p"), CreatedAt: now,
		IdleDeadline: now.Add(ttl), AbsoluteDeadline: now.Add(ttl)}
}

type kindKey struct {
	Kind        backend.EventKind
	Key, OldKey string
	Owner       string
}

func kinds(events []backend.Event) []kindKey {
	out := make([]kindKey, len(events))
	for i, e := range events {
		out[i] = kindKey{e.Kind, e.Key, e.OldKey, e.Owner}
	}
	return out
}

func TestEventsPerWrite(t *testing.T) {
	ctx := t.Context()
	b := memorybackend.New()
	defer b.Close()
	r := newRecorder()
	require.NoError(t, b.Subscribe(ctx, r.add))

	now := time.Now()
	a, err := b.Create(ctx, rec("a", "ann", now, time.Hour))
	require.NoError(t, err)
	_, err = b.Create(ctx, rec("a", "ann", now, time.Hour))
	require.ErrorIs(t, err, backend.ErrExists)
	a.Payload = []byte("q")
	a, err = b.Update(ctx, a)
	require.NoError(t, err)
	require.NoError(t, b.Touch(ctx, "a", now.Add(time.Hour)))
	_, err = b.Rekey(ctx, a, "b")
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "a")) // gone already: nothing
	_, err = b.Create(ctx, rec("c", "ann", now, time.Hour))
	require.NoError(t, err)
	n, err := b.DeleteByOwner(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = b.Create(ctx, rec("anon", "", now, time.Hour))
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "anon"))

	got := r.wait(t, 7)
	require.Equal(t, []kindKey{
		{backend.EventCreated, "a", "", "ann"},
		{backend.EventRekeyed, "b", "a", "ann"},
		{backend.EventCreated, "c", "", "ann"},
		{backend.EventDeleted, "b", "", "ann"}, // DeleteByOwner's order is
		{backend.EventDeleted, "c", "", "ann"}, // the index's: sorted below
		{backend.EventCreated, "anon", "", ""},
		{backend.EventDeleted, "anon", "", ""},
	}, sortDeletes(kinds(got)))
	for _, e := range got {
		require.WithinDuration(t, time.Now(), e.At, time.Minute)
	}
}

// sortDeletes orders the two DeleteByOwner events of TestEventsPerWrite.
func sortDeletes(k []kindKey) []kindKey {
	if len(k) > 4 && k[3].Key > k[4].Key {
		k[3], k[4] = k[4], k[3]
	}
	return k
}

func TestEventsExpiredByJanitor(t *testing.T) {
	ctx := t.Context()
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	b := memorybackend.New(memorybackend.WithClock(func() time.Time { return *now.Load() }),
		memorybackend.WithJanitorInterval(time.Millisecond))
	defer b.Close()
	r := newRecorder()
	require.NoError(t, b.Subscribe(ctx, r.add))
	_, err := b.Create(ctx, rec("x", "ann", start, time.Minute))
	require.NoError(t, err)
	later := start.Add(2 * time.Minute)
	now.Store(&later)
	got := r.wait(t, 2)
	require.Equal(t, []kindKey{{backend.EventCreated, "x", "", "ann"}, {backend.EventExpired, "x", "", "ann"}}, kinds(got))
	require.Equal(t, later, got[1].At)
}

// An expired record that a write meets before the janitor does ends with
// EventExpired, never EventDeleted.
func TestEventsExpiredMetByWrite(t *testing.T) {
	ctx := t.Context()
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	b := memorybackend.New(memorybackend.WithClock(func() time.Time { return *now.Load() }),
		memorybackend.WithJanitorInterval(0))
	defer b.Close()
	r := newRecorder()
	require.NoError(t, b.Subscribe(ctx, r.add))
	for _, k := range []string{"x", "y"} {
		_, err := b.Create(ctx, rec(k, "ann", start, time.Minute))
		require.NoError(t, err)
	}
	later := start.Add(2 * time.Minute)
	now.Store(&later)
	require.NoError(t, b.Delete(ctx, "x"))
	_, err := b.Create(ctx, rec("y", "bob", later, time.Minute))
	require.NoError(t, err)
	require.Equal(t, []kindKey{
		{backend.EventCreated, "x", "", "ann"},
		{backend.EventCreated, "y", "", "ann"},
		{backend.EventExpired, "x", "", "ann"},
		{backend.EventExpired, "y", "", "ann"},
		{backend.EventCreated, "y", "", "bob"},
	}, kinds(r.wait(t, 5)))
}

// A subscriber that does not keep up holds no write up; what it could not
// take is counted.
func TestEventsSlowSubscriber(t *testing.T) {
	ctx := t.Context()
	b := memorybackend.New()
	defer b.Close()
	release := make(chan struct{})
	var delivered, missed, missedEvents atomic.Int64
	done := make(chan struct{})
	const writes = 3 * 4096
	require.NoError(t, b.Subscribe(ctx, func(e backend.Event) {
		<-release
		if e.Kind == backend.EventMissed {
			missed.Add(int64(e.Missed))
			missedEvents.Add(1)
		} else {
			delivered.Add(1)
		}
		if delivered.Load()+missed.Load() == writes {
			close(done)
		}
	}))
	now := time.Now()
	for i := range writes {
		_, err := b.Create(ctx, rec(string(rune('a'+i%26))+time.Duration(i).String(), "", now, time.Hour))
		require.NoError(t, err)
	}
	close(release) // every write returned while fn was blocked
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("delivered %d + missed %d, want %d", delivered.Load(), missed.Load(), writes)
	}
	require.Positive(t, missed.Load())
	require.Equal(t, int64(1), missedEvents.Load(), "one gap, one EventMissed")
}

func TestSubscribeEndsWithContextAndClose(t *testing.T) {
	b := memorybackend.New()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, b.Subscribe(ctx, func(backend.Event) {}), context.Canceled)

	r := newRecorder()
	require.NoError(t, b.Subscribe(t.Context(), r.add))
	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Subscribe(t.Context(), r.add), memorybackend.ErrClosed)
}
