package redisbackend

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// front is a near cache in front of rueidis's client-side cache, for a
// Backend whose client NewFromOption made: it holds the last GET reply that
// DoCache gave Load for each session hash, so that a warm Load costs one
// map lookup instead of building a command and two lookups in rueidis's
// LRU. It caches nothing of its own: an entry is a reply rueidis served
// from, or put into, its cache, and it leaves front whenever it could have
// left rueidis's cache while still valid there:
//
//   - onInvalidations is the client's OnInvalidations, which rueidis
//     calls right after it deleted the same keys from its cache: the keys
//     leave front too, and a nil list (a connection closed, FLUSHALL)
//     empties it.
//   - An entry expires when rueidis's copy does (its CachePTTL).
//   - A reply that arrives while an invalidation or flush of its shard
//     runs is not kept: each shard counts its invalidations, Load notes the
//     count before its DoCache and put keeps the reply only if the count
//     is unchanged. An invalidation that arrives after the reply, and
//     rueidis delivers it after the reply, finds the entry and deletes it.
//
// An entry that rueidis's LRU evicted stays valid: Redis still tracks the
// key for the connection and still sends its invalidation. So Load
// through front sees exactly what it would see through DoCache, and the
// write guard (guard.go) checks a front hit as it checks a cache hit.
//
// Entries hold the reply strings rueidis holds (no copy); front is bounded
// by their bytes, like rueidis's cache, and a full shard forgets entries
// at random.
type front struct {
	shards [frontShards]frontShard
	limit  int // bytes per shard
}

type frontShard struct {
	mu    sync.RWMutex
	m     map[string]frontEntry // session hash → reply
	bytes int
	gen   atomic.Uint64 // invalidations and flushes of this shard
	_     [32]byte      // keep shards on separate cache lines
}

// A frontEntry is one GET reply: the record, or gone for a nil reply.
type frontEntry struct {
	val   string
	gone  bool
	until int64 // mono nanoseconds: rueidis's copy expires
}

const (
	frontShards = 64
	// frontEntryCost is the bytes counted for an entry besides its value:
	// the hash, the map slot.
	frontEntryCost = 96
)

// newFront returns a front of about size bytes.
func newFront(size int) *front {
	f := &front{limit: max(size/frontShards, 64<<10)}
	for i := range f.shards {
		f.shards[i].m = make(map[string]frontEntry)
	}
	return f
}

func (f *front) shard(h string) *frontShard {
	return &f.shards[shardOf(h)]
}

// get returns the entry of h if it is live at mono time now.
func (f *front) get(h string, now int64) (frontEntry, bool) {
	s := f.shard(h)
	s.mu.RLock()
	e, ok := s.m[h]
	s.mu.RUnlock()
	return e, ok && now < e.until
}

// gen is the count put checks for h.
func (f *front) gen(h string) uint64 { return f.shard(h).gen.Load() }

// entryOf is the frontEntry of the DoCache reply res (a string or nil)
// at mono time now, and false for a reply front does not keep: an error,
// or one without a cache lifetime.
func entryOf(res rueidis.RedisResult, now int64) (frontEntry, bool) {
	pttl := res.CachePTTL()
	if pttl <= 0 {
		return frontEntry{}, false
	}
	e := frontEntry{until: now + pttl*int64(time.Millisecond)}
	v, err := res.ToString()
	switch {
	case err == nil:
		e.val = v
	case rueidis.IsRedisNil(err):
		e.gone = true
	default:
		return frontEntry{}, false
	}
	return e, true
}

// put keeps e for h, unless an invalidation of h's shard ran since gen
// was read.
func (f *front) put(h string, gen uint64, e frontEntry) {
	s := f.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen {
		return
	}
	if old, ok := s.m[h]; ok {
		delete(s.m, h)
		s.bytes -= frontEntryCost + len(old.val)
	}
	for k, old := range s.m {
		if s.bytes+frontEntryCost+len(e.val) <= f.limit {
			break
		}
		delete(s.m, k) // map order: a random victim
		s.bytes -= frontEntryCost + len(old.val)
	}
	s.m[h] = e
	s.bytes += frontEntryCost + len(e.val)
}

// onInvalidations is the client's OnInvalidations for a Backend with
// prefix: the Redis keys that left rueidis's cache, or nil for all of
// them.
func (f *front) onInvalidations(prefix string) func([]rueidis.RedisMessage) {
	return func(keys []rueidis.RedisMessage) {
		if keys == nil {
			f.flush()
			return
		}
		for _, k := range keys {
			if rk, err := k.ToString(); err == nil {
				f.drop(prefix, rk)
			}
		}
	}
}

// flush empties front.
func (f *front) flush() {
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		s.gen.Add(1)
		clear(s.m)
		s.bytes = 0
		s.mu.Unlock()
	}
}

// drop removes the Redis key rk from front, if it is a session key of the
// Backend with prefix (only those are in front).
func (f *front) drop(prefix, rk string) {
	h, ok := hashOfKey(prefix, rk)
	if !ok {
		return
	}
	s := f.shard(h)
	s.mu.Lock()
	s.gen.Add(1)
	if old, ok := s.m[h]; ok {
		delete(s.m, h)
		s.bytes -= frontEntryCost + len(old.val)
	}
	s.mu.Unlock()
}

// hashOfKey is the session hash h of a session key rk of the Backend with
// prefix (sessionKey's inverse), and whether rk is one.
func hashOfKey(prefix, rk string) (string, bool) {
	rest, ok := strings.CutPrefix(rk, prefix)
	if !ok {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest, "s:{")
	if !ok || len(rest) != hashLen+1 || rest[tagLen] != '}' {
		return "", false
	}
	return rest[:tagLen] + rest[tagLen+1:], true
}
