package redisbackend

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// Load returns the live record stored under key, or an error matching
// backend.ErrNotFound. With the cache on it is served from the client-side
// cache when warm (see the package documentation for how fresh that is);
// for a key this Backend wrote within the write guard window, a cached copy
// older than that write is ignored and Redis asked instead. It never
// returns a record at or past one of its deadlines.
func (b *Backend) Load(ctx context.Context, key string) (backend.Record, error) {
	return owned(b.load(ctx, "load", key, b.cfg.cache))
}

// LoadFresh is Load without the client-side cache: it reads from the
// primary, so it sees every write that completed before it began, on any
// instance. Use it for authorization-critical checks; it costs a round
// trip.
func (b *Backend) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	return owned(b.load(ctx, "load fresh", key, false))
}

// copied gives rec a Payload of its own.
func copied(rec backend.Record, err error) (backend.Record, error) {
	if err != nil {
		return backend.Record{}, err
	}
	rec.Payload = append([]byte{}, rec.Payload...)
	return rec, nil
}

// owned is copied for Load and LoadFresh, whose Payload is the caller's
// already where it aliases a reply nothing else holds.
func owned(rec backend.Record, own bool, err error) (backend.Record, error) {
	if own {
		return rec, err
	}
	return copied(rec, err)
}

// load is Load and LoadFresh. The returned Payload aliases the reply; own
// reports that nothing else holds that reply: it was read from Redis
// without the client-side cache, into bytes that rueidis allocated for it
// alone, so the caller may keep and change them.
func (b *Backend) load(ctx context.Context, op, key string, cached bool) (backend.Record, bool, error) {
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, false, err
	}
	if key == "" {
		return backend.Record{}, false, notFound(op)
	}
	now := time.Now() // one clock read serves a cache hit
	ctx, cancel := b.opCtxAt(ctx, now)
	defer cancel()
	var hb [hashLen]byte
	h := hashOf(&hb, key)
	rk := "" // built for the first command
	cached, st, guarded := b.readMode(h, now, cached)
	for {
		r, err := b.read(ctx, op, &rk, h, key, now, cached)
		if err != nil {
			return backend.Record{}, false, err
		}
		if !r.hit {
			now = time.Now() // after the round trip
			if !r.gone && r.bad == nil {
				b.remember(h)
			}
		}
		if r.hit && guarded {
			if !st.trusts(r.gone, r.rec, r.bad == nil) {
				// Possibly older than this Backend's own write: ask Redis.
				cached = false
				continue
			}
			b.guard.settle(h, st)
			guarded = false
		}
		switch {
		case r.bad != nil:
			return backend.Record{}, false, fmt.Errorf("redisbackend: %s: %w", op, r.bad)
		case r.gone:
			return backend.Record{}, false, notFound(op)
		case r.rec.Expired(now) && r.hit:
			// A Touch on another instance may have moved the deadline and
			// its invalidation not have arrived yet: ask Redis.
			cached = false
			continue
		case r.rec.Expired(now):
			return backend.Record{}, false, notFound(op)
		}
		return r.rec, !cached, nil
	}
}

// readMode says how load reads the session with hash h at now: through
// the cache only if it may be cached and is known (see known), and then
// whether the guard holds a write of this Backend to check hits against.
func (b *Backend) readMode(h string, now time.Time, cached bool) (bool, guardState, bool) {
	if !cached || !b.known.has(h) {
		return false, guardState{}, false
	}
	st, guarded := b.guard.get(h, mono(now))
	return true, st, guarded
}

// reading is one GET of a session key: a record, nothing (gone), or a
// value this package cannot read (bad); hit says it came from the cache.
type reading struct {
	rec  backend.Record
	gone bool
	hit  bool
	bad  error
}

// read GETs the session with hash h, stored under key, through the cache
// (front first, if the Backend has one) or not, at now; *rk is its Redis
// key, or "" until read builds it. The error is the client's, mapped.
func (b *Backend) read(ctx context.Context, op string, rk *string, h, key string, now time.Time, cached bool) (reading, error) {
	var res rueidis.RedisResult
	var gen uint64
	if cached && b.front != nil {
		if e, ok := b.front.get(h, mono(now)); ok {
			r := reading{hit: true, gone: e.gone}
			if !e.gone {
				r.rec, r.bad = viewRecord(e.val)
				r.rec.Key = key
			}
			return r, nil
		}
		gen = b.front.gen(h)
	}
	if *rk == "" {
		*rk = b.sessionKeyOf(h)
	}
	if cached {
		// ToStaticTTL: a miss refills with CLIENT CACHING YES and the GET,
		// not rueidis's MULTI, PTTL, GET, EXEC. The key's expiry adds
		// nothing Load needs: the record carries its deadlines, Redis's
		// PXAT lies before them (pxat), a hit past one is asked again
		// below, and Redis invalidates the cached copy when it expires
		// the key.
		res = b.client.DoCache(ctx, b.client.B().Get().Key(*rk).Cache().ToStaticTTL(), b.cfg.cacheTTL)
	} else {
		res = b.client.Do(ctx, b.client.B().Get().Key(*rk).Build())
	}
	s, err := res.ToString()
	r := reading{hit: cached && res.IsCacheHit()}
	if cached && b.front != nil {
		if e, ok := entryOf(res, mono(time.Now())); ok {
			b.front.put(h, gen, e)
		}
	}
	switch {
	case rueidis.IsRedisNil(err):
		r.gone = true
	case err != nil:
		return r, b.fail(ctx, op, err)
	default:
		r.rec, r.bad = viewRecord(s)
		r.rec.Key = key
	}
	return r, nil
}
