package redisbackend_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// eventWait bounds every wait for an event.
const eventWait = 10 * time.Second

// sink records the events a subscription delivers, with the time each
// arrived.
type sink struct {
	mu   sync.Mutex
	evs  []backend.Event
	recv []time.Time
	wake chan struct{}
}

func newSink() *sink { return &sink{wake: make(chan struct{}, 1)} }

func (s *sink) fn(e backend.Event) {
	now := time.Now()
	s.mu.Lock()
	s.evs = append(s.evs, e)
	s.recv = append(s.recv, now)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sink) all() []backend.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.evs)
}

// of returns the events of key (as Key or OldKey).
func (s *sink) of(key string) []backend.Event {
	var out []backend.Event
	for _, e := range s.all() {
		if e.Key == key || e.OldKey == key {
			out = append(out, e)
		}
	}
	return out
}

// await waits until cond holds for the events so far, at most eventWait.
func (s *sink) await(t *testing.T, what string, cond func([]backend.Event) bool) []backend.Event {
	t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		evs := s.all()
		if cond(evs) {
			return evs
		}
		select {
		case <-s.wake:
		case <-timer.C:
			t.Fatalf("no %s within %v; events: %s", what, eventWait, describeEvents(evs))
		}
	}
}

// awaitKey waits until key has n events.
func (s *sink) awaitKey(t *testing.T, key string, n int) []backend.Event {
	t.Helper()
	s.await(t, fmt.Sprintf("%d events of %q", n, key), func([]backend.Event) bool { return len(s.of(key)) >= n })
	return s.of(key)
}

func describeEvents(evs []backend.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i == 20 {
			fmt.Fprintf(&b, " ... (%d in all)", len(evs))
			break
		}
		fmt.Fprintf(&b, " %s(%q, old %q, owner %q, missed %d)", e.Kind, e.Key, e.OldKey, e.Owner, e.Missed)
	}
	return b.String()
}

// kinds checks the kinds, keys and owners of evs.
func expectKinds(t *testing.T, what string, evs []backend.Event, want ...backend.Event) {
	t.Helper()
	ok := len(evs) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := evs[i], want[i]
		ok = g.Kind == w.Kind && g.Key == w.Key && g.OldKey == w.OldKey && g.Owner == w.Owner
		if ok && g.Kind != backend.EventMissed && (g.At.IsZero() || time.Since(g.At).Abs() > time.Minute) {
			t.Errorf("%s: event %d has At %v", what, i, g.At)
		}
	}
	if !ok {
		t.Fatalf("%s: events%s, want%s", what, describeEvents(evs), describeEvents(want))
	}
}

func subscribe(t *testing.T, ctx context.Context, b *redisbackend.Backend) *sink {
	t.Helper()
	s := newSink()
	if err := b.Subscribe(ctx, s.fn); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

// nameKeyOf is the name key of key under prefix (the key layout of
// keys.go): <prefix>n:{<tag>}<rest> of h = '~' and base64url(SHA-256(key))
// without its first character.
func nameKeyOf(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := "~" + base64.RawURLEncoding.EncodeToString(sum[:])[1:]
	return prefix + "n:{" + h[:8] + "}" + h[8:]
}

// managerKey returns a key of session.Manager's form: 43 base64url
// characters, so that its expiry is reported with its key.
func managerKey() string { return (uniq() + uniq() + uniq())[:43] }

// testEvents runs the event checks on two instances: two Backends with
// the same prefix, each on its own client from mk.
func testEvents(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	t.Run("Writes", func(t *testing.T) { testEventsWrites(t, mk) })
	t.Run("DestroyByOwner", func(t *testing.T) { testEventsDestroyByOwner(t, mk) })
	t.Run("Expired", func(t *testing.T) { testEventsExpired(t, mk) })
}

// testEventsWrites: every applied Create, Rekey, Delete and DeleteByOwner
// on instance A arrives on instance B, with the key, old key and owner;
// failed writes, Update and Touch publish nothing (proven by a marker
// write of the same key after them: events of one key are ordered).
func testEventsWrites(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	pfx := "ev" + uniq() + ":"
	prefix := redisbackend.WithPrefix(pfx)
	a := newBackend(t, mk(t), prefix)
	b := newBackend(t, mk(t), prefix)
	s := subscribe(t, ctx, b)

	hostile := "own\x00er|\xff" + strings.Repeat("é", 100)
	k1, k2, k3 := "k1\x00|"+uniq(), "k2-"+uniq(), managerKey()
	r1, err := a.Create(ctx, record(k1, "", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, record(k1, "", "p")); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("second Create = %v", err)
	}
	r1.Payload = []byte("q")
	if r1, err = a.Update(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Update(ctx, record(k1, "", "stale")); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("stale Update = %v", err)
	}
	if err := a.Touch(ctx, k1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, k1); err != nil { // gone: nothing
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, record(k1, "marker", "p")); err != nil {
		t.Fatal(err)
	}
	expectKinds(t, "k1", s.awaitKey(t, k1, 3),
		backend.Event{Kind: backend.EventCreated, Key: k1},
		backend.Event{Kind: backend.EventDeleted, Key: k1},
		backend.Event{Kind: backend.EventCreated, Key: k1, Owner: "marker"})

	r2, err := a.Create(ctx, record(k2, hostile, "p"))
	if err != nil {
		t.Fatal(err)
	}
	stale := r2
	stale.Version = 7
	if _, err := a.Rekey(ctx, stale, k3); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("Rekey with a stale version = %v", err)
	}
	if _, err := a.Rekey(ctx, r2, k1); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Rekey onto a taken key = %v", err)
	}
	if _, err := a.Rekey(ctx, r2, k3); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rekey(ctx, r2, "k4-"+uniq()); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Rekey of a gone key = %v", err)
	}
	if _, err := a.Create(ctx, record(k2, "marker", "p")); err != nil {
		t.Fatal(err)
	}
	expectKinds(t, "k2", s.awaitKey(t, k2, 3),
		backend.Event{Kind: backend.EventCreated, Key: k2, Owner: hostile},
		backend.Event{Kind: backend.EventRekeyed, Key: k3, OldKey: k2, Owner: hostile},
		backend.Event{Kind: backend.EventCreated, Key: k2, Owner: "marker"})

	// DeleteByOwner: one EventDeleted per record it deleted.
	var owned []string
	for i := range 5 {
		k := fmt.Sprint("owned-", i, "-", uniq())
		if _, err := a.Create(ctx, record(k, hostile, "p")); err != nil {
			t.Fatal(err)
		}
		owned = append(owned, k)
	}
	if n, err := a.DeleteByOwner(ctx, hostile); err != nil || n != 6 {
		t.Fatalf("DeleteByOwner = %d, %v; want 6", n, err)
	}
	for _, k := range append(owned, k3) {
		evs := s.awaitKey(t, k, 2)
		expectKinds(t, k, evs[len(evs)-1:], backend.Event{Kind: backend.EventDeleted, Key: k, Owner: hostile})
	}
	if n, err := a.DeleteByOwner(ctx, hostile); err != nil || n != 0 {
		t.Fatalf("second DeleteByOwner = %d, %v; want 0", n, err)
	}
	for _, k := range owned[:1] {
		if _, err := a.Create(ctx, record(k, "marker", "p")); err != nil {
			t.Fatal(err)
		}
		evs := s.awaitKey(t, k, 3)
		expectKinds(t, k, evs[2:], backend.Event{Kind: backend.EventCreated, Key: k, Owner: "marker"})
	}
	// Name keys: those of the three live (marker) records, none of the
	// records deleted or rekeyed away; none for a key kept as it is.
	c := mk(t)
	for k, want := range map[string]bool{k1: true, k2: true, owned[0]: true, owned[1]: false, k3: false} {
		n, err := c.Do(ctx, c.B().Exists().Key(nameKeyOf(pfx, k)).Build()).AsInt64()
		if err != nil || (n == 1) != want {
			t.Errorf("name key of %q: EXISTS = %d, %v; want %v", k, n, err, want)
		}
	}
	for _, e := range s.all() {
		if e.Kind == backend.EventMissed {
			t.Errorf("unexpected %s(%d)", e.Kind, e.Missed)
		}
	}
	if n := b.MalformedEvents(); n != 0 {
		t.Errorf("MalformedEvents = %d", n)
	}
}

// testEventsDestroyByOwner: DestroyByOwner on Manager A arrives on Manager
// B's Subscribe as one EventDestroyed per session, by handle.
func testEventsDestroyByOwner(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
	ma, err := session.NewManager[counter](newBackend(t, mk(t), prefix))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := session.NewManager[counter](newBackend(t, mk(t), prefix))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []session.Event
	wake := make(chan struct{}, 1)
	if err := mb.Subscribe(ctx, func(e session.Event) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	handles := map[string]bool{}
	for range 4 {
		s, err := ma.Create(ctx, "ada", counter{})
		if err != nil {
			t.Fatal(err)
		}
		handles[s.Handle()] = true
	}
	if n, err := ma.DestroyByOwner(ctx, "ada"); err != nil || n != 4 {
		t.Fatalf("DestroyByOwner = %d, %v", n, err)
	}
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		mu.Lock()
		destroyed := map[string]int{}
		for _, e := range got {
			if e.Kind == session.EventDestroyed {
				destroyed[e.Handle]++
				if e.Owner != "ada" {
					t.Errorf("EventDestroyed with owner %q", e.Owner)
				}
			}
		}
		mu.Unlock()
		if len(destroyed) == len(handles) {
			for h, n := range destroyed {
				if !handles[h] || n != 1 {
					t.Fatalf("EventDestroyed of %q %d times; handles %v", h, n, handles)
				}
			}
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			t.Fatalf("within %v, B saw %v EventDestroyed of 4 sessions", eventWait, destroyed)
		}
	}
}

// testEventsExpired: a record that Redis expires arrives as EventExpired
// (Owner ""), at the Backend and through a Manager with a short idle
// timeout.
func testEventsExpired(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
	a := newBackend(t, mk(t), prefix)
	b := newBackend(t, mk(t), prefix)
	s := subscribe(t, ctx, b)
	rec := record(managerKey(), "grace", "p")
	rec.IdleDeadline = time.Now().Add(time.Second)
	if _, err := a.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	evs := s.awaitKey(t, rec.Key, 2)
	expectKinds(t, "expired record", evs,
		backend.Event{Kind: backend.EventCreated, Key: rec.Key, Owner: "grace"},
		backend.Event{Kind: backend.EventExpired, Key: rec.Key})
	if late := evs[1].At.Sub(rec.IdleDeadline); late < -10*time.Millisecond {
		t.Errorf("EventExpired at %v before the deadline", -late)
	} else {
		t.Logf("EventExpired %v after the idle deadline", late)
	}

	// A key that is not of the Manager's form is stored under its hash:
	// its name key gives the event its key.
	hashed := record("expiring\x00|"+uniq(), "", "p")
	hashed.IdleDeadline = time.Now().Add(time.Second)
	if _, err := a.Create(ctx, hashed); err != nil {
		t.Fatal(err)
	}
	expectKinds(t, "expired record under a hashed key", s.awaitKey(t, hashed.Key, 2),
		backend.Event{Kind: backend.EventCreated, Key: hashed.Key},
		backend.Event{Kind: backend.EventExpired, Key: hashed.Key})

	m, err := session.NewManager[counter](a, session.WithIdleTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := m.Create(ctx, "", counter{})
	if err != nil {
		t.Fatal(err)
	}
	expectKinds(t, "expired session", s.awaitKey(t, sess.Handle(), 2),
		backend.Event{Kind: backend.EventCreated, Key: sess.Handle()},
		backend.Event{Kind: backend.EventExpired, Key: sess.Handle()})
}

// testEventsNoConfig: on a server whose notify-keyspace-events lacks
// expired events, Subscribe turns them on if the user may, and fails
// with ErrNoExpiryEvents if not, unless WithoutExpiryEvents.
func testEventsNoConfig(t *testing.T) {
	srv := redistest.Standalone(t)
	ctx := ctxT(t, time.Minute)
	srv.Do(t, "CONFIG", "SET", "notify-keyspace-events", "Kg")
	srv.Do(t, "ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config")
	limited := newClient(t, rueidis.ClientOption{InitAddress: []string{srv.Addr}, Username: "noconfig", Password: "pw"})
	b := newBackend(t, limited)
	err := b.Subscribe(ctx, func(backend.Event) {})
	if !errors.Is(err, redisbackend.ErrNoExpiryEvents) || !strings.Contains(err.Error(), "WithoutExpiryEvents") {
		t.Fatalf("Subscribe as a user without CONFIG = %v, want ErrNoExpiryEvents naming WithoutExpiryEvents", err)
	}
	b2 := newBackend(t, limited, redisbackend.WithoutExpiryEvents())
	s := subscribe(t, ctx, b2)
	k := uniq()
	if _, err := b2.Create(ctx, record(k, "", "p")); err != nil {
		t.Fatal(err)
	}
	s.awaitKey(t, k, 1)

	// The default user may: the flags are merged.
	subscribe(t, ctx, newBackend(t, standaloneClient(t, srv.Addr)))
	if got := srv.Do(t, "CONFIG", "GET", "notify-keyspace-events"); !strings.Contains(got, "K") ||
		!strings.Contains(got, "E") || !strings.Contains(got, "x") || !strings.Contains(got, "g") {
		t.Fatalf("notify-keyspace-events after Subscribe: %q, want K, g, E and x", got)
	}
}

// testEventsReconnect: after Redis kills the subscription's connection,
// the subscriber gets EventMissed{Missed: 0}, then later events again.
func testEventsReconnect(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	b := newBackend(t, standaloneClient(t, srv.Addr))
	s := subscribe(t, ctx, b)
	srv.Do(t, "CLIENT", "KILL", "TYPE", "pubsub")
	s.await(t, "EventMissed after CLIENT KILL", func(evs []backend.Event) bool {
		return slices.ContainsFunc(evs, func(e backend.Event) bool { return e.Kind == backend.EventMissed && e.Missed == 0 })
	})
	k := uniq()
	if _, err := b.Create(ctx, record(k, "", "p")); err != nil {
		t.Fatal(err)
	}
	s.awaitKey(t, k, 1)
}

// testEventLatency logs the delivery latency of events across two
// instances on loopback: from the write's clock reading (Event.At) to
// the subscriber's call, for 1000 Creates one after the other.
func testEventLatency(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	const n = 1000
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
	a := newBackend(t, mk(t), prefix)
	s := subscribe(t, ctx, newBackend(t, mk(t), prefix))
	for i := range n {
		if _, err := a.Create(ctx, record(fmt.Sprint("lat-", i), "", "p")); err != nil {
			t.Fatal(err)
		}
	}
	s.await(t, fmt.Sprintf("%d events", n), func(evs []backend.Event) bool { return len(evs) >= n })
	s.mu.Lock()
	lat := make([]time.Duration, 0, n)
	for i, e := range s.evs {
		lat = append(lat, s.recv[i].Sub(e.At))
	}
	s.mu.Unlock()
	slices.Sort(lat)
	t.Logf("event latency across two instances, %d Creates: p50 %v, p99 %v, max %v",
		n, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

func TestEventsStandalone(t *testing.T) {
	srv := redistest.Standalone(t)
	mk := func(t *testing.T) rueidis.Client { return standaloneClient(t, srv.Addr) }
	testEvents(t, mk)
	t.Run("NoConfig", testEventsNoConfig)
	t.Run("NoChannels", func(t *testing.T) { testEventsNoChannels(t, srv) })
	t.Run("Reconnect", func(t *testing.T) { testEventsReconnect(t, srv) })
	t.Run("Malformed", func(t *testing.T) {
		// Something else publishes on the event channel: dropped and
		// counted, and the events after it arrive.
		ctx := ctxT(t, time.Minute)
		pfx := "ev" + uniq() + ":"
		b := newBackend(t, standaloneClient(t, srv.Addr), redisbackend.WithPrefix(pfx))
		s := subscribe(t, ctx, b)
		for _, msg := range []string{"", "garbage", "\x01\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff"} {
			srv.Do(t, "PUBLISH", pfx+"ev", msg)
		}
		k := uniq()
		if _, err := b.Create(ctx, record(k, "", "p")); err != nil {
			t.Fatal(err)
		}
		s.awaitKey(t, k, 1)
		if n := b.MalformedEvents(); n != 3 {
			t.Fatalf("MalformedEvents = %d, want 3", n)
		}
		if evs := s.all(); len(evs) != 1 {
			t.Fatalf("events: %s, want the one of %q", describeEvents(evs), k)
		}
	})
	t.Run("Latency", func(t *testing.T) { testEventLatency(t, mk) })
}

func TestEventsCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	mk := func(t *testing.T) rueidis.Client {
		return newClient(t, rueidis.ClientOption{InitAddress: c.Addrs[:1]})
	}
	testEvents(t, mk)
	t.Run("Latency", func(t *testing.T) { testEventLatency(t, mk) })
	t.Run("RekeyHolds", func(t *testing.T) { testEventsRekeyHolds(t, mk) })
	t.Run("Reconnect", func(t *testing.T) {
		// One node drops the subscription: EventMissed, then the events
		// of every slot again.
		ctx := ctxT(t, time.Minute)
		prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
		a := newBackend(t, mk(t), prefix)
		s := subscribe(t, ctx, newBackend(t, mk(t), prefix))
		c.Nodes[1].Do(t, "CLIENT", "KILL", "TYPE", "pubsub")
		s.await(t, "EventMissed after CLIENT KILL", func(evs []backend.Event) bool {
			return slices.ContainsFunc(evs, func(e backend.Event) bool { return e.Kind == backend.EventMissed && e.Missed == 0 })
		})
		for i := range 30 {
			k := fmt.Sprint("after-", i)
			if _, err := a.Create(ctx, record(k, "", "p")); err != nil {
				t.Fatal(err)
			}
			s.awaitKey(t, k, 1)
		}
	})
}

// testEventsRekeyHolds: on a Cluster, a Rekey's pending message holds the
// new key's events only until its EventRekeyed or its abort message: the
// events after a failed Rekey (an abort) and after a chain of Rekeys
// arrive in order and well within the 2 s after which a subscription lets
// go of a pending key whose Rekey never completes.
func testEventsRekeyHolds(t *testing.T, mk func(t *testing.T) rueidis.Client) {
	const prompt = time.Second // the bound lies at 2 s
	ctx := ctxT(t, time.Minute)
	prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
	a := newBackend(t, mk(t), prefix)
	s := subscribe(t, ctx, newBackend(t, mk(t), prefix))
	for i := range 5 {
		rec, err := a.Create(ctx, record(fmt.Sprint("abort-", i, "-", uniq()), "", "p"))
		if err != nil {
			t.Fatal(err)
		}
		stale := rec
		stale.Version = 9
		target := fmt.Sprint("target-", i, "-", uniq())
		if _, err := a.Rekey(ctx, stale, target); !errors.Is(err, backend.ErrConflict) {
			t.Fatalf("Rekey with a stale version = %v", err)
		}
		start := time.Now()
		if _, err := a.Create(ctx, record(target, "", "p")); err != nil {
			t.Fatal(err)
		}
		expectKinds(t, "the target of a failed Rekey", s.awaitKey(t, target, 1),
			backend.Event{Kind: backend.EventCreated, Key: target})
		if d := time.Since(start); d > prompt {
			t.Fatalf("the Create after a failed Rekey arrived after %v", d)
		}
	}
	rec, err := a.Create(ctx, record("hop-"+uniq(), "o", "p"))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{rec.Key}
	start := time.Now()
	for range 10 {
		if rec, err = a.Rekey(ctx, rec, "hop-"+uniq()); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rec.Key)
	}
	if err := a.Delete(ctx, rec.Key); err != nil {
		t.Fatal(err)
	}
	s.awaitKey(t, rec.Key, 2)
	if d := time.Since(start); d > prompt {
		t.Fatalf("a chain of 10 Rekeys and a Delete arrived after %v", d)
	}
	for i, k := range keys {
		want := []backend.Event{{Kind: backend.EventCreated, Key: k, Owner: "o"}}
		if i > 0 {
			want[0] = backend.Event{Kind: backend.EventRekeyed, Key: k, OldKey: keys[i-1], Owner: "o"}
		}
		if i+1 < len(keys) {
			want = append(want, backend.Event{Kind: backend.EventRekeyed, Key: keys[i+1], OldKey: k, Owner: "o"})
		} else {
			want = append(want, backend.Event{Kind: backend.EventDeleted, Key: k, Owner: "o"})
		}
		expectKinds(t, fmt.Sprint("hop ", i), s.of(k), want...)
	}
	// Two Creates per failed Rekey, then the chain's 12 events: no pending
	// or abort message is delivered.
	if evs := s.all(); len(evs) != 5*2+12 {
		t.Errorf("%d events, want %d:%s", len(evs), 5*2+12, describeEvents(evs))
	}
}

func TestEventsSentinel(t *testing.T) {
	g := redistest.NewSentinel(t)
	mk := func(t *testing.T) rueidis.Client {
		return newClient(t, rueidis.ClientOption{
			InitAddress: g.SentinelAddrs,
			Sentinel:    rueidis.SentinelOption{MasterSet: g.MasterName},
		})
	}
	testEvents(t, mk)
	t.Run("Failover", func(t *testing.T) { testEventsFailover(t, g, mk) })
}

// testEventsNoChannels: a user who may not publish to the event channels
// (Redis 7 gives new ACL users no channels) is refused by New with
// ErrPermission naming the grant, and one who may is accepted.
func testEventsNoChannels(t *testing.T, srv *redistest.Server) {
	prefix := "perm" + uniq() + ":"
	srv.Do(t, "ACL", "SETUSER", "nochannels", "on", ">pw", "~*", "resetchannels", "+@all")
	c := newClient(t, rueidis.ClientOption{InitAddress: []string{srv.Addr}, Username: "nochannels", Password: "pw"})
	_, err := redisbackend.New(c, redisbackend.WithPrefix(prefix))
	if !errors.Is(err, redisbackend.ErrPermission) || !strings.Contains(err.Error(), "&"+prefix+"ev*") {
		t.Fatalf("New for a user without channels = %v, want ErrPermission naming &%sev*", err, prefix)
	}
	srv.Do(t, "ACL", "SETUSER", "somechannels", "on", ">pw", "~*", "resetchannels", "&"+prefix+"ev*", "+@all")
	c = newClient(t, rueidis.ClientOption{InitAddress: []string{srv.Addr}, Username: "somechannels", Password: "pw"})
	b, err := redisbackend.New(c, redisbackend.WithPrefix(prefix))
	if err != nil {
		t.Fatalf("New for a user with the event channels = %v", err)
	}
	defer b.Close()
	if _, err := b.Create(ctxT(t, time.Minute), record("k", "", "p")); err != nil {
		t.Fatal(err)
	}
}

// testEventsFailover: after Sentinel promotes the replica, a subscription
// delivers EventMissed{0}, then writes and expiries on the new primary,
// whose notify-keyspace-events it turned on itself.
func testEventsFailover(t *testing.T, g *redistest.SentinelGroup, mk func(t *testing.T) rueidis.Client) {
	eventsAcrossFailover(t, g, mk, "failover", func() { g.Master.Kill() }, true)
	if got := g.Replica.Do(t, "CONFIG", "GET", "notify-keyspace-events"); !strings.Contains(got, "E") || !strings.Contains(got, "x") {
		t.Errorf("notify-keyspace-events on the new primary: %q", got)
	}
}

// TestEventsSentinelSwitch: SENTINEL FAILOVER demotes the primary without
// closing the subscription's connection (it stays open to what is now a
// replica, which expires no keys); the subscription notices that the
// client switched primaries, subscribes on the new one and delivers
// EventMissed, then its writes and expiries.
func TestEventsSentinelSwitch(t *testing.T) {
	g := redistest.NewSentinel(t)
	mk := func(t *testing.T) rueidis.Client {
		return newClient(t, rueidis.ClientOption{
			InitAddress: g.SentinelAddrs,
			Sentinel:    rueidis.SentinelOption{MasterSet: g.MasterName},
		})
	}
	eventsAcrossFailover(t, g, mk, "switch", func() { g.Sentinel.Do(t, "SENTINEL", "FAILOVER", g.MasterName) }, false)
}

// eventsAcrossFailover subscribes on one instance, runs failover, waits
// for the EventMissed{0} and then for the events of a record that a second
// instance writes on the new primary and Redis expires there. Until the
// client follows the new primary, a Create is retried: on any error, or,
// with unavailableOnly, only on one matching backend.ErrUnavailable.
func eventsAcrossFailover(t *testing.T, g *redistest.SentinelGroup, mk func(t *testing.T) rueidis.Client,
	what string, failover func(), unavailableOnly bool) {
	ctx := ctxT(t, 2*time.Minute)
	g.Replica.Do(t, "CONFIG", "SET", "notify-keyspace-events", "")
	prefix := redisbackend.WithPrefix("ev" + uniq() + ":")
	a := newBackend(t, mk(t), prefix)
	b := newBackend(t, mk(t), prefix)
	s := subscribe(t, ctx, b)
	old := g.Master.Addr
	failover()
	t.Logf("%s from %s to %s", what, old, g.WaitFailover(t, old))
	s.await(t, "EventMissed after the "+what, func(evs []backend.Event) bool {
		return slices.ContainsFunc(evs, func(e backend.Event) bool { return e.Kind == backend.EventMissed && e.Missed == 0 })
	})
	rec := record(managerKey(), "", "p")
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.IdleDeadline = time.Now().Add(time.Second)
		_, err := a.Create(ctx, rec)
		if err == nil {
			break
		}
		if (unavailableOnly && !errors.Is(err, backend.ErrUnavailable)) || time.Now().After(deadline) {
			t.Fatalf("Create after the %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond) // rueidis follows +switch-master
	}
	expectKinds(t, "a record on the new primary", s.awaitKey(t, rec.Key, 2),
		backend.Event{Kind: backend.EventCreated, Key: rec.Key},
		backend.Event{Kind: backend.EventExpired, Key: rec.Key})
}
