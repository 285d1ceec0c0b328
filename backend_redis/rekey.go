package redisbackend

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// Rekey stores rec under newKey (version 1, CreatedAt and deadlines from
// rec) and deletes the record under rec.Key, provided its stored version
// equals rec.Version. It returns backend.ErrNotFound if rec.Key has no live
// record, backend.ErrConflict if the version differs and backend.ErrExists
// if newKey is taken; then neither record has changed. The returned Record is
// the new one.
//
// On a standalone or Sentinel client this is one Lua script over both keys:
// atomic. On a Cluster the two keys lie in different slots, so it takes two
// steps: create newKey (NX), then delete rec.Key if its version still
// matches; if that fails, newKey is deleted again and the error returned.
// Between the steps both records are live (never neither), and the new
// record is returned only after the old one is gone. If the connection
// fails between the steps, the new record can stay behind until its
// deadline, unknown to any caller.
func (b *Backend) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	const op = "rekey"
	if err := b.enter(ctx, op); err != nil {
		return backend.Record{}, err
	}
	if rec.Key == "" {
		return backend.Record{}, notFound(op)
	}
	if newKey == "" {
		return backend.Record{}, errEmptyKey(op)
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var kbOld, kbNew keyBuf
	rkOld, hOld := b.sessionKey(&kbOld, rec.Key)
	rkNew, hNew := b.sessionKey(&kbNew, newKey)
	created, idle, abs := normalize(rec)
	val, err := encodeRecord(1, created, idle, abs, rec.Owner, newKey, rec.Payload)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	c, err := b.ownerIndex(rec.Owner).claim(ctx, op, hNew, abs)
	if err != nil {
		return backend.Record{}, err
	}
	defer c.release()
	b.guardPending(hOld)
	b.guardPending(hNew)

	var werr error
	if b.cluster {
		werr, err = b.rekeyTwoSteps(c.ctx, op, rkOld, rkNew, val, rec.Version, pxat(ttlMicros(idle, abs)))
	} else {
		var res rueidis.RedisResult
		res, werr = b.run(c.ctx, true, rekeyScript, []string{rkOld, rkNew},
			versionBytes(rec.Version), val, fmt.Sprint(pxat(ttlMicros(idle, abs))), nowMicros())
		err = b.scriptResult(ctx, op, res)
	}
	if err != nil {
		return backend.Record{}, err
	}
	b.guardDeleted(hOld)
	b.guardWrote(hNew, 1, created, idle)
	out := rec
	out.Key = newKey
	return stored(out, 1, created, idle, abs), cmp.Or(werr, c.werr)
}

// rekeyTwoSteps is Rekey across slots: SET newKey NX, then delete the old
// key if its version matches, else delete newKey again.
func (b *Backend) rekeyTwoSteps(ctx context.Context, op, rkOld, rkNew, val string, version uint64, px int64) (werr, err error) {
	res, werr := b.write(ctx, true, func(c rueidis.CommandClient, _ bool) rueidis.Completed {
		return c.B().Set().Key(rkNew).Value(val).Nx().PxatMillisecondsTimestamp(px).Build()
	})
	if err := res.Error(); err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
		}
		return nil, b.fail(ctx, op, err)
	}
	res, werr2 := b.run(ctx, true, deleteVersionScript, []string{rkOld}, versionBytes(version), nowMicros())
	err = b.scriptResult(ctx, op, res)
	if err != nil && !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrConflict) {
		// The old key may be gone already: keeping the new one means at
		// worst an orphan that nobody holds an ID for, never no session.
		return nil, err
	}
	if err != nil {
		undo, _ := b.write(ctx, true, func(c rueidis.CommandClient, _ bool) rueidis.Completed {
			return c.B().Del().Key(rkNew).Build()
		})
		if uerr := undo.Error(); uerr != nil {
			err = fmt.Errorf("%w (and the new record stays until its deadline: %w)", err, uerr)
		}
		return nil, err
	}
	return cmp.Or(werr, werr2), nil
}

// scriptResult maps the reply of rekeyScript or deleteVersionScript: 1 or
// a status code.
func (b *Backend) scriptResult(ctx context.Context, op string, res rueidis.RedisResult) error {
	code, err := res.AsInt64()
	if err != nil {
		return b.fail(ctx, op, res.Error())
	}
	switch code {
	case 1:
		return nil
	case 0:
		return notFound(op)
	case 2:
		return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrConflict)
	case 4:
		return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
	}
	return fmt.Errorf("redisbackend: %s: unexpected script reply %d", op, code)
}
