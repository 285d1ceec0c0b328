package redisbackend_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/rueidis"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// BenchmarkStandalone runs the shared backend benchmark against one
// standalone server with the client-side cache on and off, and
// Manager.Get (load and decode) on top of both.
func BenchmarkStandalone(b *testing.B) {
	srv := redistest.Standalone(b)
	client := standaloneClient(b, srv.Addr)
	for _, c := range []struct {
		name string
		opts []redisbackend.Option
	}{
		{"CacheOn", nil},
		{"CacheOff", []redisbackend.Option{redisbackend.WithCache(false)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			conformance.Benchmark(b, factory(client, c.opts...))
			b.Run("ManagerGet", func(b *testing.B) { benchManagerGet(b, client, c.opts...) })
		})
	}
}

type benchSession struct {
	UserID string
	Roles  []string
	CSRF   string
	Cart   []int
}

// benchManagerGet measures Manager.Get of 1,024 sessions picked at random:
// token check, hashing, Load, msgpack decoding.
func benchManagerGet(b *testing.B, client rueidis.Client, opts ...redisbackend.Option) {
	m, err := session.NewManager[benchSession](newBackend(b, client, opts...))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, 1024)
	for i := range ids {
		s, err := m.Create(ctx, "user", benchSession{UserID: "u-1234", Roles: []string{"admin", "dev"}, CSRF: "0123456789abcdef0123456789abcdef", Cart: []int{1, 2, 3, 4}})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	get := func(i uint64) {
		if _, err := m.Get(ctx, ids[i%uint64(len(ids))]); err != nil {
			b.Error(err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			i = i*6364136223846793005 + 1442695040888963407
			get(i >> 33)
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(1) // a different sequence per goroutine
			for pb.Next() {
				i = i*6364136223846793005 + 1442695040888963407
				get(i >> 33)
			}
		})
	})
}
