package memorybackend

import (
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// entry is a stored record with its expiry precomputed for the fast clock.
//
// Reading time.Now costs two clock reads (wall and monotonic); time.Since of
// a monotonic base costs one. When the store runs on time.Now and both
// deadlines of a record carry a monotonic reading (as deadlines computed
// from time.Now do), "now is at or past a deadline" is exactly "monotonic
// time since the base is at or past the earlier deadline's offset from the
// base", so the expiry check needs only the cheap read. Otherwise it falls
// back to backend.Record.Expired with the store's clock.
type entry struct {
	backend.Record

	// expiry is the earlier deadline as monotonic nanoseconds after
	// store.base; it is valid only if mono is set.
	expiry int64
	mono   bool
}

// setExpiry recomputes e's precomputed expiry after its deadlines changed.
func (s *store) setExpiry(e *entry) {
	e.mono = false
	if !s.mono || !hasMonotonic(e.IdleDeadline) || !hasMonotonic(e.AbsoluteDeadline) {
		return
	}
	e.expiry = int64(min(e.IdleDeadline.Sub(s.base), e.AbsoluteDeadline.Sub(s.base)))
	e.mono = true
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
	return e.Expired(s.now())
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
	return e.Expired(r.now)
}
