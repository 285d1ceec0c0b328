package redisbackend

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// Compile-time checks of the capabilities.
var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.OwnerIndex  = (*Backend)(nil)
	_ backend.Rekeyer     = (*Backend)(nil)
	_ backend.FreshLoader = (*Backend)(nil)
)

// Errors of this package, besides the sentinels of package backend.
var (
	// ErrNotReplicated means a write was applied on the primary but fewer
	// replicas than WithWaitReplicas asks for acknowledged it in time. The
	// error also says how many did. The write is not undone.
	ErrNotReplicated = errors.New("redisbackend: not replicated")
	// ErrCorruptRecord means a session key holds a value this package did
	// not write (or a newer format): a bad header, lengths beyond the
	// value, a different key, or a value that is not a string.
	ErrCorruptRecord = errors.New("redisbackend: corrupt record")
	// ErrClosed is returned by every method except Close after Close. It
	// matches backend.ErrUnavailable too.
	ErrClosed = errors.New("redisbackend: closed")
)

// NewFromURL client defaults.
const (
	urlConnWriteTimeout = 2 * time.Second
	urlCacheSize        = 16 << 20
)

// Backend is a backend.Backend on Redis through rueidis. It also implements
// backend.OwnerIndex, backend.Rekeyer and backend.FreshLoader. It is safe
// for concurrent use.
type Backend struct {
	client  rueidis.Client
	owned   bool // Close closes client
	cluster bool
	cfg     config
	guard   guard
	shared  atomic.Pointer[sharedCtx]
	closed  atomic.Bool
}

// New returns a Backend that stores sessions through client, which may be a
// standalone, Sentinel or Cluster client (see the package documentation).
// The caller owns the client: Close of the Backend does not close it. It
// returns an error if the options are invalid.
func New(client rueidis.Client, opts ...Option) (*Backend, error) {
	if client == nil {
		return nil, errors.New("redisbackend: nil client")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Backend{client: client, cfg: cfg, cluster: client.Mode() == rueidis.ClientModeCluster}
	b.guard.window = cfg.writeGuard
	return b, nil
}

// NewFromURL connects to the Redis that url names (see rueidis.ParseURL:
// redis://, rediss://, unix://, with ?master_set= for Sentinel and
// several addr= for a Cluster) and returns a Backend that owns the client:
// Close closes it. Unless the URL says otherwise it lowers the connection
// write timeout to 2s (so a dead connection, and with it the client-side
// cache, is dropped within seconds) and limits the client-side cache to 16
// MiB per connection. If the server supports no client-side caching (no
// RESP3 or CLIENT TRACKING), it connects without and turns the cache off.
// It pings the server within ctx before returning.
func NewFromURL(ctx context.Context, url string, opts ...Option) (*Backend, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbackend: %w", err)
	}
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = urlConnWriteTimeout
	}
	if opt.CacheSizeEachConn == 0 {
		opt.CacheSizeEachConn = urlCacheSize
	}
	client, err := rueidis.NewClient(opt)
	if errors.Is(err, rueidis.ErrNoCache) {
		opt.DisableCache = true
		client, err = rueidis.NewClient(opt)
	}
	if err != nil {
		return nil, fmt.Errorf("redisbackend: connect: %w: %w", backend.ErrUnavailable, err)
	}
	if opt.DisableCache {
		opts = append(opts, WithCache(false))
	}
	b, err := New(client, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	b.owned = true
	pctx, cancel := b.opCtx(ctx)
	defer cancel()
	if err := client.Do(pctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, b.fail(pctx, "connect", err)
	}
	return b, nil
}

// Close marks the Backend closed and, if NewFromURL created it, closes the
// client. Calling it more than once is not an error.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if s := b.shared.Load(); s != nil {
		s.cancel()
	}
	if b.owned {
		b.client.Close()
	}
	return nil
}

// Load returns the live record stored under key, or an error matching
// backend.ErrNotFound. With the cache on it is served from the client-side
// cache when warm (see the package documentation for how fresh that is);
// for a key this Backend wrote within the write guard window, a cached copy
// older than that write is ignored and Redis asked instead. It never
// returns a record at or past one of its deadlines.
func (b *Backend) Load(ctx context.Context, key string) (backend.Record, error) {
	return copied(b.load(ctx, "load", key, b.cfg.cache))
}

// copied gives rec a Payload of its own, for Load and LoadFresh.
func copied(rec backend.Record, err error) (backend.Record, error) {
	if err != nil {
		return backend.Record{}, err
	}
	rec.Payload = append([]byte{}, rec.Payload...)
	return rec, nil
}

// LoadFresh is Load without the client-side cache: it reads from the
// primary, so it sees every write that completed before it began, on any
// instance. Use it for authorization-critical checks; it costs a round
// trip.
func (b *Backend) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	return copied(b.load(ctx, "load fresh", key, false))
}

func (b *Backend) load(ctx context.Context, op, key string, cached bool) (backend.Record, error) {
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if key == "" {
		return backend.Record{}, notFound(op)
	}
	now := time.Now() // one clock read serves a cache hit
	ctx, cancel := b.opCtxAt(ctx, now)
	defer cancel()
	var kb keyBuf
	rk, h := b.sessionKey(&kb, key)
	var st guardState
	guarded := false
	if cached {
		st, guarded = b.guard.get(h, mono(now))
	}
	for {
		var res rueidis.RedisResult
		if cached {
			res = b.client.DoCache(ctx, b.client.B().Get().Key(rk).Cache(), b.cfg.cacheTTL)
		} else {
			res = b.client.Do(ctx, b.client.B().Get().Key(rk).Build())
		}
		s, err := res.ToString()
		gone := rueidis.IsRedisNil(err)
		if err != nil && !gone {
			return backend.Record{}, b.fail(ctx, op, err)
		}
		var rec backend.Record
		if gone {
			err = nil
		} else {
			rec, err = viewRecord(s)
			if err == nil && rec.Key != key {
				err = fmt.Errorf("%w: stored under another key", ErrCorruptRecord)
			}
		}
		hit := cached && res.IsCacheHit()
		if !hit {
			now = time.Now() // after the round trip
		}
		if hit && guarded {
			if !st.trusts(gone, rec, err == nil) {
				// Possibly older than this Backend's own write: ask Redis.
				cached = false
				continue
			}
			b.guard.settle(h, st)
			guarded = false
		}
		switch {
		case err != nil:
			return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
		case gone:
			return backend.Record{}, notFound(op)
		case rec.Expired(now):
			if hit {
				// A Touch on another instance may have moved the deadline
				// and its invalidation not have arrived yet: ask Redis.
				cached = false
				continue
			}
			return backend.Record{}, notFound(op)
		}
		return rec, nil
	}
}

// Create stores rec under rec.Key with version 1 if no live record has the
// key, with a Redis expiry at the earlier of its deadlines. It returns what
// was stored: times at microsecond precision, IdleDeadline clamped to
// AbsoluteDeadline. It returns an error matching backend.ErrExists if the
// key is taken. With WithWaitReplicas it may return the stored record
// together with an error matching ErrNotReplicated.
func (b *Backend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	const op = "create"
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if rec.Key == "" {
		return backend.Record{}, errEmptyKey(op)
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var kb keyBuf
	rk, h := b.sessionKey(&kb, rec.Key)
	created, idle, abs := normalize(rec)
	val, err := encodeRecord(1, created, idle, abs, rec.Owner, rec.Key, rec.Payload)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	c, err := b.ownerIndex(rec.Owner).claim(ctx, op, h, abs)
	if err != nil {
		return backend.Record{}, err
	}
	defer c.release()
	b.guardPending(h)
	res, werr := b.write(c.ctx, true, func(c rueidis.CommandClient, _ bool) rueidis.Completed {
		return c.B().Set().Key(rk).Value(val).Nx().PxatMillisecondsTimestamp(pxat(ttlMicros(idle, abs))).Build()
	})
	if err := res.Error(); err != nil {
		if rueidis.IsRedisNil(err) {
			return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
		}
		return backend.Record{}, b.fail(ctx, op, err)
	}
	b.guardWrote(h, 1, created, idle)
	return stored(rec, 1, created, idle, abs), cmp.Or(werr, c.werr)
}

// stored is the record as Create, Update and Rekey store it.
func stored(rec backend.Record, version uint64, created, idle, abs int64) backend.Record {
	return backend.Record{
		Key:              rec.Key,
		Owner:            rec.Owner,
		Payload:          bytes.Clone(rec.Payload),
		Version:          version,
		CreatedAt:        fromMicros(created),
		IdleDeadline:     fromMicros(idle),
		AbsoluteDeadline: fromMicros(abs),
	}
}

// Update replaces the record under rec.Key if its stored version equals
// rec.Version, in one Lua script, and stores version rec.Version+1 with
// Owner, Payload and both deadlines from rec (IdleDeadline clamped to
// AbsoluteDeadline) and the stored CreatedAt. It returns an error matching
// backend.ErrConflict if the versions differ and backend.ErrNotFound if no
// live record has the key; a missing record is never recreated. With
// WithWaitReplicas it may return the stored record together with an error
// matching ErrNotReplicated.
func (b *Backend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	const op = "update"
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if rec.Key == "" {
		return backend.Record{}, notFound(op)
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var kb keyBuf
	rk, h := b.sessionKey(&kb, rec.Key)
	created, idle, abs := normalize(rec)
	if rec.Version == ^uint64(0) {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w: version overflow", op, backend.ErrConflict)
	}
	val, err := encodeRecord(rec.Version+1, created, idle, abs, rec.Owner, rec.Key, rec.Payload)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	keys := []string{rk}
	args := []string{versionBytes(rec.Version), val, fmt.Sprint(pxat(ttlMicros(idle, abs))), ownerField(rec.Owner), fmt.Sprint(abs), "0", nowMicros()}
	if rec.Owner == "" {
		args[5] = "1" // no index to maintain
	}
	b.guardPending(h)
	wctx := ctx
	var c *claim // of the new owner's index entry
	defer func() {
		if c != nil {
			c.release()
		}
	}()
	for {
		res, werr := b.run(wctx, true, updateScript, keys, args...)
		arr, err := res.ToArray()
		if err != nil {
			code, cerr := res.AsInt64()
			if cerr != nil {
				return backend.Record{}, b.fail(ctx, op, res.Error())
			}
			switch {
			case code == 0:
				return backend.Record{}, notFound(op)
			case code == 2:
				return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, backend.ErrConflict)
			case code == 3 && c == nil:
				// The owner changes or the absolute deadline grows: the
				// owner's index entry is claimed before the session says so.
				if c, err = b.ownerIndex(rec.Owner).claim(ctx, op, h, abs); err != nil {
					return backend.Record{}, err
				}
				wctx = c.ctx
				args[5] = "1"
				continue
			}
			return backend.Record{}, fmt.Errorf("redisbackend: %s: unexpected script reply %d", op, code)
		}
		if len(arr) != 2 {
			return backend.Record{}, fmt.Errorf("redisbackend: %s: unexpected script reply of %d elements", op, len(arr))
		}
		if cb, _ := arr[1].ToString(); len(cb) == 8 {
			created = int64(bigEndian64(cb))
		}
		b.guardWrote(h, rec.Version+1, created, idle)
		if c != nil {
			werr = cmp.Or(werr, c.werr)
		}
		return stored(rec, rec.Version+1, created, idle, abs), werr
	}
}

// Touch moves the idle deadline of the record under key to idleDeadline,
// clamped to its absolute deadline, and the key's Redis expiry with it,
// keeping the version. It rewrites the key, so it invalidates every
// instance's cached copy: call it only when a good part of the idle window
// has passed (the Manager's touch interval). It returns an error matching
// backend.ErrNotFound if no live record has the key.
func (b *Backend) Touch(ctx context.Context, key string, idleDeadline time.Time) error {
	const op = "touch"
	if err := b.enter(ctx, op); err != nil {
		return err
	}
	if key == "" {
		return notFound(op)
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var kb keyBuf
	rk, h := b.sessionKey(&kb, key)
	b.guardPending(h)
	res, _ := b.run(ctx, false, touchScript, []string{rk}, fmt.Sprint(micros(idleDeadline)), nowMicros())
	if arr, err := res.ToArray(); err == nil && len(arr) == 3 {
		vb, _ := arr[0].ToString()
		cb, _ := arr[1].ToString()
		idle, _ := arr[2].AsInt64()
		if len(vb) == 8 && len(cb) == 8 {
			b.guardWrote(h, bigEndian64(vb), int64(bigEndian64(cb)), idle)
		}
		return nil
	}
	if n, err := res.AsInt64(); err == nil && n == 0 {
		return notFound(op)
	}
	return b.fail(ctx, op, res.Error())
}

// Delete removes the record under key; its owner index entry is pruned by
// the owner's next ListByOwner or DeleteByOwner. Deleting a
// missing key is not an error. With WithWaitReplicas it returns an error
// matching ErrNotReplicated if the deletion may be lost in a failover.
func (b *Backend) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := b.enter(ctx, op); err != nil {
		return err
	}
	if key == "" {
		return nil
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var kb keyBuf
	rk, h := b.sessionKey(&kb, key)
	b.guardPending(h)
	res, werr := b.write(ctx, true, func(c rueidis.CommandClient, _ bool) rueidis.Completed {
		return c.B().Del().Key(rk).Build()
	})
	if err := res.Error(); err != nil {
		return b.fail(ctx, op, err)
	}
	b.guardDeleted(h)
	return werr
}

// enter checks what every method checks first: not closed, ctx not done.
func (b *Backend) enter(ctx context.Context, op string) error {
	if b.closed.Load() {
		return fmt.Errorf("redisbackend: %s: %w: %w", op, ErrClosed, backend.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	return nil
}

// errEmptyKey is returned by the writes for an empty key; no record can
// have one, so the reads return backend.ErrNotFound instead.
func errEmptyKey(op string) error {
	return fmt.Errorf("redisbackend: %s: empty key", op)
}

// guardPending, guardDeleted and guardWrote record in the guard what this
// Backend is doing or did to the session with hash h (see guard); no-ops
// with the cache off.
func (b *Backend) guardPending(h string) {
	if b.cfg.cache {
		b.guard.begin(h)
	}
}

func (b *Backend) guardDeleted(h string) {
	if b.cfg.cache {
		b.guard.end(h, guardState{kind: guardDeleted})
	}
}

// guardUnknown records a write whose outcome is unknown: h stays pending
// for a window.
func (b *Backend) guardUnknown(h string) {
	if b.cfg.cache {
		b.guard.end(h, guardState{kind: guardPending})
	}
}

func (b *Backend) guardWrote(h string, version uint64, created, idle int64) {
	if b.cfg.cache {
		b.guard.end(h, guardState{kind: guardWritten, version: version, created: created, idle: idle})
	}
}

func notFound(op string) error {
	return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrNotFound)
}

// fail maps a client error: a record this package cannot read is
// ErrCorruptRecord; everything else (connection errors, timeouts, replies
// such as LOADING, READONLY or CLUSTERDOWN) is backend.ErrUnavailable with
// the cause, and the context's error when it is done.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		err = errors.New("no reply")
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if msg := re.Error(); strings.HasPrefix(msg, "SKCORRUPT") || strings.HasPrefix(msg, "WRONGTYPE") {
			return fmt.Errorf("redisbackend: %s: %w: %w", op, ErrCorruptRecord, err)
		}
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return fmt.Errorf("redisbackend: %s: %w: %w", op, backend.ErrUnavailable, err)
}

// keyBuf is stack space for building a session key.
type keyBuf [maxPrefix + 3 + hashLen + 1]byte

// tagLen is how many leading characters of h form the Cluster hash tag of
// a session key: 48 random bits spread sessions over all slots, and the
// client computes the slot (a CRC16 of the tag) on every command.
const tagLen = 8

// sessionKey returns the Redis key of a session, <prefix>s:{<tag>}<rest>
// with h = tag+rest (see sessionHash), and h.
func (b *Backend) sessionKey(buf *keyBuf, key string) (rk, h string) {
	var hb [hashLen]byte
	asIs := sessionHash(hb[:], key)
	n := len(b.cfg.prefix)
	p := buf[:n+3+hashLen+1]
	copy(p, b.cfg.prefix)
	copy(p[n:], "s:{")
	copy(p[n+3:], hb[:tagLen])
	p[n+3+tagLen] = '}'
	copy(p[n+4+tagLen:], hb[tagLen:])
	if asIs { // the Manager's keys: no copy
		return string(p), key
	}
	return string(p), string(hb[:])
}

// sessionKeyOf returns the Redis key of the session with hash h, which has
// hashLen bytes.
func (b *Backend) sessionKeyOf(h string) string {
	return b.cfg.prefix + "s:{" + h[:tagLen] + "}" + h[tagLen:]
}

// indexKey returns the Redis key of owner's index, <prefix>o:{<hash>}.
func (b *Backend) indexKey(owner string) string {
	var p [hashLen]byte
	hashInto(p[:], owner)
	return b.cfg.prefix + "o:{" + string(p[:]) + "}"
}
