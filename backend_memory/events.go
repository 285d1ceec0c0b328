package memorybackend

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/eventq"
)

var _ backend.Notifier = (*Backend)(nil)

// subscribers are the event queues of a store. Writers read the list with
// one atomic load, so a store nobody subscribed to pays nothing more.
type subscribers struct {
	list atomic.Pointer[[]*subscription]
	mu   sync.Mutex // serialises changes of list
}

type subscription struct {
	q      *eventq.Queue
	cancel context.CancelFunc
}

// Subscribe calls fn for every record created, rekeyed, deleted or expired
// in this Backend, from the moment it returns until ctx is done or the
// Backend is closed. Events are published while the write holds its
// record's lock, so the events of one key arrive in the order of its
// writes. fn is called from one goroutine; a write never waits for it: up
// to eventq.DefaultSize events wait, beyond that they are dropped and
// counted in an EventMissed.
//
// Every record's life ends with one event: EventDeleted when Delete or
// DeleteByOwner removed it live, EventRekeyed when Rekey moved it, and
// EventExpired when it is removed past a deadline — by the janitor (so
// within one janitor interval of the deadline; with the janitor disabled,
// only when a write removes or replaces it) or by a Delete, DeleteByOwner,
// Create or Rekey that meets it expired.
func (b *Backend) Subscribe(ctx context.Context, fn func(backend.Event)) error {
	if err := ctx.Err(); err != nil {
		return ctxError("subscribe", err)
	}
	if b.s.closed() {
		return errClosed
	}
	subs := &b.s.subs
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{q: eventq.Start(ctx, 0, fn), cancel: cancel}
	subs.mu.Lock()
	old := subs.list.Load()
	var next []*subscription
	if old != nil {
		next = slices.Clone(*old)
	}
	next = append(next, sub)
	subs.list.Store(&next)
	subs.mu.Unlock()
	if b.s.closed() { // Close ran meanwhile and may have missed sub
		cancel()
	}
	go func() {
		<-sub.q.Done()
		subs.remove(sub)
	}()
	return nil
}

func (s *subscribers) remove(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.list.Load()
	if old == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*old), func(x *subscription) bool { return x == sub })
	s.list.Store(&next)
}

// closeAll ends every subscription (Close).
func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.list.Load(); old != nil {
		for _, sub := range *old {
			sub.cancel()
		}
	}
	s.list.Store(nil)
}

// active reports whether anyone is subscribed, so that writers skip
// building events nobody reads.
func (s *store) active() bool {
	l := s.subs.list.Load()
	return l != nil && len(*l) > 0
}

// publish hands e to every subscriber; the caller holds the write lock of
// e.Key's shard.
func (s *store) publish(e backend.Event) {
	l := s.subs.list.Load()
	if l == nil {
		return
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	for _, sub := range *l {
		sub.q.Push(e)
	}
}

// ended publishes the end of the record p under key that a write removes
// or replaces: EventDeleted if it was live, EventExpired if not. The
// caller holds the write lock of key's shard.
func (s *store) ended(key string, p *entry, live bool) {
	if !s.active() {
		return
	}
	kind := backend.EventDeleted
	if !live {
		kind = backend.EventExpired
	}
	s.publish(backend.Event{Kind: kind, Key: key, Owner: p.Owner})
}
