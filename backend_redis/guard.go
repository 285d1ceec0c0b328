package redisbackend

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// guard remembers the session keys this Backend wrote or deleted recently,
// and what it left there, so that Load never serves this instance an older
// cached copy than its own last write.
//
// rueidis does not give read-your-writes through its cache: the reply to a
// write can arrive on one connection before the invalidation push for the
// cached copy arrives on another, and a DoCache right after the write then
// returns the old value (rueidis issue #534: 242 to 366 of 2000 tries with
// rueidis v1.0.79 and Redis 7.0.15 here, DESIGN.md). For a guarded key Load
// still asks the cache, but trusts a cache
// hit only if it is what this Backend wrote or newer: the same incarnation
// (created-at) and a later version, or the same version and the same idle
// deadline (Touch moves the idle deadline either way); nothing at all after
// a delete. Otherwise it reads with a plain GET, which always sees the
// write. A cache miss is fetched after the write completed, so it is
// fresh. Once the invalidation has arrived the cache holds the new value
// again and Load is served locally, so the window can be generous: it only
// has to outlast the invalidation push.
//
// A trusted cache hit with no write in flight settles the key: the cache
// holds this Backend's write or a newer one, so the invalidation has
// arrived, and the key leaves the guard. rueidis keeps one cache per connection and sends a
// key's cached reads always down the same connection, whose replies come
// in order, so no reply read before the write can refill the cache after
// that; a new connection starts with an empty cache.
//
// The map is sharded by the hash; a shard sweeps its expired entries when
// it has doubled since its last sweep or a window has passed, so it holds
// about as many entries as keys written within one window and not read
// since. In front of the map sits a filter: the hashes fall into
// guardSlots slots, and each slot counts the entries of its keys and holds
// the latest end of their windows. A Load of a key whose slot has no live
// entry, which is most Loads, costs two atomic loads and takes no lock.
type guard struct {
	window time.Duration
	slots  [guardSlots]guardSlot
	shards [guardShards]guardShard
}

// A guardSlot summarises the entries of the keys that fall into it.
type guardSlot struct {
	n     atomic.Int64 // entries in the map
	until atomic.Int64 // mono nanoseconds: no entry is live past it
}

const (
	guardShards = 64
	guardSlots  = 1 << 12 // two base64 characters of a hash
)

// A guardState is what this Backend last did to a key.
type guardState struct {
	until   int64 // mono nanoseconds
	kind    guardKind
	version uint64 // written: the version stored
	created int64  // written: created-at, micros
	idle    int64  // written: idle deadline, micros
	// inflight counts writes begun and not ended: while one is in flight
	// no cache hit is trusted (it may have been applied already).
	// overlapped says that two were in flight at once, so their replies may
	// end in another order than Redis applied them, and no outcome can be
	// trusted until the window passes.
	inflight   int32
	overlapped bool
}

type guardKind uint8

const (
	// guardPending: a write is in flight or ended without a known result;
	// no cache hit is trusted.
	guardPending guardKind = iota
	// guardDeleted: the key was deleted; a cached record is not trusted.
	guardDeleted
	// guardWritten: version, created and idle were stored.
	guardWritten
	// guardRefused: the write was refused and wrote nothing (a conflict, a
	// missing record, a taken key). As the outcome of end it keeps what the
	// key's state was; an entry with no other outcome is dropped.
	guardRefused
)

type guardShard struct {
	mu        sync.RWMutex
	m         map[string]guardState // session hash → state
	sweepLen  int                   // sweep when len(m) exceeds this
	sweepTime int64                 // or when mono passes this
	_         [24]byte              // keep shards on separate cache lines
}

// epoch anchors mono.
var epoch = time.Now()

// mono returns now as monotonic nanoseconds since process start, immune to
// wall clock jumps; now must come from time.Now (it carries a monotonic
// reading).
func mono(now time.Time) int64 { return int64(now.Sub(epoch)) }

// shardOf mixes two characters of h: hashed keys all start with '~'.
func shardOf(h string) int { return (int(h[1])*31 + int(h[len(h)-1])) % guardShards }

// slotOf is the filter slot of h: the values of its second and third
// characters, which are base64url in both kinds of hash (see sessionHash).
func slotOf(h string) int {
	return (int(base64Value[h[1]])<<6 | int(base64Value[h[2]])) & (guardSlots - 1)
}

// get returns the state of h if it is live at mono time now.
func (g *guard) get(h string, now int64) (guardState, bool) {
	if sl := &g.slots[slotOf(h)]; sl.n.Load() == 0 || now >= sl.until.Load() {
		return guardState{}, false
	}
	s := &g.shards[shardOf(h)]
	s.mu.RLock()
	st, ok := s.m[h]
	s.mu.RUnlock()
	if !ok || now >= st.until {
		return guardState{}, false
	}
	return st, true
}

// trusts reports whether a cache hit may be served: gone is a cached nil,
// rec a cached record (valid when ok).
func (st guardState) trusts(gone bool, rec backend.Record, ok bool) bool {
	if st.inflight > 0 {
		return false
	}
	switch st.kind {
	case guardRefused:
		return true
	case guardDeleted:
		return gone
	case guardWritten:
		return ok && !gone && micros(rec.CreatedAt) == st.created &&
			(rec.Version > st.version || rec.Version == st.version && micros(rec.IdleDeadline) == st.idle)
	}
	return false
}

// settle forgets h after Load trusted a cache hit in state st (see
// guard), unless a write began or ended since.
func (g *guard) settle(h string, st guardState) {
	s := &g.shards[shardOf(h)]
	s.mu.Lock()
	if cur, ok := s.m[h]; ok && cur == st {
		delete(s.m, h)
		g.slots[slotOf(h)].n.Add(-1)
	}
	s.mu.Unlock()
}

// A guardToken is one write's hold on the guard entry of its session:
// taken by guard.token before the write is sent, and given back exactly
// once by done, which the writer defers. The writer records the outcome
// where it learns it (wrote, deleted, refused); a write that records none,
// a transport error for one, leaves the key pending for a window, since
// it may have been applied. The zero token (cache off) does nothing.
type guardToken struct {
	g   *guard
	h   string
	out guardState
}

// token begins a write to h.
func (g *guard) token(h string) guardToken {
	g.begin(h)
	return guardToken{g: g, h: h, out: guardState{kind: guardPending}}
}

// wrote records that the write stored version, created and idle.
func (t *guardToken) wrote(version uint64, created, idle int64) {
	t.out = guardState{kind: guardWritten, version: version, created: created, idle: idle}
}

// deleted records that the key is gone.
func (t *guardToken) deleted() { t.out = guardState{kind: guardDeleted} }

// refused records that the write wrote nothing.
func (t *guardToken) refused() { t.out = guardState{kind: guardRefused} }

// done ends the write with the recorded outcome.
func (t *guardToken) done() {
	if t.g != nil {
		t.g.end(t.h, t.out)
		t.g = nil
	}
}

// begin records that a write to h is about to be sent: until it ends no
// cache hit is trusted (a write whose reply is lost may still have been
// applied). Writers use token, which pairs it with end.
func (g *guard) begin(h string) {
	g.update(h, func(st guardState, existed bool) (guardState, bool) {
		if !existed {
			st.kind = guardRefused // no outcome of ours yet
		} else if st.inflight > 0 {
			st.overlapped = true
		}
		st.inflight++
		return st, false
	})
}

// end records the outcome out of a write to h: guardWritten with its
// version, created and idle, guardDeleted, guardRefused (nothing written)
// or guardPending (unknown). If another write to h was in flight at the
// same time, the outcome of the one that ended last need not be the one
// Redis applied last, so h stays pending for a window.
func (g *guard) end(h string, out guardState) {
	g.update(h, func(st guardState, existed bool) (guardState, bool) {
		if !existed { // swept while the write was in flight
			st.kind = guardPending
			return st, out.kind == guardRefused
		}
		if st.inflight > 0 {
			st.inflight--
		}
		switch {
		case out.kind == guardRefused:
		case st.overlapped:
			st.kind = guardPending
		default:
			st.kind, st.version, st.created, st.idle = out.kind, out.version, out.created, out.idle
		}
		if st.inflight == 0 {
			st.overlapped = false
		}
		// Nothing of ours to guard against: forget the key.
		return st, st.inflight == 0 && st.kind == guardRefused
	})
}

// update changes the state of h under its shard's lock and keeps it for
// one window from now, or drops it if change says so. Writers call it
// before a write is sent and after its reply, so the window counts from
// the later instant.
func (g *guard) update(h string, change func(st guardState, existed bool) (_ guardState, drop bool)) {
	now := mono(time.Now())
	until := now + int64(g.window)
	// The slot first: get must not skip the map while this entry is live.
	sl := &g.slots[slotOf(h)]
	for last := sl.until.Load(); until > last && !sl.until.CompareAndSwap(last, until); last = sl.until.Load() {
	}
	s := &g.shards[shardOf(h)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]guardState)
	}
	st, existed := s.m[h]
	st, drop := change(st, existed)
	switch {
	case drop && existed:
		delete(s.m, h)
		sl.n.Add(-1)
	case drop:
	case !existed:
		sl.n.Add(1)
		fallthrough
	default:
		st.until = until
		s.m[h] = st
	}
	if len(s.m) > s.sweepLen || now > s.sweepTime {
		for k, e := range s.m {
			if e.until <= now {
				delete(s.m, k)
				g.slots[slotOf(k)].n.Add(-1)
			}
		}
		s.sweepLen = max(64, 2*len(s.m))
		s.sweepTime = now + int64(g.window)
	}
	s.mu.Unlock()
}
