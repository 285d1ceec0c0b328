// Package eventq is the delivery queue behind the backends' Notifier
// implementations: a write pushes an event without ever waiting, one
// goroutine calls the subscriber's function in order, and when that
// function falls behind the queue drops events and counts them, delivering
// an EventMissed in their place.
package eventq

import (
	"context"
	"sync"

	"github.com/sessionkit/sessionkit/backend"
)

// DefaultSize is how many events a Queue holds for a subscriber that has
// fallen behind before it drops.
const DefaultSize = 4096

// Queue is one subscriber's bounded buffer. Its methods are safe for
// concurrent use.
type Queue struct {
	fn   func(backend.Event)
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	ring    []backend.Event
	head, n int
	dropped int  // events dropped since the last entry
	unknown bool // a gap of unknown size since the last entry
	stopped bool
}

// Start returns a Queue of size entries (DefaultSize if size < 2) that
// calls fn, from one goroutine, for every event pushed, until ctx is done.
func Start(ctx context.Context, size int, fn func(backend.Event)) *Queue {
	if size < 2 {
		size = DefaultSize
	}
	q := &Queue{
		fn:   fn,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		ring: make([]backend.Event, size),
	}
	go q.run(ctx)
	return q
}

// Done is closed once the queue has stopped delivering (its context ended).
func (q *Queue) Done() <-chan struct{} { return q.done }

// Push queues e and returns at once. If the queue is full, e is dropped
// and counted; the count reaches the subscriber as an EventMissed.
func (q *Queue) Push(e backend.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if q.dropped > 0 || q.unknown {
		// The gap's marker goes first; it needs a slot of its own.
		if q.n+2 > len(q.ring) {
			q.dropped++
			return
		}
		q.put(q.marker())
	} else if q.n == len(q.ring) {
		q.dropped++
		return
	}
	q.put(e)
	q.signal()
}

// Lost records that events were lost and how many is not known (the
// connection to the store was re-established). The subscriber receives an
// EventMissed with Missed 0.
func (q *Queue) Lost() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.unknown = true
	q.signal()
}

// marker turns the pending gap into an EventMissed and clears it; q.mu
// must be held.
func (q *Queue) marker() backend.Event {
	e := backend.Event{Kind: backend.EventMissed, Missed: q.dropped}
	if q.unknown {
		e.Missed = 0
	}
	q.dropped, q.unknown = 0, false
	return e
}

func (q *Queue) put(e backend.Event) {
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest entry, or the pending gap once the ring is empty.
func (q *Queue) next() (backend.Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 {
		e := q.ring[q.head]
		q.ring[q.head] = backend.Event{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		return e, true
	}
	if q.dropped > 0 || q.unknown {
		return q.marker(), true
	}
	return backend.Event{}, false
}

func (q *Queue) run(ctx context.Context) {
	defer close(q.done)
	defer func() {
		q.mu.Lock()
		q.stopped = true
		q.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for ctx.Err() == nil {
			e, ok := q.next()
			if !ok {
				break
			}
			q.fn(e)
		}
	}
}
