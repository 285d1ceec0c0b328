package redisbackend_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/conformance"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestNearCache: the Backends NewFromURL makes, whose cached Loads go
// through a near cache in front of rueidis's, keep every promise of the
// client-side cache: the conformance suite, read-your-writes, another
// instance's writes seen within 100 ms, a warm Load served without a
// command, and nothing served from the cache of a connection that
// dropped.
func TestNearCache(t *testing.T) {
	srv := redistest.Standalone(t)
	t.Run("Conformance", func(t *testing.T) { conformance.Run(t, urlFactory(srv.Addr)) })
	t.Run("ReadYourWrites", func(t *testing.T) {
		testReadYourWrites(t, func(t *testing.T, opts ...redisbackend.Option) *redisbackend.Backend {
			return newURLBackend(t, srv.Addr, opts...)
		})
	})
	t.Run("TwoInstances", func(t *testing.T) {
		prefix := redisbackend.WithPrefix("two" + uniq() + ":")
		testTwoInstances(t, newURLBackend(t, srv.Addr, prefix), newURLBackend(t, srv.Addr, prefix))
	})
	t.Run("ServedLocally", func(t *testing.T) { testServedLocally(t, srv) })
	t.Run("ConnectionDropped", func(t *testing.T) { testConnectionDropped(t, srv) })
	t.Run("OnInvalidationsOfTheCaller", func(t *testing.T) { testCallersOnInvalidations(t, srv) })
}

// testCallersOnInvalidations: NewFromOption keeps an OnInvalidations of
// the caller's, and its own near cache still learns of another
// instance's write.
func testCallersOnInvalidations(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("opt" + uniq() + ":")
	var calls atomic.Int64
	a, err := redisbackend.NewFromOption(ctx, rueidis.ClientOption{
		InitAddress:     []string{srv.Addr},
		OnInvalidations: func([]rueidis.RedisMessage) { calls.Add(1) },
	}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	other := newBackend(t, standaloneClient(t, srv.Addr), prefix, redisbackend.WithCache(false))
	rec, err := other.Create(ctx, record("theirs", "", "old"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // now cached on a
		if got, err := a.Load(ctx, rec.Key); err != nil || string(got.Payload) != "old" {
			t.Fatalf("Load = %v, %v", got, err)
		}
	}
	rec.Payload = []byte("new")
	if _, err := other.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	loadWithin(t, a, rec.Key, "after another instance's write, with the caller's OnInvalidations called", func(got backend.Record, err error) bool {
		return err == nil && string(got.Payload) == "new" && calls.Load() > 0
	})
}

// loadWithin Loads key from b until ok accepts what it returns, and fails
// the test with what if that takes more than 2s.
func loadWithin(t *testing.T, b *redisbackend.Backend, key, what string, ok func(backend.Record, error) bool) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	start := time.Now()
	for {
		got, err := b.Load(ctx, key)
		if ok(got, err) {
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%s: 2s on, Load = %q, %v", what, got.Payload, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// testServedLocally: a Load of a session read before, and unchanged since,
// runs no command on the server.
func testServedLocally(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	b := newURLBackend(t, srv.Addr)
	rec, err := b.Create(ctx, record("local", "", "v"))
	if err != nil {
		t.Fatal(err)
	}
	err = servedLocally(t, srv, func() error {
		got, err := b.Load(ctx, rec.Key)
		if err == nil && string(got.Payload) != "v" {
			err = fmt.Errorf("Load = %q, want %q", got.Payload, "v")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testConnectionDropped: when the server drops the connection of a
// Backend, that Backend stops serving what it cached through it. Its
// invalidations are lost with the connection, so a cached copy kept past
// the drop would be served until the cache TTL while another instance
// changes or deletes the session.
func testConnectionDropped(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("drop" + uniq() + ":")
	a, err := redisbackend.NewFromURL(ctx, "redis://"+srv.Addr+"?client_name=droppee", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	other := newBackend(t, standaloneClient(t, srv.Addr), prefix, redisbackend.WithCache(false))
	for round := range 5 {
		rec, err := other.Create(ctx, record(fmt.Sprint("dropped-", round), "", "old"))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for range 3 { // now cached on a
			if got, err := a.Load(ctx, rec.Key); err != nil || string(got.Payload) != "old" {
				t.Fatalf("round %d: Load = %v, %v", round, got, err)
			}
		}
		if n := killClients(t, srv, "droppee"); n == 0 {
			t.Fatalf("round %d: no connection of a to kill", round)
		}
		rec.Payload = []byte("new")
		if round%2 == 0 {
			if _, err := other.Update(ctx, rec); err != nil {
				t.Fatalf("round %d: Update: %v", round, err)
			}
		} else if err := other.Delete(ctx, rec.Key); err != nil {
			t.Fatalf("round %d: Delete: %v", round, err)
		}
		// a learns of the drop when its read loop meets the closed
		// socket, which takes a moment; the old copy must then be gone.
		loadWithin(t, a, rec.Key, fmt.Sprintf("round %d: after its connection dropped", round), func(got backend.Record, err error) bool {
			if round%2 == 0 {
				return err == nil && string(got.Payload) == "new"
			}
			return errors.Is(err, backend.ErrNotFound)
		})
	}
}

// killClients closes the server's connections of the clients named name
// and returns how many it closed.
func killClients(t *testing.T, srv *redistest.Server, name string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(srv.Do(t, "CLIENT", "LIST"), "\n") {
		f := strings.Fields(line)
		if !slices.Contains(f, "name="+name) {
			continue
		}
		id, ok := strings.CutPrefix(f[0], "id=")
		if !ok {
			t.Fatalf("CLIENT LIST: %q", line)
		}
		srv.Do(t, "CLIENT", "KILL", "ID", id)
		n++
	}
	return n
}
