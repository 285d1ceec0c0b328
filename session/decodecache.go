package session

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/sessionkit/sessionkit/backend"
)

// Cloner is implemented by session data types that can copy themselves:
// Clone must return a value that shares no mutable memory (slices, maps,
// pointers) with the receiver. A Manager keeps recently decoded sessions
// and answers a Get whose stored payload is unchanged with a copy instead
// of decoding it again (see WithDecodeCache). If T implements Cloner, with
// a value or a pointer receiver, the copy is its Clone; otherwise, if T is
// plain data (structs, slices, maps, arrays and pointers of numbers,
// strings, booleans and time.Time, with exported fields where a copy must
// reach), the Manager copies it by reflection, which is slower than a
// hand-written Clone but much faster than decoding.
type Cloner[T any] interface {
	Clone() T
}

// cloneFunc returns how to clone a T, or nil if T cannot clone itself.
// The method set of *T holds Clone with either receiver, and boxing a
// pointer allocates nothing.
func cloneFunc[T any]() func(*T) T {
	if _, ok := any(new(T)).(Cloner[T]); !ok {
		return nil
	}
	return func(v *T) T { return any(v).(Cloner[T]).Clone() }
}

// decodeCache maps a storage key to the record this Manager last read or
// wrote under it and the value its payload decodes to. A Get's hit needs
// the stored payload to be the same bytes, so the cache can never serve a
// Get anything the backend did not just return: freshness stays the
// backend's business. Only Update starts from an entry unasked (last), and
// its compare-and-swap proves the entry current or makes it retry.
//
// It is a set-associative table read without locks: a key falls into one
// bucket of decodeWays slots, found by the first 8 bytes of the storage key
// (48 random bits). Keys that share those bytes only take each other's
// place, since a hit also needs the payload. Writers race only to the cost
// of a miss: a slot's key is a hint, and its entry carries its own.
type decodeCache[T any] struct {
	clone   func(*T) T // Clone, or a reflective copy; nil: the cache is off
	buckets []decodeBucket[T]
	shift   uint // hash >> shift is the bucket
}

const decodeWays = 4

// A decodeBucket fills one 64-byte cache line.
type decodeBucket[T any] struct {
	keys    [decodeWays]atomic.Uint64
	entries [decodeWays]atomic.Pointer[decoded[T]]
}

type decoded[T any] struct {
	key   uint64
	stamp stamp // of rec
	// rest is the storage key after its first 8 bytes (key), kept beside
	// key and stamp so that a lookup checks the whole key without reading
	// rec.Key's bytes, elsewhere in memory (see is).
	rest [storageKeyLen - 8]byte
	// rec is the record the value came from, as this Manager last read or
	// wrote it; its Payload is owned by the cache (backends return
	// payloads the caller owns, and take copies of those they are given).
	rec backend.Record
	v   T // never handed out; Get returns clones
	// written: v is the value this Manager encoded into rec.Payload, not
	// one decoded from it. Only Update starts from such an entry; a Get
	// decodes, so that it sees what a Get on another instance sees (a
	// codec need not round-trip every value exactly).
	written bool
}

func newDecodeCache[T any](entries int) *decodeCache[T] {
	c := &decodeCache[T]{clone: cloneFunc[T]()}
	if c.clone == nil {
		c.clone = copyFunc[T]()
	}
	if c.clone == nil || entries <= 0 {
		c.clone = nil
		return c
	}
	// A power of two of buckets, at least entries/decodeWays of them: keys
	// spread unevenly, and a full bucket evicts.
	n := uint(bits.Len(uint((entries - 1) / decodeWays)))
	c.buckets = make([]decodeBucket[T], 1<<n)
	c.shift = 64 - n
	return c
}

// bucket returns where key is kept and the key as the cache knows it.
func (c *decodeCache[T]) bucket(key string) (*decodeBucket[T], uint64) {
	var b [8]byte
	copy(b[:], key) // storage keys have 43 bytes
	k := binary.LittleEndian.Uint64(b[:])
	if c.shift == 64 {
		return &c.buckets[0], k
	}
	return &c.buckets[(k*0x9e3779b97f4a7c15)>>c.shift], k
}

// is reports whether d is the entry of key, whose bucket key is k.
func (d *decoded[T]) is(k uint64, key string) bool {
	if d.key != k {
		return false
	}
	if len(key) == storageKeyLen && len(d.rec.Key) == storageKeyLen {
		return string(d.rest[:]) == key[8:]
	}
	return d.rec.Key == key
}

// on reports whether the cache is in use.
func (c *decodeCache[T]) on() bool { return c.clone != nil }

// A stamp names one stored version of a session: the backend contract
// gives every write a new version and every re-creation of a key a new
// record (a CreatedAt of its own), so a record with the same stamp under
// the same key holds the same payload.
type stamp struct {
	version uint64
	created int64 // unix nanoseconds
}

// stampOf is the stamp of rec.
func stampOf(rec backend.Record) stamp {
	return stamp{version: rec.Version, created: rec.CreatedAt.UnixNano()}
}

// get stores into v a clone of what payload decoded to under key, if the
// cache holds that payload: the same record (key and stamp, checked without
// reading the payload), or the same bytes.
func (c *decodeCache[T]) get(key string, st stamp, payload []byte, v *T) bool {
	if c.clone == nil {
		return false
	}
	b, k := c.bucket(key)
	for i := range decodeWays {
		if b.keys[i].Load() != k {
			continue
		}
		// Equal payloads decode to equal values.
		d := b.entries[i].Load()
		if d == nil || d.key != k || d.written {
			continue
		}
		if d.stamp == st && len(d.rec.Payload) == len(payload) && d.is(k, key) || bytes.Equal(d.rec.Payload, payload) {
			*v = c.clone(&d.v)
			return true
		}
	}
	return false
}

// last stores into v a clone of the value of the record this Manager last
// read or wrote under key (as decoded, or as it was encoded), and returns
// that record (its Payload shared with the cache: read-only), if the
// cache holds it. It may be stale: another instance may have written
// since. Update starts from it, and its compare-and-swap tells.
func (c *decodeCache[T]) last(key string, v *T) (backend.Record, bool) {
	if c.clone == nil {
		return backend.Record{}, false
	}
	b, k := c.bucket(key)
	for i := range decodeWays {
		if b.keys[i].Load() != k {
			continue
		}
		if d := b.entries[i].Load(); d != nil && d.is(k, key) {
			*v = c.clone(&d.v)
			return d.rec, true
		}
	}
	return backend.Record{}, false
}

// put remembers that rec, whose Payload the cache may keep, goes with v:
// decoded from it, or (written) the value this Manager encoded into it. It
// stores a clone, since the caller keeps v. It takes the key's own slot,
// else an empty one, else a random one.
func (c *decodeCache[T]) put(rec backend.Record, v *T, written bool) {
	if c.clone == nil {
		return
	}
	d := &decoded[T]{stamp: stampOf(rec), rec: rec, v: c.clone(v), written: written}
	key := rec.Key
	b, k := c.bucket(key)
	d.key = k
	if len(key) == storageKeyLen {
		copy(d.rest[:], key[8:])
	}
	way := -1
	for i := range decodeWays {
		if b.keys[i].Load() == k {
			way = i
			break
		}
		if way < 0 && b.entries[i].Load() == nil {
			way = i
		}
	}
	if way < 0 {
		way = rand.IntN(decodeWays)
	}
	b.entries[way].Store(d)
	b.keys[way].Store(k)
}

// forget drops key, so a destroyed session does not hold memory.
func (c *decodeCache[T]) forget(key string) {
	if c.clone == nil {
		return
	}
	b, k := c.bucket(key)
	for i := range decodeWays {
		if b.keys[i].Load() == k {
			b.entries[i].Store(nil)
		}
	}
}

// forgetOwner drops the entries of owner's sessions, after "log out
// everywhere": one pass over the table.
func (c *decodeCache[T]) forgetOwner(owner string) {
	for i := range c.buckets {
		b := &c.buckets[i]
		for w := range decodeWays {
			if d := b.entries[w].Load(); d != nil && d.rec.Owner == owner {
				b.entries[w].CompareAndSwap(d, nil)
			}
		}
	}
}
