package postgresbackend_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
)

// taggedPool returns a pool of at most maxConns connections on dbURL whose
// sessions carry application_name app, so that a test can find and kill
// exactly them.
func taggedPool(t *testing.T, dbURL, app string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// terminate kills the server sessions named app and returns how many.
func terminate(ctx context.Context, admin *pgxpool.Pool, app, extra string) (int, error) {
	var n int
	err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`+extra, app).Scan(&n)
	return n, err
}

// unavailable checks that err matches backend.ErrUnavailable and wraps a
// cause from pgx (a server error or a connection error), and no other
// sentinel.
func unavailable(err error) error {
	if !errors.Is(err, backend.ErrUnavailable) {
		return fmt.Errorf("got %v, want an error matching backend.ErrUnavailable", err)
	}
	for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict} {
		if errors.Is(err, s) {
			return fmt.Errorf("%v matches %v too", err, s)
		}
	}
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	if errors.Unwrap(err) == nil && !errors.As(err, &pgErr) && !errors.As(err, &connErr) {
		return fmt.Errorf("%v wraps no cause", err)
	}
	return nil
}

// recovers runs op limit+10 times in a row and checks that it fails at most
// limit times, with ErrUnavailable (a write fails once per pooled
// connection that the fault broke; reads and other idempotent calls are
// repeated on another connection and should not fail at all), and that the
// calls after those all succeed.
func recovers(t *testing.T, what string, limit int, op func() error) {
	t.Helper()
	failures := 0
	for i := range limit + 10 {
		err := op()
		if err == nil {
			continue
		}
		if e := unavailable(err); e != nil {
			t.Fatalf("%s, call %d after the fault: %v", what, i, e)
		}
		if i >= limit {
			t.Fatalf("%s, call %d after the fault (%d failures allowed): %v", what, i, limit, err)
		}
		failures++
	}
	t.Logf("%s: %d calls failed after the fault, then every call succeeded", what, failures)
}

// TestTerminateUnderLoad: while 16 goroutines read and update their
// sessions through a pool of 8 connections, the server's sessions of that
// pool are terminated (pg_terminate_backend) ten times. Every failed call
// is ErrUnavailable wrapping the cause; no update is lost or doubled
// (versions and counters agree); afterwards the same Backend works again.
func TestTerminateUnderLoad(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	dbURL := pgtest.Database(t)
	app := "sessionkit-fault-" + uniq()
	const conns = 8
	pool := taggedPool(t, dbURL, app, conns)
	admin := newPool(t)
	b := newBackend(t, pool, postgresbackend.WithTable(freshTable()))

	const workers = 16
	keys := make([]string, workers)
	for i := range keys {
		keys[i] = fmt.Sprint("load-", i)
		if _, err := b.Create(ctx, record(keys[i], "", "0")); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var failed, ok atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for _, key := range keys {
		wg.Go(func() {
			for range 5000 { // bounded; ends when stop closes, long before
				select {
				case <-stop:
					return
				default:
				}
				rec, err := b.Load(ctx, key)
				if err == nil {
					rec.Payload = []byte(fmt.Sprint(rec.Version)) // the payload says which version wrote it
					_, err = b.Update(ctx, rec)
				}
				if err == nil {
					ok.Add(1)
					continue
				}
				if e := unavailable(err); e != nil {
					errs <- fmt.Errorf("%s: %w", key, e)
					return
				}
				failed.Add(1)
			}
		})
	}
	killed := 0
	for range 10 {
		// Let the pool reconnect and the load run before each kill; a
		// time-based pause is what "under load" means here.
		time.Sleep(50 * time.Millisecond)
		n, err := terminate(ctx, admin, app, "")
		if err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("terminated %d server sessions; %d read-update pairs succeeded, %d failed with ErrUnavailable", killed, ok.Load(), failed.Load())
	if killed == 0 {
		t.Fatal("no server session was terminated: the test proved nothing")
	}
	// A write that failed with ErrUnavailable may have been applied; one
	// that succeeded must have been, exactly once: the payload is the
	// version it was written over.
	for _, key := range keys {
		rec, err := b.Load(ctx, key)
		if err != nil {
			if e := unavailable(err); e != nil {
				t.Fatal(e)
			}
			continue // a dead connection; recovers below
		}
		if string(rec.Payload) != fmt.Sprint(rec.Version-1) && rec.Version > 1 {
			t.Errorf("%s: version %d holds the payload %q, want %q", key, rec.Version, rec.Payload, fmt.Sprint(rec.Version-1))
		}
	}
	n, err := terminate(ctx, admin, app, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("terminated %d idle sessions before the recovery check of Load", n)
	recovers(t, "Load", 0, func() error { _, err := b.Load(ctx, keys[0]); return err })
	if n, err = terminate(ctx, admin, app, ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("terminated %d idle sessions before the recovery check of Update", n)
	recovers(t, "Load+Update", conns, func() error {
		rec, err := b.Load(ctx, keys[0])
		if err == nil {
			rec.Payload = []byte(fmt.Sprint(rec.Version))
			_, err = b.Update(ctx, rec)
		}
		return err
	})
}

// TestTerminateMidStatement: an Update waiting on a row lock has its
// server session terminated: it returns ErrUnavailable wrapping the
// server's error at once, and the next call succeeds.
func TestTerminateMidStatement(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	dbURL := pgtest.Database(t)
	app := "sessionkit-mid-" + uniq()
	table := freshTable()
	b := newBackend(t, taggedPool(t, dbURL, app, 2), postgresbackend.WithTable(table))
	admin := newPool(t)
	rec, err := b.Create(ctx, record("mid", "", "x"))
	if err != nil {
		t.Fatal(err)
	}
	// Another session holds the row, so the Update waits inside its
	// statement.
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{table}.Sanitize()+" FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := b.Update(ctx, rec); done <- err }()
	// Poll pg_stat_activity until the Update is waiting on the lock:
	// the server offers no notification of that.
	for i := 0; ; i++ {
		n, err := terminate(ctx, admin, app, " AND wait_event_type = 'Lock'")
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if i == 500 {
			t.Fatal("the Update never waited on the row lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		if e := unavailable(err); e != nil {
			t.Fatalf("Update whose session was terminated: %v", e)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			t.Logf("Update: %v (SQLSTATE %s)", err, pgErr.Code)
		} else {
			t.Logf("Update: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Update did not return after its session was terminated")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	recovers(t, "Load+Update", 2, func() error {
		got, err := b.Load(ctx, rec.Key)
		if err == nil {
			_, err = b.Update(ctx, got)
		}
		return err
	})
}

// TestServerRestart: a private server is stopped and started again under
// a Backend that is kept. While it is down every call fails fast with
// ErrUnavailable wrapping the connection error; once it is back the same
// Backend serves the records written before: reads at once, writes after
// at most one failure per pooled connection.
func TestServerRestart(t *testing.T) {
	srv := pgtest.StartServer(t)
	ctx := ctxT(t, 2*time.Minute)
	const conns = 4
	pool := taggedPool(t, srv.URL, "sessionkit-restart", conns)
	b := newBackend(t, pool)
	rec, err := b.Create(ctx, record("restart", "judy", "before"))
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	for _, op := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := b.Load(ctx, rec.Key); return err }},
		{"Create", func(ctx context.Context) error { _, err := b.Create(ctx, record("down", "", "x")); return err }},
		{"Update", func(ctx context.Context) error { _, err := b.Update(ctx, rec); return err }},
		{"ListByOwner", func(ctx context.Context) error { _, err := b.ListByOwner(ctx, "judy"); return err }},
	} {
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := op.call(opCtx)
		waited := opCtx.Err() != nil
		cancel()
		if e := unavailable(err); e != nil {
			t.Errorf("%s while the server is down: %v", op.name, e)
		}
		if waited {
			t.Errorf("%s while the server is down took %v: it should fail fast, not wait for the context", op.name, time.Since(start))
		}
	}

	srv.Start(t)
	recovers(t, "Load", 0, func() error {
		got, err := b.Load(ctx, rec.Key)
		if err == nil && string(got.Payload) != "before" {
			t.Fatalf("after the restart Load returned payload %q, want %q", got.Payload, "before")
		}
		return err
	})
	if _, err := b.Update(ctx, rec); err != nil {
		t.Errorf("Update after the restart: %v", err)
	}
}
