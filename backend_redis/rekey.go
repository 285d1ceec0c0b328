package redisbackend

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

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
// deadline, unknown to any caller. The first step publishes an internal
// pending message on the new key's channel, and the undo an abort
// message, by which subscribers order the new key's events after the
// EventRekeyed (see Subscribe).
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
	val, t, err := encodeAt(rec, 1)
	if err != nil {
		return backend.Record{}, fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	w := b.beginWrite(ctx, op, rec.Key) // the old key
	defer w.done()
	var kb keyBuf
	rkNew, hNew := b.sessionKey(&kb, newKey)
	gNew := b.token(hNew)
	defer gNew.done()
	now := nowUS()
	mode, ch := b.channel(w.h) // the old key's slot: its script completes the Rekey
	msg := eventMsg(backend.EventRekeyed, now, newKey, rec.Key, rec.Owner)
	var werr, iwerr error
	if b.cluster {
		c, cerr := b.ownerIndex(rec.Owner).claim(w.ctx, op, hNew, t.abs)
		if cerr != nil {
			return backend.Record{}, cerr
		}
		defer c.release()
		iwerr = c.werr
		werr, err = b.rekeyTwoSteps(c.ctx, op, w, rec.Key, rkNew, hNew, newKey, val, rec.Version, t, &gNew, now, mode, ch, msg)
	} else {
		werr, err = b.rekeyOneScript(w, rec, rkNew, hNew, newKey, val, t, &gNew, now, mode, ch, msg)
	}
	if err != nil {
		if gNew.out.kind != guardPending {
			w.guard.refused() // the old key is as it was
		}
		return backend.Record{}, err
	}
	w.guard.deleted()
	gNew.wrote(1, t.created, t.idle)
	b.remember(hNew)
	out := rec
	out.Key = newKey
	return stored(out, 1, t), cmp.Or(werr, iwerr)
}

// rekeyOneScript is Rekey on one server: one script over both sessions
// and, for a record with an owner, the owner's index.
func (b *Backend) rekeyOneScript(w *writeOp, rec backend.Record, rkNew, hNew, newKey, val string, t storedTimes, gNew *guardToken, now int64, mode, ch, msg string) (werr, err error) {
	keys := []string{w.rk, rkNew}
	indexed, oldNamed := "0", "0"
	if rec.Owner != "" {
		keys = append(keys, b.ownerIndex(rec.Owner).keys...)
		indexed = "1"
	}
	if hashed(w.h) {
		keys = append(keys, b.nameKey(w.h))
		oldNamed = "1"
	}
	keys = b.withName(hNew, keys...)
	name, namePx := nameArgs(hNew, newKey, t.abs)
	res, werr := b.run(w.ctx, true, rekeyScript, keys,
		versionBytes(rec.Version), val, fmt.Sprint(t.pxat()), fmt.Sprint(now), hNew, indexScore(t.abs), mode, ch, msg,
		indexed, oldNamed, name, namePx)
	return werr, b.scriptResult(w.ctx, w.op, res, gNew)
}

// rekeyTwoSteps is Rekey across slots: SET newKey NX, publishing the
// pending message on the new key's channel, then delete the old key if
// its version matches and publish the event (mode, ch, msg) in the same
// script, else delete newKey again and publish the abort message on its
// channel (reorder.go). It records on gNew what became of the new key
// when the Rekey fails.
func (b *Backend) rekeyTwoSteps(ctx context.Context, op string, w *writeOp, oldKey, rkNew, hNew, newKey, val string, version uint64, t storedTimes, gNew *guardToken, now int64, mode, ch, msg string) (werr, err error) {
	name, namePx := nameArgs(hNew, newKey, t.abs)
	newKeys := b.withName(hNew, rkNew)
	// No event yet: the Rekey is done when the old record is gone. The
	// pending message makes a subscriber hold the new key's later events
	// until the EventRekeyed (or the abort message) has arrived.
	modeNew, chNew := b.channel(hNew)
	res, werr := b.run(ctx, true, createScript, newKeys, val, strconv.FormatInt(t.pxat(), 10), strconv.FormatInt(now, 10),
		modeNew, chNew, eventMsg(kindPending, now, newKey, oldKey, ""), name, namePx)
	if code, err := res.AsInt64(); err != nil {
		return nil, b.fail(ctx, op, res.Error())
	} else if code == replyExists {
		gNew.refused()
		return nil, fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
	} else if code != replyOK {
		return nil, replyError(op, code)
	}
	res, werr2 := b.run(ctx, true, deleteVersionScript, b.withName(w.h, w.rk), versionBytes(version), fmt.Sprint(now), mode, ch, msg)
	code, cerr := res.AsInt64()
	if cerr != nil {
		// The old key may be gone already: keeping the new one means at
		// worst an orphan that nobody holds an ID for, never no session.
		return nil, b.fail(ctx, op, res.Error())
	}
	if code == replyOK {
		return cmp.Or(werr, werr2), nil
	}
	err = replyError(op, code)
	undo, _ := b.run(ctx, true, undoRekeyScript, newKeys, modeNew, chNew, eventMsg(kindAbort, now, newKey, oldKey, ""))
	if uerr := undo.Error(); uerr != nil {
		return nil, fmt.Errorf("%w (and the new record stays until its deadline: %w)", err, uerr)
	}
	gNew.deleted()
	return nil, err
}

// scriptResult maps the reply of rekeyScript, recording on gNew that the
// new key was not written when the script refused.
func (b *Backend) scriptResult(ctx context.Context, op string, res rueidis.RedisResult, gNew *guardToken) error {
	code, err := res.AsInt64()
	if err != nil {
		return b.fail(ctx, op, res.Error())
	}
	if code != replyOK {
		gNew.refused()
	}
	return replyError(op, code)
}
