package session

import (
	"context"
	"errors"
)

// Observer receives an Observation for each thing the Manager does that an
// operator counts: sessions created, read, saved, renewed and destroyed,
// decode-cache hits, update conflicts. Package otelsession turns the events
// into OpenTelemetry metrics.
//
// Observe is called synchronously, on the goroutine of the Manager call
// that caused the event, with that call's context; it must be safe for
// concurrent use and fast (a counter increment), and must not call the
// Manager. An Observation never holds a session ID or anything derived
// from one. New kinds may be added: ignore the kinds you do not know.
// (Observations are counts for operators; the lifecycle of individual
// sessions, across instances, is another matter.)
type Observer interface {
	Observe(ctx context.Context, e Observation)
}

// Observation is one thing a Manager did, for counting. Which fields are
// set depends on Kind.
type Observation struct {
	// Kind says what happened.
	Kind ObservationKind
	// Op is the Manager method the event happened in.
	Op Op
	// Outcome is how a read ended (ObservedLoaded only).
	Outcome Outcome
	// Cache is what the decode cache answered (ObservedLoaded with
	// OutcomeFound only); CacheUnused when the cache is off for T and in
	// ListByOwner, which does not consult it.
	Cache CacheResult
	// N is a count: the sessions deleted (ObservedDestroyed), the attempt
	// about to start (ObservedRetry, from 2), the attempts made
	// (ObservedExhausted).
	N int
	// Bytes is the size of the encoded payload that was written
	// (ObservedCreated, ObservedSaved, ObservedRenewed) or read
	// (ObservedLoaded with OutcomeFound).
	Bytes int
}

// ObservationKind is what an Observation reports.
type ObservationKind uint8

// The kinds of Observation.
const (
	// ObservedCreated: Create stored a new session.
	ObservedCreated ObservationKind = iota + 1
	// ObservedLoaded: Get, GetFresh or an Update attempt looked a session up,
	// or ListByOwner read one of the sessions it lists; Outcome says how
	// that ended.
	ObservedLoaded
	// ObservedSaved: Save or an Update attempt stored a session.
	ObservedSaved
	// ObservedRenewed: Renew moved a session to a new ID.
	ObservedRenewed
	// ObservedDestroyed: Destroy or Revoke deleted a session (N is 1, also
	// when it was already gone: deleting is idempotent and does not tell),
	// or DestroyByOwner deleted N sessions.
	ObservedDestroyed
	// ObservedConflict: a write of Save, Update or Renew found the stored
	// session changed since it was read; nothing was written.
	ObservedConflict
	// ObservedRetry: Update tries again after a conflict.
	ObservedRetry
	// ObservedExhausted: Update gave up after its configured number of
	// attempts, each of which met a conflict.
	ObservedExhausted
)

var observationKindNames = [...]string{
	ObservedCreated: "created", ObservedLoaded: "loaded", ObservedSaved: "saved", ObservedRenewed: "renewed",
	ObservedDestroyed: "destroyed", ObservedConflict: "conflict", ObservedRetry: "retry", ObservedExhausted: "exhausted",
}

// String returns the kind in lower case ("created", "loaded", ...), or
// "unknown".
func (k ObservationKind) String() string { return enumName(observationKindNames[:], k) }

// Outcome is how a read of a session ended.
type Outcome uint8

// The outcomes of ObservedLoaded.
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
func (m *Manager[T]) observe(ctx context.Context, e Observation) {
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
	m.cf.observer.Observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: o})
}

// cacheResult is what a decode after a decode-cache miss reports.
func (m *Manager[T]) cacheResult() CacheResult {
	if m.decoded.on() {
		return CacheMiss
	}
	return CacheUnused
}
