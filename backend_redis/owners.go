package redisbackend

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// The owner index of owner is a sorted set at <prefix>o:{<hash of owner>}
// whose members are session hashes, scored by the session's absolute
// deadline (unix ms, rounded up). On a Cluster it lives in another slot than
// the sessions, so no script can change a session and its index entry
// together. The session key is the only authority; the index is kept a
// superset of the live sessions of its owner:
//
//   - Writers add the entry before a session gets the owner (Create,
//     Update that changes the owner or moves the absolute deadline later,
//     Rekey), and again after the write.
//   - Entries are removed after the session is gone or has another owner
//     (Delete, DeleteByOwner, Update that changes the owner, and pruning in
//     ListByOwner), and the remover then reads the session again and puts
//     the entry back if the session now has that owner.
//
// The add-after and the read-after-remove together close the race between
// a pruner that saw the session without the owner and a writer that is
// about to give it the owner: whichever runs last restores the entry.
// Entries whose score has passed are dropped by ZREMRANGEBYSCORE on read;
// the index key expires with its latest score.

// indexAdd adds the session hash h to owner's index with the absolute
// deadline abs (micros) as score, waiting for replicas if wait. err means
// the entry may not have been written; werr (matching ErrNotReplicated)
// means it was written on the primary only.
func (b *Backend) indexAdd(ctx context.Context, op, owner, h string, abs int64, wait bool) (werr, err error) {
	score := strconv.FormatInt(abs/1000+1, 10)
	res, werr := b.run(ctx, wait, indexAddScript, []string{b.indexKey(owner)}, h, score)
	if err := res.Error(); err != nil {
		return nil, b.fail(ctx, op+": owner index", err)
	}
	if werr != nil {
		return fmt.Errorf("redisbackend: %s: owner index: %w", op, werr), nil
	}
	return nil, nil
}

// unindex removes the hashes hs from owner's index, then reads their
// sessions again and puts back every entry that the read did not prove
// stale (session gone, or now of another owner), with the score it had:
// a live session of that owner after all (see above), and also every
// entry the read failed to check, so that a transient error never breaks
// the superset. It is best effort: an entry it fails to remove stays until
// pruned.
func (b *Backend) unindex(ctx context.Context, owner string, hs []string) {
	if len(hs) == 0 {
		return
	}
	ik := b.indexKey(owner)
	scores, err := b.client.Do(ctx, b.client.B().Zmscore().Key(ik).Member(hs...).Build()).ToArray()
	if err != nil || len(scores) != len(hs) {
		return // nothing removed: still a superset
	}
	if b.client.Do(ctx, b.client.B().Zrem().Key(ik).Member(hs...).Build()).Error() != nil {
		return
	}
	recs, _ := b.loadHashes(ctx, hs)
	for i, h := range hs {
		score, err := scores[i].AsFloat64()
		if err != nil {
			continue // was not in the index
		}
		var r hashRecord
		if i < len(recs) {
			r = recs[i]
		}
		if r.gone || r.ok && r.rec.Owner != owner {
			continue
		}
		_, _ = b.indexAdd(ctx, "owner index", owner, h, (int64(score)-1)*1000, false)
	}
}

// hashRecord is one result of loadHashes.
type hashRecord struct {
	rec  backend.Record
	ok   bool // a live record whose key hashes to the member
	gone bool // no record at all
}

// loadHashes reads the sessions with hashes hs from Redis, uncached, in one
// pipeline. A corrupt record is neither ok nor gone.
func (b *Backend) loadHashes(ctx context.Context, hs []string) ([]hashRecord, error) {
	cmds := make(rueidis.Commands, len(hs))
	for i, h := range hs {
		cmds[i] = b.client.B().Get().Key(b.sessionKeyOf(h)).Build()
	}
	now := time.Now()
	out := make([]hashRecord, len(hs))
	var kb [hashLen]byte
	for i, res := range b.client.DoMulti(ctx, cmds...) {
		s, err := res.ToString()
		if rueidis.IsRedisNil(err) {
			out[i].gone = true
			continue
		}
		if err != nil {
			return out, err
		}
		rec, err := decodeRecord(s)
		if err != nil {
			continue
		}
		if sessionHash(kb[:], rec.Key); string(kb[:]) != hs[i] {
			continue
		}
		out[i] = hashRecord{rec: rec, ok: !rec.Expired(now)}
	}
	return out, nil
}

// members drops the entries of owner's index whose score has passed and
// returns the rest.
func (b *Backend) members(ctx context.Context, op, owner string) ([]string, error) {
	ik := b.indexKey(owner)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	rs := b.client.DoMulti(ctx,
		b.client.B().Zremrangebyscore().Key(ik).Min("-inf").Max(now).Build(),
		b.client.B().Zrange().Key(ik).Min("0").Max("-1").Build())
	if err := rs[0].Error(); err != nil {
		return nil, b.fail(ctx, op, err)
	}
	hs, err := rs[1].AsStrSlice()
	if err != nil {
		return nil, b.fail(ctx, op, err)
	}
	// Only hashes are ever added; anything else is not a session of ours.
	return slices.DeleteFunc(hs, func(h string) bool { return len(h) != hashLen }), nil
}

// ListByOwner returns the live records whose Owner is owner, read from
// Redis without the cache, in no particular order; an empty slice if there
// are none (always for owner ""). It removes the index entries of sessions
// that are gone or have another owner. Records it cannot read are skipped.
func (b *Backend) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	const op = "list by owner"
	if err := b.enter(ctx, op); err != nil {
		return nil, err
	}
	out := []backend.Record{}
	if owner == "" {
		return out, nil
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	hs, err := b.members(ctx, op, owner)
	if err != nil || len(hs) == 0 {
		return out, err
	}
	recs, err := b.loadHashes(ctx, hs)
	if err != nil {
		return nil, b.fail(ctx, op, err)
	}
	var stale []string
	for i, r := range recs {
		switch {
		case r.gone || (r.ok && r.rec.Owner != owner):
			stale = append(stale, hs[i])
		case r.ok:
			out = append(out, r.rec)
		}
	}
	b.unindex(ctx, owner, stale)
	return out, nil
}

// DeleteByOwner deletes every live record whose Owner is owner and reports
// how many it deleted. Each deletion is a script that checks the owner, so
// a session whose owner changes concurrently is left alone. With
// WithWaitReplicas each deletion waits for the replicas; after the first
// that is not acknowledged in time it deletes the rest without waiting and
// returns the count with an error matching ErrNotReplicated. It deletes
// nothing for owner "".
func (b *Backend) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	const op = "delete by owner"
	if err := b.enter(ctx, op); err != nil {
		return 0, err
	}
	if owner == "" {
		return 0, nil
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	hs, err := b.members(ctx, op, owner)
	if err != nil || len(hs) == 0 {
		return 0, err
	}
	field := ownerField(owner)
	keys := make([]string, len(hs))
	for i, h := range hs {
		keys[i] = b.sessionKeyOf(h)
		b.guardPending(h)
	}
	results := make([]rueidis.RedisResult, len(hs))
	var werr error
	if b.cfg.waitN > 0 {
		for i, k := range keys {
			var e error
			results[i], e = b.run(ctx, werr == nil, deleteOwnedScript, []string{k}, field)
			if werr == nil && e != nil {
				werr = e
			}
		}
	} else {
		results = b.runMulti(ctx, deleteOwnedScript, keys, func(int) []string { return []string{field} })
	}
	n := 0
	var done []string
	var ferr error
	for i, res := range results {
		code, err := res.AsInt64()
		if err != nil {
			if ferr == nil {
				ferr = b.fail(ctx, op, res.Error())
			}
			continue
		}
		if code == 1 {
			n++
		}
		if code >= 0 {
			b.guardDeleted(hs[i])
		}
		done = append(done, hs[i])
	}
	b.unindex(ctx, owner, done)
	if ferr != nil {
		return n, ferr
	}
	if werr != nil {
		return n, fmt.Errorf("redisbackend: %s: %w", op, werr)
	}
	return n, nil
}
