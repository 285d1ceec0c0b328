package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
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

	// races holds, per owner, the interleaving flawDeleteByOwnerOneRound
	// needs to be seen: DeleteByOwner's snapshot, then a Rekey, then its
	// deletes.
	races map[string]*ownerRace
}

// ownerRace orders one DeleteByOwner and the Rekeys it races with.
type ownerRace struct {
	snapshot, rekeyed chan struct{} // closed when taken, when a Rekey ran after it
	once              sync.Once
}

var (
	_ backend.Backend     = (*refBackend)(nil)
	_ backend.OwnerIndex  = (*refBackend)(nil)
	_ backend.Rekeyer     = (*refBackend)(nil)
	_ backend.FreshLoader = (*refBackend)(nil)
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
)

func newRef(tb testing.TB, flaws flaw) *refBackend {
	r := &refBackend{
		flaws:  flaws,
		hang:   make(chan struct{}),
		recs:   map[string]backend.Record{},
		owners: map[string]map[string]backend.Record{},
		races:  map[string]*ownerRace{},
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
		return backend.Record{}, r.err(backend.ErrExists)
	}
	if r.has(flawCreateRace) {
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
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
		return backend.Record{}, r.err(backend.ErrConflict)
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
	if _, ok := r.live(k); !ok && r.has(flawDeleteMissingErrors) {
		return r.err(backend.ErrNotFound)
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
	delete(r.races, owner) // the next DeleteByOwner of owner races anew
	r.mu.Unlock()
	close(race.snapshot)
	select {
	case <-race.rekeyed:
	case <-time.After(100 * time.Millisecond):
	}
	n := 0
	for _, k := range keys {
		r.mu.Lock()
		if rec, ok := r.live(k); ok && rec.Owner == owner {
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
	if !r.has(flawRekeyKeepsOld) {
		r.remove(oldK)
	}
	r.put(newK, rec, nil)
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
