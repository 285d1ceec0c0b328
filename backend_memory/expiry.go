package memorybackend

import (
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// entry is a stored record, laid out to be small: 112 bytes where the
// backend.Record it holds and the expiry took 160 (with its key, which the shard's
// map holds already). The payload is a string, since a stored payload is
// never written after it is stored; each time is a stamp of 16 bytes; and
// the expiry is precomputed for the fast clock.
//
// Reading time.Now costs two clock reads (wall and monotonic); time.Since of
// a monotonic base costs one. When the store runs on time.Now and both
// deadlines of a record carry a monotonic reading (as deadlines computed
// from time.Now do), "now is at or past a deadline" is exactly "monotonic
// time since the base is at or past the earlier deadline's offset from the
// base", so the expiry check needs only the cheap read. Otherwise it
// compares the deadlines with the store's clock, as backend.Record.Expired
// does.
type entry struct {
	Version uint64
	Owner   string
	payload string
	created stamp
	idle    stamp
	abs     stamp

	// expiry is the earlier deadline as monotonic nanoseconds after
	// store.base; it is valid only if mono is set. absOffset is the
	// absolute deadline's, valid if absMono is set, for Touch.
	expiry    int64
	absOffset int64
	mono      bool
	absMono   bool
	// nilPayload tells a nil Payload from an empty one.
	nilPayload bool
}

// stamp is a time.Time in 16 bytes: its wall clock to the nanosecond and
// whether it was in UTC. It drops the monotonic reading and any location
// but UTC and Local; the instant is kept exactly, so Equal holds.
type stamp struct {
	sec  int64
	nsec int32
	utc  bool
}

func toStamp(t time.Time) stamp {
	return stamp{sec: t.Unix(), nsec: int32(t.Nanosecond()), utc: t.Location() == time.UTC}
}

func (s stamp) time() time.Time {
	t := time.Unix(s.sec, int64(s.nsec))
	if s.utc {
		t = t.UTC()
	}
	return t
}

// set stores rec's owner, payload (a private copy) and times in e.
func (e *entry) set(rec backend.Record) {
	e.Owner = rec.Owner
	e.payload, e.nilPayload = string(rec.Payload), rec.Payload == nil
	e.created = toStamp(rec.CreatedAt)
	e.idle, e.abs = toStamp(rec.IdleDeadline), toStamp(rec.AbsoluteDeadline)
}

// record returns e as the record under key, with a Payload of its own.
func (e *entry) record(key string) backend.Record {
	r := backend.Record{
		Key:              key,
		Owner:            e.Owner,
		Version:          e.Version,
		CreatedAt:        e.created.time(),
		IdleDeadline:     e.idle.time(),
		AbsoluteDeadline: e.abs.time(),
	}
	if !e.nilPayload {
		r.Payload = []byte(e.payload)
	}
	return r
}

// expiredAtTime reports whether e is at or past one of its deadlines at
// now, as backend.Record.Expired would.
func (e *entry) expiredAtTime(now time.Time) bool {
	return !now.Before(e.idle.time()) || !now.Before(e.abs.time())
}

// setExpiry recomputes e's precomputed expiry from its deadlines as given
// (with their monotonic readings, which e's stamps do not keep).
func (s *store) setExpiry(e *entry, idle, abs time.Time) {
	e.absMono = s.mono && hasMonotonic(abs)
	if e.absMono {
		e.absOffset = int64(abs.Sub(s.base))
	}
	s.setIdleExpiry(e, idle)
}

// setIdleExpiry recomputes e's precomputed expiry after its idle deadline
// changed to idle (Touch).
func (s *store) setIdleExpiry(e *entry, idle time.Time) {
	e.mono = e.absMono && hasMonotonic(idle)
	if e.mono {
		e.expiry = min(int64(idle.Sub(s.base)), e.absOffset)
	}
}

// hasMonotonic reports whether t carries a monotonic clock reading:
// Round(0) strips it and changes nothing else.
func hasMonotonic(t time.Time) bool {
	return t != t.Round(0)
}

// expired reports whether e is at or past one of its deadlines now.
func (s *store) expired(e *entry) bool {
	if e.mono {
		return int64(time.Since(s.base)) >= e.expiry
	}
	return e.expiredAtTime(s.now())
}

// reading is one reading of the store's clock, for checking many entries.
type reading struct {
	now     time.Time
	elapsed int64 // monotonic nanoseconds since store.base, if store.mono
}

// read reads the store's clock.
func (s *store) read() reading {
	r := reading{now: s.now()}
	if s.mono {
		r.elapsed = int64(r.now.Sub(s.base))
	}
	return r
}

// expiredAt reports whether e is at or past one of its deadlines at r.
func expiredAt(e *entry, r reading) bool {
	if e.mono {
		return r.elapsed >= e.expiry
	}
	return e.expiredAtTime(r.now)
}
