package session

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event. New kinds may be added: ignore the kinds you do not
// know.
const (
	// EventCreated: a session was created (Create, CreateWithLifetime).
	EventCreated EventKind = iota + 1
	// EventRenewed: a session got a new ID (Renew, and the middleware's
	// Login); Handle is the new handle, OldHandle the one that ended.
	// On a backend without backend.Rekeyer a renewal is stored as a new
	// session and a deleted one, and arrives as EventCreated and
	// EventDestroyed.
	EventRenewed
	// EventDestroyed: a session was ended by Destroy, Revoke or
	// DestroyByOwner ("log out everywhere" delivers one per session).
	EventDestroyed
	// EventExpired: a session passed its idle or absolute deadline and the
	// store removed it. It arrives when the store removes the record,
	// which may be later than the deadline by the store's cleanup
	// interval, and Owner may be empty (Redis has forgotten it by then).
	EventExpired
	// EventMissed: this subscriber lost events before this one: Missed of
	// them because it fell behind, or an unknown number (Missed 0) while
	// the connection to the store was being re-established. A subscriber
	// that keeps state per session should re-read what it holds (Get)
	// when it sees one.
	EventMissed
)

// String returns the kind's name, such as "destroyed".
func (k EventKind) String() string {
	switch k {
	case EventRenewed:
		return "renewed"
	case EventDestroyed:
		return "destroyed"
	default:
		return backend.EventKind(k).String()
	}
}

// Event is one change in the life of a session, as every subscribed
// instance sees it (Manager.Subscribe). It never holds a session ID: Handle
// is what Session.Handle returns, a hash of the ID.
type Event struct {
	Kind EventKind
	// Handle is the session's handle; for EventRenewed the new one.
	Handle string
	// OldHandle is, for EventRenewed, the handle that ended.
	OldHandle string
	// Owner is the session's owner when it happened, if known ("" for an
	// anonymous session, and possibly for EventExpired).
	Owner string
	// At is when the write was applied or the expiry seen, by the clock of
	// the instance that did it.
	At time.Time
	// Missed is, for EventMissed, how many events were lost (0: not known).
	Missed int
}

// Subscribe calls fn for each session created, renewed, destroyed or
// expired in the Manager's store, by this instance or any other that
// shares the store, until ctx is done. It returns once the subscription is
// established, so every change that begins after it returned nil is seen,
// or an error (then fn is never called): one matching ErrUnsupported if the
// backend has no backend.Notifier, or the backend's reason, such as Redis
// refusing keyspace notifications.
//
// Delivery is at most once. fn is called from one goroutine at a time, and
// the events of one handle arrive in the order they happened; events of
// different sessions may be reordered. fn never holds up a write: when it
// falls behind, the backend's bounded buffer drops events and fn receives
// an EventMissed that counts them (also logged at Warn). After the
// connection to the store is lost the subscription re-establishes itself
// and fn receives an EventMissed with Missed 0: what happened meanwhile is
// not delivered.
func (m *Manager[T]) Subscribe(ctx context.Context, fn func(Event)) error {
	n, ok := m.b.(backend.Notifier)
	if !ok {
		return fmt.Errorf("session: subscribe: the backend has no backend.Notifier: %w", ErrUnsupported)
	}
	if fn == nil {
		return fmt.Errorf("session: subscribe: fn is nil")
	}
	err := n.Subscribe(ctx, func(e backend.Event) {
		if e.Kind == backend.EventMissed {
			m.cf.logger.LogAttrs(ctx, slog.LevelWarn, "session: events missed",
				slog.Int("missed", e.Missed), slog.Bool("reconnected", e.Missed == 0))
		}
		fn(Event{Kind: EventKind(e.Kind), Handle: e.Key, OldHandle: e.OldKey, Owner: e.Owner, At: e.At, Missed: e.Missed})
	})
	if err != nil {
		return fmt.Errorf("session: subscribe: %w", err)
	}
	return nil
}
