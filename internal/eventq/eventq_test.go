package eventq

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
)

// collect starts a queue of size whose fn blocks until release is closed
// and sends every event to the returned channel.
// The third result receives a value each time fn is entered.
func collect(t *testing.T, size int, release <-chan struct{}) (*Queue, <-chan backend.Event, <-chan struct{}) {
	out := make(chan backend.Event, 100)
	entered := make(chan struct{}, 100)
	q := Start(t.Context(), size, func(e backend.Event) {
		entered <- struct{}{}
		<-release
		out <- e
	})
	return q, out, entered
}

func next(t *testing.T, out <-chan backend.Event) backend.Event {
	t.Helper()
	select {
	case e := <-out:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return backend.Event{}
	}
}

func ev(key string) backend.Event { return backend.Event{Kind: backend.EventCreated, Key: key} }

// waitTaken waits until the delivery goroutine holds the first event.
func waitTaken(t *testing.T, entered <-chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was not taken")
	}
}

func TestOrderAndDrops(t *testing.T) {
	release := make(chan struct{})
	q, out, entered := collect(t, 4, release)
	q.Push(ev("a")) // taken by the goroutine, which blocks in fn
	waitTaken(t, entered)
	q.Push(ev("b"))
	q.Push(ev("c"))
	q.Push(ev("d"))
	q.Push(ev("e"))
	q.Push(ev("f")) // full: dropped
	q.Push(ev("g")) // dropped
	close(release)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		require.Equal(t, k, next(t, out).Key)
	}
	require.Equal(t, backend.Event{Kind: backend.EventMissed, Missed: 2}, next(t, out))
	q.Push(ev("h"))
	require.Equal(t, "h", next(t, out).Key)
}

// The gap's marker takes its place between the events before and after it.
func TestMarkerBeforeLaterEvents(t *testing.T) {
	release := make(chan struct{})
	q, out, entered := collect(t, 3, release)
	q.Push(ev("a"))
	waitTaken(t, entered)
	q.Push(ev("b"))
	q.Push(ev("c"))
	q.Push(ev("d"))
	q.Push(ev("x")) // dropped: full
	close(release)
	require.Equal(t, "a", next(t, out).Key)
	require.Equal(t, "b", next(t, out).Key)
	q.Push(ev("e")) // room for the marker and e
	for _, want := range []backend.Event{ev("c"), ev("d"), {Kind: backend.EventMissed, Missed: 1}, ev("e")} {
		require.Equal(t, want, next(t, out))
	}
}

func TestLost(t *testing.T) {
	release := make(chan struct{})
	close(release)
	q, out, _ := collect(t, 0, release)
	q.Push(ev("a"))
	require.Equal(t, "a", next(t, out).Key)
	q.Lost()
	require.Equal(t, backend.Event{Kind: backend.EventMissed}, next(t, out))
	q.Push(ev("b"))
	require.Equal(t, "b", next(t, out).Key)
}

func TestStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	q := Start(ctx, 0, func(backend.Event) { calls++ })
	cancel()
	<-q.Done()
	q.Push(ev("a"))
	require.Zero(t, calls)
}
