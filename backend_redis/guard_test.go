package redisbackend_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// testGuardAfterFailedWrites: a write that fails ends its write guard
// window like one that succeeds. After a refused write (a conflict, a
// missing record, a taken key) 100 Loads of that session cost at most one
// GET; after a transport error (the outcome is unknown) they are uncached
// for one window, then cached again.
func testGuardAfterFailedWrites(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	b := newBackend(t, client)
	// loads reads key 100 times and returns how many GETs Redis executed.
	loads := func(key string) int {
		t.Helper()
		before := getCalls(t, srv)
		for range 100 {
			if _, err := b.Load(ctx, key); err != nil && !errors.Is(err, backend.ErrNotFound) {
				t.Fatal(err)
			}
		}
		return getCalls(t, srv) - before
	}
	rec, err := b.Create(ctx, record("guarded", "", "p"))
	if err != nil {
		t.Fatal(err)
	}
	taken, err := b.Create(ctx, record("taken", "", "p"))
	if err != nil {
		t.Fatal(err)
	}
	// A session this instance has seen and deleted: unknown keys are never
	// read through the cache at all (see testUnknownIDs).
	if _, err := b.Create(ctx, record("missing", "", "p")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	loads(rec.Key)
	loads(taken.Key)
	loads("missing")
	stale := rec
	stale.Version = 7
	for _, c := range []struct {
		name  string
		key   string
		write func() error
		want  error
	}{
		{"Update conflict", rec.Key, func() error { _, err := b.Update(ctx, stale); return err }, backend.ErrConflict},
		{"Update not found", "missing", func() error { _, err := b.Update(ctx, record("missing", "", "p")); return err }, backend.ErrNotFound},
		{"Touch not found", "missing", func() error { return b.Touch(ctx, "missing", time.Now().Add(time.Hour)) }, backend.ErrNotFound},
		{"Create exists", taken.Key, func() error { _, err := b.Create(ctx, record("taken", "", "p")); return err }, backend.ErrExists},
		{"Rekey conflict", rec.Key, func() error { _, err := b.Rekey(ctx, stale, "elsewhere"); return err }, backend.ErrConflict},
		{"Rekey exists", rec.Key, func() error { _, err := b.Rekey(ctx, rec, taken.Key); return err }, backend.ErrExists},
	} {
		if err := c.write(); !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		if n := loads(c.key); n > 1 {
			t.Errorf("after %s: 100 Loads sent %d GETs to Redis, want at most 1: the failed write left the guard window open", c.name, n)
		}
	}

	// A transport error: the Update waits behind CLIENT PAUSE WRITE and
	// its context ends first, so whether it was applied is unknown.
	const window = 200 * time.Millisecond
	g := newBackend(t, client, redisbackend.WithWriteGuard(window))
	grec, err := g.Create(ctx, record("unknown", "", "p"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "CLIENT", "PAUSE", "300", "WRITE")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = g.Update(short, grec)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update during CLIENT PAUSE WRITE = %v, want a deadline error", err)
	}
	time.Sleep(300*time.Millisecond + window) // the pause ends, the paused write lands, the window passes
	before := getCalls(t, srv)
	for range 100 {
		if _, err := g.Load(ctx, grec.Key); err != nil {
			t.Fatal(err)
		}
	}
	if n := getCalls(t, srv) - before; n > 1 {
		t.Errorf("after a transport error and one window: 100 Loads sent %d GETs, want at most 1", n)
	}
}

// testGuardAfterConflictManager: with two instances, a conflict inside
// Manager.Update on instance A (B writes between A's read and A's write)
// leaves A's cache working: the next 100 Gets on A cost at most two GETs
// (the first read after A's own write misses, by design).
func testGuardAfterConflictManager(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	prefix := "conflict" + uniq() + ":"
	mA, err := session.NewManager[counter](newBackend(t, standaloneClient(t, srv.Addr), redisbackend.WithPrefix(prefix)))
	if err != nil {
		t.Fatal(err)
	}
	mB, err := session.NewManager[counter](newBackend(t, standaloneClient(t, srv.Addr), redisbackend.WithPrefix(prefix)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := mA.Create(ctx, "", counter{})
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	got, err := mA.Update(ctx, s.ID, func(s *session.Session[counter]) error {
		attempts++
		if attempts == 1 { // B writes in between: A's first save conflicts
			if _, err := mB.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N += 10; return nil }); err != nil {
				return err
			}
		}
		s.Data.N++
		return nil
	})
	if err != nil || attempts != 2 || got.Data.N != 11 {
		t.Fatalf("Update with a conflict: N = %v after %d attempts, %v; want 11 after 2", got, attempts, err)
	}
	before := getCalls(t, srv)
	for range 100 {
		if g, err := mA.Get(ctx, s.ID); err != nil || g.Data.N != 11 {
			t.Fatalf("Get after the Update = %v, %v", g, err)
		}
	}
	if n := getCalls(t, srv) - before; n > 2 {
		t.Errorf("after a conflict inside Manager.Update: 100 Gets on the same instance sent %d GETs, want at most 2", n)
	}
}
