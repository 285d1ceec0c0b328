// Package backend defines the contract between session.Manager and a session
// store: a Backend stores opaque Records addressed by a storage key, with
// compare-and-swap updates on a version number and deadlines after which a
// record is gone.
//
// A Backend knows nothing of the typed session data or of codecs; it stores
// bytes and metadata. The Manager in package session does everything every
// store would otherwise repeat (tokens, hashing, encoding, timeouts, retries).
// Package conformance proves that an implementation keeps this contract:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(tb testing.TB) backend.Backend { return newMyBackend(tb) })
//	}
//
// # Capabilities
//
// Optional capabilities are separate interfaces found by type assertion:
// OwnerIndex (list and delete the sessions of one owner), Rekeyer (move a
// record to a new key in one step), FreshLoader (a read that bypasses any
// cache) and Notifier (lifecycle events, on every instance). A Manager falls back to a generic path, or returns an error
// wrapping errors.ErrUnsupported, where a capability is missing. A wrapper
// that embeds a concrete backend to change its core methods (metrics, fault
// injection) must wrap the capability methods too, or embed the
// backend.Backend interface, which promotes none.
//
// # Deadlines
//
// A record is live until the earlier of its IdleDeadline and its
// AbsoluteDeadline (Record.Expired). The caller owns the timeouts, so the
// caller clamps: session.Manager never passes an IdleDeadline after the
// record's AbsoluteDeadline, to any method, and backends store deadlines as
// they are given. A backend judges liveness by the application's clock (its
// own process clock, or one injected into it), never by the clock of a
// database server, so that every instance and the Manager agree.
//
// # Errors
//
// Backends report conditions with the sentinel errors of this package,
// possibly wrapped; callers match them with errors.Is. A store that cannot be
// reached returns an error matching ErrUnavailable that also wraps the cause,
// so "not found" and "store down" are never confused. Context errors are
// returned wrapped so that errors.Is(err, context.DeadlineExceeded) works.
//
// A write can be applied and still fail a durability requirement the
// backend was configured with (Redis: too few replicas acknowledged it).
// Then the backend returns the stored Record together with an error
// matching ErrNotDurable, and the caller must treat the write as done: the
// record is what Load returns now. A backend must never return
// ErrNotDurable for a write it did not apply.
package backend

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Sentinel errors of the backend contract. session.ErrNotFound and
// session.ErrConflict are the same values, so one errors.Is works at both
// layers.
var (
	// ErrNotFound means no live record has the key: it never existed, was
	// deleted, or passed one of its deadlines.
	ErrNotFound = errors.New("backend: not found")
	// ErrExists means Create found the key already taken; nothing was written.
	ErrExists = errors.New("backend: key exists")
	// ErrConflict means Update's version did not match the stored one;
	// nothing was written.
	ErrConflict = errors.New("backend: version conflict")
	// ErrUnavailable means the store could not be reached or did not answer;
	// the error also wraps the cause. The operation may or may not have been
	// applied.
	ErrUnavailable = errors.New("backend: store unavailable")
	// ErrCorrupt means what is stored under the key cannot be read: a
	// record this backend did not write, a truncated or foreign value, a
	// payload no codec can decode. session.ErrCorrupt is the same value.
	ErrCorrupt = errors.New("backend: corrupt record")
	// ErrNotDurable means the write was applied, but not confirmed as
	// durable as the backend was asked to make it (for example, too few
	// replicas acknowledged it in time): a failover may still lose it. The
	// Record returned with it is what was stored.
	ErrNotDurable = errors.New("backend: applied, but not confirmed durable")
)

// ConflictError is an error matching ErrConflict that carries the record
// the store held when Update found a version other than the one given, so
// that the caller can retry from it without a Load. Returning it is
// optional (a plain ErrConflict is as correct); a Backend that returns one
// promises that Current is the live record under the key as the store
// held it at that moment, read as LoadFresh reads (never from a cache),
// with its stored version, owner, payload and deadlines, and a Payload
// the caller owns. Backends return it wrapped, like every error; callers
// find it with errors.As.
type ConflictError struct {
	Current Record
}

// Error says that the versions differ and which one is stored.
func (e *ConflictError) Error() string {
	return ErrConflict.Error() + " (version " + strconv.FormatUint(e.Current.Version, 10) + " is stored)"
}

// Unwrap returns ErrConflict, so that errors.Is(err, ErrConflict) holds.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Record is one stored session at the bytes level.
type Record struct {
	// Key is the storage key derived from the session ID; never the ID
	// itself. Backends must accept any non-empty string of up to 4 KiB,
	// including binary bytes and characters that are special to the store.
	Key string
	// Owner is the user the session belongs to; "" when anonymous. Any
	// string is valid. Whether anonymous records are indexed by OwnerIndex
	// is the backend's choice; session.Manager never lists owner "".
	Owner string
	// Payload is the encoded session data, opaque to the backend.
	Payload []byte
	// Version is set by the backend: 1 on Create, +1 on every successful
	// Update. Callers pass the version they read to Update.
	Version uint64
	// CreatedAt is when the session was created.
	CreatedAt time.Time
	// IdleDeadline is the instant after which the record must never be
	// returned. Callers never pass one after AbsoluteDeadline (see
	// Deadlines in the package documentation).
	IdleDeadline time.Time
	// AbsoluteDeadline is the instant the session ends whatever its activity.
	AbsoluteDeadline time.Time
}

// Expired reports whether the record must no longer be returned at now:
// now is at or past its idle or absolute deadline.
func (r Record) Expired(now time.Time) bool {
	return !now.Before(r.IdleDeadline) || !now.Before(r.AbsoluteDeadline)
}

// Backend is a session store. Implementations must be safe for concurrent
// use by many goroutines. Every method that takes a context must honour its
// cancellation and deadline: with a done context it returns an error that
// matches ctx.Err() (whether a write was applied is then unknown).
//
// Timestamps must survive a round trip to the millisecond.
//
// Ownership of slices: a Backend must copy Record.Payload on the way in (the
// caller may reuse it once the call returns) and must return a Payload the
// caller may modify without affecting the stored record or other callers.
type Backend interface {
	// Create stores rec under rec.Key if the key is new. It ignores
	// rec.Version and stores version 1; the returned Record is what was
	// stored. It must return an error matching ErrExists if a live record has
	// the key, and then must not change that record.
	Create(ctx context.Context, rec Record) (Record, error)

	// Load returns the live record stored under key. It must return an error
	// matching ErrNotFound if there is none or if it is past a deadline. A
	// Load through the same Backend value sees every write of that value
	// that returned before the Load began (read-your-writes), also when it
	// is served from a cache.
	Load(ctx context.Context, key string) (Record, error)

	// Update replaces the record under rec.Key with rec if and only if the
	// stored version equals rec.Version, and stores version rec.Version+1.
	// It writes Owner, Payload and both deadlines and keeps CreatedAt. The
	// returned Record is what was
	// stored. It must return an error matching ErrConflict if the versions
	// differ (it may be a *ConflictError holding the stored record) and
	// ErrNotFound if no live record has the key; in both cases nothing is
	// written. A missing record is never recreated.
	Update(ctx context.Context, rec Record) (Record, error)

	// Touch moves the idle deadline of the record under key to idleDeadline
	// without changing its version. It must return an error matching
	// ErrNotFound if no live record has the key.
	Touch(ctx context.Context, key string, idleDeadline time.Time) error

	// Delete removes the record under key. Deleting a missing key is not an
	// error.
	Delete(ctx context.Context, key string) error

	// Close releases the backend's resources. Calling it more than once is
	// not an error.
	Close() error
}

// OwnerIndex is an optional capability: a Backend that implements it can
// find the sessions of one owner (for "your devices" pages and "log out
// everywhere").
type OwnerIndex interface {
	// ListByOwner returns the live records whose Owner is owner, in no
	// particular order; an empty slice if there are none. It must follow
	// Owner changes made by Update and never return a deleted or expired
	// record.
	ListByOwner(ctx context.Context, owner string) ([]Record, error)

	// DeleteByOwner deletes every record whose Owner is owner and reports
	// how many live records it deleted.
	DeleteByOwner(ctx context.Context, owner string) (int, error)
}

// Rekeyer is an optional capability: a Backend that implements it can move a
// record to a new key in one step, so that there is no instant at which both
// keys, or neither, are live.
type Rekeyer interface {
	// Rekey stores rec under newKey (version 1, like Create) and deletes the
	// record under rec.Key, provided the stored version of rec.Key equals
	// rec.Version. It must return ErrConflict if the version differs,
	// ErrNotFound if rec.Key has no live record and ErrExists if newKey is
	// taken; in each case nothing is written. The returned Record is the new
	// one.
	Rekey(ctx context.Context, rec Record, newKey string) (Record, error)
}

// FreshLoader is an optional capability of a Backend that serves Load from a
// cache: LoadFresh reads from the authoritative store, so it sees every write
// that completed before it began. Use it for authorization-critical checks.
type FreshLoader interface {
	// LoadFresh is Load without any cache.
	LoadFresh(ctx context.Context, key string) (Record, error)
}

// Notifier is an optional capability: a Backend that implements it tells
// every subscriber, on every instance that shares the store, when a record
// is created, rekeyed, deleted or expires.
//
// An event is published if and only if its write was applied: a write that
// fails (ErrExists, ErrConflict, ErrNotFound) publishes nothing, and a write
// that returns ErrNotDurable was applied and publishes. Update and Touch
// publish nothing. Every record's life ends with exactly one event:
// EventRekeyed when Rekey moved it, EventDeleted when Delete or
// DeleteByOwner removed it live (one per record), and EventExpired when it
// is removed past a deadline, by the store's own expiry or by any write
// that meets it expired (a Delete, or a Create or Rekey reusing its key).
// Delete of a missing key publishes nothing.
type Notifier interface {
	// Subscribe calls fn for each event until ctx is done. It returns once
	// the subscription is established, so every write that begins after it
	// returned nil is seen, or an error if it cannot be established (then
	// fn is never called).
	//
	// fn is called from one goroutine at a time, and the events of one key
	// arrive in the order of its writes; events of different keys may be
	// reordered. A write never waits for fn: events wait in a buffer of
	// bounded size, and when fn falls behind so far that the buffer is
	// full, the backend drops events and later delivers an EventMissed
	// whose Missed counts them. When the connection to the store is lost
	// and re-established, the events of that gap are lost; the backend then
	// delivers an EventMissed with Missed 0 (not known). Delivery is at
	// most once.
	Subscribe(ctx context.Context, fn func(Event)) error
}

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event.
const (
	// EventCreated: Create stored a new record under Key.
	EventCreated EventKind = iota + 1
	// EventRekeyed: Rekey moved the record from OldKey to Key.
	EventRekeyed
	// EventDeleted: Delete or DeleteByOwner deleted the live record under
	// Key.
	EventDeleted
	// EventExpired: the record under Key passed a deadline and the store
	// removed it. A backend reports it when it removes the record, which
	// may be some time after the deadline (its cleanup interval), and
	// Owner may be empty where the store no longer has it (Redis).
	EventExpired
	// EventMissed: events were lost before this one, Missed of them (0:
	// not known). Key, OldKey and Owner are empty.
	EventMissed
)

// String returns the kind's name, such as "created".
func (k EventKind) String() string {
	switch k {
	case EventCreated:
		return "created"
	case EventRekeyed:
		return "rekeyed"
	case EventDeleted:
		return "deleted"
	case EventExpired:
		return "expired"
	case EventMissed:
		return "missed"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one change to the stored records, as a Notifier reports it.
// It holds storage keys (hashes of session IDs), never an ID.
type Event struct {
	Kind   EventKind
	Key    string // the record's key; for EventRekeyed the new key
	OldKey string // EventRekeyed: the key the record moved from
	Owner  string // the record's Owner when the event happened, if known
	// At is when the backend applied the write or saw the expiry, by the
	// clock of the instance that did.
	At time.Time
	// Missed is, for EventMissed, how many events were lost (0: not
	// known).
	Missed int
}
