package postgresbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
)

// Compile-time checks of the capabilities a *Backend provides.
var (
	_ backend.Backend    = (*Backend)(nil)
	_ backend.OwnerIndex = (*Backend)(nil)
	_ backend.Rekeyer    = (*Backend)(nil)
	_ backend.Notifier   = (*Backend)(nil)
)

// Backend is a backend.Backend on one PostgreSQL table through a pgxpool
// pool. It also implements backend.OwnerIndex, backend.Rekeyer and
// backend.Notifier. It is
// safe for concurrent use; several Backends, in one process or many, may
// share one table.
type Backend struct {
	pool *pgxpool.Pool
	t    table
	ch   channel
	sql  statements
	now  func() time.Time

	life   context.Context // cancelled by Close: ends the subscriptions
	end    context.CancelFunc
	subsMu sync.Mutex     // orders Subscribe's subs.Add before Close's wait
	subs   sync.WaitGroup // the subscriptions' receive goroutines

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close; nil without a cleanup
	done      chan struct{} // closed when the cleanup goroutine has returned

	cleanupBatch  int
	cleanupReport func(int, error)
	tries         int // retryingIdempotent's bound: MaxConns+1
}

// New returns a Backend that stores sessions in a table of the database
// pool connects to. The caller owns pool: Close does not close it, and the
// pool must stay open as long as the Backend is used.
//
// Unless WithCreateSchema(false) is given, New creates the table and its
// indexes if they are missing (see Schema); this is idempotent and safe
// when several instances start at once, and ctx bounds it. New returns an
// error for a nil pool, for options that cannot work together, and for a
// failure to create the schema (matching backend.ErrUnavailable when the
// database could not be reached). Unless WithCleanupInterval(0) is given,
// New starts a goroutine that deletes expired rows, stopped by Close.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("postgresbackend: New: nil pool")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	t, err := parseTable(cfg.table)
	if err != nil {
		return nil, err
	}
	if cfg.cleanupEvery < 0 {
		return nil, fmt.Errorf("postgresbackend: New: negative cleanup interval %v", cfg.cleanupEvery)
	}
	if cfg.cleanupBatch <= 0 {
		return nil, fmt.Errorf("postgresbackend: New: cleanup batch %d, want a positive number", cfg.cleanupBatch)
	}
	ch := newChannel(t, cfg.events)
	b := &Backend{
		pool:          pool,
		t:             t,
		ch:            ch,
		sql:           newStatements(t, ch),
		now:           cfg.clock,
		cleanupBatch:  cfg.cleanupBatch,
		cleanupReport: cfg.cleanupReport,
		tries:         int(pool.Config().MaxConns) + 1,
	}
	if b.now == nil {
		b.now = time.Now
	}
	if cfg.createSchema {
		if err := b.createSchema(ctx); err != nil {
			return nil, storeError(ctx, "create schema of "+t.name, err)
		}
	}
	b.life, b.end = context.WithCancel(context.Background())
	if cfg.cleanupEvery > 0 {
		b.stop = make(chan struct{})
		b.done = make(chan struct{})
		go b.cleanupLoop(cfg.cleanupEvery)
	}
	return b, nil
}

// Table returns the name of the table the Backend uses, as given to
// WithTable.
func (b *Backend) Table() string { return b.t.name }

// dbTime is t as PostgreSQL stores it: microseconds, no monotonic reading.
func dbTime(t time.Time) time.Time { return t.Round(0).Truncate(time.Microsecond) }

// stored returns rec as the table will hold it: times in microseconds,
// IdleDeadline clamped to AbsoluteDeadline, the payload copied (never nil)
// so that the caller's slice and the returned one are independent.
func stored(rec backend.Record) backend.Record {
	rec.CreatedAt = dbTime(rec.CreatedAt)
	rec.AbsoluteDeadline = dbTime(rec.AbsoluteDeadline)
	rec.IdleDeadline = dbTime(rec.IdleDeadline)
	if rec.IdleDeadline.After(rec.AbsoluteDeadline) {
		rec.IdleDeadline = rec.AbsoluteDeadline
	}
	rec.Payload = append(make([]byte, 0, len(rec.Payload)), rec.Payload...)
	return rec
}

// begin returns errClosed after Close, or ctx's error when it is done, or
// nil: the check every method makes before it talks to the database.
func (b *Backend) begin(ctx context.Context, op string) error {
	if b.closed.Load() {
		return fmt.Errorf("postgresbackend: %s: %w", op, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgresbackend: %s: %w", op, err)
	}
	return nil
}

// Create stores rec under rec.Key at version 1 if no live record has the
// key, in one statement that also replaces a row whose record is no longer
// live, and publishes an EventCreated in the same transaction (see
// Subscribe), after an EventExpired of the row it replaced. It returns an error matching backend.ErrExists, and changes
// nothing, when a live record has the key. The returned Record is what was
// stored: times truncated to microseconds, IdleDeadline clamped to
// AbsoluteDeadline, and a Payload of its own.
func (b *Backend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := b.begin(ctx, "create"); err != nil {
		return backend.Record{}, err
	}
	rec = stored(rec)
	rec.Version = 1
	now := dbTime(b.now())
	n, err := retrying(ctx, func() (int64, error) {
		var replaced, n int64
		err := b.pool.QueryRow(ctx, b.sql.create, []byte(rec.Key), []byte(rec.Owner), rec.Payload,
			rec.CreatedAt, rec.IdleDeadline, rec.AbsoluteDeadline, now).Scan(&replaced, &n)
		return n, err
	})
	if err != nil {
		return backend.Record{}, storeError(ctx, "create", err)
	}
	if n == 0 {
		return backend.Record{}, fmt.Errorf("postgresbackend: create: %w", backend.ErrExists)
	}
	return rec, nil
}

// Load returns the record stored under key if it is live by the Backend's
// clock (see WithClock). It returns an error matching backend.ErrNotFound
// if there is none. The returned Payload belongs to the caller.
func (b *Backend) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := b.begin(ctx, "load"); err != nil {
		return backend.Record{}, err
	}
	now := dbTime(b.now())
	rec, err := retryingIdempotent(ctx, b.tries, func() (backend.Record, error) {
		rec := backend.Record{Key: key}
		var owner []byte
		var version int64
		err := b.pool.QueryRow(ctx, b.sql.load, []byte(key), now).Scan(
			&owner, &version, &rec.Payload, &rec.CreatedAt, &rec.IdleDeadline, &rec.AbsoluteDeadline)
		rec.Owner, rec.Version = string(owner), uint64(version)
		return rec, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return backend.Record{}, fmt.Errorf("postgresbackend: load: %w", backend.ErrNotFound)
	}
	if err != nil {
		return backend.Record{}, storeError(ctx, "load", err)
	}
	return rec, nil
}

// Update replaces the live record under rec.Key with rec if its version is
// rec.Version, in one compare-and-swap statement, and stores version
// rec.Version+1. It writes Owner, Payload and both deadlines (IdleDeadline
// clamped to AbsoluteDeadline) and keeps CreatedAt. It returns a
// *backend.ConflictError holding the stored record (read by the same
// statement) if the stored version differs, and an error matching
// backend.ErrNotFound if no live record has the key; then nothing is
// written, and a missing row is never recreated. The statement locks the
// row before it compares, so the two errors are told apart on the same
// row version: a concurrent writer is waited for, never raced.
func (b *Backend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	if err := b.begin(ctx, "update"); err != nil {
		return backend.Record{}, err
	}
	rec = stored(rec)
	now := dbTime(b.now())
	type result struct {
		current    int64
		newVersion *int64
		createdAt  *time.Time
		stored     backend.Record // the stored row, on a conflict
		owner      []byte
	}
	r, err := retrying(ctx, func() (result, error) {
		var r result
		err := b.pool.QueryRow(ctx, b.sql.update, []byte(rec.Key), now, []byte(rec.Owner), rec.Payload,
			rec.IdleDeadline, rec.AbsoluteDeadline, int64(rec.Version)).Scan(&r.current, &r.newVersion, &r.createdAt,
			&r.owner, &r.stored.Payload, &r.stored.CreatedAt, &r.stored.IdleDeadline, &r.stored.AbsoluteDeadline)
		return r, err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return backend.Record{}, fmt.Errorf("postgresbackend: update: %w", backend.ErrNotFound)
	case err != nil:
		return backend.Record{}, storeError(ctx, "update", err)
	case r.newVersion == nil:
		cur := r.stored
		cur.Key, cur.Owner, cur.Version = rec.Key, string(r.owner), uint64(r.current)
		if cur.Payload == nil {
			cur.Payload = []byte{}
		}
		return backend.Record{}, fmt.Errorf("postgresbackend: update: given version %d: %w",
			rec.Version, &backend.ConflictError{Current: cur})
	}
	rec.Version = uint64(*r.newVersion)
	rec.CreatedAt = *r.createdAt
	return rec, nil
}

// Touch sets the idle deadline of the live record under key to
// idleDeadline, clamped to its AbsoluteDeadline, without changing its
// version. It returns an error matching backend.ErrNotFound if no live
// record has the key.
func (b *Backend) Touch(ctx context.Context, key string, idleDeadline time.Time) error {
	if err := b.begin(ctx, "touch"); err != nil {
		return err
	}
	now := dbTime(b.now())
	n, err := retryingIdempotent(ctx, b.tries, func() (int64, error) {
		tag, err := b.pool.Exec(ctx, b.sql.touch, []byte(key), dbTime(idleDeadline), now)
		return tag.RowsAffected(), err
	})
	if err != nil {
		return storeError(ctx, "touch", err)
	}
	if n == 0 {
		return fmt.Errorf("postgresbackend: touch: %w", backend.ErrNotFound)
	}
	return nil
}

// Delete removes the row under key, live or not, and publishes in the same
// statement an EventDeleted if the row was live, an EventExpired if it had
// passed its deadline (the cleanup will not see it now). Deleting a
// missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := b.begin(ctx, "delete"); err != nil {
		return err
	}
	now := dbTime(b.now())
	_, err := retryingIdempotent(ctx, b.tries, func() (struct{}, error) {
		_, err := b.pool.Exec(ctx, b.sql.del, []byte(key), now)
		return struct{}{}, err
	})
	if err != nil {
		return storeError(ctx, "delete", err)
	}
	return nil
}

// Close stops the cleanup goroutine and waits for it to return; a cleanup
// statement in flight is cancelled. It ends every subscription (see
// Subscribe) and waits until their connections are closed; it does not
// wait for a call of a subscriber's fn in progress. It does not close the pool, which
// belongs to the caller. After Close every other method returns an error
// matching ErrClosed and backend.ErrUnavailable. Calling Close more than
// once is not an error.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		// Under subsMu, so that a Subscribe either sees closed or has
		// counted itself in subs before the Wait below.
		b.subsMu.Lock()
		b.closed.Store(true)
		b.subsMu.Unlock()
		if b.stop != nil {
			close(b.stop)
			<-b.done
		}
		b.end()
		b.subs.Wait()
	})
	return nil
}
