package redisbackend

import (
	"encoding/binary"
	"sync/atomic"
)

// known is a fixed-size table of the sessions this Backend has seen
// stored: read from Redis and found, or written. Load reads a session
// through the client-side cache only if it is known; any other key is
// read with a plain GET, which Redis does not track and rueidis does not
// cache. So requests with random, well-formed IDs (anonymous traffic with
// made-up cookies) grow neither Redis's tracking table nor the client
// cache, and cannot evict real sessions from either; a real session costs
// one plain GET on each instance before its reads are served locally.
//
// The table holds 8 bytes of each session hash in knownBuckets buckets of
// knownWays slots (1 MiB); a full bucket forgets a random older entry,
// which costs that session one more plain GET. Two hashes that share those
// 8 bytes (48 random bits for the Manager's keys) count as one.
type known struct {
	buckets [knownBuckets][knownWays]atomic.Uint64
	next    atomic.Uint32 // round-robin victim
}

const (
	knownBuckets = 1 << 15
	knownWays    = 4
)

// knownKey is h's entry: 8 of its bytes, never 0 (0 marks a free slot).
func knownKey(h string) uint64 {
	var b [8]byte
	copy(b[:], h[len(h)-8:]) // hashed keys start with '~': use the end
	return binary.LittleEndian.Uint64(b[:]) | 1
}

func (k *known) bucket(v uint64) *[knownWays]atomic.Uint64 {
	return &k.buckets[(v*0x9e3779b97f4a7c15)>>(64-15)]
}

// has reports whether h has been seen stored.
func (k *known) has(h string) bool {
	v := knownKey(h)
	b := k.bucket(v)
	for i := range b {
		if b[i].Load() == v {
			return true
		}
	}
	return false
}

// add records that h is stored.
func (k *known) add(h string) {
	v := knownKey(h)
	b := k.bucket(v)
	for i := range b {
		switch b[i].Load() {
		case v:
			return
		case 0:
			if b[i].CompareAndSwap(0, v) {
				return
			}
		}
	}
	b[k.next.Add(1)%knownWays].Store(v)
}

// remember records that the session with hash h is stored, if this
// Backend reads through the cache at all: without it known is never
// asked, and an add costs a read of a random line of the table.
func (b *Backend) remember(h string) {
	if b.cfg.cache {
		b.known.add(h)
	}
}
