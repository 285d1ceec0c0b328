package session

import (
	"bytes"
	"encoding/binary"
	"sync"
)

// Cloner is implemented by session data types that can copy themselves:
// Clone must return a value that shares no mutable memory (slices, maps,
// pointers) with the receiver. A Manager whose T implements Cloner, with a
// value or a pointer receiver, keeps recently decoded sessions and answers
// a Get whose stored payload is unchanged with a clone instead of decoding
// it again (see WithDecodeCache).
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

// decodeCache maps a storage key to the payload last decoded for it and
// the value it decoded to. A hit needs the stored payload to be the same
// bytes, so the cache can never serve anything the backend did not just
// return: freshness stays the backend's business. The key only says where
// to look: entries are found by the first 8 bytes of the storage key (48
// random bits), and two keys that share them only take each other's place.
type decodeCache[T any] struct {
	clone    func(*T) T // nil: the cache is off
	perShard int
	shards   [decodeShards]decodeShard[T]
}

const decodeShards = 32

type decodeShard[T any] struct {
	mu sync.RWMutex
	m  map[uint64]decoded[T]
}

type decoded[T any] struct {
	payload []byte // owned by the cache: backends return payloads the caller owns
	v       T      // never handed out; Get returns clones
}

func newDecodeCache[T any](entries int) *decodeCache[T] {
	c := &decodeCache[T]{clone: cloneFunc[T]()}
	if c.clone == nil || entries <= 0 {
		c.clone = nil
		return c
	}
	// Keys spread evenly but not exactly over the shards: a quarter more
	// room per shard lets about entries sessions fit.
	c.perShard = max(1, entries*5/4/decodeShards)
	return c
}

// slot returns where key is kept: its shard and the key within it.
func (c *decodeCache[T]) slot(key string) (*decodeShard[T], uint64) {
	var b [8]byte
	copy(b[:], key) // storage keys have 43 bytes
	k := binary.LittleEndian.Uint64(b[:])
	return &c.shards[(k>>8)%decodeShards], k
}

// on reports whether the cache is in use.
func (c *decodeCache[T]) on() bool { return c.clone != nil }

// get stores into v a clone of what payload decoded to under key, if the
// cache holds exactly that payload.
func (c *decodeCache[T]) get(key string, payload []byte, v *T) bool {
	if c.clone == nil {
		return false
	}
	s, k := c.slot(key)
	s.mu.RLock()
	d, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || !bytes.Equal(d.payload, payload) {
		return false
	}
	*v = c.clone(&d.v)
	return true
}

// put remembers that payload, which the cache may keep, decodes to v. It
// stores a clone, since the caller keeps v.
func (c *decodeCache[T]) put(key string, payload []byte, v *T) {
	if c.clone == nil {
		return
	}
	d := decoded[T]{payload: payload, v: c.clone(v)}
	s, k := c.slot(key)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]decoded[T], c.perShard)
	}
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		for k := range s.m { // evict one entry, arbitrary: maps iterate randomly
			delete(s.m, k)
			break
		}
	}
	s.m[k] = d
	s.mu.Unlock()
}

// forget drops key, so a destroyed session does not hold memory.
func (c *decodeCache[T]) forget(key string) {
	if c.clone == nil {
		return
	}
	s, k := c.slot(key)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}
