package redisbackend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// The owner index of an owner is <prefix>o:{<owner hash>}, a sorted set
// whose members are session hashes, scored by the session's absolute
// deadline (unix ms, rounded up); the key expires with its latest score.
// Every protocol below keeps one invariant at every instant: every live
// session whose owner is O has an entry in O's index.
//
// Off a Cluster (standalone, Sentinel) the session and its owner's index
// are on one server, so scripts keep the invariant by themselves: a write
// that gives a session owner O, or a later absolute deadline, adds the
// entry in the same script (addEntryZ), and a pruner removes an entry
// only in a script that reads the session and finds it gone, of another
// owner or past a deadline (sweepScript). Nothing can run between the
// read and the removal, so no live entry is ever removed, and
// DeleteByOwner knows the owner has nothing left when one sweep over all
// the members of the index finds nothing live and no member it was not
// given (see DeleteByOwner).
//
// On a Cluster the session key lives in another slot than the index, so
// no script can change a session and its entry together. There the index
// has a second key in its slot, <prefix>o:{<owner hash>}w, a hash of
// claims: per member h, its generation (field h, a number that grows with
// every claim), the number of writers between their claim and their
// release (field "p"+h) and when the latest claim lapses (field "l"+h,
// Redis clock, unix ms); field "#" is the counter the generations come
// from. The claims protocol:
//
//   - A writer that is about to give a session owner O, or a later absolute
//     deadline, first claims the entry (claim: add it, raise its score, bump
//     its generation, count the writer pending), then writes the session
//     within the claim's lease, then releases the claim. Release is
//     deferred, so every exit path ends the claim; a writer that dies
//     leaves its claim until the lease lapses.
//   - Nothing else adds entries, and only a pruner removes them (besides
//     Redis dropping the keys after the last score). A pruner takes a
//     snapshot (members, generations, pending flags) and then reads the
//     sessions; it removes an entry only if the read proved it stale
//     (session gone, of another owner or expired), the entry was not
//     pending in the snapshot, and its generation is still the one of the
//     snapshot (one script on the index keys).
//
// Why no live entry can be removed: say a pruner removes h at time z after
// reading the session at time r, with its snapshot taken at s < r < z, and
// a writer W gives the session owner O at time w, having claimed at c < w.
// If c is after s, the generation changed before z and the removal is
// refused. If c is before s and W had not released by s, the snapshot shows
// h pending and the pruner does not remove it. Otherwise W released before
// s, so w < s < r: the read at r sees owner O and h is not stale. So after
// w the entry stays while the session has owner O.
//
// On every topology Delete, Update to another owner and Rekey leave the
// old entry behind; it is pruned by the next ListByOwner or DeleteByOwner
// of that owner, or dropped when its score passes. On a Cluster
// DeleteByOwner repeats until a round finds nothing live and nothing
// pending, and a second snapshot shows no new claim since (see
// DeleteByOwner), so a session renewed or created while it runs is ended
// too.

// claimLeaseMargin is how long a claim outlives the write it protects: the
// write must reach Redis within the operation timeout of the claim, plus
// this.
const claimLeaseMargin = 2 * time.Second

// ownerIndex is the owner index of one owner.
type ownerIndex struct {
	b     *Backend
	owner string
	keys  []string // the sorted set, and on a Cluster its claims
}

// ownerIndex returns the index of owner; owner "" has none (its claims are
// no-ops).
func (b *Backend) ownerIndex(owner string) ownerIndex {
	k := b.indexKey(owner)
	if !b.cluster {
		return ownerIndex{b: b, owner: owner, keys: []string{k}}
	}
	return ownerIndex{b: b, owner: owner, keys: []string{k, k + "w"}}
}

// A claim is a writer's hold on one index entry, from before its write to
// after it. ctx is the writer's context, bounded so that the write lands
// within the claim's lease.
type claim struct {
	ctx    context.Context
	cancel context.CancelFunc
	x      ownerIndex
	h      string
	// werr matches ErrNotReplicated if the claim reached the primary only
	// (on a Cluster, where one WAIT after the session write does not cover
	// the index's node).
	werr error
}

// claim adds the session hash h to the index with score abs (the absolute
// deadline, unix micros) and marks it pending, before the caller writes a
// session that has this owner, on a Cluster. The caller writes with c.ctx
// and must call c.release (defer it). For owner "" it does nothing.
func (x ownerIndex) claim(ctx context.Context, op, h string, abs int64) (*claim, error) {
	if x.owner == "" {
		return &claim{ctx: ctx}, nil
	}
	b := x.b
	score := indexScore(abs)
	lease := strconv.FormatInt((b.cfg.opTimeout + claimLeaseMargin).Milliseconds(), 10)
	res, werr := b.run(ctx, b.cluster, claimScript, x.keys, h, score, lease)
	if err := res.Error(); err != nil {
		return nil, b.fail(ctx, op+": owner index", err)
	}
	c := &claim{x: x, h: h}
	c.ctx, c.cancel = context.WithTimeout(ctx, b.cfg.opTimeout)
	if werr != nil {
		c.werr = fmt.Errorf("redisbackend: %s: owner index: %w", op, werr)
	}
	return c, nil
}

// release ends the claim, whatever the outcome of the write. It is best
// effort: a claim it fails to end lapses with its lease.
func (c *claim) release() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	b := c.x.b
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), b.cfg.opTimeout)
	defer cancel()
	_, _ = b.run(ctx, false, releaseScript, c.x.keys[1:], c.h)
}

// indexEntry is one member of a snapshot of the index.
type indexEntry struct {
	h       string
	gen     string // the generation the snapshot saw ("0": none)
	pending bool   // a writer held a claim that had not lapsed
}

// snapshot drops the entries whose score has passed and returns the rest.
// An index of the wrong type is reset, and reported as an error matching
// ErrCorruptRecord: the sessions it indexed cannot be found. Members that
// are no session hash (something else added them) are removed, best
// effort: they index no session, and a sweep would count them as members
// it was not given.
func (x ownerIndex) snapshot(ctx context.Context, op string) ([]indexEntry, error) {
	b := x.b
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	res, _ := b.run(ctx, false, snapshotScript, x.keys, now)
	arr, err := res.ToArray()
	if err != nil {
		return nil, b.fail(ctx, op, err)
	}
	if len(arr) != 3 {
		return nil, fmt.Errorf("redisbackend: %s: unexpected snapshot reply of %d elements", op, len(arr))
	}
	rnow, err1 := arr[0].AsInt64()
	members, err2 := arr[1].AsStrSlice()
	flat, err3 := arr[2].AsStrSlice()
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("redisbackend: %s: unexpected snapshot reply: %w", op, err)
	}
	claims := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		claims[flat[i]] = flat[i+1]
	}
	out := make([]indexEntry, 0, len(members))
	var foreign []string
	for _, h := range members {
		if len(h) != hashLen {
			foreign = append(foreign, h) // only hashes are ever added
			continue
		}
		gen, ok := claims[h]
		if !ok {
			gen = "0"
		}
		writers, _ := strconv.ParseInt(claims["p"+h], 10, 64)
		lease, _ := strconv.ParseInt(claims["l"+h], 10, 64)
		out = append(out, indexEntry{h: h, gen: gen, pending: writers > 0 && lease > rnow})
	}
	if len(foreign) > 0 {
		_ = b.client.Do(ctx, b.client.B().Zrem().Key(x.keys[0]).Member(foreign...).Build()).Error()
	}
	return out, nil
}

// within reports whether every entry of snap is in prev with the same
// generation: no writer has claimed an entry since prev was taken.
func within(snap, prev []indexEntry) bool {
	gens := make(map[string]string, len(prev))
	for _, e := range prev {
		gens[e.h] = e.gen
	}
	for _, e := range snap {
		if g, ok := gens[e.h]; !ok || g != e.gen {
			return false
		}
	}
	return true
}

func anyPending(snap []indexEntry) bool {
	for _, e := range snap {
		if e.pending {
			return true
		}
	}
	return false
}

// check reads the sessions of snap from Redis, uncached, in one pipeline,
// with the name keys of those stored under a hash (their records do not
// hold their keys). It returns the live records of this owner with their
// entries, and the entries that the read proved stale and that may be
// pruned. A record it cannot read is neither. A live record stored under
// a hash whose name key is gone (evicted, say) is returned with Key "":
// DeleteByOwner deletes it, ListByOwner cannot name it.
func (x ownerIndex) check(ctx context.Context, snap []indexEntry) (live []backend.Record, liveEntries, stale []indexEntry, err error) {
	if len(snap) == 0 {
		return nil, nil, nil, nil
	}
	b := x.b
	cmds := make(rueidis.Commands, 0, len(snap))
	for _, e := range snap {
		cmds = append(cmds, b.client.B().Get().Key(b.sessionKeyOf(e.h)).Build())
		if hashed(e.h) {
			cmds = append(cmds, b.client.B().Get().Key(b.nameKey(e.h)).Build())
		}
	}
	res := b.client.DoMulti(ctx, cmds...)
	now := time.Now()
	for _, e := range snap {
		r, key := res[0], e.h
		res = res[1:]
		if hashed(e.h) {
			name, nerr := res[0].ToString()
			res = res[1:]
			if nerr != nil && !rueidis.IsRedisNil(nerr) {
				return nil, nil, nil, nerr
			}
			key = name
		}
		s, rerr := r.ToString()
		if rueidis.IsRedisNil(rerr) {
			if !e.pending {
				stale = append(stale, e)
			}
			continue
		}
		if rerr != nil {
			return nil, nil, nil, rerr
		}
		rec, derr := decodeRecord(s)
		if derr != nil {
			continue
		}
		rec.Key = key
		if rec.Owner == x.owner && !rec.Expired(now) {
			live = append(live, rec)
			liveEntries = append(liveEntries, e)
			continue
		}
		if !e.pending {
			stale = append(stale, e)
		}
	}
	return live, liveEntries, stale, nil
}

// prune removes the entries es (each taken from a snapshot in which it was
// not pending, and proven stale by a read after that snapshot) unless a
// writer has claimed them since. It is best effort: an entry it fails to
// remove stays until the next pruning.
func (x ownerIndex) prune(ctx context.Context, es []indexEntry) {
	if len(es) == 0 {
		return
	}
	if !x.b.cluster {
		_, _, _ = x.sweep(ctx, es)
		return
	}
	args := make([]string, 0, 2*len(es))
	for _, e := range es {
		args = append(args, e.h, e.gen)
	}
	_, _ = x.b.run(ctx, false, pruneScript, x.keys, args...)
}

// sweep, off a Cluster, removes the entries of es whose sessions are gone,
// of another owner or past a deadline, each checked in the same script as
// its removal. It reports how many of es are live sessions of the owner
// and how many members the index holds that are not in es.
func (x ownerIndex) sweep(ctx context.Context, es []indexEntry) (live, others int64, err error) {
	b := x.b
	keys := make([]string, 0, 1+len(es))
	args := make([]string, 0, 2+len(es))
	keys = append(keys, x.keys[0])
	args = append(args, ownerField(x.owner), nowMicros())
	for _, e := range es {
		keys = append(keys, b.sessionKeyOf(e.h))
		args = append(args, e.h)
	}
	res, _ := b.run(ctx, false, sweepScript, keys, args...)
	n, err := res.AsIntSlice()
	if err != nil {
		return 0, 0, err
	}
	if len(n) != 2 {
		return 0, 0, fmt.Errorf("redisbackend: unexpected sweep reply of %d elements", len(n))
	}
	return n[0], n[1], nil
}

// ListByOwner returns the live records whose Owner is owner, read from
// Redis without the cache, in no particular order; an empty slice if there
// are none (always for owner ""). It prunes the index entries of sessions
// that are gone, expired or of another owner. Records it cannot read are
// skipped.
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
	idx := b.ownerIndex(owner)
	snap, err := idx.snapshot(ctx, op)
	if err != nil {
		return nil, err
	}
	live, _, stale, err := idx.check(ctx, snap)
	if err != nil {
		return nil, b.fail(ctx, op, err)
	}
	idx.prune(ctx, stale)
	for _, rec := range live {
		if rec.Key != "" {
			out = append(out, rec)
		}
	}
	return out, nil
}

// DeleteByOwner deletes every live record whose Owner is owner and reports
// how many it deleted. Each deletion is a script that checks the owner, so
// a session whose owner changes concurrently is left alone; one that
// passes a deadline before its script runs is deleted too, with an
// EventExpired, and not counted.
//
// It repeats until the owner has nothing left: a round takes a snapshot of
// the index, reads the sessions and deletes the live ones. Off a Cluster it
// ends after a round whose sweep (one script over every member of the
// snapshot) found none of them live and no member besides them; on a
// Cluster after a round that found nothing live and no write in flight,
// once a further snapshot shows that no writer has claimed an entry since.
// So a session that a concurrent Rekey (Renew) or Create gives the owner is
// deleted too, unless that write begins after DeleteByOwner has verified
// the index empty. Under a stream of new sessions of the owner it runs
// until the operation deadline and returns the count so far with the
// error.
//
// With WithWaitReplicas each deletion waits for the replicas; after the
// first that is not acknowledged in time it deletes the rest without
// waiting and returns the count with an error matching ErrNotReplicated.
// One that finds nothing to delete waits too, so that "nothing left" is
// confirmed by the replicas (a primary restarted empty is not).
// It deletes nothing for owner "".
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
	idx := b.ownerIndex(owner)
	n := 0
	var werr error
	// done ends a DeleteByOwner that found the owner has nothing left.
	done := func() (int, error) {
		if n == 0 && b.cfg.waitN > 0 {
			// Nothing deleted, so nothing waited: confirm that the server
			// that found nothing is the one the replicas follow (a
			// restarted, empty primary is not), as Delete does. (EXISTS of
			// the index routes WAIT to the index's node.)
			_, werr = b.write(ctx, true, func(c rueidis.CommandClient, _ runMode) rueidis.Completed {
				return c.B().Exists().Key(idx.keys[0]).Build()
			})
		}
		if werr != nil {
			return n, fmt.Errorf("redisbackend: %s: %w", op, werr)
		}
		return n, nil
	}
	// round reads the sessions of snap and deletes the owner's live ones.
	// It returns how many it found live, and the entries that may be
	// pruned: the stale ones and those of the sessions it deleted.
	round := func(snap []indexEntry) (int, []indexEntry, error) {
		live, liveEntries, stale, err := idx.check(ctx, snap)
		if err != nil {
			return 0, nil, b.fail(ctx, op, err)
		}
		k, deleted, e, err := b.deleteOwned(ctx, op, owner, live, liveEntries, werr == nil)
		n += k
		werr = cmp.Or(werr, e)
		return len(live), append(stale, deleted...), err
	}
	if !b.cluster {
		for {
			snap, err := idx.snapshot(ctx, op)
			if err != nil {
				return n, err
			}
			if _, _, err := round(snap); err != nil {
				return n, err
			}
			left, others, err := idx.sweep(ctx, snap)
			if err != nil {
				return n, b.fail(ctx, op, err)
			}
			if left == 0 && others == 0 {
				return done()
			}
			if err := ctx.Err(); err != nil {
				return n, fmt.Errorf("redisbackend: %s: sessions of this owner keep appearing: %w", op, err)
			}
		}
	}
	var prev []indexEntry
	verified := false
	for wait := time.Millisecond; ; {
		snap, err := idx.snapshot(ctx, op)
		if err != nil {
			return n, err
		}
		if verified && within(snap, prev) {
			return done()
		}
		found, prunable, err := round(snap)
		if err != nil {
			return n, err
		}
		idx.prune(ctx, prunable)
		verified = found == 0 && !anyPending(snap)
		prev = snap
		if found == 0 && !verified {
			// A writer holds a claim: give it time to write and release.
			if err := sleepCtx(ctx, wait); err != nil {
				return n, fmt.Errorf("redisbackend: %s: waiting for a write of this owner in flight: %w", op, err)
			}
			wait = min(2*wait, 32*time.Millisecond)
		}
	}
}

// deleteOwned deletes the records recs (with their index entries es) if
// they still belong to owner, each with one script. It returns how many it
// deleted, the entries of the sessions now gone that may be pruned, and an
// error matching ErrNotReplicated when wait is set and a deletion was not
// acknowledged by the replicas in time.
func (b *Backend) deleteOwned(ctx context.Context, op, owner string, recs []backend.Record, es []indexEntry, wait bool) (n int, gone []indexEntry, werr, err error) {
	if len(recs) == 0 {
		return 0, nil, nil, nil
	}
	field := ownerField(owner)
	keys := make([][]string, len(recs))
	guards := make([]guardToken, len(recs))
	defer func() {
		for i := range guards {
			guards[i].done()
		}
	}()
	args := make([][]string, len(recs))
	at := nowUS()
	now := strconv.FormatInt(at, 10)
	for i, e := range es {
		keys[i] = b.withName(e.h, b.sessionKeyOf(e.h))
		guards[i] = b.token(e.h)
		mode, ch := b.channel(e.h)
		args[i] = []string{field, now, mode, ch, eventMsg(backend.EventDeleted, at, recs[i].Key, "", owner)}
	}
	codes := make([]int64, len(keys))
	errs := make([]error, len(keys))
	switch {
	case b.cfg.waitN > 0:
		for i, k := range keys {
			res, e := b.run(ctx, wait && werr == nil, deleteOwnedScript, k, args[i]...)
			werr = cmp.Or(werr, e)
			codes[i], errs[i] = replyCode(res)
		}
	case !b.cluster:
		b.deleteOwnedBatches(ctx, keys, args, codes, errs)
	default:
		for i, res := range b.runMulti(ctx, deleteOwnedScript, keys, func(i int) []string { return args[i] }) {
			codes[i], errs[i] = replyCode(res)
		}
	}
	for i, code := range codes {
		switch {
		case errs[i] != nil:
			err = cmp.Or(err, b.fail(ctx, op, errs[i]))
		case code == replyOK || code == replyNotFound:
			if code == replyOK {
				n++
			}
			guards[i].deleted()
			if !es[i].pending {
				gone = append(gone, es[i])
			}
		default:
			guards[i].refused()
		}
	}
	return n, gone, werr, err
}

// replyCode is a script's integer reply, or its error.
func replyCode(res rueidis.RedisResult) (int64, error) {
	code, err := res.AsInt64()
	if err != nil {
		return 0, cmp.Or(res.Error(), err)
	}
	return code, nil
}

// deleteBatch is how many sessions one deleteOwnedManyScript call deletes:
// the server runs nothing else meanwhile (a few milliseconds).
const deleteBatch = 128

// deleteOwnedBatches runs deleteOwned's deletions off a Cluster, with the
// keys and deleteOwnedScript arguments of each session (the first four
// are the same for all: owner field, now, publish mode and channel), in
// calls of deleteOwnedManyScript of up to deleteBatch sessions, pipelined.
// It sets each session's code, or its error.
func (b *Backend) deleteOwnedBatches(ctx context.Context, keys, args [][]string, codes []int64, errs []error) {
	var batchKeys, batchArgs [][]string
	for lo := 0; lo < len(keys); lo += deleteBatch {
		hi := min(lo+deleteBatch, len(keys))
		ks := make([]string, 0, 2*(hi-lo))
		as := append(make([]string, 0, 4+2*(hi-lo)), args[lo][:4]...)
		for i := lo; i < hi; i++ {
			ks = append(ks, keys[i]...)
			as = append(as, strconv.Itoa(len(keys[i])), args[i][4])
		}
		batchKeys, batchArgs = append(batchKeys, ks), append(batchArgs, as)
	}
	for j, res := range b.runMulti(ctx, deleteOwnedManyScript, batchKeys, func(j int) []string { return batchArgs[j] }) {
		lo := j * deleteBatch
		hi := min(lo+deleteBatch, len(keys))
		got, err := res.AsIntSlice()
		if err == nil && len(got) != hi-lo {
			err = fmt.Errorf("redisbackend: %d codes for %d deletions", len(got), hi-lo)
		}
		if err != nil {
			for i := lo; i < hi; i++ {
				errs[i] = cmp.Or(res.Error(), err)
			}
			continue
		}
		copy(codes[lo:hi], got)
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The index scripts. Redis TIME, in scripts, is the clock of the index's
// node, so leases are set and judged by one clock; scores are absolute
// deadlines by the application's clock, passed in. Numbers are formatted
// with %.0f: Lua would print large ones in exponent notation.
//
// An index key of another type than the protocol writes (something else
// wrote there) is of no use to anyone: broken deletes the index (both keys
// on a Cluster; w is nil off one), so that writes and "log out
// everywhere" go on working. The snapshot then reports it, since sessions
// indexed before cannot be found.
//
// addEntry is the part of a claim that every writer does on a Cluster: add
// the entry, raise its score, give it a new generation, keep both keys
// alive until the last score. addEntryZ is what the session scripts do
// off a Cluster, in the same script as the write: add the entry and raise
// its score, keeping the index alive until the last score; there are no
// claims.
//
// A new claims key starts the generations at the Redis clock in
// microseconds. Every claim is a script that takes more than a
// microsecond, so the counter never overtakes the clock, and a
// generation never comes back after a pruner deleted the claims key with
// the index's last entry. (A millisecond seed let a claim within the
// millisecond of the deleted key's first claim get a generation a second
// pruner had in its snapshot, and that pruner removed the new, live
// entry; TestOwnerIndexInterleavings/TwoPruners caught it now and then.)
const luaIndex = `
local function broken(z, w)
  local zt, wt = redis.call('TYPE', z).ok, w and redis.call('TYPE', w).ok or 'none'
  if (zt ~= 'zset' and zt ~= 'none') or (wt ~= 'hash' and wt ~= 'none') then
    if w then redis.call('DEL', z, w) else redis.call('DEL', z) end
    return zt .. '/' .. wt
  end
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function addEntry(z, w, h, score)
  broken(z, w)
  redis.call('ZADD', z, 'GT', score, h)
  if redis.call('HEXISTS', w, '#') == 0 then
    local t = redis.call('TIME')
    redis.call('HSET', w, '#', string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  end
  redis.call('HSET', w, h, string.format('%.0f', redis.call('HINCRBY', w, '#', 1)))
  local s = tonumber(score)
  for _, k in ipairs({z, w}) do
    if redis.call('PEXPIRETIME', k) < s then redis.call('PEXPIREAT', k, score) end
  end
end
local function addEntryZ(z, h, score)
  broken(z)
  redis.call('ZADD', z, 'GT', score, h)
  if redis.call('PEXPIRETIME', z) < tonumber(score) then redis.call('PEXPIREAT', z, score) end
end
`

// claimScript: KEYS[1] index, KEYS[2] claims; ARGV[1] session hash,
// ARGV[2] score (unix ms), ARGV[3] lease (ms). It adds the entry (never
// lowering its score), gives it a new generation, counts one more writer
// and keeps both keys alive until the last score.
var claimScript = newScript("claim", luaIndex, `
local h, now = ARGV[1], nowMs()
addEntry(KEYS[1], KEYS[2], h, ARGV[2])
redis.call('HINCRBY', KEYS[2], 'p' .. h, 1)
local lease = now + tonumber(ARGV[3])
if lease > tonumber(redis.call('HGET', KEYS[2], 'l' .. h) or '0') then
  redis.call('HSET', KEYS[2], 'l' .. h, string.format('%.0f', lease))
end
return 1
`)

// releaseScript: KEYS[1] claims; ARGV[1] session hash. It counts one writer
// less; it never creates the key.
var releaseScript = newScript("release", "", `
local f = 'p' .. ARGV[1]
if redis.call('HEXISTS', KEYS[1], f) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], f, -1) <= 0 then
  redis.call('HDEL', KEYS[1], f, 'l' .. ARGV[1])
end
return 1
`)

// snapshotScript: KEYS[1] index, on a Cluster KEYS[2] claims; ARGV[1] now
// (unix ms, application clock). It drops the entries whose score is not
// after now and returns {the Redis clock in ms, the members, the claims as
// a flat HGETALL (none off a Cluster)}: the caller pairs them up, so that
// the script spends no Lua loop on an owner of 10,000 sessions.
var snapshotScript = newScript("snapshot", luaIndex, `
local z, w = KEYS[1], KEYS[2]
local b = broken(z, w)
if b then
  return redis.error_reply('SKBROKENINDEX the owner index held ' .. b .. ' instead of zset/hash; it was reset')
end
if w then
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[1])) do
    redis.call('HDEL', w, h, 'p' .. h, 'l' .. h)
  end
end
redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[1])
local members = redis.call('ZRANGE', z, 0, -1)
if not w then return {nowMs(), members, {}} end
if #members == 0 then
  redis.call('DEL', w)
  return {nowMs(), members, {}}
end
return {nowMs(), members, redis.call('HGETALL', w)}
`)

// sweepScript, off a Cluster: KEYS[1] the index, then the session key of
// each member to check; ARGV the owner field, now (unix micros,
// application clock), then the members, in the order of their keys. It
// removes each member still in the index whose session is gone, or holds
// a record of another owner or past a deadline at now (a value it cannot
// read stays), and returns {how many of them are live sessions of the
// owner, how many members the index holds besides those it was given}.
var sweepScript = newScript("sweep", luaPrelude, `
local z, field, now = KEYS[1], ARGV[1], ARGV[2]
if redis.call('TYPE', z).ok ~= 'zset' then return {0, 0} end
local kept, live = 0, 0
for i = 3, #ARGV do
  local h = ARGV[i]
  if redis.call('ZSCORE', z, h) then
    local v = redis.pcall('GET', KEYS[i - 1])
    local ours = type(v) == 'string' and readable(v)
    if not v or (ours and not (hasOwner(v, field) and isLive(v, now))) then
      redis.call('ZREM', z, h)
    else
      kept = kept + 1
      if ours then live = live + 1 end
    end
  end
end
return {live, redis.call('ZCARD', z) - kept}
`)

// pruneScript: KEYS[1] index, KEYS[2] claims; ARGV pairs of session hash
// and the generation a snapshot saw. It removes each entry whose
// generation is unchanged, and the claims key with the last entry.
var pruneScript = newScript("prune", luaIndex, `
if broken(KEYS[1], KEYS[2]) then return 0 end
local n = 0
for i = 1, #ARGV, 2 do
  local h = ARGV[i]
  if (redis.call('HGET', KEYS[2], h) or '0') == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], h)
    redis.call('HDEL', KEYS[2], h, 'p' .. h, 'l' .. h)
    n = n + 1
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return n
`)
