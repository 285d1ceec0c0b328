package postgresbackend_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
	"github.com/sessionkit/sessionkit/session"
)

// eventWait bounds every wait for one event.
const eventWait = 10 * time.Second

// received is one delivered event and when fn saw it.
type received struct {
	backend.Event
	when time.Time
}

// eventSink collects what a subscription delivers, in order.
type eventSink struct{ c chan received }

// subscribe subscribes a new sink to b until ctx is done. Its buffer holds
// more than any test writes, so fn never blocks.
func subscribe(t *testing.T, ctx context.Context, b *postgresbackend.Backend) *eventSink {
	t.Helper()
	s := &eventSink{c: make(chan received, 1<<14)}
	if err := b.Subscribe(ctx, func(e backend.Event) { s.c <- received{e, time.Now()} }); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

// next returns the next event, failing t after eventWait.
func (s *eventSink) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-s.c:
		return r
	case <-time.After(eventWait):
		t.Fatalf("no event within %v", eventWait)
		return received{}
	}
}

// expect takes len(want) events and compares Kind, Key, OldKey and Owner,
// and At where want has one. A single listener sees the notifications in
// commit order, so the events of serial writes arrive in write order.
func (s *eventSink) expect(t *testing.T, what string, want ...backend.Event) {
	t.Helper()
	for i, w := range want {
		got := s.next(t).Event
		at := got.At
		if w.At.IsZero() {
			got.At = time.Time{}
		}
		if !got.At.Equal(w.At) || got.Kind != w.Kind || got.Key != w.Key || got.OldKey != w.OldKey || got.Owner != w.Owner || got.Missed != w.Missed {
			t.Fatalf("%s: event %d of %d = %s, want %s", what, i+1, len(want), show(got, at), show(w, w.At))
		}
	}
}

func show(e backend.Event, at time.Time) string {
	return fmt.Sprintf("{%v key %.40q old %.40q owner %.40q at %v missed %d}", e.Kind, e.Key, e.OldKey, e.Owner, at, e.Missed)
}

func ev(kind backend.EventKind, key, oldKey, owner string) backend.Event {
	return backend.Event{Kind: kind, Key: key, OldKey: oldKey, Owner: owner}
}

// twoInstances returns two Backends on one new table, each with its own
// pool, as two application instances, both with clock's time.
func twoInstances(t *testing.T, clock *fakeClock, opts ...postgresbackend.Option) (*postgresbackend.Backend, *postgresbackend.Backend) {
	t.Helper()
	opts = append([]postgresbackend.Option{postgresbackend.WithTable(freshTable()), postgresbackend.WithClock(clock.now),
		postgresbackend.WithCleanupInterval(0)}, opts...)
	return newBackend(t, newPool(t), opts...), newBackend(t, newPool(t), opts...)
}

func recordAt(now time.Time, key, owner string) backend.Record {
	return backend.Record{Key: key, Owner: owner, Payload: []byte("x"),
		CreatedAt: now, IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour)}
}

// TestEventsTwoInstances: every applied write of instance 1 arrives on
// instance 2 (and on instance 1) as its event, stamped by the writer's
// clock; Update, Touch and every failed write publish nothing, which the
// marker written last proves: it is the next event after them.
func TestEventsTwoInstances(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	clock := newFakeClock(time.Now())
	b1, b2 := twoInstances(t, clock)
	other, self := subscribe(t, ctx, b2), subscribe(t, ctx, b1)
	at := clock.now().Truncate(time.Microsecond)
	stamp := func(e backend.Event) backend.Event { e.At = at; return e }

	rec, err := b1.Create(ctx, recordAt(at, "k1", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	want := []backend.Event{stamp(ev(backend.EventCreated, "k1", "", "alice"))}
	// Nothing from here to the marker: a failed Create, Update, Touch, a
	// stale Update and Rekey, a Rekey to a taken key, Deletes of a missing
	// key.
	if _, err := b1.Create(ctx, recordAt(at, "k1", "mallory")); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Create of a live key: %v", err)
	}
	if _, err := b1.Create(ctx, recordAt(at, "taken", "bob")); err != nil {
		t.Fatal(err)
	}
	want = append(want, stamp(ev(backend.EventCreated, "taken", "", "bob")))
	stale := rec
	if rec, err = b1.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b1.Touch(ctx, "k1", at.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Update(ctx, stale); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("stale Update: %v", err)
	}
	if _, err := b1.Rekey(ctx, stale, "k2"); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("stale Rekey: %v", err)
	}
	if _, err := b1.Rekey(ctx, rec, "taken"); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Rekey to a taken key: %v", err)
	}
	missing := recordAt(at, "missing", "carol")
	missing.Version = 1
	if _, err := b1.Rekey(ctx, missing, "k3"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Rekey of a missing key: %v", err)
	}
	if err := b1.Delete(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	// The marker, then the rest.
	if _, err := b1.Create(ctx, recordAt(at, "marker", "")); err != nil {
		t.Fatal(err)
	}
	want = append(want, stamp(ev(backend.EventCreated, "marker", "", "")))
	if _, err := b1.Rekey(ctx, rec, "k2"); err != nil {
		t.Fatal(err)
	}
	want = append(want, stamp(ev(backend.EventRekeyed, "k2", "k1", "alice")))
	if err := b1.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := b1.Delete(ctx, "k2"); err != nil { // gone: no event
		t.Fatal(err)
	}
	want = append(want, stamp(ev(backend.EventDeleted, "k2", "", "alice")))
	for _, k := range []string{"d1", "d2", "d3"} {
		if _, err := b1.Create(ctx, recordAt(at, k, "dave")); err != nil {
			t.Fatal(err)
		}
		want = append(want, stamp(ev(backend.EventCreated, k, "", "dave")))
	}
	if n, err := b1.DeleteByOwner(ctx, "dave"); err != nil || n != 3 {
		t.Fatalf("DeleteByOwner = %d, %v", n, err)
	}
	// One statement's rows: their order is the DELETE's.
	if _, err := b1.Create(ctx, recordAt(at, "end", "")); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*eventSink{"instance 2": other, "instance 1 (the writer)": self} {
		s.expect(t, name, want...)
		var keys []string
		for range 3 {
			e := s.next(t)
			if e.Kind != backend.EventDeleted || e.Owner != "dave" || !e.At.Equal(at) {
				t.Fatalf("%s: DeleteByOwner's event %s", name, show(e.Event, e.At))
			}
			keys = append(keys, e.Key)
		}
		if slices.Sort(keys); !slices.Equal(keys, []string{"d1", "d2", "d3"}) {
			t.Errorf("%s: DeleteByOwner's events name %q", name, keys)
		}
		s.expect(t, name+", after DeleteByOwner", ev(backend.EventCreated, "end", "", ""))
	}
}

// TestEventsHostile: keys and owners with NUL, line breaks, the payload's
// separator and invalid UTF-8, and keys of 4 KiB, arrive as written. An
// owner too long for a notification arrives as "" and does not make the
// write fail; a Rekey between two keys of 4 KiB, too long even without
// the owner, arrives as an EventMissed counting one event.
func TestEventsHostile(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	clock := newFakeClock(time.Now())
	b1, b2 := twoInstances(t, clock)
	s := subscribe(t, ctx, b2)
	at := clock.now()
	long := strings.Repeat("k", 4<<10)
	for _, c := range []struct{ key, owner, wantOwner string }{
		{"a\x00b", "o\x00:\n", "o\x00:\n"},
		{"::", "\xff\xfe", "\xff\xfe"},
		{"\xc3\x28\r\n'\"", "ünïcödé 🔑", "ünïcödé 🔑"},
		{long, "eve", "eve"},
		{long[1:] + "\x00", strings.Repeat("é", 512), strings.Repeat("é", 512)}, // 5.5 + 1.4 KiB in base64
		{long + "é", strings.Repeat("é", 2<<10), ""},                            // 5.5 + 5.5 KiB in base64: the owner is left out
		{"long owner", strings.Repeat("o", 20<<10), ""},
	} {
		if _, err := b1.Create(ctx, recordAt(at, c.key, c.owner)); err != nil {
			t.Fatalf("Create(%.40q): %v", c.key, err)
		}
		s.expect(t, fmt.Sprintf("Create(%.40q)", c.key), ev(backend.EventCreated, c.key, "", c.wantOwner))
		if err := b1.Delete(ctx, c.key); err != nil {
			t.Fatalf("Delete(%.40q): %v", c.key, err)
		}
		s.expect(t, fmt.Sprintf("Delete(%.40q)", c.key), ev(backend.EventDeleted, c.key, "", c.wantOwner))
	}
	rec, err := b1.Create(ctx, recordAt(at, long+"1", "frank"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Rekey(ctx, rec, long+"2"); err != nil {
		t.Fatalf("Rekey between keys of 4 KiB: %v", err)
	}
	s.expect(t, "Create and Rekey of keys of 4 KiB", ev(backend.EventCreated, long+"1", "", "frank"),
		backend.Event{Kind: backend.EventMissed, Missed: 1})
	// What another client sends on the channel is one lost event too.
	if _, err := newPool(t).Exec(ctx, "SELECT pg_notify($1, 'not:an:event')", postgresbackend.Channel(b1)); err != nil {
		t.Fatal(err)
	}
	if err := b1.Delete(ctx, long+"2"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "a foreign notification, then Delete", backend.Event{Kind: backend.EventMissed, Missed: 1},
		ev(backend.EventDeleted, long+"2", "", "frank"))
}

// TestEventsExpiry: the cleanup of instance 1 publishes one EventExpired,
// with its owner and the cleanup's clock, for each row it deletes, on
// instance 2; the live rows publish nothing.
func TestEventsExpiry(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	clock := newFakeClock(time.Now())
	b1, b2 := twoInstances(t, clock)
	s := subscribe(t, ctx, b2)
	const expired, live = 50, 5
	fillForCleanup(t, ctx, b1, clock, expired, live)
	for range expired + live {
		if e := s.next(t); e.Kind != backend.EventCreated {
			t.Fatalf("while filling: %s", show(e.Event, e.At))
		}
	}
	clock.advance(2 * time.Minute)
	at := clock.now().Truncate(time.Microsecond)
	cleaner := newBackend(t, newPool(t), postgresbackend.WithTable(b1.Table()), postgresbackend.WithClock(clock.now),
		postgresbackend.WithCleanupInterval(10*time.Millisecond), postgresbackend.WithCleanupBatch(7))
	seen := map[string]bool{}
	for range expired {
		e := s.next(t)
		var i int
		if _, err := fmt.Sscanf(e.Key, "k%05d", &i); err != nil || e.Kind != backend.EventExpired || i >= expired ||
			e.Owner != fmt.Sprint("owner", i%7) || !e.At.Equal(at) || seen[e.Key] {
			t.Fatalf("event %s, want the EventExpired of one of k00000 to k%05d, once each, with its owner, at %v", show(e.Event, e.At), expired-1, at)
		}
		seen[e.Key] = true
	}
	if err := cleaner.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Create(ctx, recordAt(clock.now(), "marker", "")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "after the cleanup", ev(backend.EventCreated, "marker", "", ""))
}

// listenerPid returns the pid of the server session LISTENing on b's
// channel for a pool whose sessions carry application_name app, or 0.
func listenerPid(t *testing.T, ctx context.Context, admin *pgxpool.Pool, app string, b *postgresbackend.Backend) int {
	t.Helper()
	var pid int
	err := admin.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
		WHERE application_name = $1 AND query = 'LISTEN "' || $2 || '"'`, app, postgresbackend.Channel(b)).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestEventsReconnect: when the listener's server session is terminated,
// the subscription connects and LISTENs again and delivers an EventMissed
// with Missed 0, then the events of later writes. Close ends it: its
// session goes away and Subscribe fails with ErrClosed.
func TestEventsReconnect(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	app := "sessionkit-listen-" + uniq()
	table := postgresbackend.WithTable(freshTable())
	writer := newBackend(t, newPool(t), table)
	b := newBackend(t, taggedPool(t, pgtest.Database(t), app, 2), table)
	admin := newPool(t)
	s := subscribe(t, ctx, b)
	for round := range 3 {
		pid := listenerPid(t, ctx, admin, app, b)
		if pid == 0 {
			t.Fatalf("round %d: no listener session", round)
		}
		var ok bool
		if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
		}
		s.expect(t, fmt.Sprintf("round %d: after the listener was terminated", round), backend.Event{Kind: backend.EventMissed})
		key := fmt.Sprint("after-", round)
		if _, err := writer.Create(ctx, record(key, "o", "x")); err != nil {
			t.Fatal(err)
		}
		s.expect(t, fmt.Sprintf("round %d: a write after the EventMissed", round), ev(backend.EventCreated, key, "", "o"))
		if p := listenerPid(t, ctx, admin, app, b); p == 0 || p == pid {
			t.Fatalf("round %d: listener pid %d after the reconnect, was %d", round, p, pid)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, func(backend.Event) {}); !errors.Is(err, postgresbackend.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	// Close waited for the connection's close; the server ends the
	// session a moment later, and nothing signals that: poll, bounded.
	awaitNoListener(t, ctx, admin, app, b, "Close")
}

// awaitNoListener polls, for at most 5 s, until b has no listener session
// of application app, which ended after what.
func awaitNoListener(t *testing.T, ctx context.Context, admin *pgxpool.Pool, app string, b *postgresbackend.Backend, what string) {
	t.Helper()
	for i := 0; listenerPid(t, ctx, admin, app, b) != 0; i++ {
		if i == 500 {
			t.Fatalf("the listener session outlived %s by 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEventsSubscribeContext: Subscribe with a done context fails and
// never calls fn; a subscription ends with its context.
func TestEventsSubscribeContext(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	app := "sessionkit-listen-" + uniq()
	b := newBackend(t, taggedPool(t, pgtest.Database(t), app, 2), postgresbackend.WithTable(freshTable()))
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Subscribe(done, func(backend.Event) { t.Error("fn called") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled context: %v", err)
	}
	if err := b.Subscribe(ctx, nil); err == nil {
		t.Error("Subscribe(nil fn) returned no error")
	}
	sub, cancel := context.WithCancel(ctx)
	subscribe(t, sub, b)
	if listenerPid(t, ctx, newPool(t), app, b) == 0 {
		t.Fatal("no listener session")
	}
	cancel()
	awaitNoListener(t, ctx, newPool(t), app, b, "its context")
}

// TestEventsManagerDestroyByOwner: "log out everywhere" on instance 1
// arrives on instance 2's Manager.Subscribe as one EventDestroyed per
// session, with the sessions' handles and owner.
func TestEventsManagerDestroyByOwner(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	ms := twoManagers(t)
	got := make(chan session.Event, 1000)
	if err := ms[1].Subscribe(ctx, func(e session.Event) { got <- e }); err != nil {
		t.Fatal(err)
	}
	handles := map[string]bool{}
	for i := range 10 {
		s, err := ms[i%2].Create(ctx, "heidi", counter{N: i})
		if err != nil {
			t.Fatal(err)
		}
		handles[s.Handle()] = true
	}
	if _, err := ms[0].Create(ctx, "ivan", counter{}); err != nil {
		t.Fatal(err)
	}
	if n, err := ms[0].DestroyByOwner(ctx, "heidi"); err != nil || n != len(handles) {
		t.Fatalf("DestroyByOwner = %d, %v", n, err)
	}
	created, destroyed := 0, map[string]bool{}
	for len(destroyed) < len(handles) {
		select {
		case e := <-got:
			switch {
			case e.Kind == session.EventCreated:
				created++
			case e.Kind == session.EventDestroyed && handles[e.Handle] && !destroyed[e.Handle] && e.Owner == "heidi":
				destroyed[e.Handle] = true
			default:
				t.Fatalf("unexpected %+v", e)
			}
		case <-time.After(eventWait):
			t.Fatalf("%d of %d EventDestroyed within %v of the last", len(destroyed), len(handles), eventWait)
		}
	}
	if created != len(handles)+1 {
		t.Errorf("%d EventCreated before the EventDestroyed, want %d", created, len(handles)+1)
	}
}

// TestEventsLatency: 1000 Creates on instance 1, one after another, each
// arrive on instance 2, in order; it logs the latency from the start of
// the Create to fn's call (p50, p99, max). Timing is logged, never
// asserted:
//
//	SESSIONKIT_REQUIRE_POSTGRES=1 go test -run TestEventsLatency -v .
func TestEventsLatency(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	clock := newFakeClock(time.Now())
	b1, b2 := twoInstances(t, clock)
	s := subscribe(t, ctx, b2)
	const n = 1000
	lat, write := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		key := fmt.Sprint("lat-", i)
		start := time.Now()
		if _, err := b1.Create(ctx, recordAt(clock.now(), key, "o")); err != nil {
			t.Fatal(err)
		}
		write[i] = time.Since(start)
		e := s.next(t)
		if e.Kind != backend.EventCreated || e.Key != key {
			t.Fatalf("write %d: event %s", i, show(e.Event, e.At))
		}
		lat[i] = e.when.Sub(start)
	}
	slices.Sort(lat)
	slices.Sort(write)
	t.Logf("the start of a Create on instance 1 to fn on instance 2, %d serial writes: p50 %v, p99 %v, max %v (the Create itself: p50 %v, p99 %v)",
		n, lat[n/2], lat[n*99/100], lat[n-1], write[n/2], write[n*99/100])
}

// TestEventsOff: with WithEvents(false) the writes still work and send
// nothing, which the marker of an instance with events on proves, and
// Subscribe fails with errors.ErrUnsupported.
func TestEventsOff(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	clock := newFakeClock(time.Now())
	on, _ := twoInstances(t, clock)
	off := newBackend(t, newPool(t), postgresbackend.WithTable(on.Table()), postgresbackend.WithClock(clock.now),
		postgresbackend.WithCleanupInterval(0), postgresbackend.WithEvents(false))
	if err := off.Subscribe(ctx, func(backend.Event) {}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Subscribe with events off: %v, want errors.ErrUnsupported", err)
	}
	s := subscribe(t, ctx, on)
	now := clock.now()
	rec, err := off.Create(ctx, recordAt(now, "quiet", "o"))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = off.Rekey(ctx, rec, "quieter"); err != nil {
		t.Fatal(err)
	}
	if err := off.Delete(ctx, rec.Key); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"q1", "q2"} {
		if _, err := off.Create(ctx, recordAt(now, k, "o")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := off.DeleteByOwner(ctx, "o"); err != nil || n != 2 {
		t.Fatalf("DeleteByOwner with events off = %d, %v; want 2", n, err)
	}
	if _, err := off.Create(ctx, recordAt(now, "expiring", "")); err != nil {
		t.Fatal(err)
	}
	clock.advance(3 * time.Hour)
	if n, err := off.Cleanup(ctx); err != nil || n != 1 {
		t.Fatalf("Cleanup with events off = %d, %v; want 1", n, err)
	}
	if _, err := on.Create(ctx, recordAt(clock.now(), "marker", "")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "the writes of an instance with events off, then a marker", ev(backend.EventCreated, "marker", "", ""))
}

// BenchmarkEventsCost measures what events cost writers: an op is a
// Create and a Delete of a new key (two statements, one event each), from
// 1 and from 8 goroutines (on as many connections), with events on and
// off, and with synchronous_commit on (a commit waits for the WAL flush,
// as in production) and off (the test database's setting):
//
//	SESSIONKIT_REQUIRE_POSTGRES=1 go test -run '^$' -bench EventsCost -benchtime 3s .
func BenchmarkEventsCost(b *testing.B) {
	for _, writers := range []int{1, 8} {
		for _, sync := range []string{"on", "off"} {
			for _, events := range []bool{true, false} {
				b.Run(fmt.Sprintf("writers=%d/sync_commit=%s/events=%v", writers, sync, events), func(b *testing.B) {
					benchEventsCost(b, writers, sync, events)
				})
			}
		}
	}
}

func benchEventsCost(b *testing.B, writers int, sync string, events bool) {
	cfg, err := pgxpool.ParseConfig(pgtest.Database(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(writers)
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = sync
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	be := newBackend(b, pool, postgresbackend.WithTable(freshTable()), postgresbackend.WithEvents(events),
		postgresbackend.WithCleanupInterval(0))
	ctx := context.Background()
	pair := func(key string) error {
		if _, err := be.Create(ctx, record(key, "o", "x")); err != nil {
			return err
		}
		return be.Delete(ctx, key)
	}
	if writers == 1 {
		prefix := uniq()
		for i := 0; b.Loop(); i++ {
			if err := pair(prefix + strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		prefix := uniq()
		for i := 0; pb.Next(); i++ {
			if err := pair(prefix + strconv.Itoa(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestEventsServerRestart: a subscription lives through a restart of the
// server: once the server is back it delivers an EventMissed with Missed
// 0, then the events of later writes.
func TestEventsServerRestart(t *testing.T) {
	srv := pgtest.StartServer(t)
	ctx := ctxT(t, 2*time.Minute)
	b := newBackend(t, pgtest.Pool(t, srv.URL, 4))
	s := subscribe(t, ctx, b)
	if _, err := b.Create(ctx, record("before", "o", "x")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "before the restart", ev(backend.EventCreated, "before", "", "o"))
	srv.Restart(t)
	// The backoff is at most 5 s, so the EventMissed comes within
	// eventWait of the server's return.
	s.expect(t, "after the restart", backend.Event{Kind: backend.EventMissed})
	// The pool's connections broke too: a write fails at most once per
	// pooled connection.
	var err error
	for range 5 {
		if _, err = b.Create(ctx, record("after", "o", "x")); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s.expect(t, "a write after the restart", ev(backend.EventCreated, "after", "", "o"))
}

// TestEventsExpiredRemoved: a row past its deadline that something other
// than the cleanup removes ends with an EventExpired too, with its owner:
// Delete and DeleteByOwner of it, and a Create or Rekey that reuses its
// key, before their own event.
func TestEventsExpiredRemoved(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	clock := newFakeClock(time.Now())
	b1, b2 := twoInstances(t, clock)
	s := subscribe(t, ctx, b2)
	short := func(key, owner string) {
		t.Helper()
		rec := recordAt(clock.now(), key, owner)
		rec.IdleDeadline = rec.CreatedAt.Add(time.Minute)
		if _, err := b1.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		s.expect(t, "Create "+key, ev(backend.EventCreated, key, "", owner))
	}
	for _, k := range []string{"reused", "target", "deleted", "owned"} {
		short(k, "old-"+k)
	}
	if _, err := b1.Create(ctx, recordAt(clock.now(), "live", "old-owned")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "Create live", ev(backend.EventCreated, "live", "", "old-owned"))
	clock.advance(2 * time.Minute)
	src, err := b1.Create(ctx, recordAt(clock.now(), "source", "new"))
	if err != nil {
		t.Fatal(err)
	}
	s.expect(t, "Create source", ev(backend.EventCreated, "source", "", "new"))

	if _, err := b1.Create(ctx, recordAt(clock.now(), "reused", "new")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "Create of an expired row's key", ev(backend.EventExpired, "reused", "", "old-reused"), ev(backend.EventCreated, "reused", "", "new"))
	if _, err := b1.Rekey(ctx, src, "target"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "Rekey to an expired row's key", ev(backend.EventExpired, "target", "", "old-target"), ev(backend.EventRekeyed, "target", "source", "new"))
	if err := b1.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "Delete of an expired row", ev(backend.EventExpired, "deleted", "", "old-deleted"))
	if n, err := b1.DeleteByOwner(ctx, "old-owned"); err != nil || n != 1 {
		t.Fatalf("DeleteByOwner = %d, %v; want 1 (the live one)", n, err)
	}
	got := map[string]backend.EventKind{}
	for range 2 {
		e := s.next(t)
		got[e.Key] = e.Kind
		if e.Owner != "old-owned" {
			t.Errorf("DeleteByOwner: %s", show(e.Event, e.At))
		}
	}
	if got["owned"] != backend.EventExpired || got["live"] != backend.EventDeleted {
		t.Errorf("DeleteByOwner of an expired and a live row: %v", got)
	}
	if n, err := b1.Cleanup(ctx); err != nil || n != 0 {
		t.Errorf("Cleanup = %d, %v; want 0: every expired row is gone", n, err)
	}
}

// TestEventsLongTableName: tables whose names are too long for a channel
// of "sessionkit:" and the name, and alike in their first 60 bytes, get
// channels of their own: the events of each arrive on its subscriptions
// only.
func TestEventsLongTableName(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	pool := newPool(t)
	schema := "s" + strings.Repeat("x", 30) + uniq() // 47 bytes
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	var bs [2]*postgresbackend.Backend
	var sinks [2]*eventSink
	for i := range bs {
		bs[i] = newBackend(t, pool, postgresbackend.WithTable(fmt.Sprintf("%s.%s%d", schema, strings.Repeat("t", 40), i)))
		if ch := postgresbackend.Channel(bs[i]); len(ch) > 63 {
			t.Fatalf("channel %q of %d bytes", ch, len(ch))
		}
		sinks[i] = subscribe(t, ctx, bs[i])
	}
	if postgresbackend.Channel(bs[0]) == postgresbackend.Channel(bs[1]) {
		t.Fatalf("two tables share the channel %q", postgresbackend.Channel(bs[0]))
	}
	for i, b := range bs {
		key := fmt.Sprint("in-", i)
		if _, err := b.Create(ctx, record(key, "", "x")); err != nil {
			t.Fatal(err)
		}
		sinks[i].expect(t, b.Table(), ev(backend.EventCreated, key, "", ""))
	}
	// Each sink's next event is its own table's marker, not the other's
	// Create.
	for i, b := range bs {
		if _, err := b.Create(ctx, record("marker", "", "x")); err != nil {
			t.Fatal(err)
		}
		sinks[i].expect(t, b.Table()+", after the other table's write", ev(backend.EventCreated, "marker", "", ""))
	}
}
