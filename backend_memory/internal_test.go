package memorybackend

// Tests of what only this backend has: the janitor, Close, the owner index's
// bookkeeping, option handling. The contract itself is proven by
// conformance.Run in memory_test.go.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/sessionkit/sessionkit/backend"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time               { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration)      { c.off.Add(int64(d)) }
func (c *fakeClock) In(d time.Duration) time.Time { return c.Now().Add(d) }

// record returns a record under key for owner that lives for idle (and at
// most for twice that) from the clock's now.
func (c *fakeClock) record(key, owner string, idle time.Duration) backend.Record {
	return backend.Record{
		Key:              key,
		Owner:            owner,
		Payload:          []byte("payload of " + key),
		CreatedAt:        c.Now(),
		IdleDeadline:     c.In(idle),
		AbsoluteDeadline: c.In(2 * idle),
	}
}

// size reports how many records the backend holds, expired ones included,
// and how many keys the owner index holds over how many owners.
func (b *Backend) size() (records, indexed, owners int) {
	for i := range b.s.shards {
		sh := &b.s.shards[i]
		sh.mu.RLock()
		records += len(sh.m)
		sh.mu.RUnlock()
	}
	for i := range b.s.owners {
		o := &b.s.owners[i]
		o.mu.Lock()
		owners += len(o.m)
		for _, set := range o.m {
			indexed += len(set.keys)
		}
		o.mu.Unlock()
	}
	return records, indexed, owners
}

// checkIndex fails t unless the owner index holds exactly the owned records:
// the invariant documented on store. Call it when no writer runs.
func checkIndex(t *testing.T, b *Backend) {
	t.Helper()
	owned := 0
	for i := range b.s.shards {
		for k, p := range b.s.shards[i].m {
			if p.Owner == "" {
				continue
			}
			owned++
			set := b.s.ownerFor(p.Owner).m[p.Owner]
			if set == nil {
				t.Errorf("record %q of owner %q is missing from the owner index", k, p.Owner)
				continue
			}
			if _, ok := set.keys[k]; !ok {
				t.Errorf("record %q of owner %q is missing from the owner index", k, p.Owner)
			}
			if unsafe.StringData(p.Owner) != unsafe.StringData(set.name) {
				t.Errorf("record %q holds a copy of its owner's name %q of its own, not the index's", k, p.Owner)
			}
		}
	}
	if _, indexed, _ := b.size(); indexed != owned {
		t.Errorf("owner index holds %d keys, want %d (one per owned record)", indexed, owned)
	}
}

func TestSweepRemovesExpiredRecordsAndTheirIndexEntries(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(0))
	defer b.Close()
	ctx := context.Background()

	for i := range 100 {
		idle := time.Minute
		if i%2 == 0 {
			idle = time.Hour
		}
		owner := fmt.Sprintf("user%d", i%10)
		if i%5 == 0 {
			owner = ""
		}
		if _, err := b.Create(ctx, clock.record(fmt.Sprint("k", i), owner, idle)); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.s.sweep(nil); n != 0 {
		t.Fatalf("sweep before any deadline removed %d records, want 0", n)
	}

	clock.Advance(time.Minute) // exactly at the idle deadline of the odd ones
	if n := b.s.sweep(nil); n != 50 {
		t.Fatalf("sweep removed %d records, want 50", n)
	}
	if records, _, _ := b.size(); records != 50 {
		t.Fatalf("%d records left, want 50", records)
	}
	checkIndex(t, b)

	clock.Advance(2 * time.Hour)
	if n := b.s.sweep(nil); n != 50 {
		t.Fatalf("second sweep removed %d records, want 50", n)
	}
	if records, indexed, owners := b.size(); records != 0 || indexed != 0 || owners != 0 {
		t.Fatalf("after everything expired: %d records, %d indexed keys, %d owners; want all 0", records, indexed, owners)
	}
}

func TestJanitorSweepsInTheBackground(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(time.Millisecond))
	defer b.Close()
	ctx := context.Background()
	for i := range 20 {
		if _, err := b.Create(ctx, clock.record(fmt.Sprint("k", i), "alice", time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)

	// Bounded poll: the janitor runs every millisecond, so this normally
	// ends within a few of them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, indexed, owners := b.size()
		if records == 0 && indexed == 0 && owners == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("janitor did not sweep: %d records, %d indexed keys, %d owners left", records, indexed, owners)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseStopsTheJanitorAndIsIdempotent(t *testing.T) {
	b := New(WithJanitorInterval(time.Millisecond))
	done := b.done
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	default:
		t.Fatal("Close returned while the janitor goroutine was still running")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close after Close: %v", err)
	}
}

func TestCloseWithoutJanitor(t *testing.T) {
	b := New(WithJanitorInterval(0))
	if b.stop != nil || b.done != nil {
		t.Fatal("WithJanitorInterval(0) started a janitor")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJanitorStopsWhenBackendIsDroppedWithoutClose(t *testing.T) {
	done := New(WithJanitorInterval(time.Hour)).done
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("janitor of an unreachable Backend still runs")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMethodsAfterClose(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now))
	ctx := context.Background()
	rec, err := b.Create(ctx, clock.record("k", "alice", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrClosed) || !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s after Close: got %v, want an error matching ErrClosed and backend.ErrUnavailable", name, err)
		}
	}
	_, err = b.Create(ctx, clock.record("k2", "alice", time.Minute))
	check("Create", err)
	_, err = b.Load(ctx, "k")
	check("Load", err)
	_, err = b.Update(ctx, rec)
	check("Update", err)
	check("Touch", b.Touch(ctx, "k", clock.In(time.Hour)))
	check("Delete", b.Delete(ctx, "k"))
	_, err = b.Rekey(ctx, rec, "k3")
	check("Rekey", err)
	_, err = b.ListByOwner(ctx, "alice")
	check("ListByOwner", err)
	_, err = b.ListByOwner(ctx, "")
	check("ListByOwner anonymous", err)
	_, err = b.DeleteByOwner(ctx, "alice")
	check("DeleteByOwner", err)
}

func TestLazyExpiry(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(0))
	defer b.Close()
	ctx := context.Background()
	rec, err := b.Create(ctx, clock.record("k", "alice", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // at the idle deadline: gone

	if _, err := b.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load at the deadline: %v, want ErrNotFound", err)
	}
	if _, err := b.Update(ctx, rec); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update at the deadline: %v, want ErrNotFound", err)
	}
	if err := b.Touch(ctx, "k", clock.In(time.Minute)); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch at the deadline: %v, want ErrNotFound", err)
	}
	if _, err := b.Rekey(ctx, rec, "k2"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Rekey at the deadline: %v, want ErrNotFound", err)
	}
	if list, err := b.ListByOwner(ctx, "alice"); err != nil || len(list) != 0 {
		t.Errorf("ListByOwner at the deadline: %d records, %v; want none", len(list), err)
	}
	// An expired record counts as absent for Create, which replaces it and
	// moves the index to the new owner.
	if _, err := b.Create(ctx, clock.record("k", "bob", time.Minute)); err != nil {
		t.Fatalf("Create over an expired record: %v", err)
	}
	checkIndex(t, b)
	if n, err := b.DeleteByOwner(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("DeleteByOwner(alice) = %d, %v; want 0, nil", n, err)
	}
	clock.Advance(time.Minute)
	if n, err := b.DeleteByOwner(ctx, "bob"); err != nil || n != 0 {
		t.Errorf("DeleteByOwner of an expired record = %d, %v; want 0 (only live ones count)", n, err)
	}
	if records, indexed, owners := b.size(); records != 0 || indexed != 0 || owners != 0 {
		t.Errorf("left: %d records, %d indexed keys, %d owners; want all 0", records, indexed, owners)
	}
}

func TestOwnerIndexFollowsEveryChange(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(0), WithShards(1))
	defer b.Close()
	ctx := context.Background()

	a, err := b.Create(ctx, clock.record("a", "", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
	a.Owner = "alice" // login
	if a, err = b.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
	if a, err = b.Rekey(ctx, a, "a2"); err != nil { // renew
		t.Fatal(err)
	}
	checkIndex(t, b)
	a.Owner = "bob"
	if a, err = b.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
	if list, _ := b.ListByOwner(ctx, "alice"); len(list) != 0 {
		t.Errorf("alice still lists %d records", len(list))
	}
	if list, _ := b.ListByOwner(ctx, "bob"); len(list) != 1 || list[0].Key != "a2" {
		t.Errorf("bob lists %v, want a2", list)
	}
	if err := b.Delete(ctx, a.Key); err != nil {
		t.Fatal(err)
	}
	if records, indexed, owners := b.size(); records != 0 || indexed != 0 || owners != 0 {
		t.Errorf("left: %d records, %d indexed keys, %d owners; want all 0", records, indexed, owners)
	}
}

func TestRekeyOverExpiredTarget(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(0))
	defer b.Close()
	ctx := context.Background()
	if _, err := b.Create(ctx, clock.record("old", "bob", time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	a, err := b.Create(ctx, clock.record("a", "alice", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rekey(ctx, a, "a"); !errors.Is(err, backend.ErrExists) {
		t.Errorf("Rekey to its own key: %v, want ErrExists", err)
	}
	if _, err := b.Rekey(ctx, a, "old"); err != nil {
		t.Fatalf("Rekey over an expired record: %v", err)
	}
	checkIndex(t, b)
	if list, _ := b.ListByOwner(ctx, "bob"); len(list) != 0 {
		t.Errorf("bob lists %d records after his expired one was replaced", len(list))
	}
}

// TestConcurrentWriters runs every writing method on a few keys and owners
// at once; run it with -race. Afterwards the owner index must match the
// records exactly.
func TestConcurrentWriters(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now), WithJanitorInterval(time.Millisecond), WithShards(4))
	defer b.Close()
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	owners := []string{"", "alice", "bob"}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				key := keys[r.IntN(len(keys))]
				owner := owners[r.IntN(len(owners))]
				switch r.IntN(9) {
				case 0:
					b.Create(ctx, clock.record(key, owner, time.Duration(1+r.IntN(3))*time.Second))
				case 1, 2:
					if rec, err := b.Load(ctx, key); err == nil {
						rec.Owner = owner
						rec.Payload = append(rec.Payload, 'x')
						b.Update(ctx, rec)
					}
				case 3:
					if rec, err := b.Load(ctx, key); err == nil {
						b.Rekey(ctx, rec, keys[r.IntN(len(keys))])
					}
				case 4:
					b.Delete(ctx, key)
				case 5:
					b.Touch(ctx, key, clock.In(2*time.Second))
				case 6:
					for _, rec := range must(b.ListByOwner(ctx, owner)) {
						if rec.Owner != owner {
							t.Errorf("ListByOwner(%q) returned a record of %q", owner, rec.Owner)
						}
					}
				case 7:
					b.DeleteByOwner(ctx, owner)
				case 8:
					clock.Advance(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	b.s.sweep(nil)
	checkIndex(t, b)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestOptions(t *testing.T) {
	def := defaultShards()
	if def < 64 || def < 4*runtime.GOMAXPROCS(0) || def&(def-1) != 0 {
		t.Errorf("default shard count %d: want a power of two >= 64 and >= 4*GOMAXPROCS", def)
	}
	for _, tc := range []struct{ in, want int }{
		{-1, def}, {0, def}, {1, 1}, {3, 4}, {64, 64}, {100, 128}, {1 << 20, maxShards},
	} {
		b := New(WithShards(tc.in), WithJanitorInterval(0))
		if got := len(b.s.shards); got != tc.want || len(b.s.owners) != tc.want {
			t.Errorf("WithShards(%d): %d shards, want %d", tc.in, got, tc.want)
		}
		b.Close()
	}

	var cfg config
	WithJanitorInterval(-time.Second)(&cfg)
	if cfg.janitor != defaultJanitorInterval {
		t.Errorf("WithJanitorInterval(-1s) = %v, want the default", cfg.janitor)
	}
	b := New(nil, WithClock(time.Now), WithClock(nil)) // nil options are ignored
	if b.s.now == nil || !b.s.mono {
		t.Error("WithClock(nil) did not select the default clock")
	}
	b.Close()
}

// TestMonotonicExpiry checks the fast expiry check of the default clock
// against backend.Record.Expired, with deadlines that carry a monotonic
// reading and deadlines that do not.
func TestMonotonicExpiry(t *testing.T) {
	b := New(WithJanitorInterval(0))
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	for i, tc := range []struct {
		idle, abs time.Time
		fast      bool
	}{
		{now.Add(time.Hour), now.Add(2 * time.Hour), true},
		{now.Add(-time.Nanosecond), now.Add(time.Hour), true},
		{now.Add(time.Hour), now.Add(-time.Second), true},
		{now.Add(time.Hour).Round(0), now.Add(2 * time.Hour), false},
		{now.Add(time.Hour), now.Add(-time.Second).Round(0), false},
		{now.Add(-time.Second).Round(0), now.Add(time.Hour).Round(0), false},
		{now.Add(time.Hour).In(time.FixedZone("x", 3600)), now.Add(2 * time.Hour), false}, // In strips it
	} {
		rec := backend.Record{Key: fmt.Sprint(i), IdleDeadline: tc.idle, AbsoluteDeadline: tc.abs}
		if _, err := b.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		e := b.s.shardFor(rec.Key).m[rec.Key]
		if e.mono != tc.fast {
			t.Errorf("case %d: fast path %v, want %v", i, e.mono, tc.fast)
		}
		want := e.record(rec.Key).Expired(time.Now())
		if got := b.s.expired(e); got != want {
			t.Errorf("case %d: expired = %v, Record.Expired = %v", i, got, want)
		}
		if got := expiredAt(e, b.s.read()); got != want {
			t.Errorf("case %d: expiredAt = %v, Record.Expired = %v", i, got, want)
		}
		_, err := b.Load(ctx, rec.Key)
		if want != errors.Is(err, backend.ErrNotFound) {
			t.Errorf("case %d: Load: %v, expired %v", i, err, want)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	clock := newFakeClock()
	b := New(WithClock(clock.Now))
	defer b.Close()
	rec, err := b.Create(context.Background(), clock.record("k", "alice", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", name, err)
		}
	}
	_, err = b.Create(ctx, clock.record("k2", "alice", time.Hour))
	check("Create", err)
	_, err = b.Load(ctx, "k")
	check("Load", err)
	_, err = b.Update(ctx, rec)
	check("Update", err)
	check("Touch", b.Touch(ctx, "k", clock.In(time.Hour)))
	check("Delete", b.Delete(ctx, "k"))
	_, err = b.Rekey(ctx, rec, "k3")
	check("Rekey", err)
	_, err = b.ListByOwner(ctx, "alice")
	check("ListByOwner", err)
	_, err = b.DeleteByOwner(ctx, "alice")
	check("DeleteByOwner", err)
	if got, err := b.Load(context.Background(), "k"); err != nil || got.Version != 1 {
		t.Errorf("the record changed under canceled calls: %+v, %v", got, err)
	}
}

func TestLoadAllocatesOnlyThePayloadCopy(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts differ under -cover")
	}
	clock := newFakeClock()
	b := New(WithClock(clock.Now))
	defer b.Close()
	ctx := context.Background()
	if _, err := b.Create(ctx, clock.record("k", "alice", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { b.Load(ctx, "k") }); n > 1 {
		t.Errorf("Load allocates %v times, want at most 1 (the payload copy)", n)
	}
	if n := testing.AllocsPerRun(1000, func() { b.Load(ctx, "missing") }); n > 0 {
		t.Errorf("Load of a missing key allocates %v times, want 0", n)
	}
}

// TestRekeyWhileClosing: Close empties the shards one by one; a Rekey
// whose destination shard is already closed returns ErrClosed, no panic.
func TestRekeyWhileClosing(t *testing.T) {
	b := New(WithJanitorInterval(0))
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	now := time.Now()
	rec, err := b.Create(ctx, backend.Record{Key: "from", Payload: []byte("p"), CreatedAt: now,
		IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s := b.s
	newKey := ""
	for i := range 1000 {
		if k := fmt.Sprint("to-", i); s.shardIndex(k) != s.shardIndex("from") {
			newKey = k
			break
		}
	}
	to := &s.shards[s.shardIndex(newKey)]
	to.mu.Lock()
	to.m = nil // as Close leaves it
	to.mu.Unlock()
	if _, err := b.Rekey(ctx, rec, newKey); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rekey into a closed shard = %v, want ErrClosed", err)
	}
}

// TestEntryLayout: an entry keeps a record in 112 bytes (a size class of
// the allocator; the backend.Record it replaces took 160 with the expiry),
// and gives back what it was given: instants exact, UTC as UTC, the zero
// time as the zero time, nil and empty payloads apart.
func TestEntryLayout(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 112 {
		t.Errorf("entry is %d bytes, want at most 112", got)
	}
	now := time.Now()
	for i, rec := range []backend.Record{
		{Key: "a", Owner: "o", Payload: []byte("p"), CreatedAt: now, IdleDeadline: now.Add(time.Hour), AbsoluteDeadline: now.Add(2 * time.Hour)},
		{Key: "b", Payload: []byte{}, CreatedAt: now.UTC(), IdleDeadline: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Key: "c"},
	} {
		var e entry
		e.set(rec)
		got := e.record(rec.Key)
		if got.Key != rec.Key || got.Owner != rec.Owner || string(got.Payload) != string(rec.Payload) ||
			(got.Payload == nil) != (rec.Payload == nil) {
			t.Errorf("case %d: %+v, want %+v", i, got, rec)
		}
		for _, tt := range [][2]time.Time{{got.CreatedAt, rec.CreatedAt}, {got.IdleDeadline, rec.IdleDeadline}, {got.AbsoluteDeadline, rec.AbsoluteDeadline}} {
			if !tt[0].Equal(tt[1]) || (tt[1].Location() == time.UTC) != (tt[0].Location() == time.UTC) {
				t.Errorf("case %d: time %v, want %v", i, tt[0], tt[1])
			}
		}
		if rec.CreatedAt.IsZero() && got.CreatedAt != (time.Time{}) {
			t.Errorf("case %d: zero time came back as %#v", i, got.CreatedAt)
		}
	}
}

// A Touch with a deadline from time.Now keeps the fast expiry check.
func TestTouchKeepsMonotonicExpiry(t *testing.T) {
	b := New(WithJanitorInterval(0))
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	rec := backend.Record{Key: "k", CreatedAt: now, IdleDeadline: now.Add(time.Minute), AbsoluteDeadline: now.Add(time.Hour)}
	if _, err := b.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Touch(ctx, "k", time.Now().Add(-time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	e := b.s.shardFor("k").m["k"]
	if !e.mono {
		t.Fatal("Touch lost the fast path")
	}
	if _, err := b.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load after a Touch into the past = %v, want ErrNotFound", err)
	}
}
