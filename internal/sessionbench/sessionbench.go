// Package sessionbench holds the Manager benchmarks that every backend's
// tests run, so that their numbers compare: the same typed session, the
// same mix of sessions, the same measurement.
package sessionbench

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// Profile is a realistic session: ten fields, about 250 bytes in msgpack.
type Profile struct {
	UserID    uint64
	Name      string
	Email     string
	Roles     []string
	CSRF      string
	LoginAt   time.Time
	Cart      map[string]int
	Theme     string
	Verified  bool
	LastPages []string
}

// ClonedProfile is Profile with a Clone method, so that a Manager keeps it
// decoded (session.Cloner, session.WithDecodeCache).
type ClonedProfile Profile

// Clone returns a deep copy of p: strings are immutable and shared, slices
// and maps are copied.
func (p ClonedProfile) Clone() ClonedProfile {
	p.Roles = slices.Clone(p.Roles)
	p.Cart = maps.Clone(p.Cart)
	p.LastPages = slices.Clone(p.LastPages)
	return p
}

// NewProfile returns the Profile the benchmarks store.
func NewProfile() Profile {
	return Profile{
		UserID:    4242,
		Name:      "Ada Lovelace",
		Email:     "ada@example.com",
		Roles:     []string{"admin", "editor"},
		CSRF:      "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		LoginAt:   time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
		Cart:      map[string]int{"apple": 3, "pear": 1},
		Theme:     "dark",
		Verified:  true,
		LastPages: []string{"/", "/cart", "/checkout"},
	}
}

// Get measures Manager.Get of 1,024 live sessions picked at random: ID
// check, hashing, Load, decoding. No Get refreshes the idle deadline, so
// a caching backend serves every read from its cache after the first.
// Sub-benchmarks: Decode (a Profile, decoded on every Get: the decode
// cache is off), Copy (a Profile, decoded once and copied by reflection
// after) and Cloner (a ClonedProfile, decoded once and cloned after), each
// Serial and Parallel with context.Background, and RequestContext: Serial
// with a cancelable context without a deadline, as net/http hands a
// handler. newBackend returns a fresh backend for each.
func Get(b *testing.B, newBackend func(testing.TB) backend.Backend, opts ...session.Option) {
	b.Run("Decode", func(b *testing.B) {
		get(b, newBackend(b), NewProfile(), append(opts[:len(opts):len(opts)], session.WithDecodeCache(0)))
	})
	b.Run("Copy", func(b *testing.B) { get(b, newBackend(b), NewProfile(), opts) })
	b.Run("Cloner", func(b *testing.B) { get(b, newBackend(b), ClonedProfile(NewProfile()), opts) })
}

func get[T any](b *testing.B, be backend.Backend, data T, opts []session.Option) {
	m, err := session.NewManager[T](be, append([]session.Option{session.WithTouchInterval(15 * time.Minute)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, 1024)
	for i := range ids {
		s, err := m.Create(ctx, "user", data)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	get := func(b *testing.B, ctx context.Context, i uint64) {
		if _, err := m.Get(ctx, ids[i%uint64(len(ids))]); err != nil {
			b.Error(err)
		}
	}
	// One read of each first, so that caches are warm.
	for i := range ids {
		get(b, ctx, uint64(i))
	}
	serial := func(ctx context.Context) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				i = i*6364136223846793005 + 1442695040888963407
				get(b, ctx, i>>33)
			}
		}
	}
	b.Run("Serial", serial(ctx))
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.Run("RequestContext", serial(reqCtx))
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(1)
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				get(b, ctx, i>>33)
			}
		})
	})
}
