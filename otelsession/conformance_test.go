package otelsession_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/rueidis"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/otelsession"
)

// sdkOptions returns options with SDK providers, so that the conformance
// runs exercise recording spans and real aggregation, not no-ops.
func sdkOptions(tb testing.TB) []otelsession.Option {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return []otelsession.Option{otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp)}
}

// TestConformanceMemory: the wrapped memory backend keeps the contract,
// with its OwnerIndex, Rekeyer and Notifier (a janitor that sweeps often,
// for the expiry events).
func TestConformanceMemory(t *testing.T) {
	opts := sdkOptions(t)
	conformance.Run(t, func(tb testing.TB) backend.Backend {
		b := memorybackend.New(memorybackend.WithJanitorInterval(50 * time.Millisecond))
		tb.Cleanup(func() { b.Close() })
		return otelsession.WrapBackend(b, opts...)
	})
}

func uniq() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newRedisClient returns a client of a private redis-server, closed when
// tb ends.
func newRedisClient(tb testing.TB) rueidis.Client {
	srv := redistest.Standalone(tb)
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{srv.Addr}, ConnWriteTimeout: 2 * time.Second, CacheSizeEachConn: 4 << 20,
	})
	if err != nil {
		tb.Fatalf("rueidis.NewClient: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// redisFactory returns wrapped Redis backends on client, each under its
// own prefix.
func redisFactory(client rueidis.Client, opts []otelsession.Option, ropts ...redisbackend.Option) conformance.Factory {
	return func(tb testing.TB) backend.Backend {
		b, err := redisbackend.New(client, append([]redisbackend.Option{redisbackend.WithPrefix("t" + uniq() + ":")}, ropts...)...)
		if err != nil {
			tb.Fatalf("redisbackend.New: %v", err)
		}
		tb.Cleanup(func() { _ = b.Close() })
		return otelsession.WrapBackend(b, opts...)
	}
}

// TestConformanceRedis: the wrapped Redis backend keeps the contract, with
// all its capabilities, with and without client-side caching.
func TestConformanceRedis(t *testing.T) {
	client := newRedisClient(t)
	opts := sdkOptions(t)
	t.Run("CacheOn", func(t *testing.T) { conformance.Run(t, redisFactory(client, opts)) })
	t.Run("CacheOff", func(t *testing.T) { conformance.Run(t, redisFactory(client, opts, redisbackend.WithCache(false))) })
}
