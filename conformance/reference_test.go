package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/eventq"
)

// refBackend is the reference backend the suite is tested with: a map and a
// mutex, real time, every capability. With flaws set it breaks the
// contract in the ways the self-test expects the suite to catch.
type refBackend struct {
	flaws flaw
	hang  chan struct{} // closed at cleanup; flawHangs blocks on it

	mu     sync.Mutex
	recs   map[string]backend.Record
	owners map[string]map[string]backend.Record // owner -> key -> record as last written
	closed bool

	// subs are the subscriptions events go to; late are those that
	// flawEventsBeforeSubscribed registers only after the next write.
	// sweeping is set once the janitor runs (from the first Subscribe).
	subs, late []*refSub
	sweeping   bool
	// shared is the one queue of flawEventsSharedDelivery, which calls the
	// fn of every subscription in sharedSubs in turn.
	shared     *eventq.Queue
	sharedMu   sync.Mutex
	sharedSubs []*refSub

	// races holds, per owner, the interleaving flawDeleteByOwnerOneRound
	// needs to be seen: DeleteByOwner's snapshot, then a Rekey, then its
	// deletes.
	races map[string]*ownerRace
	// creates counts, per key, the Creates of flawCreateRace between their
	// check and their write; created[k] is closed once two are there.
	creates map[string]int
	created map[string]chan struct{}
}

// ownerRace orders one DeleteByOwner and the Rekeys it races with.
type ownerRace struct {
	snapshot, rekeyed chan struct{} // closed when taken, when a Rekey ran after it
	once              sync.Once
	taken             bool // snapshot closed, under refBackend.mu
}

var (
	_ backend.Backend     = (*refBackend)(nil)
	_ backend.OwnerIndex  = (*refBackend)(nil)
	_ backend.Rekeyer     = (*refBackend)(nil)
	_ backend.FreshLoader = (*refBackend)(nil)
	_ backend.Notifier    = (*refBackend)(nil)
)

// flaw is a set of deliberate contract violations.
type flaw uint64

const (
	flawNoCAS                     flaw = 1 << iota // Update ignores the version
	flawIgnoresDeadlines                           // Load returns expired records
	flawAliasesInput                               // stores the caller's Payload slice
	flawAliasesOutput                              // returns the stored Payload slice
	flawWrongErrors                                // errors.New("not found") instead of the sentinels
	flawDeleteMissingErrors                        // Delete of a missing key is an error
	flawCreateOverwrites                           // Create replaces a live record
	flawStaleOwnerIndex                            // the owner index does not follow Update
	flawIndexKeepsDeleted                          // ListByOwner returns deleted records
	flawUpdateRecreates                            // Update of a missing key creates it
	flawCreateKeepsVersion                         // Create stores the Version passed in
	flawTouchBumpsVersion                          // Touch increments Version
	flawUpdateOverwritesCreatedAt                  // Update writes CreatedAt
	flawIgnoresContext                             // calls with a done context go ahead
	flawCloseTwiceErrors                           // a second Close is an error
	flawTruncatesAtNUL                             // keys end at the first NUL byte
	flawFoldsCase                                  // keys are case-insensitive
	flawSecondPrecision                            // times are stored to the second
	flawRekeyKeepsOld                              // Rekey leaves the old key live
	flawListsExpired                               // ListByOwner returns expired records
	flawDeleteByOwnerCountsAll                     // DeleteByOwner counts expired records
	flawTouchResurrects                            // Touch of an expired record revives it
	flawCreateRace                                 // Create checks and writes in two steps
	flawUpdateRace                                 // Update compares and writes in two steps
	flawHangs                                      // Load blocks, ignoring its context
	flawNotDurableUnapplied                        // Update reports ErrNotDurable and writes nothing
	flawDeleteByOwnerOneRound                      // DeleteByOwner deletes a snapshot of the index, once
	flawEventsForFailedWrites                      // failed Create, Rekey and Delete publish
	flawEventsBlockWriters                         // writes call fn themselves, holding the lock
	flawEventsDroppedSilently                      // a full buffer drops events without EventMissed
	flawEventsOutOfOrder                           // each two events are delivered the other way round
	flawNoExpiredEvents                            // the janitor removes expired records silently
	flawNoRekeyEvent                               // Rekey publishes EventCreated and EventDeleted
	flawEventsBeforeSubscribed                     // Subscribe returns before it listens: the next write is lost
	flawEventsSharedDelivery                       // one queue and goroutine deliver to every subscriber in turn
	flawEventsAfterCancel                          // a cancelled subscription still gets events, from the write
	flawEventsConcurrent                           // two goroutines deliver the events of one subscription
	flawConflictCarriesStale                       // Update's ConflictError holds the caller's record, at the stored version
)

func newRef(tb testing.TB, flaws flaw) *refBackend {
	r := &refBackend{
		flaws:   flaws,
		hang:    make(chan struct{}),
		recs:    map[string]backend.Record{},
		owners:  map[string]map[string]backend.Record{},
		races:   map[string]*ownerRace{},
		creates: map[string]int{},
		created: map[string]chan struct{}{},
	}
	tb.Cleanup(func() {
		close(r.hang)
		_ = r.Close()
	})
	return r
}

func (r *refBackend) has(f flaw) bool { return r.flaws&f != 0 }

// err returns the sentinel, or with flawWrongErrors a look-alike.
func (r *refBackend) err(sentinel error) error {
	if r.has(flawWrongErrors) {
		return errors.New(strings.TrimPrefix(sentinel.Error(), "backend: "))
	}
	return sentinel
}

func (r *refBackend) ctxErr(ctx context.Context) error {
	if r.has(flawIgnoresContext) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("refbackend: %w", err)
	}
	return nil
}

// key maps a caller's key to the map key.
func (r *refBackend) key(k string) string {
	if r.has(flawTruncatesAtNUL) {
		k, _, _ = strings.Cut(k, "\x00")
	}
	if r.has(flawFoldsCase) {
		k = strings.ToLower(k)
	}
	return k
}

func (r *refBackend) time(t time.Time) time.Time {
	if r.has(flawSecondPrecision) {
		return t.Truncate(time.Second)
	}
	return t
}

func (r *refBackend) in(p []byte) []byte {
	if r.has(flawAliasesInput) {
		return p
	}
	return bytes.Clone(p)
}

func (r *refBackend) out(rec backend.Record) backend.Record {
	if !r.has(flawAliasesOutput) {
		rec.Payload = bytes.Clone(rec.Payload)
	}
	return rec
}

// live returns the live record under the map key k.
func (r *refBackend) live(k string) (backend.Record, bool) {
	rec, ok := r.recs[k]
	if !ok || (rec.Expired(time.Now()) && !r.has(flawIgnoresDeadlines)) {
		return backend.Record{}, false
	}
	return rec, true
}

// put stores rec and keeps the owner index in step; old is the record it
// replaces, if any.
func (r *refBackend) put(k string, rec backend.Record, old *backend.Record) {
	r.recs[k] = rec
	if old != nil && old.Owner != rec.Owner && !r.has(flawStaleOwnerIndex) {
		delete(r.owners[old.Owner], k)
	}
	if old != nil && old.Owner != rec.Owner && r.has(flawStaleOwnerIndex) {
		return
	}
	if r.owners[rec.Owner] == nil {
		r.owners[rec.Owner] = map[string]backend.Record{}
	}
	r.owners[rec.Owner][k] = rec
}

func (r *refBackend) remove(k string) {
	rec, ok := r.recs[k]
	if !ok {
		return
	}
	delete(r.recs, k)
	if !r.has(flawIndexKeepsDeleted) {
		delete(r.owners[rec.Owner], k)
	}
}

func (r *refBackend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := r.ctxErr(ctx); err != nil {
		return backend.Record{}, err
	}
	k := r.key(rec.Key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live(k); ok && !r.has(flawCreateOverwrites) {
		if r.has(flawEventsForFailedWrites) {
			r.publish(backend.Event{Kind: backend.EventCreated, Key: rec.Key, Owner: rec.Owner})
		}
		return backend.Record{}, r.err(backend.ErrExists)
	}
	if old, ok := r.recs[k]; ok {
		r.ended(old, false) // an expired record the janitor had not removed
	}
	if r.has(flawCreateRace) {
		// Wait, up to 100 ms, for a second Create of k to pass the check
		// too, so that the race shows on every run.
		if r.created[k] == nil {
			r.created[k] = make(chan struct{})
		}
		both := r.created[k]
		if r.creates[k]++; r.creates[k] == 2 {
			close(both)
		}
		r.mu.Unlock()
		select {
		case <-both:
		case <-time.After(100 * time.Millisecond):
		}
		r.mu.Lock()
	}
	if !r.has(flawCreateKeepsVersion) {
		rec.Version = 1
	}
	rec.Payload = r.in(rec.Payload)
	rec.CreatedAt = r.time(rec.CreatedAt)
	rec.AbsoluteDeadline = r.time(rec.AbsoluteDeadline)
	rec.IdleDeadline = r.time(rec.IdleDeadline)
	r.put(k, rec, nil)
	r.publish(backend.Event{Kind: backend.EventCreated, Key: rec.Key, Owner: rec.Owner})
	return r.out(rec), nil
}

func (r *refBackend) Load(ctx context.Context, key string) (backend.Record, error) {
	if r.has(flawHangs) {
		<-r.hang
	}
	return r.load(ctx, key, r.out)
}

func (r *refBackend) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	return r.Load(ctx, key)
}

// load returns out of the live record under key, under the lock.
func (r *refBackend) load(ctx context.Context, key string, out func(backend.Record) backend.Record) (backend.Record, error) {
	if err := r.ctxErr(ctx); err != nil {
		return backend.Record{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.live(r.key(key))
	if !ok {
		return backend.Record{}, r.err(backend.ErrNotFound)
	}
	return out(rec), nil
}

func (r *refBackend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := r.ctxErr(ctx); err != nil {
		return backend.Record{}, err
	}
	k := r.key(rec.Key)
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.live(k)
	if !ok {
		if !r.has(flawUpdateRecreates) {
			return backend.Record{}, r.err(backend.ErrNotFound)
		}
		cur = rec
	}
	if r.has(flawNotDurableUnapplied) && cur.Version == rec.Version {
		rec.Version++
		return rec, errors.Join(backend.ErrNotDurable, errors.New("reference: not written"))
	}
	if cur.Version != rec.Version && !r.has(flawNoCAS) {
		if r.has(flawWrongErrors) {
			return backend.Record{}, r.err(backend.ErrConflict)
		}
		stored := r.out(cur)
		if r.has(flawConflictCarriesStale) {
			stored = r.out(rec)
			stored.Version, stored.CreatedAt = cur.Version, cur.CreatedAt
		}
		return backend.Record{}, fmt.Errorf("reference: %w", &backend.ConflictError{Current: stored})
	}
	if r.has(flawUpdateRace) {
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
		r.mu.Lock()
	}
	rec.Version = cur.Version + 1
	rec.Payload = r.in(rec.Payload)
	if !r.has(flawUpdateOverwritesCreatedAt) {
		rec.CreatedAt = cur.CreatedAt
	}
	rec.AbsoluteDeadline = r.time(rec.AbsoluteDeadline)
	rec.IdleDeadline = r.time(rec.IdleDeadline)
	r.put(k, rec, &cur)
	return r.out(rec), nil
}

func (r *refBackend) Touch(ctx context.Context, key string, idle time.Time) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	k := r.key(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.live(k)
	if !ok && r.has(flawTouchResurrects) {
		cur, ok = r.recs[k]
	}
	if !ok {
		return r.err(backend.ErrNotFound)
	}
	rec := cur
	rec.IdleDeadline = r.time(idle)
	if r.has(flawTouchBumpsVersion) {
		rec.Version++
	}
	if r.has(flawTouchResurrects) && !rec.AbsoluteDeadline.After(time.Now()) {
		rec.AbsoluteDeadline = rec.IdleDeadline
	}
	r.put(k, rec, &cur)
	return nil
}

func (r *refBackend) Delete(ctx context.Context, key string) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	k := r.key(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.live(k)
	if !ok && r.has(flawDeleteMissingErrors) {
		return r.err(backend.ErrNotFound)
	}
	if !ok && r.has(flawEventsForFailedWrites) {
		r.publish(backend.Event{Kind: backend.EventDeleted, Key: key})
	}
	if old, present := r.recs[k]; present {
		r.ended(old, ok)
	}
	r.remove(k)
	return nil
}

func (r *refBackend) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	if err := r.ctxErr(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []backend.Record{}
	now := time.Now()
	for k, snapshot := range r.owners[owner] {
		rec, ok := r.recs[k]
		switch {
		case !ok && r.has(flawIndexKeepsDeleted):
			rec = snapshot
		case !ok:
			continue
		case rec.Owner != owner && !r.has(flawStaleOwnerIndex):
			continue
		}
		if rec.Expired(now) && !r.has(flawListsExpired|flawIgnoresDeadlines) {
			continue
		}
		out = append(out, r.out(rec))
	}
	return out, nil
}

func (r *refBackend) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	if err := r.ctxErr(ctx); err != nil {
		return 0, err
	}
	if r.has(flawDeleteByOwnerOneRound) {
		return r.deleteSnapshot(owner)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	now := time.Now()
	for k := range r.owners[owner] {
		rec, ok := r.recs[k]
		if !ok || rec.Owner != owner {
			continue
		}
		if !rec.Expired(now) || r.has(flawDeleteByOwnerCountsAll) {
			n++
		}
		r.ended(rec, !rec.Expired(now))
		r.remove(k)
	}
	delete(r.owners, owner)
	return n, nil
}

// race returns the ownerRace of owner; r.mu must be held.
func (r *refBackend) race(owner string) *ownerRace {
	o := r.races[owner]
	if o == nil {
		o = &ownerRace{snapshot: make(chan struct{}), rekeyed: make(chan struct{})}
		r.races[owner] = o
	}
	return o
}

// deleteSnapshot is DeleteByOwner as a store without atomic owner
// operations might write it: read the index, then delete what it listed,
// without looking again. It lets a racing Rekey run between the two steps
// (waiting up to 100 ms for one), so the flaw shows on every run, not
// only when the scheduler happens to interleave them.
func (r *refBackend) deleteSnapshot(owner string) (int, error) {
	r.mu.Lock()
	var keys []string
	for k := range r.owners[owner] {
		keys = append(keys, k)
	}
	race := r.race(owner)
	if race.taken { // another DeleteByOwner of owner is waiting on it
		delete(r.races, owner)
		race = r.race(owner)
	}
	race.taken = true
	r.mu.Unlock()
	// A Rekey that arrives while this waits finds the snapshot taken and
	// runs at once, so the interleaving does not hang on timers.
	close(race.snapshot)
	select {
	case <-race.rekeyed:
	case <-time.After(100 * time.Millisecond):
	}
	r.mu.Lock()
	if r.races[owner] == race {
		delete(r.races, owner) // the next DeleteByOwner of owner races anew
	}
	r.mu.Unlock()
	n := 0
	for _, k := range keys {
		r.mu.Lock()
		if rec, ok := r.live(k); ok && rec.Owner == owner {
			r.ended(rec, true)
			r.remove(k)
			n++
		}
		r.mu.Unlock()
	}
	return n, nil
}

func (r *refBackend) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	if err := r.ctxErr(ctx); err != nil {
		return backend.Record{}, err
	}
	oldK, newK := r.key(rec.Key), r.key(newKey)
	if r.has(flawDeleteByOwnerOneRound) {
		// Wait briefly for a racing DeleteByOwner's snapshot, and tell it
		// once this Rekey has run.
		r.mu.Lock()
		race := r.race(rec.Owner)
		r.mu.Unlock()
		select {
		case <-race.snapshot:
			defer race.once.Do(func() { close(race.rekeyed) })
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.live(oldK)
	switch {
	case !ok:
		return backend.Record{}, r.err(backend.ErrNotFound)
	case cur.Version != rec.Version:
		if r.has(flawEventsForFailedWrites) {
			r.publish(backend.Event{Kind: backend.EventRekeyed, Key: newKey, OldKey: rec.Key, Owner: rec.Owner})
		}
		return backend.Record{}, r.err(backend.ErrConflict)
	}
	if _, taken := r.live(newK); taken {
		return backend.Record{}, r.err(backend.ErrExists)
	}
	rec.Key = newKey
	rec.Version = 1
	rec.Payload = r.in(rec.Payload)
	rec.CreatedAt = r.time(rec.CreatedAt)
	rec.AbsoluteDeadline = r.time(rec.AbsoluteDeadline)
	rec.IdleDeadline = r.time(rec.IdleDeadline)
	if old, ok := r.recs[newK]; ok {
		r.ended(old, false) // an expired record the janitor had not removed
	}
	if !r.has(flawRekeyKeepsOld) {
		r.remove(oldK)
	}
	r.put(newK, rec, nil)
	if r.has(flawNoRekeyEvent) {
		r.publish(backend.Event{Kind: backend.EventCreated, Key: newKey, Owner: rec.Owner})
		r.publish(backend.Event{Kind: backend.EventDeleted, Key: cur.Key, Owner: cur.Owner})
	} else {
		r.publish(backend.Event{Kind: backend.EventRekeyed, Key: newKey, OldKey: cur.Key, Owner: rec.Owner})
	}
	return r.out(rec), nil
}

func (r *refBackend) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed && r.has(flawCloseTwiceErrors) {
		return errors.New("already closed")
	}
	r.closed = true
	return nil
}

// refQueueSize is the buffer of each subscription of the reference: small,
// so that Events/Slow makes it drop and count.
const refQueueSize = 256

// refSub is one subscription of the reference backend.
type refSub struct {
	ctx  context.Context
	push func(backend.Event) // never blocks, but with flawEventsBlockWriters
	fn   func(backend.Event) // what Subscribe was passed
}

// droppingSize is the buffer of flawEventsDroppedSilently: small, so that
// the few thousand writes of Events/Slow overflow it however slowly the
// machine runs them.
const droppingSize = 16

// concurrentSize is the buffer of flawEventsConcurrent: room for all the
// events of Events/Slow, so that its writes never wait.
const concurrentSize = 2 * (2*slowPairs + 64)

// Subscribe delivers through an eventq.Queue of refQueueSize per
// subscriber; writes publish under r.mu, so the events of one key are
// queued in the order of its writes. The first Subscribe starts a janitor
// that removes expired records every 20 ms and publishes EventExpired; it
// runs only for backends that have subscribers, so the checks that watch
// expired records stay in the store (Expiry/NoResurrection) see no change.
func (r *refBackend) Subscribe(ctx context.Context, fn func(backend.Event)) error {
	if err := r.ctxErr(ctx); err != nil {
		return err
	}
	sub := &refSub{ctx: ctx, fn: fn}
	switch {
	case r.has(flawEventsBlockWriters):
		sub.push = func(e backend.Event) {
			if ctx.Err() == nil {
				fn(e)
			}
		}
	case r.has(flawEventsDroppedSilently):
		ch := make(chan backend.Event, droppingSize)
		sub.push = func(e backend.Event) {
			select {
			case ch <- e:
			default:
			}
		}
		go deliverFrom(ctx, ch, fn)
	case r.has(flawEventsOutOfOrder):
		var held *backend.Event
		swapped := func(e backend.Event) {
			if held == nil {
				held = &e
				return
			}
			fn(e)
			fn(*held)
			held = nil
		}
		sub.push = eventq.Start(ctx, refQueueSize, swapped).Push
	case r.has(flawEventsSharedDelivery):
		sub.push = func(backend.Event) {} // share sets it for the first
	case r.has(flawEventsConcurrent):
		// Two goroutines take turns on one queue: while fn blocks in one,
		// the other calls it again.
		ch := make(chan backend.Event, concurrentSize)
		sub.push = func(e backend.Event) { ch <- e }
		for range 2 {
			go deliverFrom(ctx, ch, fn)
		}
	default:
		sub.push = eventq.Start(ctx, refQueueSize, fn).Push
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.has(flawEventsSharedDelivery) {
		r.share(sub)
	}
	if r.has(flawEventsBeforeSubscribed) {
		r.late = append(r.late, sub)
	} else {
		r.subs = append(r.subs, sub)
	}
	if !r.sweeping {
		r.sweeping = true
		go r.janitor()
	}
	return nil
}

// share adds sub to the one shared queue of flawEventsSharedDelivery,
// which the first such subscription pushes to; r.mu must be held.
func (r *refBackend) share(sub *refSub) {
	r.sharedMu.Lock()
	r.sharedSubs = append(r.sharedSubs, sub)
	r.sharedMu.Unlock()
	if r.shared != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-r.hang; cancel() }()
	r.shared = eventq.Start(ctx, refQueueSize, func(e backend.Event) {
		r.sharedMu.Lock()
		subs := slices.Clone(r.sharedSubs)
		r.sharedMu.Unlock()
		for _, s := range subs {
			if s.ctx.Err() == nil {
				s.fn(e)
			}
		}
	})
	sub.push = r.shared.Push
}

// publish stamps e and hands it to every live subscription; r.mu must be
// held. With flawEventsBeforeSubscribed, the subscriptions made since the
// last write start listening only now, after this write; with
// flawEventsAfterCancel, a cancelled subscription's fn is called by the
// write itself, so that the flaw shows at once.
func (r *refBackend) publish(e backend.Event) {
	e.At = time.Now()
	live := r.subs[:0]
	for _, s := range r.subs {
		switch {
		case s.ctx.Err() == nil:
			s.push(e)
		case r.has(flawEventsAfterCancel):
			s.fn(e)
		default:
			continue // cancelled: dropped
		}
		live = append(live, s)
	}
	r.subs = append(live, r.late...)
	r.late = nil
}

// ended publishes the end of rec, which a write or the janitor removes:
// EventDeleted if it was live, EventExpired if not; r.mu must be held.
func (r *refBackend) ended(rec backend.Record, live bool) {
	kind := backend.EventDeleted
	if !live {
		if r.has(flawNoExpiredEvents) {
			return
		}
		kind = backend.EventExpired
	}
	r.publish(backend.Event{Kind: kind, Key: rec.Key, Owner: rec.Owner})
}

// janitor removes expired records every 20 ms until the backend's test
// ends.
func (r *refBackend) janitor() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.hang:
			return
		case <-t.C:
		}
		r.mu.Lock()
		now := time.Now()
		for k, rec := range r.recs {
			if rec.Expired(now) {
				r.ended(rec, false)
				r.remove(k)
			}
		}
		r.mu.Unlock()
	}
}

// deliverFrom calls fn with each event from ch until ctx is done.
func deliverFrom(ctx context.Context, ch <-chan backend.Event, fn func(backend.Event)) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-ch:
			fn(e)
		}
	}
}
