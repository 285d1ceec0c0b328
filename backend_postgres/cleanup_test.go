package postgresbackend_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
)

// fakeClock is a clock the test moves by hand, shared by instances.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// fillForCleanup creates expired and live records in b's table, by clock
// time: expired ones end within the next minute, live ones in an hour.
// Advancing the clock by two minutes then expires the first kind.
func fillForCleanup(t *testing.T, ctx context.Context, b *postgresbackend.Backend, clock *fakeClock, expired, live int) (liveKeys []string) {
	t.Helper()
	now := clock.now()
	for i := range expired + live {
		rec := backend.Record{Key: fmt.Sprintf("k%05d", i), Owner: fmt.Sprint("owner", i%7), Payload: []byte("x"),
			CreatedAt: now, IdleDeadline: now.Add(time.Minute), AbsoluteDeadline: now.Add(time.Hour)}
		if i >= expired {
			rec.IdleDeadline = now.Add(time.Hour)
			liveKeys = append(liveKeys, rec.Key)
		}
		if _, err := b.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	return liveKeys
}

// countRows counts every row of table, live or not.
func countRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkLive(t *testing.T, ctx context.Context, b *postgresbackend.Backend, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, err := b.Load(ctx, k); err != nil {
			t.Fatalf("Load(%s) of a live record after the cleanup: %v", k, err)
		}
	}
}

// TestCleanupTwoInstances: two instances run Cleanup at once in small
// batches: together they delete exactly the expired rows, each once, and
// leave every live one.
func TestCleanupTwoInstances(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	pool := newPool(t)
	table := freshTable()
	clock := newFakeClock(time.Now())
	opts := []postgresbackend.Option{postgresbackend.WithTable(table), postgresbackend.WithClock(clock.now),
		postgresbackend.WithCleanupInterval(0), postgresbackend.WithCleanupBatch(25)}
	b1, b2 := newBackend(t, pool, opts...), newBackend(t, newPool(t), opts...)
	const expired, live = 600, 200
	liveKeys := fillForCleanup(t, ctx, b1, clock, expired, live)

	if n, err := b1.Cleanup(ctx); err != nil || n != 0 {
		t.Fatalf("Cleanup before anything expired = %d, %v; want 0", n, err)
	}
	clock.advance(2 * time.Minute)
	var wg sync.WaitGroup
	var n1, n2 int
	var err1, err2 error
	wg.Go(func() { n1, err1 = b1.Cleanup(ctx) })
	wg.Go(func() { n2, err2 = b2.Cleanup(ctx) })
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("Cleanup: %v, %v", err1, err2)
	}
	// A run stops at its first short batch, which skipping the other's
	// locked rows can cause: one more run picks up what is left.
	n3, err := b1.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted %d and %d at once, %d after", n1, n2, n3)
	if n1+n2+n3 != expired {
		t.Errorf("the cleanups deleted %d + %d + %d rows, want %d (the expired ones)", n1, n2, n3, expired)
	}
	if got := countRows(t, ctx, pool, table); got != live {
		t.Errorf("%d rows left, want %d (the live ones)", got, live)
	}
	checkLive(t, ctx, b2, liveKeys)
}

// TestCleanupInterval: the background cleanup of two instances removes the
// expired rows on its own, reports what it deleted, and keeps the live
// rows.
func TestCleanupInterval(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	pool := newPool(t)
	table := freshTable()
	clock := newFakeClock(time.Now())
	var deleted atomic.Int64
	reports := make(chan error, 100)
	report := func(n int, err error) {
		deleted.Add(int64(n))
		select {
		case reports <- err:
		default:
		}
	}
	fill := newBackend(t, pool, postgresbackend.WithTable(table), postgresbackend.WithClock(clock.now), postgresbackend.WithCleanupInterval(0))
	const expired, live = 300, 100
	liveKeys := fillForCleanup(t, ctx, fill, clock, expired, live)
	clock.advance(2 * time.Minute)
	for range 2 {
		newBackend(t, newPool(t), postgresbackend.WithTable(table), postgresbackend.WithClock(clock.now),
			postgresbackend.WithCleanupInterval(10*time.Millisecond), postgresbackend.WithCleanupBatch(40),
			postgresbackend.WithCleanupReport(report))
	}
	for deleted.Load() < expired {
		select {
		case err := <-reports:
			if err != nil {
				t.Fatalf("cleanup reported %v", err)
			}
		case <-ctx.Done():
			t.Fatalf("the background cleanups deleted %d of %d expired rows in 2 minutes", deleted.Load(), expired)
		}
	}
	if got := deleted.Load(); got != expired {
		t.Errorf("the background cleanups reported %d deleted rows, want %d", got, expired)
	}
	if got := countRows(t, ctx, pool, table); got != live {
		t.Errorf("%d rows left, want %d (the live ones)", got, live)
	}
	checkLive(t, ctx, fill, liveKeys)
}

// TestCleanupRacingTouch: an instance whose clock says the rows have
// expired cleans up while another, whose clock says they live, touches
// them. Whatever the interleaving, a Touch that succeeded kept its row,
// and a row the cleanup deleted was not touched first: the cleanup
// rechecks the deadline on the row version it locks.
func TestCleanupRacingTouch(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	pool := newPool(t)
	table := postgresbackend.WithTable(freshTable())
	start := time.Now()
	ahead := newFakeClock(start.Add(10 * time.Minute))
	writer := newBackend(t, pool, table, postgresbackend.WithCleanupInterval(0),
		postgresbackend.WithClock(func() time.Time { return start }))
	cleaner := newBackend(t, newPool(t), table, postgresbackend.WithCleanupInterval(0), postgresbackend.WithCleanupBatch(3),
		postgresbackend.WithClock(ahead.now))
	const n = 400
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("race-", i)
		rec := backend.Record{Key: keys[i], Payload: []byte("x"), CreatedAt: start,
			IdleDeadline: start.Add(5 * time.Minute), AbsoluteDeadline: start.Add(24 * time.Hour)}
		if _, err := writer.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	touched := make([]bool, n)
	var wg sync.WaitGroup
	const touchers = 4
	for w := range touchers {
		wg.Go(func() {
			for i := w; i < n; i += touchers {
				err := writer.Touch(ctx, keys[i], start.Add(time.Hour))
				switch {
				case err == nil:
					touched[i] = true
				case !errors.Is(err, backend.ErrNotFound):
					t.Errorf("Touch(%s): %v", keys[i], err)
					return
				}
			}
		})
	}
	var cleaned int
	wg.Go(func() {
		for range n { // bounded; ends once a run finds nothing
			m, err := cleaner.Cleanup(ctx)
			if err != nil {
				t.Errorf("Cleanup: %v", err)
				return
			}
			cleaned += m
			if m == 0 && cleaned > 0 {
				return
			}
		}
	})
	wg.Wait()
	// Every row is now live by both clocks (touched to +1h) or deleted,
	// so another Cleanup finds nothing; a row exists exactly if its Touch
	// succeeded.
	if m, err := cleaner.Cleanup(ctx); err != nil || m != 0 {
		t.Errorf("Cleanup after the race = %d, %v; want 0", m, err)
	}
	kept := 0
	for i, k := range keys {
		_, err := writer.Load(ctx, k)
		switch {
		case err == nil:
			kept++
			if !touched[i] {
				t.Errorf("row %s was not touched, is expired by the cleaner's clock, and survived", k)
			}
		case errors.Is(err, backend.ErrNotFound):
			if touched[i] {
				t.Errorf("row %s was touched to +1h (live by the cleaner's clock too) and then deleted", k)
			}
		default:
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d rows touched in time and kept, %d cleaned", kept, n, cleaned)
	if kept+cleaned != n {
		t.Errorf("kept %d + cleaned %d != %d rows", kept, cleaned, n)
	}
}
