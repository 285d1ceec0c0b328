package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks of the Notifier capability. Each check subscribes before it
// writes and looks only at the events of keys it made itself (under a
// prefix of its own): other cases may share the store. Only the order of
// the events of one key is promised, so "nothing was published" is proven
// by a later write of the same key, a marker: once the marker's event has
// arrived, every earlier event of that key has arrived or was lost.

// eventWait bounds how long a check waits for an event it expects: events
// travel through the store, on a machine that may be loaded.
const eventWait = 10 * time.Second

// atWindow is how far Event.At may be from the test's clock when the event
// arrives: backends stamp events by the application's clock, which may be
// another process's.
const atWindow = time.Minute

// eventPrefix returns a key prefix no other case uses; the keys of one
// check share it, so that its logs tell its events from others'.
func eventPrefix(tag string) string { return "conformance:events-" + tag + ":" + uniq() + ":" }

// eventKey returns a new key under prefix.
func eventKey(prefix, tag string) string { return prefix + tag + ":" + uniq() }

// eventLog records what one subscription delivers: the events of keys
// under its prefix, by key (an EventRekeyed under both its keys), and the
// sum of the Missed of EventMissed. It notices malformed events and calls
// of fn that overlap.
type eventLog struct {
	prefix string
	// hold, if not nil, blocks fn from its first call until it is closed.
	hold chan struct{}

	inside atomic.Int32 // calls of fn under way
	wake   chan struct{}

	mu       sync.Mutex
	byKey    map[string][]backend.Event
	calls    int // every call of fn
	mine     int // events of keys under prefix
	foreign  int // events of other keys
	missed   int // sum of Missed
	unknown  int // EventMissed with Missed 0
	bad      error
	canceled bool // set once the subscription's context was cancelled
	late     int  // calls that began after canceled was set
}

func newEventLog(prefix string) *eventLog {
	return &eventLog{prefix: prefix, wake: make(chan struct{}, 1), byKey: map[string][]backend.Event{}}
}

// subscribe subscribes l to b until ctx is done.
func (l *eventLog) subscribe(ctx context.Context, b backend.Backend) error {
	if err := b.(backend.Notifier).Subscribe(ctx, l.record); err != nil {
		return failf("Subscribe: %w", err)
	}
	return nil
}

// subscribeLog returns a new log of the keys under prefix, subscribed to b
// until ctx is done.
func subscribeLog(ctx context.Context, b backend.Backend, prefix string) (*eventLog, error) {
	l := newEventLog(prefix)
	return l, l.subscribe(ctx, b)
}

func (l *eventLog) record(e backend.Event) {
	if l.inside.Add(1) > 1 {
		l.fail(fmt.Errorf("fn was called while another call of it was still running: it must be called from one goroutine at a time"))
	}
	defer l.inside.Add(-1)
	now := time.Now()
	l.mu.Lock()
	l.calls++
	if l.canceled {
		l.late++
	}
	switch {
	case e.Kind == backend.EventMissed:
		if e.Key != "" || e.OldKey != "" || e.Owner != "" || e.Missed < 0 {
			l.failLocked(fmt.Errorf("an EventMissed with Key %s, OldKey %s, Owner %s, Missed %d: Key, OldKey and Owner must be empty, Missed at least 0", show(e.Key), show(e.OldKey), show(e.Owner), e.Missed))
		}
		l.missed += e.Missed
		if e.Missed == 0 {
			l.unknown++
		}
	case !strings.HasPrefix(e.Key, l.prefix) && !strings.HasPrefix(e.OldKey, l.prefix):
		l.foreign++
	default:
		l.mine++
		if err := wellFormed(e, now); err != nil {
			l.failLocked(err)
		}
		l.byKey[e.Key] = append(l.byKey[e.Key], e)
		if e.OldKey != "" && e.OldKey != e.Key {
			l.byKey[e.OldKey] = append(l.byKey[e.OldKey], e)
		}
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	if l.hold != nil {
		<-l.hold
	}
}

// wellFormed checks an event of one of the check's keys, received at now.
func wellFormed(e backend.Event, now time.Time) error {
	switch e.Kind {
	case backend.EventCreated, backend.EventDeleted, backend.EventExpired:
		if e.OldKey != "" {
			return fmt.Errorf("an %v event of key %s with OldKey %s: only EventRekeyed has one", e.Kind, keyName(e.Key), keyName(e.OldKey))
		}
	case backend.EventRekeyed:
		if e.OldKey == "" || e.OldKey == e.Key {
			return fmt.Errorf("an EventRekeyed to key %s with OldKey %s: it must name the key the record moved from", keyName(e.Key), keyName(e.OldKey))
		}
	default:
		return fmt.Errorf("an event of key %s with the unknown kind %v", keyName(e.Key), e.Kind)
	}
	if e.Missed != 0 {
		return fmt.Errorf("an %v event of key %s with Missed %d: only EventMissed has one", e.Kind, keyName(e.Key), e.Missed)
	}
	if e.At.IsZero() || e.At.Before(now.Add(-atWindow)) || e.At.After(now.Add(atWindow)) {
		return fmt.Errorf("an %v event of key %s with At %v, received at %v: At must be when the write was applied (±%v)", e.Kind, keyName(e.Key), e.At.Round(0), now.Round(0), atWindow)
	}
	return nil
}

func (l *eventLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(err)
}

func (l *eventLog) failLocked(err error) {
	if l.bad == nil {
		l.bad = err
	}
}

// err returns the first malformed event or overlapping call seen.
func (l *eventLog) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bad != nil {
		return failf("%w", l.bad)
	}
	return nil
}

// events returns the events of key so far.
func (l *eventLog) events(key string) []backend.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]backend.Event(nil), l.byKey[key]...)
}

// await waits, at most eventWait, until cond holds; cond runs with l.mu
// held.
func (l *eventLog) await(ctx context.Context, cond func() bool) (bool, error) {
	timeout := time.NewTimer(eventWait)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		ok := cond()
		l.mu.Unlock()
		if ok {
			return true, nil
		}
		select {
		case <-l.wake:
		case <-timeout.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// awaitMarker waits until an event of kind for key (as its Key) has
// arrived, and returns the events of key up to then: the marker is the
// last write of key, so every earlier event of key has arrived or was
// lost.
func (l *eventLog) awaitMarker(ctx context.Context, key string, kind backend.EventKind, what string) ([]backend.Event, error) {
	return l.awaitEvent(ctx, key, kind, nil, what)
}

// awaitMarkerOf is awaitMarker for the event of kind whose Owner is
// owner: a marker write made with an owner of its own is told from the
// earlier writes of its key that way.
func (l *eventLog) awaitMarkerOf(ctx context.Context, key string, kind backend.EventKind, owner, what string) ([]backend.Event, error) {
	return l.awaitEvent(ctx, key, kind, &owner, what)
}

func (l *eventLog) awaitEvent(ctx context.Context, key string, kind backend.EventKind, owner *string, what string) ([]backend.Event, error) {
	var got []backend.Event
	ok, err := l.await(ctx, func() bool {
		for i, e := range l.byKey[key] {
			if e.Kind == kind && e.Key == key && (owner == nil || e.Owner == *owner) {
				got = append([]backend.Event(nil), l.byKey[key][:i+1]...)
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	if !ok {
		desc := "no " + kind.String() + " event"
		if owner != nil {
			desc += " with owner " + show(*owner)
		}
		return nil, failf("%s: %s of key %s arrived within %v; its events so far: %s", what, desc, keyName(key), eventWait, describe(l.events(key)))
	}
	return got, nil
}

// ev is an expected event: its kind, keys and owner.
func ev(kind backend.EventKind, key, oldKey, owner string) backend.Event {
	return backend.Event{Kind: kind, Key: key, OldKey: oldKey, Owner: owner}
}

// expectEvents compares the events of a key with want: kind, keys and
// owner (an EventExpired may have an empty Owner).
func expectEvents(got, want []backend.Event, what string) error {
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		ownerOK := g.Owner == w.Owner || g.Kind == backend.EventExpired && g.Owner == ""
		same = g.Kind == w.Kind && g.Key == w.Key && g.OldKey == w.OldKey && ownerOK
	}
	if !same {
		return failf("%s: the events are %s, want %s", what, describe(got), describe(want))
	}
	return nil
}

// keyName shortens a key of an event check for a message: the prefix of
// the case and run is dropped, the tag and random part, which tell the
// check's keys apart, are kept.
func keyName(k string) string {
	if rest, ok := strings.CutPrefix(k, "conformance:events-"); ok {
		if parts := strings.SplitN(rest, ":", 3); len(parts) == 3 {
			return show("…:" + parts[2])
		}
	}
	return show(k)
}

// describe lists events for a message.
func describe(evs []backend.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	parts := make([]string, 0, min(len(evs), 12))
	for i, e := range evs {
		if i == 11 && len(evs) > 12 {
			parts = append(parts, fmt.Sprintf("… %d more", len(evs)-i))
			break
		}
		s := e.Kind.String() + " " + keyName(e.Key)
		if e.OldKey != "" {
			s += " from " + keyName(e.OldKey)
		}
		if e.Owner != "" {
			s += " owner " + show(e.Owner)
		}
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func checkEventsPerWrite(ctx context.Context, b backend.Backend) error {
	prefix := eventPrefix("per-write")
	l, err := subscribeLog(ctx, b, prefix)
	if err != nil {
		return err
	}
	owner := newOwner("events")
	rec, err := create(ctx, b, newRecord(eventKey(prefix, "k"), owner, []byte("v1")))
	if err != nil {
		return err
	}
	first := rec.Key
	rec.Payload = []byte("v2")
	if rec, err = b.Update(ctx, rec); err != nil {
		return failf("Update: %w", err)
	}
	if err := b.Touch(ctx, rec.Key, time.Now().Add(time.Hour)); err != nil {
		return failf("Touch: %w", err)
	}
	want := []backend.Event{ev(backend.EventCreated, first, "", owner)}
	if r, ok := b.(backend.Rekeyer); ok {
		target := eventKey(prefix, "rekeyed")
		if rec, err = r.Rekey(ctx, rec, target); err != nil {
			return failf("Rekey: %w", err)
		}
		want = append(want, ev(backend.EventRekeyed, target, first, owner))
	}
	if err := b.Delete(ctx, rec.Key); err != nil {
		return failf("Delete: %w", err)
	}
	got, err := l.awaitMarker(ctx, rec.Key, backend.EventDeleted, "Delete")
	if err != nil {
		return err
	}
	if rec.Key != first {
		// The key the record moved to: the Rekey, then the Delete.
		if err := expectEvents(got, []backend.Event{want[1], ev(backend.EventDeleted, rec.Key, "", owner)}, "Rekey, then Delete of the new key"); err != nil {
			return err
		}
		if err := expectEvents(l.events(first), want, "Create, Update, Touch and Rekey (Update and Touch publish nothing)"); err != nil {
			return err
		}
	} else if err := expectEvents(got, append(want, ev(backend.EventDeleted, first, "", owner)), "Create, Update, Touch and Delete (Update and Touch publish nothing)"); err != nil {
		return err
	}
	if _, ok := b.(backend.OwnerIndex); ok {
		if err := eventsDeleteByOwner(ctx, b, l, prefix); err != nil {
			return err
		}
	}
	return l.err()
}

// eventsDeleteByOwner: DeleteByOwner of three records publishes one
// EventDeleted for each.
func eventsDeleteByOwner(ctx context.Context, b backend.Backend, l *eventLog, prefix string) error {
	owner := newOwner("events-by-owner")
	var keys []string
	for i := range 3 {
		rec, err := create(ctx, b, newRecord(eventKey(prefix, "owned"), owner, fmt.Appendf(nil, "#%d", i)))
		if err != nil {
			return err
		}
		keys = append(keys, rec.Key)
	}
	n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, owner)
	if err != nil || n != len(keys) {
		return failf("DeleteByOwner = %d, %v; want %d, nil", n, err, len(keys))
	}
	for _, k := range keys {
		got, err := l.awaitMarker(ctx, k, backend.EventDeleted, "DeleteByOwner")
		if err != nil {
			return err
		}
		if err := expectEvents(got, []backend.Event{ev(backend.EventCreated, k, "", owner), ev(backend.EventDeleted, k, "", owner)}, "Create, then DeleteByOwner"); err != nil {
			return err
		}
	}
	return nil
}

func checkEventsNoneForFailed(ctx context.Context, b backend.Backend) error {
	prefix := eventPrefix("failed")
	l, err := subscribeLog(ctx, b, prefix)
	if err != nil {
		return err
	}
	r, rekeys := b.(backend.Rekeyer)
	owner := newOwner("events-failed")

	// Failed writes of a live key: between its Create and its Delete, no
	// event.
	v1, err := create(ctx, b, newRecord(eventKey(prefix, "live"), owner, []byte("v1")))
	if err != nil {
		return err
	}
	taken, err := create(ctx, b, newRecord(eventKey(prefix, "taken"), owner, []byte("taken")))
	if err != nil {
		return err
	}
	_, err = b.Create(ctx, newRecord(v1.Key, owner, []byte("again")))
	if err := wantErr(err, backend.ErrExists, "Create of a live key"); err != nil {
		return err
	}
	v2 := v1
	v2.Payload = []byte("v2")
	if v2, err = b.Update(ctx, v2); err != nil {
		return failf("Update: %w", err)
	}
	_, err = b.Update(ctx, v1)
	if err := wantErr(err, backend.ErrConflict, "Update with a stale version"); err != nil {
		return err
	}
	target := eventKey(prefix, "target")
	if rekeys {
		_, err = r.Rekey(ctx, v1, target)
		if err := wantErr(err, backend.ErrConflict, "Rekey with a stale version"); err != nil {
			return err
		}
		_, err = r.Rekey(ctx, v2, taken.Key)
		if err := wantErr(err, backend.ErrExists, "Rekey to a taken key"); err != nil {
			return err
		}
	}
	if err := b.Delete(ctx, v1.Key); err != nil {
		return failf("Delete: %w", err)
	}
	if err := b.Delete(ctx, v1.Key); err != nil {
		return failf("Delete of a deleted key: %w", err)
	}

	// Failed writes of a key never created: its first event is the
	// Create that follows them.
	missing := newRecord(eventKey(prefix, "missing"), owner, []byte("ghost"))
	missing.Version = 1
	_, err = b.Update(ctx, missing)
	if err := wantErr(err, backend.ErrNotFound, "Update of a missing key"); err != nil {
		return err
	}
	err = b.Touch(ctx, missing.Key, time.Now().Add(time.Hour))
	if err := wantErr(err, backend.ErrNotFound, "Touch of a missing key"); err != nil {
		return err
	}
	if rekeys {
		_, err = r.Rekey(ctx, missing, target)
		if err := wantErr(err, backend.ErrNotFound, "Rekey of a missing key"); err != nil {
			return err
		}
	}
	if err := b.Delete(ctx, missing.Key); err != nil {
		return failf("Delete of a missing key: %w", err)
	}

	// The markers: a Create and a Delete of each key after its failed
	// writes, with an owner of their own.
	marker := newOwner("events-failed-marker")
	for _, k := range []string{v1.Key, taken.Key, missing.Key, target} {
		if k != taken.Key {
			if _, err := create(ctx, b, newRecord(k, marker, []byte("marker"))); err != nil {
				return err
			}
		}
		if err := b.Delete(ctx, k); err != nil {
			return failf("Delete: %w", err)
		}
	}
	pair := func(key, owner string) []backend.Event {
		return []backend.Event{ev(backend.EventCreated, key, "", owner), ev(backend.EventDeleted, key, "", owner)}
	}
	for _, c := range []struct {
		key, what, last string // last: the owner of the key's last Delete
		want            []backend.Event
	}{
		{v1.Key, "a live key: Create, a Create of it (ErrExists), an Update with a stale version (ErrConflict), a Rekey with a stale version (ErrConflict), a Rekey to a taken key (ErrExists), Delete, a Delete of the deleted key, then the marker Create and Delete",
			marker, append(pair(v1.Key, owner), pair(v1.Key, marker)...)},
		{taken.Key, "the taken key: Create, a Rekey to it (ErrExists), Delete", owner, pair(taken.Key, owner)},
		{missing.Key, "a key never created: Update, Touch and Rekey of it (ErrNotFound), Delete of it, then the marker Create and Delete", marker, pair(missing.Key, marker)},
		{target, "the new key of failed Rekeys: the marker Create and Delete", marker, pair(target, marker)},
	} {
		got, err := l.awaitMarkerOf(ctx, c.key, backend.EventDeleted, c.last, c.what)
		if err != nil {
			return err
		}
		if err := expectEvents(got, c.want, c.what+" (failed writes publish nothing)"); err != nil {
			return err
		}
	}
	return l.err()
}

func checkEventsOrder(ctx context.Context, b backend.Backend) error {
	const rounds, hops = 20, 10
	prefix := eventPrefix("order")
	l, err := subscribeLog(ctx, b, prefix)
	if err != nil {
		return err
	}
	owner := newOwner("events-order")
	key := eventKey(prefix, "again")
	var want []backend.Event
	for range rounds {
		if _, err := create(ctx, b, newRecord(key, owner, []byte("x"))); err != nil {
			return err
		}
		if err := b.Delete(ctx, key); err != nil {
			return failf("Delete: %w", err)
		}
		want = append(want, ev(backend.EventCreated, key, "", owner), ev(backend.EventDeleted, key, "", owner))
	}
	// The last round, with an owner of its own, is the marker.
	marker := newOwner("events-order-marker")
	if _, err := create(ctx, b, newRecord(key, marker, []byte("x"))); err != nil {
		return err
	}
	if err := b.Delete(ctx, key); err != nil {
		return failf("Delete: %w", err)
	}
	want = append(want, ev(backend.EventCreated, key, "", marker), ev(backend.EventDeleted, key, "", marker))
	got, err := l.awaitMarkerOf(ctx, key, backend.EventDeleted, marker, fmt.Sprintf("%d rounds of Create and Delete of one key", rounds+1))
	if err != nil {
		return err
	}
	if err := expectEvents(got, want, fmt.Sprintf("%d rounds of Create and Delete of one key, in write order", rounds+1)); err != nil {
		return err
	}
	r, ok := b.(backend.Rekeyer)
	if !ok {
		return l.err()
	}
	// A chain of Rekeys: each key sees the Rekey into it, then the one out
	// of it.
	rec, err := create(ctx, b, newRecord(eventKey(prefix, "hop"), owner, []byte("x")))
	if err != nil {
		return err
	}
	keys := []string{rec.Key}
	for range hops {
		if rec, err = r.Rekey(ctx, rec, eventKey(prefix, "hop")); err != nil {
			return failf("Rekey: %w", err)
		}
		keys = append(keys, rec.Key)
	}
	if err := b.Delete(ctx, rec.Key); err != nil {
		return failf("Delete: %w", err)
	}
	if _, err := l.awaitMarker(ctx, rec.Key, backend.EventDeleted, "a chain of Rekeys, then Delete"); err != nil {
		return err
	}
	for i, k := range keys {
		var want []backend.Event
		if i == 0 {
			want = append(want, ev(backend.EventCreated, k, "", owner))
		} else {
			want = append(want, ev(backend.EventRekeyed, k, keys[i-1], owner))
		}
		if i+1 < len(keys) {
			want = append(want, ev(backend.EventRekeyed, keys[i+1], k, owner))
		} else {
			want = append(want, ev(backend.EventDeleted, k, "", owner))
		}
		if err := expectEvents(l.events(k), want, fmt.Sprintf("hop %d of a chain of %d Rekeys, once the Delete of the last key had arrived: in write order", i, hops)); err != nil {
			return err
		}
	}
	return l.err()
}

// expiredWithin is how long after its deadline a check reads an expired
// record's key, every expiryPoll, waiting for its EventExpired from the
// store's cleanup, before it reuses the key.
const (
	expiredWithin = 10 * time.Second
	expiryPoll    = 100 * time.Millisecond
)

// checkEventsExpired: the record's expiry is reported when the store
// removes it: by its cleanup, within expiredWithin while the key is read
// (some stores notice an expiry on a read), or at the latest when a Create
// reuses the key and so replaces the expired record, before that Create's
// event. A store whose cleanup runs less often (memory's janitor by
// default) passes by the second; one that forgets the record it replaced
// must clean up within the bound.
func checkEventsExpired(ctx context.Context, b backend.Backend) error {
	prefix := eventPrefix("expired")
	l, err := subscribeLog(ctx, b, prefix)
	if err != nil {
		return err
	}
	owner := newOwner("events-expired")
	rec := newRecord(eventKey(prefix, "short"), owner, []byte("x"))
	rec.IdleDeadline = time.Now().Add(300 * time.Millisecond)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	created := ev(backend.EventCreated, rec.Key, "", owner)
	expired := ev(backend.EventExpired, rec.Key, "", owner)
	read := b.Load
	if f, ok := b.(backend.FreshLoader); ok {
		read = f.LoadFresh
	}
	if err := sleepUntil(ctx, rec.IdleDeadline); err != nil {
		return err
	}
	until := time.NewTimer(time.Until(rec.IdleDeadline.Add(expiredWithin)))
	defer until.Stop()
	poll := time.NewTicker(expiryPoll)
	defer poll.Stop()
	for waiting := true; waiting; {
		if got := l.events(rec.Key); slices.ContainsFunc(got, func(e backend.Event) bool { return e.Kind != backend.EventCreated }) {
			if err := expectEvents(got, []backend.Event{created, expired}, "a record that passed its idle deadline"); err != nil {
				return err
			}
			return l.err()
		}
		_, _ = read(ctx, rec.Key)
		select {
		case <-l.wake:
		case <-poll.C:
		case <-until.C:
			waiting = false
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// No cleanup reported it yet: a Create of the key replaces the expired
	// record, which must be reported by the Create's event at the latest.
	reuser := newOwner("events-expired-again")
	if _, err := create(ctx, b, newRecord(rec.Key, reuser, []byte("again"))); err != nil {
		return failf("Create of the key of an expired record: %w", err)
	}
	got, err := l.awaitMarkerOf(ctx, rec.Key, backend.EventCreated, reuser, "a Create of the key of an expired record")
	if err != nil {
		return err
	}
	if err := expectEvents(got, []backend.Event{created, expired, ev(backend.EventCreated, rec.Key, "", reuser)}, fmt.Sprintf("a record that passed its idle deadline (no EventExpired within %v, its key read every %v; a backend that removes expired records periodically must be configured by its conformance factory to do so more often), then a Create of its key", expiredWithin, expiryPoll)); err != nil {
		return err
	}
	return l.err()
}

// The numbers of Events/Slow: Create and Delete pairs of distinct keys,
// by this many writer goroutines, for at most writeBudget; a write that
// makes no progress for stallAfter waits for a subscriber.
const (
	slowPairs   = 2500
	slowWriters = 8
	writeBudget = 20 * time.Second
	stallAfter  = 10 * time.Second
)

func checkEventsSlow(ctx context.Context, b backend.Backend) error {
	prefix := eventPrefix("slow")
	sub, cancelSubs := context.WithCancel(ctx)
	defer cancelSubs()
	slow := newEventLog(prefix)
	slow.hold = make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(slow.hold) }) }
	defer release()
	if err := slow.subscribe(sub, b); err != nil {
		return err
	}
	fast, err := subscribeLog(sub, b, prefix)
	if err != nil {
		return err
	}

	wctx, fail := newFirstError(ctx)
	defer fail.cancel()
	var (
		next, pairs atomic.Int64
		progress    = make(chan struct{}, 1)
		wg          sync.WaitGroup
		stop        = time.Now().Add(writeBudget)
	)
	owner := newOwner("events-slow")
	for range slowWriters {
		fail.goSafe(&wg, func() error {
			for next.Add(1) <= slowPairs && time.Now().Before(stop) {
				k := eventKey(prefix, "w")
				if _, err := b.Create(wctx, newRecord(k, owner, []byte("x"))); err != nil {
					return failf("Create while a subscriber is blocked: %w", err)
				}
				if err := b.Delete(wctx, k); err != nil {
					return failf("Delete while a subscriber is blocked: %w", err)
				}
				pairs.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
			return nil
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	stalled := time.NewTimer(stallAfter)
	defer stalled.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-progress:
			stalled.Reset(stallAfter)
		case <-stalled.C:
			n := pairs.Load()
			release()
			fail.cancel()
			<-done
			return failf("a write waited for a slow subscriber: no Create or Delete of %d writers returned for %v while one subscriber's fn was blocked (%d of %d pairs done); writes must never wait for fn", slowWriters, stallAfter, n, slowPairs)
		case <-ctx.Done():
			release()
			<-done
			return ctx.Err()
		}
	}
	if fail.err != nil {
		return fail.err
	}
	produced := 2 * int(pairs.Load())
	// The fast subscriber accounts for every event while the slow one is
	// still blocked, then the slow one once released.
	if err := accountFor(ctx, fast, produced, "a fast subscriber, while another one's fn was blocked"); err != nil {
		return err
	}
	release()
	if err := accountFor(ctx, slow, produced, "a subscriber whose fn was blocked during the writes, once released"); err != nil {
		return err
	}
	return nil
}

// accountFor waits until every one of the produced events of l's keys was
// delivered or counted in an EventMissed, and checks that none was
// delivered twice, none out of order, and no Missed was 0 (unknown).
func accountFor(ctx context.Context, l *eventLog, produced int, what string) error {
	ok, err := l.await(ctx, func() bool { return l.mine+l.missed >= produced || l.unknown > 0 })
	if err != nil {
		return err
	}
	if err := l.err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unknown > 0 {
		return failf("%s: an EventMissed with Missed 0 (not known), though the connection to the store was never lost: a subscriber that falls behind must be told how many events it lost", what)
	}
	if !ok {
		return failf("%s: of %d events (%d Creates, as many Deletes), %d were delivered and %d counted as missed within %v: events were lost without an EventMissed counting them, or are held up (behind another subscriber's fn?)", what, produced, produced/2, l.mine, l.missed, eventWait)
	}
	if l.mine > produced {
		return failf("%s: %d events delivered for %d writes: delivery is at most once", what, l.mine, produced)
	}
	if l.foreign == 0 && l.mine+l.missed != produced {
		return failf("%s: %d events delivered and %d counted as missed for %d writes: Missed must count the events lost, no more", what, l.mine, l.missed, produced)
	}
	for k, evs := range l.byKey {
		if len(evs) > 2 || len(evs) == 2 && (evs[0].Kind != backend.EventCreated || evs[1].Kind != backend.EventDeleted) ||
			len(evs) == 1 && evs[0].Kind != backend.EventCreated && evs[0].Kind != backend.EventDeleted {
			return failf("%s: key %s, created and deleted once, has the events %s", what, keyName(k), describe(evs))
		}
	}
	return nil
}

func checkEventsSubscribe(ctx context.Context, b backend.Backend) error {
	prefix := eventPrefix("subscribe")
	n := b.(backend.Notifier)

	// A subscription that cannot be established never calls fn.
	done, cancel := context.WithCancel(ctx)
	cancel()
	var deadCalls atomic.Int64
	err := n.Subscribe(done, func(backend.Event) { deadCalls.Add(1) })
	if err == nil || !errors.Is(err, context.Canceled) {
		return failf("Subscribe with a context already cancelled = %v, want an error matching context.Canceled", err)
	}

	// A write that begins after Subscribe returned is seen.
	l, err := subscribeLog(ctx, b, prefix)
	if err != nil {
		return err
	}
	owner := newOwner("events-subscribe")
	first := eventKey(prefix, "first")
	if _, err := create(ctx, b, newRecord(first, owner, []byte("x"))); err != nil {
		return err
	}
	if err := b.Delete(ctx, first); err != nil {
		return failf("Delete: %w", err)
	}
	got, err := l.awaitMarker(ctx, first, backend.EventDeleted, "a Create and a Delete right after Subscribe returned")
	if err != nil {
		return err
	}
	if err := expectEvents(got, []backend.Event{ev(backend.EventCreated, first, "", owner), ev(backend.EventDeleted, first, "", owner)}, "a Create right after Subscribe returned, then a Delete"); err != nil {
		return err
	}

	// Once its context is cancelled, a subscription stops calling fn.
	sub, cancelSub := context.WithCancel(ctx)
	defer cancelSub()
	ended, err := subscribeLog(sub, b, prefix)
	if err != nil {
		return err
	}
	before := eventKey(prefix, "before-cancel")
	if _, err := create(ctx, b, newRecord(before, owner, []byte("x"))); err != nil {
		return err
	}
	if _, err := ended.awaitMarker(ctx, before, backend.EventCreated, "a subscription about to be cancelled"); err != nil {
		return err
	}
	cancelSub()
	ended.mu.Lock()
	ended.canceled = true
	ended.mu.Unlock()
	after := eventKey(prefix, "after-cancel")
	for _, k := range []string{before, after} {
		if k == after {
			if _, err := create(ctx, b, newRecord(k, owner, []byte("x"))); err != nil {
				return err
			}
		}
		if err := b.Delete(ctx, k); err != nil {
			return failf("Delete: %w", err)
		}
		if _, err := l.awaitMarker(ctx, k, backend.EventDeleted, "a live subscription, after another one's context was cancelled"); err != nil {
			return err
		}
	}
	ended.mu.Lock()
	late := ended.late
	ended.mu.Unlock()
	if late > 1 {
		return failf("after its context was cancelled, a subscription called fn %d more times (by when another subscription had received the events of 3 later writes): once ctx is done fn must not be called again, but for a call already under way", late)
	}
	if c := deadCalls.Load(); c > 0 {
		return failf("a Subscribe that returned an error (its context was cancelled) called fn %d times: then fn must never be called", c)
	}
	if err := ended.err(); err != nil {
		return err
	}
	return l.err()
}
