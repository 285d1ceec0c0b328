//go:build unix

package otelsession_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/sessionbench"
	"github.com/sessionkit/sessionkit/otelsession"
	"github.com/sessionkit/sessionkit/session"
)

// BenchmarkCachedGet is Manager.Get of 1,024 hot sessions on Redis with
// client-side caching and the decode cache (sessionbench.ClonedProfile):
// no round trip and no decoding, the cheapest Get there is, so the one on
// which instrumentation weighs most. Sub-benchmarks, to compare in one
// run (go test -bench CachedGet -count 10 | benchstat -col /setup). Besides
// ns/op it reports cpu-ns/op, the process's CPU time per Get, which a
// busy machine distorts less, and the client-side cache hit ratio.
//
//   - setup=plain: neither wrapper nor observer (the same request
//     context as the others);
//   - setup=observed: WrapBackend and NewObserver on SDK providers (a
//     manual metric reader; a tracer that samples nothing), within the
//     span of a request that is not sampled: what most requests of a
//     traced service are;
//   - setup=traced: the same within a sampled request, so that every Get
//     records a span (to a processor that drops it).
func BenchmarkCachedGet(b *testing.B) {
	client := &cacheCounting{Client: newRedisClient(b)}
	for _, setup := range []string{"plain", "observed", "traced"} {
		b.Run("setup="+setup, func(b *testing.B) {
			rb, err := redisbackend.New(client, redisbackend.WithPrefix("b"+uniq()+":"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rb.Close() })
			var be backend.Backend = rb
			opts := []session.Option{session.WithTouchInterval(15 * time.Minute)}
			sampler := sdktrace.NeverSample()
			if setup == "traced" {
				sampler = sdktrace.AlwaysSample()
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(dropSpans{}))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			// Every setup reads with a request's context: cancelable, and
			// holding the request's span (from otelhttp, say), recording
			// only when traced. So the setups differ only in the wrapper
			// and the observer.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx, request := tp.Tracer("bench").Start(ctx, "request")
			defer request.End()
			if setup != "plain" {
				tel := []otelsession.Option{otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp)}
				be = otelsession.WrapBackend(rb, tel...)
				opts = append(opts, session.WithObserver(otelsession.NewObserver(tel...)))
			}
			benchGet(b, ctx, be, opts, client)
		})
	}
}

func benchGet(b *testing.B, ctx context.Context, be backend.Backend, opts []session.Option, client *cacheCounting) {
	m, err := session.NewManager[sessionbench.ClonedProfile](be, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		s, err := m.Create(ctx, "user", sessionbench.ClonedProfile(sessionbench.NewProfile()))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	// Warm both caches: a few reads of each, so that every session is
	// served from process memory.
	for range 3 {
		for _, id := range ids {
			if _, err := m.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	hits, misses := client.hits.Load(), client.misses.Load()
	cpu0 := cpuTime(b)
	var i uint64
	for b.Loop() {
		i = i*6364136223846793005 + 1442695040888963407
		if _, err := m.Get(ctx, ids[(i>>33)%uint64(len(ids))]); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime(b) - cpu0
	hits, misses = client.hits.Load()-hits, client.misses.Load()-misses
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(hits)/float64(max(hits+misses, 1)), "hit-ratio")
}

// cpuTime is the CPU time the process has used, user and system, all
// threads: on a machine shared with other work, wall time per operation
// includes waiting for a CPU, CPU time much less so.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dropSpans is a span processor that discards every span.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }
