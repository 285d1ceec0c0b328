package memorybackend

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/sessionkit/sessionkit/backend"
)

// ErrClosed is matched, together with backend.ErrUnavailable, by the error
// every method except Close returns once the Backend is closed.
var ErrClosed = errors.New("memorybackend: closed")

// errClosed is what methods return after Close: it matches ErrClosed and
// backend.ErrUnavailable.
var errClosed = fmt.Errorf("%w: %w", ErrClosed, backend.ErrUnavailable)

// Compile-time checks of the capabilities a *Backend provides.
var (
	_ backend.Backend    = (*Backend)(nil)
	_ backend.OwnerIndex = (*Backend)(nil)
	_ backend.Rekeyer    = (*Backend)(nil)
)

// Backend is an in-memory backend.Backend that also implements
// backend.OwnerIndex, backend.Rekeyer and backend.Notifier. It is safe for
// concurrent use. Create one with New and release it with Close.
type Backend struct {
	s *store

	// stop and done connect Close with the janitor; both are nil when the
	// janitor is disabled.
	stop      chan struct{}
	done      chan struct{}
	cleanup   runtime.Cleanup
	closeOnce sync.Once
}

// store holds the data. The janitor goroutine references the store and never
// the Backend, so that a Backend that is dropped without Close can still be
// collected (a cleanup then stops the janitor).
//
// Lock order: a goroutine takes record-shard locks first, two at most and
// then in ascending shard order (Rekey), and only then one owner-shard lock,
// never two at once. Nothing takes a record-shard lock while it holds an
// owner-shard lock. This order makes deadlocks impossible.
//
// Invariant, kept under the record-shard lock of key k: the owner index maps
// owner o to a set containing k if and only if the shard holds a record
// under k whose Owner is o and o != "". Expired records not yet swept are
// still in both; every reader checks the deadlines.
//
// Update and Touch write entries in place, under the shard's write lock;
// readers copy the entry under the read lock (its payload is an immutable
// string) and build the Record they return after unlocking.
type store struct {
	shards []shard
	owners []ownerShard
	mask   uint64
	seed   maphash.Seed
	now    func() time.Time
	// mono is set when now is time.Now; base is then a reading of it with a
	// monotonic clock reading. See entry.
	mono bool
	base time.Time
	subs subscribers
}

// shardData is the content of a record shard. A nil map means the backend is
// closed.
type shardData struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// shard pads shardData to two cache lines so that the locks of neighbouring
// shards do not share one (the second line defeats adjacent-line prefetch).
type shard struct {
	shardData
	_ [128 - unsafe.Sizeof(shardData{})%128]byte
}

// New returns an empty in-memory Backend configured by opts, with its
// janitor running unless disabled. Out-of-range option values are not an
// error: each With* function documents how it treats them. Call Close to stop
// the janitor and release the records.
func New(opts ...Option) *Backend {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	s := &store{
		shards: make([]shard, cfg.shards),
		owners: make([]ownerShard, cfg.shards),
		mask:   uint64(cfg.shards - 1),
		seed:   maphash.MakeSeed(),
		now:    cfg.clock,
	}
	if s.now == nil {
		s.now, s.mono, s.base = time.Now, true, time.Now()
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
		s.owners[i].m = make(map[string]*ownerSet)
	}
	b := &Backend{s: s}
	if cfg.janitor > 0 {
		b.stop = make(chan struct{})
		b.done = make(chan struct{})
		go s.janitor(cfg.janitor, b.stop, b.done)
		b.cleanup = runtime.AddCleanup(b, func(stop chan struct{}) { close(stop) }, b.stop)
	}
	return b
}

// shardIndex returns the index of the record shard that holds key.
func (s *store) shardIndex(key string) uint64 {
	return maphash.String(s.seed, key) & s.mask
}

// shardFor returns the record shard that holds key.
func (s *store) shardFor(key string) *shard {
	return &s.shards[s.shardIndex(key)]
}

// ctxError wraps a context's error with the operation that saw it.
func ctxError(op string, err error) error {
	return fmt.Errorf("memorybackend: %s: %w", op, err)
}

// Create stores rec under rec.Key with version 1 if no live record has the
// key, and returns what it stored: rec with Version 1. An expired record
// under the key counts as
// absent and is replaced. It returns an error matching backend.ErrExists if
// a live record has the key. The returned Payload belongs to the caller.
func (b *Backend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, ctxError("create", err)
	}
	s := b.s
	e := s.newEntry(rec)

	sh := s.shardFor(rec.Key)
	sh.mu.Lock()
	if sh.m == nil {
		sh.mu.Unlock()
		return backend.Record{}, errClosed
	}
	oldOwner, had := "", false
	if old, ok := sh.m[rec.Key]; ok {
		if !s.expired(old) {
			sh.mu.Unlock()
			return backend.Record{}, backend.ErrExists
		}
		oldOwner, had = old.Owner, true
		s.ended(rec.Key, old, false)
	}
	sh.m[rec.Key] = e
	if !had || oldOwner != e.Owner {
		s.unindex(oldOwner, rec.Key)
	}
	e.Owner = s.index(e.Owner, rec.Key)
	if s.active() {
		s.publish(backend.Event{Kind: backend.EventCreated, Key: rec.Key, Owner: e.Owner})
	}
	out := *e // under the lock: Update and Touch write entries in place
	sh.mu.Unlock()

	return out.record(rec.Key), nil
}

// newEntry returns the entry Create and Rekey store for rec: version 1, a
// private copy of the payload.
func (s *store) newEntry(rec backend.Record) *entry {
	e := &entry{Version: 1}
	e.set(rec)
	s.setExpiry(e, rec.IdleDeadline, rec.AbsoluteDeadline)
	return e
}

// Load returns the live record under key. It returns an error matching
// backend.ErrNotFound if there is none or it is at or past a deadline. The
// returned Payload belongs to the caller.
func (b *Backend) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, ctxError("load", err)
	}
	s := b.s
	sh := s.shardFor(key)
	sh.mu.RLock()
	p, ok := sh.m[key]
	if !ok {
		closed := sh.m == nil
		sh.mu.RUnlock()
		if closed {
			return backend.Record{}, errClosed
		}
		return backend.Record{}, backend.ErrNotFound
	}
	e := *p // Update and Touch write entries in place, under the lock
	sh.mu.RUnlock()

	if s.expired(&e) {
		return backend.Record{}, backend.ErrNotFound
	}
	return e.record(key), nil
}

// Update replaces Owner, Payload and both deadlines of the record under
// rec.Key if its version equals
// rec.Version, keeps CreatedAt, stores version rec.Version+1 and returns what
// it stored. It returns an error matching backend.ErrNotFound if no live
// record has the key and a *backend.ConflictError holding the stored
// record if the versions differ; then nothing is written. It never
// recreates a missing record. The returned Payloads belong to the caller.
func (b *Backend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, ctxError("update", err)
	}
	s := b.s
	var n entry // the new content, prepared outside the lock
	n.set(rec)

	sh := s.shardFor(rec.Key)
	sh.mu.Lock()
	p, ok := sh.m[rec.Key]
	if !ok || s.expired(p) {
		closed := sh.m == nil
		sh.mu.Unlock()
		if closed {
			return backend.Record{}, errClosed
		}
		return backend.Record{}, backend.ErrNotFound
	}
	if p.Version != rec.Version {
		e := *p
		sh.mu.Unlock()
		return backend.Record{}, &backend.ConflictError{Current: e.record(rec.Key)}
	}
	if p.Owner != rec.Owner {
		s.unindex(p.Owner, rec.Key)
		n.Owner = s.index(rec.Owner, rec.Key)
	} else {
		n.Owner = p.Owner // the index's copy
	}
	n.Version, n.created = p.Version+1, p.created
	s.setExpiry(&n, rec.IdleDeadline, rec.AbsoluteDeadline)
	*p = n
	sh.mu.Unlock()

	return n.record(rec.Key), nil
}

// Touch sets the idle deadline of the live record under key to
// idleDeadline and leaves its version alone. It returns an error matching
// backend.ErrNotFound if no live record has the key.
func (b *Backend) Touch(ctx context.Context, key string, idleDeadline time.Time) error {
	if err := ctx.Err(); err != nil {
		return ctxError("touch", err)
	}
	s := b.s
	sh := s.shardFor(key)
	sh.mu.Lock()
	p, ok := sh.m[key]
	if !ok || s.expired(p) {
		closed := sh.m == nil
		sh.mu.Unlock()
		if closed {
			return errClosed
		}
		return backend.ErrNotFound
	}
	p.idle = toStamp(idleDeadline)
	s.setIdleExpiry(p, idleDeadline)
	sh.mu.Unlock()
	return nil
}

// Delete removes the record under key, live or expired. Deleting a missing
// key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return ctxError("delete", err)
	}
	s := b.s
	sh := s.shardFor(key)
	sh.mu.Lock()
	if sh.m == nil {
		sh.mu.Unlock()
		return errClosed
	}
	if p, ok := sh.m[key]; ok {
		delete(sh.m, key)
		s.unindex(p.Owner, key)
		s.ended(key, p, !s.expired(p))
	}
	sh.mu.Unlock()
	return nil
}

// Rekey atomically stores rec under newKey with version 1 (Owner, Payload,
// CreatedAt and both deadlines from rec) and deletes the record under rec.Key, provided the live
// record under rec.Key has version rec.Version. It returns an error matching
// backend.ErrNotFound if rec.Key has no live record, backend.ErrConflict if
// the versions differ and backend.ErrExists if a live record has newKey
// (newKey == rec.Key included); in each case nothing is written. No other
// caller ever sees both keys live, or neither. The returned Record is the
// new one; its Payload belongs to the caller.
func (b *Backend) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return backend.Record{}, ctxError("rekey", err)
	}
	s := b.s
	n := s.newEntry(rec)

	i, j := s.shardIndex(rec.Key), s.shardIndex(newKey)
	from, to := &s.shards[i], &s.shards[j]
	lockPair(from, to, i, j)
	if from.m == nil || to.m == nil { // Close empties the shards one by one
		unlockPair(from, to, i, j)
		return backend.Record{}, errClosed
	}
	old, ok := from.m[rec.Key]
	if !ok || s.expired(old) {
		unlockPair(from, to, i, j)
		return backend.Record{}, backend.ErrNotFound
	}
	if old.Version != rec.Version {
		unlockPair(from, to, i, j)
		return backend.Record{}, backend.ErrConflict
	}
	taken, had := to.m[newKey]
	if had && !s.expired(taken) {
		unlockPair(from, to, i, j)
		return backend.Record{}, backend.ErrExists
	}
	// The new key is indexed before the old one leaves the index: an
	// owner whose last record moves never has an empty set in between, in
	// which a concurrent DeleteByOwner would stop.
	if had && taken.Owner != n.Owner {
		s.unindex(taken.Owner, newKey)
	}
	if had {
		s.ended(newKey, taken, false)
	}
	to.m[newKey] = n
	n.Owner = s.index(n.Owner, newKey)
	delete(from.m, rec.Key)
	s.unindex(old.Owner, rec.Key)
	if s.active() {
		s.publish(backend.Event{Kind: backend.EventRekeyed, Key: newKey, OldKey: rec.Key, Owner: n.Owner})
	}
	out := *n // under the lock: Update and Touch write entries in place
	unlockPair(from, to, i, j)

	return out.record(newKey), nil
}

// lockPair write-locks the record shards a (index i) and b (index j) in
// ascending index order, once if they are the same shard.
func lockPair(a, b *shard, i, j uint64) {
	switch {
	case i == j:
		a.mu.Lock()
	case i < j:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

// unlockPair releases what lockPair took.
func unlockPair(a, b *shard, i, j uint64) {
	a.mu.Unlock()
	if i != j {
		b.mu.Unlock()
	}
}

// Close stops the janitor, waits for it to return, ends every subscription
// and drops every record.
// Calling it again, or concurrently, is not an error; it returns once the
// first call has finished. It always returns nil.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		if b.stop != nil {
			b.cleanup.Stop()
			close(b.stop)
			<-b.done
		}
		s := b.s
		// Record shards first, owner shards after: an index update runs under
		// a record-shard lock whose map is not nil, so the owner maps it
		// writes to are still there.
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.m = nil
			sh.mu.Unlock()
		}
		for i := range s.owners {
			o := &s.owners[i]
			o.mu.Lock()
			o.m = nil
			o.mu.Unlock()
		}
		// After the maps: a Subscribe that saw them live cancels itself if
		// it added its subscription after this.
		s.subs.closeAll()
	})
	return nil
}
