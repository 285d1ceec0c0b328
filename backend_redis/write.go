package redisbackend

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// A writeOp is one write of one session, prepared in one place: the
// operation's context, the session's Redis key and hash, and the guard
// token. Every method that writes a session begins one and defers done,
// so that no exit path leaves the guard window open or the context
// unreleased; the method records the outcome on w.guard where it learns
// it.
type writeOp struct {
	b      *Backend
	op     string
	ctx    context.Context
	cancel context.CancelFunc
	rk, h  string // the session's Redis key and hash
	guard  guardToken
}

// beginWrite prepares op on the session stored under key. The caller has
// checked b.enter.
func (b *Backend) beginWrite(ctx context.Context, op, key string) *writeOp {
	w := &writeOp{b: b, op: op}
	w.ctx, w.cancel = b.opCtx(ctx)
	var kb keyBuf
	w.rk, w.h = b.sessionKey(&kb, key)
	w.guard = b.token(w.h)
	return w
}

// done ends the write: the guard gets the recorded outcome (none recorded:
// unknown), the context is released.
func (w *writeOp) done() {
	w.guard.done()
	w.cancel()
}

// fail maps a client error of the write.
func (w *writeOp) fail(err error) error { return w.b.fail(w.ctx, w.op, err) }

// token begins a guard token for the session with hash h; with the cache
// off there is nothing to guard.
func (b *Backend) token(h string) guardToken {
	if !b.cfg.cache {
		return guardToken{}
	}
	return b.guard.token(h)
}

// storedTimes are a record's times as stored: unix microseconds.
type storedTimes struct{ created, idle, abs int64 }

// encodeAt returns the stored form of rec with version v, and its times.
func encodeAt(rec backend.Record, v uint64) (string, storedTimes, error) {
	t := storedTimes{micros(rec.CreatedAt), micros(rec.IdleDeadline), micros(rec.AbsoluteDeadline)}
	val, err := encodeRecord(v, t.created, t.idle, t.abs, rec.Owner, rec.Payload)
	return val, t, err
}

// pxat is the Redis expiry of a record with times t: its earlier deadline.
func (t storedTimes) pxat() int64 { return pxat(min(t.idle, t.abs)) }

// stored is the record as Create, Update and Rekey store it.
func stored(rec backend.Record, version uint64, t storedTimes) backend.Record {
	return backend.Record{
		Key:              rec.Key,
		Owner:            rec.Owner,
		Payload:          bytes.Clone(rec.Payload),
		Version:          version,
		CreatedAt:        fromMicros(t.created),
		IdleDeadline:     fromMicros(t.idle),
		AbsoluteDeadline: fromMicros(t.abs),
	}
}

// Create stores rec under rec.Key with version 1 if no live record has the
// key, with a Redis expiry at the earlier of its deadlines. It returns what
// was stored (times at microsecond precision), or an error matching
// backend.ErrExists if the key is taken. A record past a deadline by the
// application's clock that Redis still keeps (its clock lagging) does not
// take the key: Create replaces it and publishes its EventExpired before
// the EventCreated. With WithWaitReplicas it may return the stored record
// together with an error matching ErrNotReplicated (and
// backend.ErrNotDurable).
func (b *Backend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	const op = "create"
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if rec.Key == "" {
		return backend.Record{}, errEmptyKey(op)
	}
	val, t, err := encodeAt(rec, 1)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	w := b.beginWrite(ctx, op, rec.Key)
	defer w.done()
	mode, ch := b.channel(w.h)
	now := nowUS()
	msg := eventMsg(backend.EventCreated, now, rec.Key, "", rec.Owner)
	px, nowArg := strconv.FormatInt(t.pxat(), 10), strconv.FormatInt(now, 10)
	name, namePx := nameArgs(w.h, rec.Key, t.abs)
	var res rueidis.RedisResult
	var werr, iwerr error
	if rec.Owner != "" && !b.cluster {
		// The session and its owner's index on one server: one script.
		res, werr = b.run(w.ctx, true, createOwnedScript, b.withName(w.h, append([]string{w.rk}, b.ownerIndex(rec.Owner).keys...)...),
			val, px, nowArg, w.h, indexScore(t.abs), mode, ch, msg, name, namePx)
	} else {
		c, err := b.ownerIndex(rec.Owner).claim(w.ctx, op, w.h, t.abs)
		if err != nil {
			return backend.Record{}, err
		}
		defer c.release()
		iwerr = c.werr
		res, werr = b.run(c.ctx, true, createScript, b.withName(w.h, w.rk), val, px, nowArg, mode, ch, msg, name, namePx)
	}
	if code, err := res.AsInt64(); err != nil {
		return backend.Record{}, w.fail(res.Error())
	} else if code == replyExists {
		w.guard.refused()
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
	} else if code != replyOK {
		return backend.Record{}, replyError(op, code)
	}
	w.guard.wrote(1, t.created, t.idle)
	b.remember(w.h)
	return stored(rec, 1, t), cmp.Or(werr, iwerr)
}

// Update replaces the record under rec.Key if its stored version equals
// rec.Version, in one Lua script, and stores version rec.Version+1 with
// Owner, Payload and both deadlines from rec and the stored CreatedAt. It
// returns a *backend.ConflictError holding the stored record if the
// versions differ (read by the same script: no round trip more) and an
// error matching backend.ErrNotFound if no live record has the key; a
// missing record is never recreated. A change of owner, or a later
// absolute deadline, also adds the owner index entry: in the same script
// off a Cluster, by a claim first (one more round trip) on a Cluster. With
// WithWaitReplicas it may return the stored record together with an error
// matching ErrNotReplicated (and backend.ErrNotDurable).
func (b *Backend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	const op = "update"
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if rec.Key == "" {
		return backend.Record{}, notFound(op)
	}
	if rec.Version == ^uint64(0) {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w: version overflow", op, backend.ErrConflict)
	}
	val, t, err := encodeAt(rec, rec.Version+1)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	w := b.beginWrite(ctx, op, rec.Key)
	defer w.done()
	// An anonymous session has no index entry to claim. Off a Cluster the
	// script adds the entry itself when it must.
	index := indexClaim
	keys := []string{w.rk}
	switch {
	case rec.Owner == "":
		index = indexClaimed
	case !b.cluster:
		index = indexInline
		keys = append(keys, b.ownerIndex(rec.Owner).keys...)
	}
	keys = b.withName(w.h, keys...)
	wctx, werrIndex := w.ctx, error(nil)
	for {
		res, werr := b.run(wctx, true, updateScript, keys,
			updateArgs(rec.Version, val, t.pxat(), rec.Owner, t.abs, index, nowMicros(), w.h, rec.Key)...)
		// A status is an integer; success and a conflict are arrays (asking
		// an array for an integer would build an error on every write).
		if msg, err := res.ToMessage(); err == nil && msg.IsInt64() {
			code, _ := msg.AsInt64()
			if code != replyNeedClaim || index != indexClaim {
				w.guard.refused()
				return backend.Record{}, replyError(op, code)
			}
			c, err := b.ownerIndex(rec.Owner).claim(w.ctx, op, w.h, t.abs)
			if err != nil {
				return backend.Record{}, err
			}
			defer c.release()
			wctx, werrIndex, index = c.ctx, c.werr, indexClaimed
			continue
		}
		if conflict, err := w.conflict(res, rec.Key); conflict {
			w.guard.refused()
			return backend.Record{}, err
		}
		if t.created, err = w.createdAt(res); err != nil {
			return backend.Record{}, err
		}
		w.guard.wrote(rec.Version+1, t.created, t.idle)
		b.remember(w.h)
		return stored(rec, rec.Version+1, t), cmp.Or(werr, werrIndex)
	}
}

// conflict reads updateScript's conflict reply, {CONFLICT, stored
// record}: it reports whether res is one, with the error for it, a
// *backend.ConflictError holding the record stored under key (or an error
// matching backend.ErrCorrupt if that cannot be read).
func (w *writeOp) conflict(res rueidis.RedisResult, key string) (bool, error) {
	arr, err := res.ToArray()
	if err != nil || len(arr) != 2 {
		return false, nil
	}
	if code, err := arr[0].AsInt64(); err != nil || code != replyConflict {
		return false, nil
	}
	s, err := arr[1].ToString()
	if err != nil {
		return true, fmt.Errorf("redisbackend: %s: unexpected conflict reply: %w", w.op, err)
	}
	cur, err := decodeRecord(s)
	cur.Key = key
	if err != nil {
		return true, fmt.Errorf("redisbackend: %s: %w", w.op, err)
	}
	return true, fmt.Errorf("redisbackend: %s: %w", w.op, &backend.ConflictError{Current: cur})
}

// createdAt reads updateScript's success reply, {OK, created-at bytes}.
func (w *writeOp) createdAt(res rueidis.RedisResult) (int64, error) {
	arr, err := res.ToArray()
	if err != nil {
		return 0, w.fail(res.Error())
	}
	if len(arr) != 2 {
		return 0, fmt.Errorf("redisbackend: %s: unexpected script reply of %d elements", w.op, len(arr))
	}
	cb, _ := arr[1].ToString()
	if len(cb) != 8 {
		return 0, fmt.Errorf("redisbackend: %s: unexpected created-at of %d bytes", w.op, len(cb))
	}
	return int64(bigEndian64(cb)), nil
}

// Touch moves the idle deadline of the record under key to idleDeadline,
// and the key's Redis expiry to the earlier deadline, keeping the version.
// It rewrites the key, so it invalidates every instance's cached copy:
// call it only when a good part of the idle window has passed (the
// Manager's touch interval). It returns an error matching
// backend.ErrNotFound if no live record has the key.
func (b *Backend) Touch(ctx context.Context, key string, idleDeadline time.Time) error {
	const op = "touch"
	if err := b.enter(ctx, op); err != nil {
		return err
	}
	if key == "" {
		return notFound(op)
	}
	w := b.beginWrite(ctx, op, key)
	defer w.done()
	idle := micros(idleDeadline)
	res, _ := b.run(w.ctx, false, touchScript, []string{w.rk}, fmt.Sprint(idle), nowMicros())
	if code, err := res.AsInt64(); err == nil {
		w.guard.refused()
		return replyError(op, code)
	}
	arr, err := res.ToArray()
	if err != nil {
		return w.fail(res.Error())
	}
	if len(arr) == 2 {
		vb, _ := arr[0].ToString()
		cb, _ := arr[1].ToString()
		if len(vb) == 8 && len(cb) == 8 {
			w.guard.wrote(bigEndian64(vb), int64(bigEndian64(cb)), idle)
		}
	}
	return nil
}

// Delete removes the record under key; its owner index entry is pruned by
// the owner's next ListByOwner or DeleteByOwner. Deleting a missing key is
// not an error. It publishes EventDeleted for a live record, and
// EventExpired for one past a deadline by the application's clock that
// Redis still kept. With WithWaitReplicas it returns an error matching
// ErrNotReplicated (and backend.ErrNotDurable) if the deletion may be lost
// in a failover.
func (b *Backend) Delete(ctx context.Context, key string) error {
	const op = "delete"
	if err := b.enter(ctx, op); err != nil {
		return err
	}
	if key == "" {
		return nil
	}
	w := b.beginWrite(ctx, op, key)
	defer w.done()
	now := nowUS()
	mode, ch := b.channel(w.h)
	res, werr := b.run(w.ctx, true, deleteScript, b.withName(w.h, w.rk),
		strconv.FormatInt(now, 10), mode, ch, eventHead(backend.EventDeleted, now, key, ""))
	if err := res.Error(); err != nil {
		return w.fail(err)
	}
	w.guard.deleted()
	return werr
}
