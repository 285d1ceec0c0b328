package session

import (
	"context"
	"errors"
)

// Observer receives an Event for each thing the Manager does that an
// operator counts: sessions created, read, saved, renewed and destroyed,
// decode-cache hits, update conflicts. Package otelsession turns the events
// into OpenTelemetry metrics.
//
// Observe is called synchronously, on the goroutine of the Manager call
// that caused the event, with that call's context; it must be safe for
// concurrent use and fast (a counter increment), and must not call the
// Manager. An Event never holds a session ID or anything derived from one.
// New kinds of event may be added: ignore the kinds you do not know.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Event is one observation of a Manager. Which fields are set depends on
// Kind.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Op is the Manager method the event happened in.
	Op Op
	// Outcome is how a read ended (EventLoaded only).
	Outcome Outcome
	// Cache is what the decode cache answered (EventLoaded with
	// OutcomeFound only); CacheUnused when the cache is off for T and in
	// ListByOwner, which does not consult it.
	Cache CacheResult
	// N is a count: the sessions deleted (EventDestroyed), the attempt
	// about to start (EventRetry, from 2), the attempts made
	// (EventExhausted).
	N int
	// Bytes is the size of the encoded payload that was written
	// (EventCreated, EventSaved, EventRenewed) or read (EventLoaded with
	// OutcomeFound).
	Bytes int
}

// EventKind is what an Event reports.
type EventKind uint8

// The kinds of Event.
const (
	// EventCreated: Create stored a new session.
	EventCreated EventKind = iota + 1
	// EventLoaded: Get, GetFresh or an Update attempt looked a session up,
	// or ListByOwner read one of the sessions it lists; Outcome says how
	// that ended.
	EventLoaded
	// EventSaved: Save or an Update attempt stored a session.
	EventSaved
	// EventRenewed: Renew moved a session to a new ID.
	EventRenewed
	// EventDestroyed: Destroy or Revoke deleted a session (N is 1, also
	// when it was already gone: deleting is idempotent and does not tell),
	// or DestroyByOwner deleted N sessions.
	EventDestroyed
	// EventConflict: a write of Save, Update or Renew found the stored
	// session changed since it was read; nothing was written.
	EventConflict
	// EventRetry: Update tries again after a conflict.
	EventRetry
	// EventExhausted: Update gave up after its configured number of
	// attempts, each of which met a conflict.
	EventExhausted
)

var eventKindNames = [...]string{
	EventCreated: "created", EventLoaded: "loaded", EventSaved: "saved", EventRenewed: "renewed",
	EventDestroyed: "destroyed", EventConflict: "conflict", EventRetry: "retry", EventExhausted: "exhausted",
}

// String returns the kind in lower case ("created", "loaded", ...), or
// "unknown".
func (k EventKind) String() string { return enumName(eventKindNames[:], k) }

// Outcome is how a read of a session ended.
type Outcome uint8

// The outcomes of EventLoaded.
const (
	// OutcomeFound: the session was live and decoded.
	OutcomeFound Outcome = iota + 1
	// OutcomeNotFound: the backend has no live session with that ID.
	OutcomeNotFound
	// OutcomeExpired: the backend returned a session past a deadline by
	// the Manager's clock.
	OutcomeExpired
	// OutcomeCorrupt: the stored session could not be read (ErrCorrupt).
	OutcomeCorrupt
	// OutcomeMalformed: the ID cannot be one of this Manager's; no backend
	// call was made.
	OutcomeMalformed
	// OutcomeFailed: the backend failed (unreachable, canceled, ...).
	OutcomeFailed
)

// NumOutcomes is one more than the largest Outcome.
const NumOutcomes = int(OutcomeFailed) + 1

var outcomeNames = [...]string{
	OutcomeFound: "found", OutcomeNotFound: "not_found", OutcomeExpired: "expired",
	OutcomeCorrupt: "corrupt", OutcomeMalformed: "malformed", OutcomeFailed: "failed",
}

// String returns the outcome in snake case ("found", "not_found", ...),
// or "unknown".
func (o Outcome) String() string { return enumName(outcomeNames[:], o) }

// CacheResult is what the Manager's decode cache (WithDecodeCache)
// answered for a session that was found.
type CacheResult uint8

// The results of a decode-cache lookup.
const (
	// CacheUnused: the cache is off for this Manager's T.
	CacheUnused CacheResult = iota
	// CacheHit: the stored payload was the one last decoded; no decoding.
	CacheHit
	// CacheMiss: the payload was decoded.
	CacheMiss
)

var cacheNames = [...]string{CacheUnused: "unused", CacheHit: "hit", CacheMiss: "miss"}

// String returns "unused", "hit" or "miss", or "unknown".
func (c CacheResult) String() string { return enumName(cacheNames[:], c) }

// WithObserver sets the Observer that receives the Manager's events. A
// Manager without one builds no events: the cost is one nil check per
// event. Default: none.
func WithObserver(o Observer) Option { return func(cf *config) { cf.observer = o } }

// observe hands e to the observer, if there is one. It is small enough
// to be inlined, so that a Manager without observer pays a nil check.
func (m *Manager[T]) observe(ctx context.Context, e Event) {
	if m.cf.observer != nil {
		m.cf.observer.Observe(ctx, e)
	}
}

// observeLoadErr reports a read that failed with err.
func (m *Manager[T]) observeLoadErr(ctx context.Context, op Op, err error) {
	if m.cf.observer == nil {
		return
	}
	o := OutcomeFailed
	switch {
	case errors.Is(err, ErrNotFound):
		o = OutcomeNotFound
	case errors.Is(err, ErrCorrupt):
		o = OutcomeCorrupt
	}
	m.cf.observer.Observe(ctx, Event{Kind: EventLoaded, Op: op, Outcome: o})
}

// cacheResult is what a decode after a decode-cache miss reports.
func (m *Manager[T]) cacheResult() CacheResult {
	if m.decoded.on() {
		return CacheMiss
	}
	return CacheUnused
}
