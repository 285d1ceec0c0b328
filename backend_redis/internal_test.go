package redisbackend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

func newTestClient(tb testing.TB, addr string) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		ConnWriteTimeout:  2 * time.Second,
		CacheSizeEachConn: 1 << 20,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func testRecord(key, owner string, payload string) backend.Record {
	now := time.Now()
	return backend.Record{
		Key: key, Owner: owner, Payload: []byte(payload),
		CreatedAt: now, IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour),
	}
}

// TestInternal covers what the conformance suite cannot see from outside:
// cache hits, the write guard, the record format.
func TestInternal(t *testing.T) {
	srv := redistest.Standalone(t)
	client := newTestClient(t, srv.Addr)
	ctx := context.Background()

	t.Run("CacheHitIsLocal", func(t *testing.T) {
		b, err := New(client, WithPrefix("hit:"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, testRecord("k1", "", "p")); err != nil {
			t.Fatal(err)
		}
		var kb keyBuf
		rk, _ := b.sessionKey(&kb, "k1")
		get := func() rueidis.RedisResult {
			return client.DoCache(ctx, client.B().Get().Key(rk).Cache(), time.Minute)
		}
		get()
		if !get().IsCacheHit() {
			t.Fatal("second DoCache GET of an unchanged session is not a cache hit")
		}
		// Through Load: 100 Loads of an unchanged session cost at most one
		// GET on the server, also within the write guard window.
		if _, err := b.Create(ctx, testRecord("k2", "", "p")); err != nil {
			t.Fatal(err)
		}
		before := getCalls(t, srv)
		for i := 0; i < 100; i++ {
			if _, err := b.Load(ctx, "k2"); err != nil {
				t.Fatal(err)
			}
		}
		if n := getCalls(t, srv) - before; n > 1 {
			t.Fatalf("100 Loads of a cached session sent %d GETs to Redis, want at most 1", n)
		}
	})

	t.Run("KnownOnlyWithCache", func(t *testing.T) {
		for _, cache := range []bool{false, true} {
			b, err := New(client, WithPrefix(fmt.Sprintf("known%v:", cache)), WithCache(cache))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Create(ctx, testRecord("c", "", "p")); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Load(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			var kb keyBuf
			_, h := b.sessionKey(&kb, "c")
			if got := b.known.has(h); got != cache {
				t.Errorf("cache %v: a created and loaded session known %v, want %v", cache, got, cache)
			}
		}
	})

	t.Run("GuardTrust", func(t *testing.T) {
		rec := backend.Record{Version: 3, CreatedAt: time.UnixMicro(100), IdleDeadline: time.UnixMicro(500)}
		wrote := guardState{kind: guardWritten, version: 3, created: 100, idle: 500}
		for _, c := range []struct {
			name string
			st   guardState
			gone bool
			rec  backend.Record
			want bool
		}{
			{"pending trusts nothing", guardState{kind: guardPending}, false, rec, false},
			{"pending, nil", guardState{kind: guardPending}, true, backend.Record{}, false},
			{"deleted, nil", guardState{kind: guardDeleted}, true, backend.Record{}, true},
			{"deleted, record", guardState{kind: guardDeleted}, false, rec, false},
			{"wrote, same", wrote, false, rec, true},
			{"wrote, nil", wrote, true, backend.Record{}, false},
			{"wrote, older version", wrote, false, withVersion(rec, 2), false},
			{"wrote, newer version", wrote, false, withVersion(rec, 4), true},
			{"wrote, older idle (before a Touch)", wrote, false, withIdle(rec, 400), false},
			{"wrote, later idle (before a Touch to an earlier one)", wrote, false, withIdle(rec, 600), false},
			{"wrote, other incarnation", wrote, false, withCreated(rec, 99), false},
		} {
			if got := c.st.trusts(c.gone, c.rec, true); got != c.want {
				t.Errorf("%s: trusts = %v, want %v", c.name, got, c.want)
			}
		}
	})

	// GuardAllocs: a write's hold on the guard (begin and end) allocates
	// nothing once its session has an entry; every write pays it.
	t.Run("GuardAllocs", func(t *testing.T) {
		g := guard{window: time.Minute}
		h := strings.Repeat("A", hashLen)
		out := guardState{kind: guardWritten, version: 1}
		g.begin(h)
		g.end(h, out)
		if n := testing.AllocsPerRun(100, func() { g.begin(h); g.end(h, out) }); n != 0 {
			t.Errorf("begin and end of a write: %v allocations, want 0", n)
		}
		if st, ok := g.get(h, mono(time.Now())); !ok || st.kind != guardWritten || st.inflight != 0 {
			t.Errorf("after the writes: %+v, %v; want the written state, nothing in flight", st, ok)
		}
	})

	// ClockSkew: Redis expires keys by its own clock. A record whose
	// deadline has passed by the application's clock while Redis still
	// keeps the key, as when Redis's clock lags, is gone for every
	// operation, and none of them changes it.
	t.Run("ClockSkew", func(t *testing.T) {
		for _, cluster := range []bool{false, true} { // Rekey's two paths
			b, err := New(client, WithPrefix(fmt.Sprint("skew", cluster, ":")))
			if err != nil {
				t.Fatal(err)
			}
			b.cluster = cluster
			now := time.Now()
			for i, deadlines := range [][2]time.Time{
				{now.Add(-time.Second), now.Add(time.Hour)},    // idle passed
				{now.Add(-time.Second), now.Add(-time.Second)}, // absolute passed
			} {
				key := fmt.Sprint("expired", i)
				var kb keyBuf
				rk, _ := b.sessionKey(&kb, key)
				val, err := encodeRecord(1, micros(now.Add(-time.Hour)), micros(deadlines[0]), micros(deadlines[1]), "", []byte("p"))
				if err != nil {
					t.Fatal(err)
				}
				if err := client.Do(ctx, client.B().Set().Key(rk).Value(val).Px(time.Hour).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				rec := testRecord(key, "", "new")
				rec.Version = 1
				if _, err := b.Load(ctx, key); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("cluster=%v, %s: Load = %v, want ErrNotFound", cluster, key, err)
				}
				if _, err := b.Update(ctx, rec); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("cluster=%v, %s: Update = %v, want ErrNotFound", cluster, key, err)
				}
				if err := b.Touch(ctx, key, now.Add(time.Hour)); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("cluster=%v, %s: Touch = %v, want ErrNotFound", cluster, key, err)
				}
				if _, err := b.Rekey(ctx, rec, key+"-new"); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("cluster=%v, %s: Rekey = %v, want ErrNotFound", cluster, key, err)
				}
				if got, err := client.Do(ctx, client.B().Get().Key(rk).Build()).ToString(); err != nil || got != val {
					t.Errorf("cluster=%v, %s: the stored record changed", cluster, key)
				}
				if _, err := b.LoadFresh(ctx, key+"-new"); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("cluster=%v, %s: a failed Rekey left the new key: %v", cluster, key, err)
				}
			}
		}
	})

	t.Run("RecordRoundTrip", func(t *testing.T) {
		s, err := encodeRecord(7, 1, 2, 3, "own{er}", []byte("pay\nload"))
		if err != nil {
			t.Fatal(err)
		}
		v1 := formatV1Record(7, 1, 2, 3, "own{er}", "k\x00ey", "pay\nload")
		for _, s := range []string{s, v1} {
			rec, err := decodeRecord(s)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Version != 7 || rec.Owner != "own{er}" || rec.Key != "" || !bytes.Equal(rec.Payload, []byte("pay\nload")) ||
				rec.CreatedAt.UnixMicro() != 1 || rec.IdleDeadline.UnixMicro() != 2 || rec.AbsoluteDeadline.UnixMicro() != 3 {
				t.Fatalf("round trip of format %d: %+v", s[0], rec)
			}
		}
		if len(s) != minRecord+len("own{er}")+len("pay\nload") {
			t.Fatalf("a record of %d bytes, want header, owner and payload only", len(s))
		}
		for i := range len(s) {
			if _, err := decodeRecord(s[:i]); err == nil && i < minRecord+len("own{er}") {
				t.Fatalf("decode of %d of %d bytes: no error", i, len(s))
			}
		}
		for i := range len(v1) {
			if _, err := decodeRecord(v1[:i]); err == nil && i < minRecord+len("own{er}")+4+len("k\x00ey") {
				t.Fatalf("decode of %d of %d bytes of a format 1 record: no error", i, len(v1))
			}
		}
		for _, bad := range []string{"", "x", strings.Repeat("\xff", 100), "\x01" + strings.Repeat("\xff", 60), "\x02" + strings.Repeat("\xff", 60), "\x03" + s[1:]} {
			if _, err := decodeRecord(bad); !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("decode(%q) = %v, want ErrCorruptRecord", bad, err)
			}
		}
	})

	// FormatV1: the records an earlier release stored (format 1, with the
	// key inside) are read, written over in format 2, listed and deleted
	// by owner, under a key kept as it is and under a hashed one.
	t.Run("FormatV1", func(t *testing.T) {
		b, err := New(client, WithPrefix("v1:"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		abs := now.Add(time.Hour)
		// plant stores a format 1 record of owner o1 under key, with its
		// index entry and, for a hashed key, its name key, and returns
		// its Redis key.
		plant := func(key string, version uint64, payload string) string {
			t.Helper()
			var kb keyBuf
			rk, h := b.sessionKey(&kb, key)
			val := formatV1Record(version, micros(now), micros(abs), micros(abs), "o1", key, payload)
			cmds := rueidis.Commands{client.B().Set().Key(rk).Value(val).Px(time.Hour).Build(),
				client.B().Zadd().Key(b.indexKey("o1")).ScoreMember().ScoreMember(float64(abs.UnixMilli()+1), h).Build()}
			if hashed(h) {
				cmds = append(cmds, client.B().Set().Key(b.nameKey(h)).Value(key).Px(2*time.Hour).Build())
			}
			for _, r := range client.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
			return rk
		}
		managerKey := strings.Repeat("A", hashLen)
		for _, key := range []string{managerKey, "hashed key"} {
			rk := plant(key, 3, "old")
			rec, err := b.Load(ctx, key)
			if err != nil || rec.Key != key || rec.Version != 3 || rec.Owner != "o1" || string(rec.Payload) != "old" {
				t.Fatalf("%q: Load of a format 1 record = %+v, %v", key, rec, err)
			}
			rec.Payload = []byte("new")
			if _, err := b.Update(ctx, rec); err != nil {
				t.Fatalf("%q: Update of a format 1 record: %v", key, err)
			}
			s, err := client.Do(ctx, client.B().Get().Key(rk).Build()).ToString()
			if err != nil || s[0] != formatV2 {
				t.Fatalf("%q: after Update the stored record is %q, %v; want format 2", key, s, err)
			}
			if got, err := b.LoadFresh(ctx, key); err != nil || got.Version != 4 || string(got.Payload) != "new" || !got.CreatedAt.Equal(rec.CreatedAt) {
				t.Fatalf("%q: LoadFresh after Update = %+v, %v", key, got, err)
			}
			// Another format 1 record of the owner, to list and delete as
			// it was stored.
			key2 := key + "2"
			if key == managerKey {
				key2 = strings.Repeat("B", hashLen)
			}
			plant(key2, 1, "p")
			list, err := b.ListByOwner(ctx, "o1")
			if err != nil || len(list) != 2 {
				t.Fatalf("%q: ListByOwner = %d records, %v; want 2", key, len(list), err)
			}
			keys := []string{list[0].Key, list[1].Key}
			if !slices.Contains(keys, key) || !slices.Contains(keys, key2) {
				t.Fatalf("%q: ListByOwner keys %q, want %q and %q", key, keys, key, key2)
			}
			if n, err := b.DeleteByOwner(ctx, "o1"); err != nil || n != 2 {
				t.Fatalf("%q: DeleteByOwner = %d, %v; want 2", key, n, err)
			}
		}
	})

	// NameLost: a record stored under a hash whose name key is gone
	// (evicted) cannot be listed by key, but DeleteByOwner still ends it.
	t.Run("NameLost", func(t *testing.T) {
		b, err := New(client, WithPrefix("nl:"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, testRecord("named", "o1", "p")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, testRecord("nameless", "o1", "p")); err != nil {
			t.Fatal(err)
		}
		var kb keyBuf
		_, h := b.sessionKey(&kb, "nameless")
		if err := client.Do(ctx, client.B().Del().Key(b.nameKey(h)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		list, err := b.ListByOwner(ctx, "o1")
		if err != nil || len(list) != 1 || list[0].Key != "named" {
			t.Fatalf("ListByOwner = %+v, %v; want the named session only", list, err)
		}
		if n, err := b.DeleteByOwner(ctx, "o1"); err != nil || n != 2 {
			t.Fatalf("DeleteByOwner = %d, %v; want 2", n, err)
		}
		if _, err := b.LoadFresh(ctx, "nameless"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("LoadFresh after DeleteByOwner = %v, want ErrNotFound", err)
		}
	})

	t.Run("Options", func(t *testing.T) {
		bad := [][]Option{
			{WithPrefix("a{b")},
			{WithPrefix(strings.Repeat("p", maxPrefix+1))},
			{WithCacheTTL(0)},
			{WithOpTimeout(-1)},
			{WithWaitReplicas(-1, time.Second)},
			{WithWaitReplicas(1, 0)},
			{WithWaitReplicas(1, 5*time.Second), WithOpTimeout(time.Second)},
			{WithWriteGuard(0)},
		}
		for i, opts := range bad {
			if _, err := New(client, opts...); err == nil {
				t.Errorf("options #%d: New returned no error", i)
			}
		}
		if _, err := New(nil); err == nil {
			t.Error("New(nil): no error")
		}
		if _, err := New(client, WithWaitReplicas(1, time.Second), WithCache(false), WithCacheTTL(time.Second), WithPrefix("")); err != nil {
			t.Errorf("valid options: %v", err)
		}
	})
}

// getCalls returns how many GETs srv has executed.
func getCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info := srv.Do(t, "INFO", "commandstats")
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls="); ok {
			n := 0
			for _, c := range rest {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	return 0
}

func withVersion(r backend.Record, v uint64) backend.Record { r.Version = v; return r }
func withIdle(r backend.Record, us int64) backend.Record {
	r.IdleDeadline = time.UnixMicro(us)
	return r
}
func withCreated(r backend.Record, us int64) backend.Record {
	r.CreatedAt = time.UnixMicro(us)
	return r
}

// TestSessionHash: a Manager-shaped key is its own hash tag; any other key
// is hashed and marked, so no two keys share a tag.
func TestSessionHash(t *testing.T) {
	h := func(key string) string {
		var b [hashLen]byte
		sessionHash(b[:], key)
		return string(b[:])
	}
	managerKey := "OTICy4nQhEX1hyFCRUAKGqAoceA_VD5rGwNM291fWcg"
	if got := h(managerKey); got != managerKey {
		t.Errorf("sessionHash(%q) = %q, want the key itself", managerKey, got)
	}
	other := "not a hash"
	var full [hashLen]byte
	hashInto(full[:], other)
	hashed := h(other)
	if hashed[0] != '~' || hashed[1:] != string(full[1:]) {
		t.Errorf("sessionHash(%q) = %q, want '~' and the rest of %q", other, hashed, full)
	}
	// The key whose plain hash equals a Manager-shaped key does not collide
	// with that key.
	if h(string(full[:])) == hashed {
		t.Error("a hashed key collides with a Manager-shaped one")
	}
	for _, k := range []string{managerKey[:42], managerKey + "A", managerKey[:42] + "~", managerKey[:42] + "{"} {
		if h(k)[0] != '~' {
			t.Errorf("sessionHash(%q) = %q, want a hashed, marked tag", k, h(k))
		}
	}
}

// TestSessionKey: a session's Redis key is the prefix, "s:", the first
// tagLen characters of its hash in braces (the Cluster hash tag) and the
// rest of the hash; sessionKeyOf builds the same key from the hash.
func TestSessionKey(t *testing.T) {
	b := &Backend{cfg: config{prefix: "p:"}}
	for _, key := range []string{"OTICy4nQhEX1hyFCRUAKGqAoceA_VD5rGwNM291fWcg", "not a hash", "{}\x00"} {
		var kb keyBuf
		rk, h := b.sessionKey(&kb, key)
		var want [hashLen]byte
		sessionHash(want[:], key)
		if h != string(want[:]) {
			t.Errorf("sessionKey(%q) returned hash %q, want %q", key, h, want)
		}
		if w := "p:s:{" + h[:tagLen] + "}" + h[tagLen:]; rk != w {
			t.Errorf("sessionKey(%q) = %q, want %q", key, rk, w)
		}
		if k := b.sessionKeyOf(h); k != rk {
			t.Errorf("sessionKeyOf(%q) = %q, want %q", h, k, rk)
		}
	}
}

// TestGuardOverlappingWrites: when two writes to one key are in flight at
// once their replies may end in another order than Redis applied them, so
// neither outcome is trusted; a write alone records its outcome.
func TestGuardOverlappingWrites(t *testing.T) {
	g := &guard{window: time.Minute}
	h := strings.Repeat("A", hashLen)
	state := func() guardKind {
		st, ok := g.get(h, mono(time.Now()))
		if !ok {
			t.Fatal("no guard state")
		}
		return st.kind
	}
	g.begin(h)
	g.end(h, guardState{kind: guardDeleted})
	if k := state(); k != guardDeleted {
		t.Fatalf("a lone Delete left kind %d, want deleted", k)
	}

	g.begin(h) // Touch sent
	g.begin(h) // Delete sent
	g.end(h, guardState{kind: guardDeleted})
	g.end(h, guardState{kind: guardWritten, version: 2}) // Touch's reply handled last
	if k := state(); k != guardPending {
		t.Fatalf("overlapping writes left kind %d, want pending", k)
	}

	g.begin(h) // a later write alone is trusted again
	g.end(h, guardState{kind: guardWritten, version: 3})
	if st, _ := g.get(h, mono(time.Now())); st.kind != guardWritten || st.version != 3 {
		t.Fatalf("a lone write after the overlap left %+v", st)
	}
}

// TestGuardFilter: a key is guarded for one window after a write, and the
// slot filter in front of the map neither hides it nor guards a key that
// was not written.
func TestGuardFilter(t *testing.T) {
	g := &guard{window: time.Minute}
	written := strings.Repeat("A", hashLen)
	sameSlot := "AAA" + strings.Repeat("B", hashLen-3)
	otherSlot := "ABB" + strings.Repeat("A", hashLen-3)
	hashed := "~AA" + strings.Repeat("C", hashLen-3)
	if slotOf(written) != slotOf(sameSlot) || slotOf(written) == slotOf(otherSlot) || slotOf(written) != slotOf(hashed) {
		t.Fatal("slotOf does not use the second and third characters")
	}
	g.begin(written)
	g.end(written, guardState{kind: guardDeleted})
	now := mono(time.Now())
	if _, ok := g.get(written, now); !ok {
		t.Error("a key written just now is not guarded")
	}
	for _, h := range []string{sameSlot, otherSlot, hashed} {
		if _, ok := g.get(h, now); ok {
			t.Errorf("%s is guarded, but only %s was written", h, written)
		}
	}
	if _, ok := g.get(written, now+int64(2*time.Minute)); ok {
		t.Error("a key is still guarded after its window")
	}
	if s := slotOf("\xff\xff\xff"); s < 0 || s >= guardSlots {
		t.Errorf("slotOf of non-base64 bytes = %d, outside the filter", s)
	}
}

// TestGuardSettle: a trusted hit settles a key, which leaves the guard and
// its slot; a write begun after the hit was judged keeps the key guarded.
func TestGuardSettle(t *testing.T) {
	g := &guard{window: time.Minute}
	h := strings.Repeat("A", hashLen)
	written := guardState{kind: guardWritten, version: 2, created: 1, idle: 5}
	g.begin(h)
	g.end(h, written)
	st, ok := g.get(h, mono(time.Now()))
	if !ok {
		t.Fatal("a key written just now is not guarded")
	}
	g.begin(h) // another write begins after the hit was judged
	g.settle(h, st)
	if st, ok := g.get(h, mono(time.Now())); !ok || st.trusts(false, backend.Record{}, true) {
		t.Fatalf("settling a state a write has changed left %+v, %v; want a write in flight", st, ok)
	}
	g.end(h, written)
	st, _ = g.get(h, mono(time.Now()))
	g.settle(h, st)
	if _, ok := g.get(h, mono(time.Now())); ok {
		t.Error("a settled key is still guarded")
	}
	if n := g.slots[slotOf(h)].n.Load(); n != 0 {
		t.Errorf("the slot of a settled key counts %d entries, want 0", n)
	}
}

// TestLazyCtx: the context a Load gets when the caller's has no deadline
// behaves like context.WithDeadline, and makes no timer until asked.
func TestLazyCtx(t *testing.T) {
	type key struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	defer cancelParent()
	deadline := time.Now().Add(time.Hour)
	c := &lazyCtx{parent: parent, deadline: deadline}
	if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("Deadline() = %v, %v; want %v, true", d, ok, deadline)
	}
	if c.Value(key{}) != "v" {
		t.Error("Value does not reach the parent")
	}
	if c.ctx != nil {
		t.Error("Deadline or Value made a timer")
	}
	if c.Err() != nil {
		t.Fatalf("Err() = %v before anything ended", c.Err())
	}
	cancelParent()
	wait := func(c *lazyCtx, want error) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed")
		}
		if !errors.Is(c.Err(), want) {
			t.Errorf("Err() = %v, want %v", c.Err(), want)
		}
	}
	wait(c, context.Canceled)
	c.release()

	short := &lazyCtx{parent: t.Context(), deadline: time.Now().Add(20 * time.Millisecond)}
	wait(short, context.DeadlineExceeded)
	short.release()

	unused := &lazyCtx{parent: t.Context(), deadline: deadline}
	unused.release()
	if unused.cancel != nil {
		t.Error("release of an unused context made a timer")
	}
	wait(unused, context.Canceled)
}

// TestExpiredByWrite: a record past a deadline by the application's clock
// that Redis still keeps (its clock lagging: planted here with a Redis
// expiry an hour away) ends with an EventExpired, with its owner, when a
// write removes or replaces it: Delete, DeleteByOwner's script, Create of
// its key (then EventCreated), Rekey onto its key (then EventRekeyed); on
// one server and on a Cluster (Rekey's two steps).
func TestExpiredByWrite(t *testing.T) {
	srv := redistest.Standalone(t)
	cl := redistest.NewCluster(t)
	clusterClient, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: cl.Addrs[:1], ConnWriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clusterClient.Close)
	for name, client := range map[string]rueidis.Client{"Standalone": newTestClient(t, srv.Addr), "Cluster": clusterClient} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, err := New(client, WithPrefix("xw"+name+":"))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var mu sync.Mutex
			var evs []backend.Event
			wake := make(chan struct{}, 1)
			if err := b.Subscribe(ctx, func(e backend.Event) {
				mu.Lock()
				evs = append(evs, e)
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}); err != nil {
				t.Fatal(err)
			}
			// await returns the events of key (as Key or OldKey) once there
			// are n.
			await := func(key string, n int) []backend.Event {
				t.Helper()
				timer := time.NewTimer(10 * time.Second)
				defer timer.Stop()
				for {
					mu.Lock()
					var of []backend.Event
					for _, e := range evs {
						if e.Key == key || e.OldKey == key {
							of = append(of, e)
						}
					}
					mu.Unlock()
					if len(of) >= n {
						return of
					}
					select {
					case <-wake:
					case <-timer.C:
						t.Fatalf("events of %q: %+v, want %d", key, of, n)
					}
				}
			}
			expect := func(what string, got []backend.Event, want ...backend.Event) {
				t.Helper()
				ok := len(got) == len(want)
				for i := 0; ok && i < len(got); i++ {
					ok = got[i].Kind == want[i].Kind && got[i].Key == want[i].Key && got[i].OldKey == want[i].OldKey && got[i].Owner == want[i].Owner
				}
				if !ok {
					t.Fatalf("%s: events %+v, want %+v", what, got, want)
				}
			}
			// plant stores a record of key and owner whose idle deadline
			// passed a second ago, with a Redis expiry an hour away.
			plant := func(key, owner string) string {
				t.Helper()
				now := time.Now()
				var kb keyBuf
				rk, h := b.sessionKey(&kb, key)
				val, err := encodeRecord(1, micros(now.Add(-time.Hour)), micros(now.Add(-time.Second)), micros(now.Add(time.Hour)), owner, []byte("p"))
				if err != nil {
					t.Fatal(err)
				}
				if err := client.Do(ctx, client.B().Set().Key(rk).Value(val).Px(time.Hour).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				return h
			}

			plant("deleted", "o1")
			if err := b.Delete(ctx, "deleted"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Create(ctx, testRecord("deleted", "marker", "p")); err != nil {
				t.Fatal(err)
			}
			expect("Delete of an expired record, then Create", await("deleted", 2),
				backend.Event{Kind: backend.EventExpired, Key: "deleted", Owner: "o1"},
				backend.Event{Kind: backend.EventCreated, Key: "deleted", Owner: "marker"})

			for _, owner := range []string{"", "o2"} { // Create's two scripts
				key := "created" + owner
				plant(key, "old")
				if _, err := b.Create(ctx, testRecord(key, owner, "p")); err != nil {
					t.Fatalf("Create over an expired record: %v", err)
				}
				expect("Create over an expired record", await(key, 2),
					backend.Event{Kind: backend.EventExpired, Key: key, Owner: "old"},
					backend.Event{Kind: backend.EventCreated, Key: key, Owner: owner})
			}

			plant("target", "o3")
			rec, err := b.Create(ctx, testRecord("source", "o4", "p"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Rekey(ctx, rec, "target"); err != nil {
				t.Fatalf("Rekey onto an expired record: %v", err)
			}
			expect("Rekey onto an expired record", await("target", 2),
				backend.Event{Kind: backend.EventExpired, Key: "target", Owner: "o3"},
				backend.Event{Kind: backend.EventRekeyed, Key: "target", OldKey: "source", Owner: "o4"})

			// DeleteByOwner read the record live, and it passed its
			// deadline before the script ran: the script's part.
			h := plant("owned", "o5")
			n, _, _, err := b.deleteOwned(ctx, "delete by owner", "o5", []backend.Record{{Key: "owned", Owner: "o5"}}, []indexEntry{{h: h, gen: "0"}}, false)
			if err != nil || n != 0 {
				t.Fatalf("deleteOwned of an expired record = %d, %v; want 0 live records deleted", n, err)
			}
			if _, err := b.Create(ctx, testRecord("owned", "marker", "p")); err != nil {
				t.Fatal(err)
			}
			expect("DeleteByOwner's script on an expired record, then Create", await("owned", 2),
				backend.Event{Kind: backend.EventExpired, Key: "owned", Owner: "o5"},
				backend.Event{Kind: backend.EventCreated, Key: "owned", Owner: "marker"})
		})
	}
}

// formatV1Record is a record as format 1 stored it: the key after the
// owner, as a 4-byte length and the bytes.
func formatV1Record(version uint64, created, idle, abs int64, owner, key, payload string) string {
	b := []byte{formatV1}
	for _, v := range []uint64{version, uint64(created), uint64(idle), uint64(abs)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(owner)))
	b = append(b, owner...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	return string(append(b, payload...))
}
