package redisbackend_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// Tests share one server (or Cluster, or Sentinel group) per top-level
// test; each backend gets a random key prefix, so backends never see each
// other's records.

func uniq() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newClient returns a rueidis client closed when tb ends, with the options
// the package documentation recommends.
func newClient(tb testing.TB, opt rueidis.ClientOption) rueidis.Client {
	tb.Helper()
	opt.ConnWriteTimeout = 2 * time.Second
	opt.CacheSizeEachConn = 4 << 20
	c, err := rueidis.NewClient(opt)
	if err != nil {
		tb.Fatalf("rueidis.NewClient(%v): %v", opt.InitAddress, err)
	}
	tb.Cleanup(c.Close)
	return c
}

func standaloneClient(tb testing.TB, addr string) rueidis.Client {
	return newClient(tb, rueidis.ClientOption{InitAddress: []string{addr}})
}

// newBackend returns a Backend on client under a fresh prefix, closed when
// tb ends.
func newBackend(tb testing.TB, client rueidis.Client, opts ...redisbackend.Option) *redisbackend.Backend {
	tb.Helper()
	opts = append([]redisbackend.Option{redisbackend.WithPrefix("t" + uniq() + ":")}, opts...)
	b, err := redisbackend.New(client, opts...)
	if err != nil {
		tb.Fatalf("redisbackend.New: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// factory is a conformance.Factory: a fresh, empty backend on a shared
// client per call.
func factory(client rueidis.Client, opts ...redisbackend.Option) conformance.Factory {
	return func(tb testing.TB) backend.Backend { return newBackend(tb, client, opts...) }
}

// urlFactory is a conformance.Factory of Backends that NewFromURL makes,
// each with a client of its own, on the server at addr.
func urlFactory(addr string, opts ...redisbackend.Option) conformance.Factory {
	return func(tb testing.TB) backend.Backend { return newURLBackend(tb, addr, opts...) }
}

// newURLBackend is newBackend through NewFromURL.
func newURLBackend(tb testing.TB, addr string, opts ...redisbackend.Option) *redisbackend.Backend {
	tb.Helper()
	opts = append([]redisbackend.Option{redisbackend.WithPrefix("u" + uniq() + ":")}, opts...)
	b, err := redisbackend.NewFromURL(context.Background(), "redis://"+addr, opts...)
	if err != nil {
		tb.Fatalf("redisbackend.NewFromURL: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

func record(key, owner, payload string) backend.Record {
	now := time.Now()
	return backend.Record{
		Key: key, Owner: owner, Payload: []byte(payload),
		CreatedAt: now, IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour),
	}
}

// ctxT returns a context that ends with the test, bounded.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestStandalone runs the conformance suite and the Redis-specific checks
// against one standalone server.
func TestStandalone(t *testing.T) {
	srv := redistest.Standalone(t)
	client := standaloneClient(t, srv.Addr)

	t.Run("Conformance/CacheOn", func(t *testing.T) { conformance.Run(t, factory(client)) })
	t.Run("Conformance/CacheOff", func(t *testing.T) { conformance.Run(t, factory(client, redisbackend.WithCache(false))) })
	t.Run("ReadYourWrites", func(t *testing.T) {
		testReadYourWrites(t, func(t *testing.T, opts ...redisbackend.Option) *redisbackend.Backend {
			return newBackend(t, client, opts...)
		})
	})
	t.Run("ReadYourWritesManager", func(t *testing.T) { testReadYourWritesManager(t, client) })
	t.Run("TwoInstances", func(t *testing.T) {
		prefix := redisbackend.WithPrefix("two" + uniq() + ":")
		testTwoInstances(t, newBackend(t, standaloneClient(t, srv.Addr), prefix), newBackend(t, standaloneClient(t, srv.Addr), prefix))
	})
	t.Run("Dump", func(t *testing.T) { testDump(t, srv, client) })
	t.Run("Corrupt", func(t *testing.T) { testCorrupt(t, srv, client) })
	t.Run("WrongType", func(t *testing.T) { testWrongType(t, srv, client) })
	t.Run("Preflight", func(t *testing.T) { testPreflight(t, srv) })
	t.Run("LibraryLost", func(t *testing.T) { testLibraryLost(t, client, srv) })
	t.Run("NoFunctions", func(t *testing.T) { testNoFunctions(t, srv) })
	t.Run("UnknownIDs", func(t *testing.T) { testUnknownIDs(t, srv, client) })
	t.Run("NotReplicated", func(t *testing.T) { testNotReplicated(t, client) })
	t.Run("NotDurableManager", func(t *testing.T) { testNotDurableManager(t, client) })
	t.Run("OwnerIndexPrune", func(t *testing.T) { testOwnerIndexPrune(t, srv, client) })
	t.Run("OwnerRaces", func(t *testing.T) { testOwnerRaces(t, client) })
	t.Run("GuardAfterFailedWrites", func(t *testing.T) { testGuardAfterFailedWrites(t, srv, client) })
	t.Run("GuardAfterConflictManager", func(t *testing.T) { testGuardAfterConflictManager(t, srv) })
	t.Run("NewFromURL", func(t *testing.T) { testNewFromURL(t, srv.Addr) })
	t.Run("ManagerConcurrentUpdate", func(t *testing.T) { testManagerConcurrentUpdate(t, client) })
}

// testReadYourWrites: on one instance with the cache on, a Load right after
// this instance's own Update sees the new data, and one right after its own
// Delete sees nothing — every time, for 1000 records that were each cached
// just before the write. rueidis alone gets this wrong (the invalidation
// can arrive after the write's reply; 242 to 366 of 2000 tries with
// rueidis v1.0.79 and Redis 7.0.15 here): the control run without a guard
// window must show stale reads, and the write guard is what makes it hold.
func testReadYourWrites(t *testing.T, newB func(*testing.T, ...redisbackend.Option) *redisbackend.Backend) {
	const rounds = 1000
	stale := func(t *testing.T, b *redisbackend.Backend) (staleUpdates, staleDeletes int) {
		ctx := ctxT(t, time.Minute)
		recs := make([]backend.Record, rounds)
		for i := range recs {
			rec, err := b.Create(ctx, record(fmt.Sprint("ryw-", i), "", "old"))
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = rec
		}
		for i, rec := range recs {
			for range 2 { // now cached
				if _, err := b.Load(ctx, rec.Key); err != nil {
					t.Fatal(err)
				}
			}
			rec.Payload = []byte("new")
			var err error
			if recs[i], err = b.Update(ctx, rec); err != nil {
				t.Fatalf("round %d: Update: %v", i, err)
			}
			got, err := b.Load(ctx, rec.Key)
			if err != nil {
				t.Fatalf("round %d: Load after Update: %v", i, err)
			}
			if got.Version != recs[i].Version || string(got.Payload) != "new" {
				staleUpdates++
			}
		}
		for i, rec := range recs {
			for range 2 { // now cached
				if _, err := b.Load(ctx, rec.Key); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Delete(ctx, rec.Key); err != nil {
				t.Fatalf("round %d: Delete: %v", i, err)
			}
			if _, err := b.Load(ctx, rec.Key); !errors.Is(err, backend.ErrNotFound) {
				staleDeletes++
			}
		}
		return staleUpdates, staleDeletes
	}
	b := newB(t)
	u, d := stale(t, b)
	if u != 0 || d != 0 {
		t.Errorf("with the write guard: %d of %d Loads right after Update returned the old record, %d of %d right after Delete returned a record", u, rounds, d, rounds)
	}
	u, d = stale(t, newB(t, redisbackend.WithWriteGuard(time.Nanosecond)))
	t.Logf("control, write guard off: %d of %d stale after Update, %d of %d after Delete", u, rounds, d, rounds)
	if u+d == 0 {
		t.Errorf("control, write guard off: no stale read in %d writes; the test no longer shows what the guard is for", 2*rounds)
	}
}

type counter struct{ N int }

// testReadYourWritesManager is testReadYourWrites through session.Manager:
// Update-then-Get and Destroy-then-Get on one instance.
func testReadYourWritesManager(t *testing.T, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	m, err := session.NewManager[counter](newBackend(t, client))
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 1000
	s, err := m.Create(ctx, "alice", counter{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= rounds; i++ {
		if _, err := m.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N = i; return nil }); err != nil {
			t.Fatalf("round %d: Update: %v", i, err)
		}
		got, err := m.Get(ctx, s.ID)
		if err != nil {
			t.Fatalf("round %d: Get: %v", i, err)
		}
		if got.Data.N != i {
			t.Fatalf("round %d: Get after Update returned N = %d", i, got.Data.N)
		}
	}
	for i := 0; i < rounds; i++ {
		s, err := m.Create(ctx, "", counter{N: i})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := m.Destroy(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("round %d: Get after Destroy = %v, want ErrNotFound", i, err)
		}
	}
}

// testTwoInstances: two clients (two processes, in effect) on one server,
// each with its own Backend and Manager. A reads a session (now cached), B
// updates it: A sees the new data within 100 ms; B destroys it: A gets
// ErrNotFound within 100 ms.
func testTwoInstances(t *testing.T, ba, bb *redisbackend.Backend) {
	ctx := ctxT(t, time.Minute)
	ma, err := session.NewManager[counter](ba)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := session.NewManager[counter](bb)
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	within := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("instance A did not see %s within 100ms", what)
			}
			time.Sleep(time.Millisecond)
		}
		slowest = max(slowest, time.Since(start))
	}
	for round := 0; round < 20; round++ {
		s, err := mb.Create(ctx, "bob", counter{N: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Let A cache the session: read until a Load is a local cache hit.
		for i := 0; i < 3; i++ {
			if got, err := ma.Get(ctx, s.ID); err != nil || got.Data.N != 1 {
				t.Fatalf("A: Get = %v, %v", got, err)
			}
		}
		if _, err := mb.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N = 2; return nil }); err != nil {
			t.Fatal(err)
		}
		within("B's update", func() bool {
			got, err := ma.Get(ctx, s.ID)
			return err == nil && got.Data.N == 2
		})
		if err := mb.Destroy(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		within("B's destroy", func() bool {
			_, err := ma.Get(ctx, s.ID)
			return errors.Is(err, session.ErrNotFound)
		})
	}
	t.Logf("slowest propagation to instance A: %v", slowest.Round(time.Microsecond))
}

// testDump: after sessions are created through a Manager, no Redis key or
// value holds a session ID, and no Redis key holds a backend key that is
// not already a hash. The Manager's storage keys, one-way hashes of the
// IDs, do appear: as hash tags, and in values (ListByOwner has to return
// them).
func testDump(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := "dump" + uniq() + ":"
	b, err := redisbackend.New(client, redisbackend.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.NewManager[counter](b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 20; i++ {
		owner := ""
		if i%2 == 0 {
			owner = "carol"
		}
		s, err := m.Create(ctx, owner, counter{N: i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	// A backend-level key, hostile, passed to Create directly.
	raw := "raw-backend-key-" + uniq()
	if _, err := b.Create(ctx, record(raw, "carol", "p")); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(srv.Do(t, "KEYS", prefix+"*"), "\n")
	// 21 sessions, 1 owner index (and its claims on a Cluster), and the
	// name key of the session stored under a hash of its key (keys.go).
	want := 23
	if client.Mode() == rueidis.ClientModeCluster {
		want = 24
	}
	if len(keys) != want {
		t.Fatalf("KEYS %s* returned %d keys, want %d: %q", prefix, len(keys), want, keys)
	}
	for _, k := range keys {
		var val string
		switch typ := srv.Do(t, "TYPE", k); typ {
		case "string":
			val = srv.Do(t, "GET", k)
		case "zset":
			val = srv.Do(t, "ZRANGE", k, "0", "-1")
		case "hash":
			val = srv.Do(t, "HGETALL", k)
		default:
			t.Fatalf("key %q has type %s", k, typ)
		}
		if strings.Contains(k, raw) {
			t.Errorf("Redis key %q holds the backend key %q", k, raw)
		}
		// The storage key (SHA-256 of the ID) may appear: it is the hash
		// tag. The ID itself never may.
		for _, id := range ids {
			if strings.Contains(k, id) || strings.Contains(val, id) {
				t.Errorf("key %q or its value holds the session ID %q", k, id)
			}
		}
	}
}

// testCorrupt: a session key holding something this package did not write
// gives ErrCorruptRecord, and no panic, from every method.
func testCorrupt(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := "bad" + uniq() + ":"
	b, err := redisbackend.New(client, redisbackend.WithPrefix(prefix), redisbackend.WithWriteGuard(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for i, garbage := range []string{"", "x", "\x01short", strings.Repeat("\x01\xff", 40), "\x01" + strings.Repeat("\x00", 32) + "\xff\xff\xff\xff"} {
		key := fmt.Sprintf("k%d", i)
		rec, err := b.Create(ctx, record(key, "", "p"))
		if err != nil {
			t.Fatal(err)
		}
		rk := findKey(t, srv, prefix+"s:*")
		srv.Do(t, "SET", rk, garbage)
		time.Sleep(2 * time.Millisecond) // past the write guard: exercise the cached path too
		for _, load := range []func(context.Context, string) (backend.Record, error){b.Load, b.LoadFresh} {
			if _, err := load(ctx, key); !errors.Is(err, redisbackend.ErrCorruptRecord) || !errors.Is(err, session.ErrCorrupt) {
				t.Errorf("garbage %q: Load = %v, want ErrCorruptRecord, matching session.ErrCorrupt", garbage, err)
			}
		}
		if _, err := b.Update(ctx, rec); !errors.Is(err, redisbackend.ErrCorruptRecord) && len(garbage) < 41 {
			t.Errorf("garbage %q: Update = %v, want ErrCorruptRecord", garbage, err)
		}
		if err := b.Touch(ctx, key, time.Now().Add(time.Hour)); err != nil && !errors.Is(err, redisbackend.ErrCorruptRecord) {
			t.Errorf("garbage %q: Touch = %v", garbage, err)
		}
		if _, err := b.Rekey(ctx, rec, key+"-new"); err == nil {
			t.Errorf("garbage %q: Rekey succeeded", garbage)
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Errorf("garbage %q: Delete = %v", garbage, err)
		}
	}
	// A key of another type.
	if _, err := b.Create(ctx, record("h", "", "p")); err != nil {
		t.Fatal(err)
	}
	rk := findKey(t, srv, prefix+"s:*")
	srv.Do(t, "DEL", rk)
	srv.Do(t, "HSET", rk, "f", "v")
	if _, err := b.LoadFresh(ctx, "h"); !errors.Is(err, redisbackend.ErrCorruptRecord) {
		t.Errorf("hash under a session key: Load = %v, want ErrCorruptRecord", err)
	}
	srv.Do(t, "DEL", rk)
}

// testWrongType: a key of another type never blocks a logout. A list at a
// session key is removed by Destroy; an owner index of the wrong type is
// reset, so Create and DestroyByOwner of that owner go on working, and the
// first DestroyByOwner that finds it says what was wrong.
func testWrongType(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := "type" + uniq() + ":"
	m, err := session.NewManager[counter](newBackend(t, client, redisbackend.WithPrefix(prefix)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(ctx, "", counter{})
	if err != nil {
		t.Fatal(err)
	}
	rk := findKey(t, srv, prefix+"s:*")
	srv.Do(t, "DEL", rk)
	srv.Do(t, "RPUSH", rk, "a", "b")
	if _, err := m.Get(ctx, s.ID); !errors.Is(err, session.ErrCorrupt) {
		t.Fatalf("Get of a list at the session key = %v, want ErrCorrupt", err)
	}
	if err := m.Destroy(ctx, s.ID); err != nil {
		t.Fatalf("Destroy of a list at the session key = %v, want it removed", err)
	}
	if keys := srv.Do(t, "KEYS", prefix+"*"); keys != "" {
		t.Fatalf("keys left after Destroy: %q", keys)
	}

	first, err := m.Create(ctx, "frank", counter{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	idx := findKey(t, srv, prefix+"o:*}")
	srv.Do(t, "DEL", idx)
	srv.Do(t, "SET", idx, "not an index")
	n, err := m.DestroyByOwner(ctx, "frank")
	if !errors.Is(err, session.ErrCorrupt) || !strings.Contains(err.Error(), "string") {
		t.Fatalf("DestroyByOwner over a string index = %d, %v; want ErrCorrupt naming what was there", n, err)
	}
	srv.Do(t, "SET", idx, "not an index")
	second, err := m.Create(ctx, "frank", counter{N: 2})
	if err != nil {
		t.Fatalf("Create of an owner whose index is a string = %v, want the index reset", err)
	}
	if n, err := m.DestroyByOwner(ctx, "frank"); err != nil || n != 1 {
		t.Fatalf("DestroyByOwner after the reset = %d, %v; want 1", n, err)
	}
	if _, err := m.GetFresh(ctx, second.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("the session created after the reset survived DestroyByOwner: %v", err)
	}
	// The one indexed only by the broken key is beyond reach of the index;
	// Destroy still ends it.
	if err := m.Destroy(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
}

// testPreflight: New refuses a server that may evict owner indexes, and a
// user who may not run scripts, with errors that name the problem; a
// permission missing at run time is ErrPermission, not ErrUnavailable.
func testPreflight(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	lru := redistest.Standalone(t, "--maxmemory-policy", "allkeys-lru")
	lruClient := standaloneClient(t, lru.Addr)
	if _, err := redisbackend.New(lruClient); !errors.Is(err, redisbackend.ErrEvictionPolicy) || !strings.Contains(err.Error(), "allkeys-lru") {
		t.Fatalf("New on allkeys-lru = %v, want ErrEvictionPolicy naming the policy", err)
	}
	if _, err := redisbackend.New(lruClient, redisbackend.WithEvictionAllowed(true)); err != nil {
		t.Fatalf("New on allkeys-lru with WithEvictionAllowed(true) = %v", err)
	}
	user := func(name string, rules ...string) rueidis.Client {
		args := append([]string{"ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all"}, rules...)
		srv.Do(t, args...)
		return newClient(t, rueidis.ClientOption{InitAddress: []string{srv.Addr}, Username: name, Password: "pw"})
	}
	if _, err := redisbackend.New(user("noscript", "-@scripting")); !errors.Is(err, redisbackend.ErrPermission) || !strings.Contains(err.Error(), "@scripting") {
		t.Fatalf("New for a user without scripting = %v, want ErrPermission naming @scripting", err)
	}
	b, err := redisbackend.New(user("nozadd", "-zadd"), redisbackend.WithPrefix("perm"+uniq()+":"))
	if err != nil {
		t.Fatalf("New for a user without ZADD = %v", err)
	}
	_, err = b.Create(ctx, record("k", "owner", "p"))
	if !errors.Is(err, redisbackend.ErrPermission) || errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Create of an owned session without ZADD = %v, want ErrPermission and not ErrUnavailable", err)
	}
}

// testUnknownIDs: 20,000 Gets of random, well-formed IDs (anonymous
// traffic with made-up cookies) leave Redis's tracking table as it was:
// unknown keys are read without the cache, so they are neither tracked by
// Redis nor cached by the client. Sessions that exist are still cached.
func testUnknownIDs(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	m, err := session.NewManager[counter](newBackend(t, client))
	if err != nil {
		t.Fatal(err)
	}
	tracked := func() int {
		for _, line := range strings.Split(srv.Do(t, "INFO", "stats"), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tracking_total_keys:"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatal("INFO stats has no tracking_total_keys")
		return 0
	}
	before := tracked()
	const probes, workers = 20000, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < probes; i += workers {
				if _, err := m.Get(ctx, uniq()+uniq()); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("Get of a random ID = %v, want ErrNotFound", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if grown := tracked() - before; grown > 16 {
		t.Fatalf("%d Gets of unknown IDs grew Redis's tracking table by %d keys, want at most 16", probes, grown)
	}
	// A real session is cached after its first read.
	s, err := m.Create(ctx, "", counter{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := m.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if tracked() <= before {
		t.Fatal("reads of a real session are not tracked: the cache is not used")
	}
}

// findKey returns the one key matching pattern.
func findKey(t *testing.T, srv *redistest.Server, pattern string) string {
	t.Helper()
	keys := srv.Do(t, "KEYS", pattern)
	if keys == "" || strings.Contains(keys, "\n") {
		t.Fatalf("KEYS %s = %q, want one key", pattern, keys)
	}
	return keys
}

// testNotReplicated: with WithWaitReplicas on a server without replicas,
// writes are applied and report ErrNotReplicated.
func testNotReplicated(t *testing.T, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	b := newBackend(t, client, redisbackend.WithWaitReplicas(1, 20*time.Millisecond))
	rec, err := b.Create(ctx, record("k", "dave", "p"))
	if !errors.Is(err, redisbackend.ErrNotReplicated) || !strings.Contains(err.Error(), "0 of 1") {
		t.Fatalf("Create = %v, want ErrNotReplicated (0 of 1)", err)
	}
	if rec.Version != 1 {
		t.Fatalf("Create returned %+v with ErrNotReplicated, want the stored record", rec)
	}
	if _, err := b.Update(ctx, rec); !errors.Is(err, redisbackend.ErrNotReplicated) {
		t.Fatalf("Update = %v, want ErrNotReplicated", err)
	}
	if got, err := b.Load(ctx, "k"); err != nil || got.Version != 2 {
		t.Fatalf("Load after unreplicated Update = %+v, %v; want version 2", got, err)
	}
	if !errors.Is(err, backend.ErrNotDurable) {
		t.Fatalf("ErrNotReplicated does not match backend.ErrNotDurable: %v", err)
	}
	if n, err := b.DeleteByOwner(ctx, "dave"); n != 1 || !errors.Is(err, redisbackend.ErrNotReplicated) {
		t.Fatalf("DeleteByOwner = %d, %v; want 1, ErrNotReplicated", n, err)
	}
	if err := b.Delete(ctx, "k"); !errors.Is(err, redisbackend.ErrNotReplicated) {
		t.Fatalf("Delete = %v, want ErrNotReplicated", err)
	}
	// Nothing to delete is no confirmation either (a primary restarted
	// empty finds nothing).
	if n, err := b.DeleteByOwner(ctx, "nobody"); n != 0 || !errors.Is(err, redisbackend.ErrNotReplicated) {
		t.Fatalf("DeleteByOwner of an owner without sessions = %d, %v; want 0, ErrNotReplicated", n, err)
	}
}

// testNotDurableManager: the Manager treats an unreplicated write as the
// applied write it is. On a server without replicas, with
// WithWaitReplicas(1, 50ms): Create returns a usable session, two Saves in
// a row both store their data without ErrConflict, Update returns the
// stored session without retrying, Renew hands out a working new ID and
// the old one is dead; each reports ErrNotDurable.
func testNotDurableManager(t *testing.T, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	m, err := session.NewManager[counter](newBackend(t, client, redisbackend.WithWaitReplicas(1, 50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	notDurable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, session.ErrNotDurable) || !errors.Is(err, redisbackend.ErrNotReplicated) {
			t.Fatalf("%s = %v, want ErrNotDurable (ErrNotReplicated)", what, err)
		}
	}
	s, err := m.Create(ctx, "erin", counter{N: 1})
	notDurable("Create", err)
	if s == nil {
		t.Fatal("Create returned no session with ErrNotDurable")
	}
	for n := 2; n <= 3; n++ {
		s.Data.N = n
		notDurable(fmt.Sprint("Save #", n-1), m.Save(ctx, s))
		if got, err := m.GetFresh(ctx, s.ID); err != nil || got.Data.N != n {
			t.Fatalf("GetFresh after Save #%d = %+v, %v; want N = %d", n-1, got, err, n)
		}
	}
	calls := 0
	got, err := m.Update(ctx, s.ID, func(s *session.Session[counter]) error { calls++; s.Data.N++; return nil })
	notDurable("Update", err)
	if calls != 1 || got == nil || got.Data.N != 4 {
		t.Fatalf("Update ran fn %d times and returned %+v; want once, N = 4", calls, got)
	}
	old := s.ID
	s, err = m.GetFresh(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	notDurable("Renew", m.Renew(ctx, s))
	if s.ID == old {
		t.Fatal("Renew with ErrNotDurable left the old ID in s.ID")
	}
	if got, err := m.GetFresh(ctx, s.ID); err != nil || got.Data.N != 4 {
		t.Fatalf("GetFresh of the renewed ID = %+v, %v", got, err)
	}
	if _, err := m.GetFresh(ctx, old); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("GetFresh of the old ID after Renew = %v, want ErrNotFound", err)
	}
	n, err := m.DestroyByOwner(ctx, "erin")
	notDurable("DestroyByOwner", err)
	if n != 1 {
		t.Fatalf("DestroyByOwner = %d, want 1", n)
	}
}

// testOwnerIndexPrune: index entries of sessions that are gone or changed
// owner behind the index's back are dropped by ListByOwner, and never
// returned.
func testOwnerIndexPrune(t *testing.T, srv *redistest.Server, client rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := "idx" + uniq() + ":"
	b, err := redisbackend.New(client, redisbackend.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := b.Create(ctx, record(fmt.Sprint("k", i), "erin", "p")); err != nil {
			t.Fatal(err)
		}
	}
	idx := findKey(t, srv, prefix+"o:*}")
	members := strings.Split(srv.Do(t, "ZRANGE", idx, "0", "-1"), "\n")
	// Delete two sessions behind the backend's back.
	sessionKey := func(h string) string { return prefix + "s:{" + h[:8] + "}" + h[8:] } // see doc.go
	srv.Do(t, "DEL", sessionKey(members[0]), sessionKey(members[1]))
	// And an entry for a session that never existed.
	srv.Do(t, "ZADD", idx, fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	recs, err := b.ListByOwner(ctx, "erin")
	if err != nil || len(recs) != 3 {
		t.Fatalf("ListByOwner = %d records, %v; want 3", len(recs), err)
	}
	if n := srv.Do(t, "ZCARD", idx); n != "3" {
		t.Fatalf("index has %s entries after the pruning read, want 3", n)
	}
	if n, err := b.DeleteByOwner(ctx, "erin"); n != 3 || err != nil {
		t.Fatalf("DeleteByOwner = %d, %v; want 3", n, err)
	}
	// Only the name keys of the two sessions deleted behind the
	// backend's back stay, until a minute after their absolute deadline.
	if keys := srv.Do(t, "KEYS", prefix+"*"); strings.Count(keys, prefix+"n:{") != 2 || strings.Count(keys, "\n") != 1 {
		t.Fatalf("keys left after DeleteByOwner: %q, want the name keys of the two sessions deleted by DEL", keys)
	}
}

// testNewFromURL: the URL constructor connects, owns its client, and
// reports an unreachable server.
func testNewFromURL(t *testing.T, addr string) {
	ctx := ctxT(t, time.Minute)
	b, err := redisbackend.NewFromURL(ctx, "redis://"+addr, redisbackend.WithPrefix("url"+uniq()+":"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, record("k", "", "p")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, "k"); !errors.Is(err, redisbackend.ErrClosed) || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Load after Close = %v, want ErrClosed and ErrUnavailable", err)
	}
	if _, err := redisbackend.NewFromURL(ctx, "redis://127.0.0.1:1"); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("NewFromURL of a closed port = %v, want ErrUnavailable", err)
	}
	if _, err := redisbackend.NewFromURL(ctx, "redis://"+addr, redisbackend.WithCacheTTL(-1)); err == nil {
		t.Fatal("NewFromURL with a negative cache TTL: no error")
	}
}

// testManagerConcurrentUpdate: 100 goroutines × 20 increments through
// Manager.Update with default options lose nothing, with the cache on. The
// goroutines are split over two Managers on two Backends, as on two
// instances, so compare-and-swap conflicts really happen (one Manager
// alone lets its own goroutines take turns).
func testManagerConcurrentUpdate(t *testing.T, client rueidis.Client) {
	ctx := ctxT(t, 2*time.Minute)
	var ms [2]*session.Manager[counter]
	prefix := redisbackend.WithPrefix("t" + uniq() + ":")
	for i := range ms {
		m, err := session.NewManager[counter](newBackend(t, client, prefix))
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	m := ms[0]
	s, err := m.Create(ctx, "frank", counter{})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 100, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := ms[w%2]
			for i := 0; i < each; i++ {
				if _, err := m.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N++; return nil }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := m.GetFresh(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data.N != workers*each {
		t.Fatalf("counter = %d after %d increments", got.Data.N, workers*each)
	}
}
