package postgresbackend_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
)

func TestNewValidates(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	if _, err := postgresbackend.New(ctx, nil); err == nil {
		t.Error("New(nil pool) returned no error")
	}
	pool := newPool(t)
	bad := []string{"", "Sessions", "1abc", "a.b.c", ".a", "a.", "a;drop table x", `x"y`, "a-b", "a b", "é", strings.Repeat("a", 49)}
	for _, name := range bad {
		if b, err := postgresbackend.New(ctx, pool, postgresbackend.WithTable(name)); err == nil {
			b.Close()
			t.Errorf("New(WithTable(%q)) returned no error", name)
		}
		if _, err := postgresbackend.Schema(name); err == nil && name != "" {
			t.Errorf("Schema(%q) returned no error", name)
		}
	}
	for _, opts := range [][]postgresbackend.Option{
		{postgresbackend.WithCleanupInterval(-time.Second)},
		{postgresbackend.WithCleanupBatch(0)},
		{postgresbackend.WithCleanupBatch(-1)},
	} {
		if b, err := postgresbackend.New(ctx, pool, opts...); err == nil {
			b.Close()
			t.Errorf("New with an invalid option returned no error")
		}
	}
	// A name at the limit, and one qualified by a schema.
	schema := "s_" + uniq()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{strings.Repeat("a", 32) + uniq(), schema + ".sessions"} {
		b := newBackend(t, pool, postgresbackend.WithTable(name))
		if b.Table() != name {
			t.Errorf("Table() = %q, want %q", b.Table(), name)
		}
		if _, err := b.Create(ctx, record("k", "alice", "x")); err != nil {
			t.Errorf("Create in table %q: %v", name, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".sessions").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows in %s.sessions: %d, %v; want 1", schema, n, err)
	}
}

// TestSchemaConcurrent starts eight instances on a new table at once: the
// advisory lock makes CREATE ... IF NOT EXISTS safe, so every New succeeds.
func TestSchemaConcurrent(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	pool := newPool(t)
	for round := range 3 {
		table := freshTable()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				b, err := postgresbackend.New(ctx, pool, postgresbackend.WithTable(table))
				if err == nil {
					b.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: New %d of 8 at once on a new table: %v", round, i, err)
			}
		}
	}
}

// TestSchemaExported: the exported statements are what New runs; without
// them and with WithCreateSchema(false) a statement fails with the
// server's error and no sentinel.
func TestSchemaExported(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	pool := newPool(t)
	stmts, err := postgresbackend.Schema("")
	if err != nil || len(stmts) == 0 || !strings.Contains(stmts[0], `"`+postgresbackend.DefaultTable+`"`) {
		t.Fatalf("Schema(\"\") = %q, %v", stmts, err)
	}
	table := freshTable()
	b := newBackend(t, pool, postgresbackend.WithTable(table), postgresbackend.WithCreateSchema(false))
	_, err = b.Load(ctx, "k")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("Load from a missing table: %v, want a *pgconn.PgError with code 42P01", err)
	}
	for _, s := range []error{backend.ErrNotFound, backend.ErrUnavailable, backend.ErrExists, backend.ErrConflict} {
		if errors.Is(err, s) {
			t.Errorf("Load from a missing table: %v matches %v", err, s)
		}
	}
	stmts, err = postgresbackend.Schema(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(stmts, stmts...) { // twice: idempotent
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := b.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load after running Schema: %v, want ErrNotFound", err)
	}
}

// TestRandomLongKeys: keys and owners of 4 KiB of random bytes, which no
// B-tree entry can hold and compression cannot shrink (the conformance
// suite's long key is compressible).
func TestRandomLongKeys(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	b := newBackend(t, newPool(t))
	random := func() string {
		p := make([]byte, 4<<10)
		_, _ = rand.Read(p)
		return string(p)
	}
	owner := random()
	rec, err := b.Create(ctx, record(random(), owner, "x"))
	if err != nil {
		t.Fatalf("Create with a random 4 KiB key and owner: %v", err)
	}
	if got, err := b.Load(ctx, rec.Key); err != nil || got.Owner != owner {
		t.Fatalf("Load: %v (owner matches: %v)", err, got.Owner == owner)
	}
	if rec, err = b.Update(ctx, rec); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if rec, err = b.Rekey(ctx, rec, random()); err != nil {
		t.Fatalf("Rekey to another random 4 KiB key: %v", err)
	}
	list, err := b.ListByOwner(ctx, owner)
	if err != nil || len(list) != 1 || list[0].Key != rec.Key {
		t.Fatalf("ListByOwner: %d records, %v; want the rekeyed one", len(list), err)
	}
	if n, err := b.DeleteByOwner(ctx, owner); err != nil || n != 1 {
		t.Fatalf("DeleteByOwner = %d, %v; want 1", n, err)
	}
}

// TestApplicationClock: liveness follows WithClock, not the server's
// clock. An instance whose clock is an hour ahead does not see a record
// that real time says lives for 30 more minutes, and one an hour behind
// sees a record that ended 30 minutes ago.
func TestApplicationClock(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	pool := newPool(t)
	table := postgresbackend.WithTable(freshTable())
	real := newBackend(t, pool, table)
	ahead := newBackend(t, pool, table, postgresbackend.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	behind := newBackend(t, pool, table, postgresbackend.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))

	now := time.Now()
	soon := backend.Record{Key: "soon", Payload: []byte("x"), CreatedAt: now,
		IdleDeadline: now.Add(30 * time.Minute), AbsoluteDeadline: now.Add(30 * time.Minute)}
	if _, err := real.Create(ctx, soon); err != nil {
		t.Fatal(err)
	}
	if _, err := ahead.Load(ctx, "soon"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load on a clock an hour ahead of a record with 30 minutes left: %v, want ErrNotFound", err)
	}
	if err := ahead.Touch(ctx, "soon", now.Add(2*time.Hour)); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch on a clock an hour ahead: %v, want ErrNotFound", err)
	}
	if _, err := ahead.Create(ctx, soon); err != nil {
		t.Errorf("Create on a clock an hour ahead replaces the row it sees as expired: %v", err)
	}

	past := backend.Record{Key: "past", Payload: []byte("x"), CreatedAt: now.Add(-2 * time.Hour),
		IdleDeadline: now.Add(-30 * time.Minute), AbsoluteDeadline: now.Add(-30 * time.Minute)}
	if _, err := behind.Create(ctx, past); err != nil {
		t.Fatal(err)
	}
	if _, err := real.Load(ctx, "past"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load on the real clock of a record that ended 30 minutes ago: %v, want ErrNotFound", err)
	}
	got, err := behind.Load(ctx, "past")
	if err != nil {
		t.Fatalf("Load on a clock an hour behind of a record that ended 30 minutes ago: %v", err)
	}
	if _, err := behind.Update(ctx, got); err != nil {
		t.Errorf("Update on a clock an hour behind: %v", err)
	}
	if n, err := real.Cleanup(ctx); err != nil || n != 1 {
		t.Errorf("Cleanup on the real clock = %d, %v; want 1 (the record that ended 30 minutes ago)", n, err)
	}
	if _, err := behind.Load(ctx, "past"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load of a cleaned-up row: %v, want ErrNotFound", err)
	}
}

// TestDeleteByOwnerRacingRekey: while DeleteByOwner runs, goroutines keep
// renewing (Rekey) the owner's sessions. When it returns, no session of
// the owner is left, and every later Rekey of a session that existed
// before finds it gone. A single DELETE statement would let a Rekey that
// committed while the DELETE ran leave its new row behind.
func TestDeleteByOwnerRacingRekey(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	b := newBackend(t, newPool(t), postgresbackend.WithTable(freshTable()))
	const sessions, rounds = 16, 20
	for round := range rounds {
		owner := "owner-" + uniq()
		recs := make([]backend.Record, sessions)
		for i := range recs {
			rec, err := b.Create(ctx, record(uniq(), owner, "x"))
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = rec
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for _, rec := range recs {
			wg.Go(func() {
				<-start
				for range 1000 { // ends at the first ErrNotFound long before
					next, err := b.Rekey(ctx, rec, uniq())
					if errors.Is(err, backend.ErrNotFound) {
						return
					}
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						return
					}
					rec = next
				}
			})
		}
		close(start)
		if _, err := b.DeleteByOwner(ctx, owner); err != nil {
			t.Fatalf("round %d: DeleteByOwner: %v", round, err)
		}
		left, err := b.ListByOwner(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: Rekey: %s", round, failures[0])
		}
		if len(left) > 0 {
			t.Fatalf("round %d: %d of %d sessions of the owner survived DeleteByOwner (renewed while it ran)", round, len(left), sessions)
		}
		if after, err := b.ListByOwner(ctx, owner); err != nil || len(after) > 0 {
			t.Fatalf("round %d: once the renewals stopped, ListByOwner = %d records, %v; want none", round, len(after), err)
		}
	}
}

// TestClose: after Close every method returns ErrClosed (matching
// ErrUnavailable too), Close twice is fine, and the cleanup goroutine has
// stopped when Close returns.
func TestClose(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	pool := newPool(t)
	var mu sync.Mutex
	closed, lateReports := false, 0
	reported := make(chan struct{}, 1)
	b := newBackend(t, pool, postgresbackend.WithCleanupInterval(5*time.Millisecond),
		postgresbackend.WithCleanupReport(func(int, error) {
			mu.Lock()
			if closed {
				lateReports++
			}
			mu.Unlock()
			select {
			case reported <- struct{}{}:
			default:
			}
		}))
	rec, err := b.Create(ctx, record("close-"+uniq(), "o", "x"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reported:
	case <-ctx.Done():
		t.Fatal("no cleanup run within a minute at an interval of 5 ms")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]error{}
	_, calls["Create"] = b.Create(ctx, record("close-new", "", "x"))
	_, calls["Load"] = b.Load(ctx, rec.Key)
	_, calls["Update"] = b.Update(ctx, rec)
	calls["Touch"] = b.Touch(ctx, rec.Key, time.Now().Add(time.Hour))
	calls["Delete"] = b.Delete(ctx, rec.Key)
	_, calls["ListByOwner"] = b.ListByOwner(ctx, "o")
	_, calls["DeleteByOwner"] = b.DeleteByOwner(ctx, "o")
	_, calls["Rekey"] = b.Rekey(ctx, rec, "close-other")
	_, calls["Cleanup"] = b.Cleanup(ctx)
	for name, err := range calls {
		if !errors.Is(err, postgresbackend.ErrClosed) || !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want an error matching ErrClosed and backend.ErrUnavailable", name, err)
		}
	}
	// Nothing signals a report that does not happen: give a stray cleanup
	// run 50 intervals to show itself.
	time.Sleep(250 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if lateReports > 0 {
		t.Errorf("%d cleanup runs reported after Close returned", lateReports)
	}
	// The record is still there: Close leaves the data alone.
	other := newBackend(t, pool)
	if got, err := other.Load(ctx, rec.Key); err != nil || !bytes.Equal(got.Payload, rec.Payload) {
		t.Errorf("Load through another Backend after Close: %v", err)
	}
}
