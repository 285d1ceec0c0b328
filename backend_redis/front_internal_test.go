package redisbackend

import (
	"fmt"
	"strings"
	"testing"
)

// TestFront: the near cache keeps a reply only if no invalidation of its
// shard ran since its Load noted the count, forgets what is invalidated,
// flushed or expired, stays within its bytes, and maps invalidated Redis
// keys back to the hashes it is keyed by.
func TestFront(t *testing.T) {
	b := &Backend{cfg: config{prefix: "p:"}}
	h := strings.Repeat("A", hashLen)
	rk := b.sessionKeyOf(h)
	e := frontEntry{val: "record", until: 1000}

	t.Run("InvalidatedInFlight", func(t *testing.T) {
		f := newFront(1 << 20)
		gen := f.gen(h)
		f.drop("p:", rk) // arrives while the reply is on its way
		f.put(h, gen, e)
		if _, ok := f.get(h, 0); ok {
			t.Fatal("a reply put after an invalidation of its shard since its count was read is served")
		}
		gen = f.gen(h)
		f.flush()
		f.put(h, gen, e)
		if _, ok := f.get(h, 0); ok {
			t.Fatal("a reply put after a flush since its count was read is served")
		}
		f.put(h, f.gen(h), e)
		if got, ok := f.get(h, 0); !ok || got != e {
			t.Fatalf("get = %v, %v; want the entry put", got, ok)
		}
	})
	t.Run("Forgets", func(t *testing.T) {
		f := newFront(1 << 20)
		f.put(h, f.gen(h), e)
		if _, ok := f.get(h, e.until); ok {
			t.Error("an entry is served at its expiry")
		}
		f.drop("p:", "q:s:{AAAAAAAA}"+h[tagLen:]) // not a key of this prefix
		if _, ok := f.get(h, 0); !ok {
			t.Error("the invalidation of a key of another prefix removed the entry")
		}
		f.drop("p:", rk)
		if _, ok := f.get(h, 0); ok {
			t.Error("an invalidated entry is served")
		}
		f.put(h, f.gen(h), e)
		f.flush()
		if _, ok := f.get(h, 0); ok {
			t.Error("an entry is served after a flush")
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		f := newFront(0) // the smallest: 64 KiB a shard
		val := strings.Repeat("v", 200)
		for i := range 100_000 {
			k := fmt.Sprintf("%0*d", hashLen, i)
			f.put(k, f.gen(k), frontEntry{val: val, until: 1000})
		}
		for i := range f.shards {
			s := &f.shards[i]
			n := 0
			for _, e := range s.m {
				n += frontEntryCost + len(e.val)
			}
			if n != s.bytes || n > f.limit {
				t.Fatalf("shard %d: %d bytes in its entries, %d counted, limit %d", i, n, s.bytes, f.limit)
			}
		}
	})
	t.Run("KeysToHashes", func(t *testing.T) {
		for _, key := range []string{h, "any other key"} {
			var kb keyBuf
			rk, want := b.sessionKey(&kb, key)
			if got, ok := hashOfKey("p:", rk); !ok || got != want {
				t.Errorf("hashOfKey(%q) = %q, %v; want %q", rk, got, ok, want)
			}
			if hb := [hashLen]byte{}; hashOf(&hb, key) != want {
				t.Errorf("hashOf(%q) = %q, want %q", key, hashOf(&hb, key), want)
			}
		}
		for _, rk := range []string{"p:o:{" + h + "}", "p:n:{AAAAAAAA}" + h[tagLen:], "p:s:{AAAAAAAA}", "x:s:{AAAAAAAA}" + h[tagLen:]} {
			if got, ok := hashOfKey("p:", rk); ok {
				t.Errorf("hashOfKey(%q) = %q, true; want no session key", rk, got)
			}
		}
	})
}
