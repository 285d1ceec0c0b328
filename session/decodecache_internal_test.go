package session

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// TestDecodeCacheKeyIdentity: keys that share the 8 bytes a bucket is
// found by, and records with the same stamp and payload length, are still
// told apart by the rest of the key, for storage keys (checked beside the
// stamp) and for keys of any other length alike.
func TestDecodeCacheKeyIdentity(t *testing.T) {
	type value struct{ N int }
	created := time.Unix(1700000000, 0)
	for _, tc := range []struct{ name, a, b string }{
		{"StorageKeys", storageKey("a"), ""},
		{"OtherLength", "prefix00-a", "prefix00-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.a, tc.b
			if b == "" {
				b = a[:8] + strings.Repeat("x", storageKeyLen-8)
			}
			c := newDecodeCache[value](64)
			rec := backend.Record{Key: a, Version: 3, CreatedAt: created, Payload: []byte("pa")}
			c.put(rec, &value{N: 1}, false)
			st := stampOf(rec)
			var v value
			if !c.get(a, st, []byte("pa"), &v) || v.N != 1 {
				t.Fatalf("get(%q) = %v, %+v; want a hit with 1", a, false, v)
			}
			if c.get(b, st, []byte("pb"), &v) {
				t.Fatalf("get(%q) hit the entry of %q", b, a)
			}
			if _, ok := c.last(b, &v); ok {
				t.Fatalf("last(%q) returned the entry of %q", b, a)
			}
			if _, ok := c.last(a, &v); !ok || v.N != 1 {
				t.Fatalf("last(%q) = %v, %+v; want 1", a, ok, v)
			}
		})
	}
}
