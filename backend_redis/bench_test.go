package redisbackend_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/internal/sessionbench"
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
			b.Run("ManagerGet", func(b *testing.B) {
				sessionbench.Get(b, func(tb testing.TB) backend.Backend { return newBackend(tb, client, c.opts...) })
			})
		})
	}
	// NewFromURL's Backend: the client-side cache with the near cache in
	// front of it.
	b.Run("CacheOnURL", func(b *testing.B) {
		f := urlFactory(srv.Addr)
		conformance.Benchmark(b, f)
		b.Run("ManagerGet", func(b *testing.B) { sessionbench.Get(b, f) })
	})
}
