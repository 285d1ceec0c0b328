package postgresbackend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
	"github.com/sessionkit/sessionkit/conformance"
)

// Every test binary has a database of its own on the machine's server
// (pgtest.Main creates and drops it); tests that need their own rows use
// a table of their own in it.

func TestMain(m *testing.M) { pgtest.Main(m) }

func uniq() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newPool returns a pool on this binary's database, closed when tb ends.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return pgtest.Pool(tb, pgtest.Database(tb), 0)
}

// newBackend returns a Backend on pool, closed when tb ends.
func newBackend(tb testing.TB, pool *pgxpool.Pool, opts ...postgresbackend.Option) *postgresbackend.Backend {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgresbackend.New(ctx, pool, opts...)
	if err != nil {
		tb.Fatalf("postgresbackend.New: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// freshTable returns the name of a table no other test uses.
func freshTable() string { return "t_" + uniq() }

func record(key, owner, payload string) backend.Record {
	now := time.Now()
	return backend.Record{
		Key: key, Owner: owner, Payload: []byte(payload),
		CreatedAt: now, IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour),
	}
}

// ctxT returns a context that ends with the test, bounded by d.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestConformance runs the shared suite; all backends share the default
// table of this binary's database (the suite's keys are random). The
// cleanup runs every 200 ms, so that Events/Expired sees a record's
// EventExpired soon after its deadline.
func TestConformance(t *testing.T) {
	pool := newPool(t)
	conformance.Run(t, func(tb testing.TB) backend.Backend {
		return newBackend(tb, pool, postgresbackend.WithCleanupInterval(200*time.Millisecond))
	})
}

// withoutNotifier hides a Backend's Subscribe from the suite: the
// capabilities it keeps are the ones it embeds.
type withoutNotifier struct {
	backend.Backend
	backend.OwnerIndex
	backend.Rekeyer
}

// TestConformanceEventsOff runs the suite on Backends with
// WithEvents(false), whose statements differ (they send nothing and lock
// no replaced row); the Events group is left out, as Subscribe is.
func TestConformanceEventsOff(t *testing.T) {
	pool := newPool(t)
	conformance.Run(t, func(tb testing.TB) backend.Backend {
		b := newBackend(tb, pool, postgresbackend.WithEvents(false))
		return withoutNotifier{b, b, b}
	})
}

func BenchmarkConformance(b *testing.B) {
	pool := newPool(b)
	conformance.Benchmark(b, func(tb testing.TB) backend.Backend { return newBackend(tb, pool) })
}

// BenchmarkConformanceEventsOff is BenchmarkConformance with
// WithEvents(false): side by side they show what events cost each
// workload.
func BenchmarkConformanceEventsOff(b *testing.B) {
	pool := newPool(b)
	conformance.Benchmark(b, func(tb testing.TB) backend.Backend {
		be := newBackend(tb, pool, postgresbackend.WithEvents(false))
		return withoutNotifier{be, be, be}
	})
}
