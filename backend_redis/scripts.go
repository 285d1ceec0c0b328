package redisbackend

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// Every script touches exactly the keys in KEYS, and every KEYS list is one
// session key (or the keys of one owner index, owners.go), except
// rekeyScript and sweepScript, which are used only on clients that are not
// Cluster clients.
// The scripts that publish an event send it to a channel in the slot of
// the session key they write (eventmsg.go), so on a Cluster they stay on
// their node too.
// Scripts work on the record layout of record.go, whose offsets luaRecord
// writes into every session script from the Go constants.
//
// Scripts that change a record take the application's clock, now in unix
// microseconds, and treat a record at or past one of its deadlines by that
// clock as not found, as Load does: Redis expires keys by its own clock,
// which may lag the application's, and a write must not bring back a
// session that Load already calls expired. A script that removes or
// replaces such a record (Delete, DeleteByOwner's, Create and Rekey onto
// its key) publishes its EventExpired, with the record's owner, before
// its own event: Redis, which then no longer has the key, never reports
// its expiry.

// Script replies. Success is replyOK, or an array whose first element is
// replyOK; a record with a bad header is an error reply starting with
// SKCORRUPT.
const (
	replyNotFound  = 0  // no live record
	replyOK        = 1  // done
	replyConflict  = 2  // the stored version differs
	replyNeedClaim = 3  // Update: claim the owner index entry first
	replyExists    = 4  // Rekey: the new key is taken
	replyOther     = -1 // deleteOwnedScript: another owner, or unreadable
)

// luaPrelude begins every session script: the reply codes and the record
// layout, both written from the Go constants, and the helpers.
var luaPrelude = fmt.Sprintf(`
local NOT_FOUND, OK, CONFLICT, NEED_CLAIM, EXISTS, OTHER = %d, %d, %d, %d, %d, %d
local EXPIRED = '\%d'
`, replyNotFound, replyOK, replyConflict, replyNeedClaim, replyExists, replyOther, backend.EventExpired) + luaRecord + `
-- at is the big-endian integer of 8 bytes at offset i of s (exact: the
-- times stay below 2^53).
local function at(s, i) return (struct.unpack('>I8', s, i)) end
-- bytes8 is the 8 raw bytes at offset i of s.
local function bytes8(s, i) return string.sub(s, i, i + 7) end
-- hasOwner reports whether record v has the owner field f.
local function hasOwner(v, f) return string.sub(v, OWNER, OWNER - 1 + #f) == f end
-- readable reports whether v has a header this package writes (or wrote:
-- format 1, with at least the key length after the owner).
local function readable(v)
  local f = string.byte(v, 1)
  return (f == FORMAT and #v >= MIN_RECORD) or (f == FORMAT_V1 and #v >= MIN_RECORD + 4)
end
-- publish sends an event message (eventmsg.go) to channel ch: by SPUBLISH
-- for mode 'S' (a Cluster: ch is in the slot of the record written), by
-- PUBLISH for mode 'P'; mode '' publishes nothing.
local function publish(mode, ch, msg)
  if mode == 'S' then redis.call('SPUBLISH', ch, msg) elseif mode == 'P' then redis.call('PUBLISH', ch, msg) end
end
-- setName keeps the key of a record stored under a hash in its name key
-- k (keys.go) until namePx; name '' (a key kept as it is) does nothing.
local function setName(k, name, namePx)
  if name ~= '' then redis.call('SET', k, name, 'PXAT', namePx) end
end
-- ownerOf is the owner field of record v as stored: its length, then the
-- bytes.
local function ownerOf(v) return string.sub(v, OWNER, OWNER + 3 + struct.unpack('>I4', v, OWNER)) end
-- isLive reports whether record v is before both its deadlines at now.
local function isLive(v, now)
  now = tonumber(now)
  return at(v, IDLE) > now and at(v, ABS) > now
end
-- expiredMsg is the EventExpired message of record v, which a write met
-- past a deadline: the time and key of msg, the message (or message
-- head) that the write publishes for the same key (eventmsg.go), and the
-- owner of v.
local function expiredMsg(msg, v)
  local n = struct.unpack('>I4', msg, 10)
  return EXPIRED .. string.sub(msg, 2, 13 + n) .. struct.pack('>I4', 0) .. ownerOf(v)
end
-- free reports whether a record may be written at key: there is none, or
-- a record of this package past a deadline at now, whose EventExpired it
-- then publishes (mode, ch; msg as for expiredMsg). A live record, one it
-- cannot read or a value of another type takes the key.
local function free(key, now, mode, ch, msg)
  local v = redis.pcall('GET', key)
  if not v then return true end
  if type(v) ~= 'string' or not readable(v) or isLive(v, now) then return false end
  publish(mode, ch, expiredMsg(msg, v))
  return true
end
-- live returns the record at key if it is live at now, else nil and the
-- reply for a missing, expired or unreadable record.
local function live(key, now)
  local v = redis.call('GET', key)
  if not v then return nil, NOT_FOUND end
  if not readable(v) then return nil, redis.error_reply('SKCORRUPT bad record header') end
  if not isLive(v, now) then return nil, NOT_FOUND end
  return v
end
`

// updateScript replaces a record if its version matches, keeping the
// stored created-at. A change of owner or a later absolute deadline needs
// the owner index entry; ARGV index says how it is kept (indexClaimed and
// the others): already claimed, or added in the same script to the index
// in KEYS[2] (off a Cluster), or else the script returns NEED_CLAIM, so
// that the caller claims the entry first. A record stored under a hash
// has its name key last in KEYS,
// which it renews (ARGV name, namePx). Success: {OK, created-at bytes}; a
// version conflict: {CONFLICT, the stored record}, so that the caller can
// retry without reading it.
var updateScript = newScript("update", luaPrelude+luaIndex, `
local expected, record, pxat, owner, abs, index, now, h, score, name, namePx = unpack(ARGV)
local v, reply = live(KEYS[1], now)
if not v then return reply end
if bytes8(v, VERSION) ~= expected then return {CONFLICT, v} end
if index ~= '`+indexClaimed+`' and (not hasOwner(v, owner) or tonumber(abs) > at(v, ABS)) then
  if index ~= '`+indexInline+`' then return NEED_CLAIM end
  addEntryZ(KEYS[2], h, score)
end
local created = bytes8(v, CREATED)
redis.call('SET', KEYS[1], string.sub(record, 1, CREATED - 1) .. created .. string.sub(record, CREATED + 8), 'PXAT', pxat)
setName(KEYS[#KEYS], name, namePx)
return {OK, created}
`)

// How updateScript keeps the owner index entry (its argument index).
const (
	indexClaimed = "1" // claimed already, or no owner: nothing to add
	indexClaim   = "0" // on a Cluster: reply NEED_CLAIM where the entry must be added
	indexInline  = "z" // off a Cluster: add the entry to the index in KEYS[2]
)

// updateArgs are the arguments of updateScript: the expected version, the
// new record, its PXAT, its owner field and absolute deadline, how the
// owner index entry is kept (indexClaimed, indexClaim or indexInline), now,
// the session hash and index score for an entry added in the script, and
// the name and its PXAT (nameArgs).
func updateArgs(expected uint64, val string, px int64, owner string, abs int64, index, now, h, key string) []string {
	name, namePx := nameArgs(h, key, abs)
	return []string{versionBytes(expected), val, strconv.FormatInt(px, 10), ownerField(owner), strconv.FormatInt(abs, 10), index, now, h, indexScore(abs), name, namePx}
}

// indexScore is the owner index score of a session whose absolute deadline
// is abs (unix micros): unix milliseconds, rounded up.
func indexScore(abs int64) string { return strconv.FormatInt(abs/1000+1, 10) }

// createOwnedScript is Create of a session with an owner on a server that
// also holds the owner's index (not a Cluster): the SET if the key is
// free (free: a record past a deadline at now is replaced, with its
// EventExpired first), the index entry, the name key and the
// EventCreated in one script. KEYS: the session, the index, and for a
// record stored under a hash its name key; ARGV: the record,
// its PXAT, now, the session hash, the index score, the publish mode,
// channel and message, the name and its PXAT (nameArgs).
var createOwnedScript = newScript("createOwned", luaPrelude+luaIndex, `
local record, pxat, now, h, score, mode, ch, msg, name, namePx = unpack(ARGV)
if not free(KEYS[1], now, mode, ch, msg) then return EXISTS end
redis.call('SET', KEYS[1], record, 'PXAT', pxat)
addEntryZ(KEYS[2], h, score)
setName(KEYS[3], name, namePx)
publish(mode, ch, msg)
return OK
`)

// createScript is every other Create (anonymous, or on a Cluster after the
// owner index claim), and the first step of a Rekey on a Cluster (whose
// message is the pending message, reorder.go): the SET if the key is free
// (free: a record past a deadline at now is replaced, with its
// EventExpired first) and then the name key and the message. KEYS: the
// session, and for a record stored under a hash its name key; ARGV: the
// record, its PXAT, now, the publish mode, channel and message, the name
// and its PXAT.
var createScript = newScript("create", luaPrelude, `
local record, pxat, now, mode, ch, msg, name, namePx = unpack(ARGV)
if not free(KEYS[1], now, mode, ch, msg) then return EXISTS end
redis.call('SET', KEYS[1], record, 'PXAT', pxat)
setName(KEYS[2], name, namePx)
publish(mode, ch, msg)
return OK
`)

// deleteScript is Delete: it deletes the key whatever it holds (a value
// of another type too), with its name key, and publishes for a record of
// this package the EventDeleted if it is live, appending the record's
// owner field to the message head ARGV[4], and its EventExpired if it is
// past a deadline at now (Redis's clock lagging the application's, which
// would remove it later by its own). KEYS: the session, and for a record
// stored under a hash its name key (kept if there is no record: an
// expiry may still need it); ARGV: now, the publish mode, channel and
// message head.
var deleteScript = newScript("delete", luaPrelude, `
local now, mode, ch, head = unpack(ARGV)
local v = redis.pcall('GET', KEYS[1])
if not v then return NOT_FOUND end
redis.call('DEL', unpack(KEYS))
if type(v) == 'string' and readable(v) then
  if isLive(v, now) then publish(mode, ch, head .. ownerOf(v)) else publish(mode, ch, expiredMsg(head, v)) end
end
return OK
`)

// touchScript moves the idle deadline of a record in place, and the key's
// expiry to the earlier deadline; the version stays. Success: {version
// bytes, created-at bytes}.
var touchScript = newScript("touch", luaPrelude, `
local idle, now = unpack(ARGV)
local v, reply = live(KEYS[1], now)
if not v then return reply end
idle = tonumber(idle)
redis.call('SETRANGE', KEYS[1], IDLE - 1, struct.pack('>I8', idle))
local ends = math.min(idle, at(v, ABS))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.max(math.floor(ends / 1000) - 1, 1)))
return {bytes8(v, VERSION), bytes8(v, CREATED)}
`)

// deleteOwnedScript deletes a session (and its name key, KEYS[2] if
// given) only if it still belongs to the owner whose field is ARGV[1],
// and then publishes the EventDeleted (ARGV[3..5]: publish mode, channel,
// message), or the EventExpired of a record past a deadline at now
// (ARGV[2]): OK deleted, NOT_FOUND gone (or deleted past a deadline),
// OTHER another owner (or a record it cannot read).
var deleteOwnedScript = newScript("deleteOwned", luaPrelude, `
local field, now, mode, ch, msg = unpack(ARGV)
local v = redis.call('GET', KEYS[1])
if not v then return NOT_FOUND end
if not readable(v) or not hasOwner(v, field) then return OTHER end
redis.call('DEL', unpack(KEYS))
if not isLive(v, now) then
  publish(mode, ch, expiredMsg(msg, v))
  return NOT_FOUND
end
publish(mode, ch, msg)
return OK
`)

// deleteOwnedManyScript is deleteOwnedScript for many sessions in one
// call, off a Cluster. KEYS: per session its key, then its name key if it
// has one; ARGV: the owner field, now, the publish mode and channel, then
// per session the number of its keys (1 or 2) and its EventDeleted
// message. It returns per session the code deleteOwnedScript would; a
// session key of another type is OTHER.
var deleteOwnedManyScript = newScript("deleteOwnedMany", luaPrelude, `
local field, now, mode, ch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out, k = {}, 1
for i = 5, #ARGV, 2 do
  local n, msg = tonumber(ARGV[i]), ARGV[i + 1]
  local v = redis.pcall('GET', KEYS[k])
  local code = OTHER
  if not v then
    code = NOT_FOUND
  elseif type(v) == 'string' and readable(v) and hasOwner(v, field) then
    redis.call('DEL', unpack(KEYS, k, k + n - 1))
    if isLive(v, now) then
      publish(mode, ch, msg)
      code = OK
    else
      publish(mode, ch, expiredMsg(msg, v))
      code = NOT_FOUND
    end
  end
  out[#out + 1] = code
  k = k + n
end
return out
`)

// deleteVersionScript is the second half of a Rekey on a Cluster: it
// deletes the old record (and its name key, KEYS[2] if given) if its
// version is still ARGV[1] (now: ARGV[2]) and then publishes the
// EventRekeyed (ARGV[3..5]: publish mode, channel of the old key's slot,
// message), which completes the Rekey.
var deleteVersionScript = newScript("deleteVersion", luaPrelude, `
local expected, now, mode, ch, msg = unpack(ARGV)
local v, reply = live(KEYS[1], now)
if not v then return reply end
if bytes8(v, VERSION) ~= expected then return CONFLICT end
redis.call('DEL', unpack(KEYS))
publish(mode, ch, msg)
return OK
`)

// undoRekeyScript undoes the first step of a Rekey on a Cluster when the
// second failed: it deletes the new record (and its name key, KEYS[2] if
// given) and publishes the abort message (ARGV: publish mode, channel of
// the new key's slot, message), so that subscribers stop holding the new
// key's events for the EventRekeyed (reorder.go).
var undoRekeyScript = newScript("undoRekey", luaPrelude, `
local mode, ch, msg = unpack(ARGV)
redis.call('DEL', unpack(KEYS))
publish(mode, ch, msg)
return OK
`)

// rekeyScript is Rekey on clients that are not Cluster clients, atomic over
// both keys: KEYS[1] old session, KEYS[2] new one, then for a record with
// an owner (indexed '1') the owner's index, whose entry for
// the new session it adds, then the name key of the old session if it is
// stored under a hash (oldNamed '1'), then the name key of the new one if
// it is (name not ”); ARGV: the expected version of the old, the new
// record, its PXAT, now, the new session's hash and index score, the
// publish mode, channel and message of the EventRekeyed, indexed,
// oldNamed, and the new session's name and its PXAT. The new key must be
// free (free: a record past a deadline at now is replaced, with its
// EventExpired first).
var rekeyScript = newScript("rekey", luaPrelude+luaIndex, `
local expected, record, pxat, now, h, score, mode, ch, msg, indexed, oldNamed, name, namePx = unpack(ARGV)
local v, reply = live(KEYS[1], now)
if not v then return reply end
if bytes8(v, VERSION) ~= expected then return CONFLICT end
if not free(KEYS[2], now, mode, ch, msg) then return EXISTS end
redis.call('SET', KEYS[2], record, 'PXAT', pxat)
redis.call('DEL', KEYS[1])
local i = 3
if indexed == '1' then
  addEntryZ(KEYS[3], h, score)
  i = 4
end
if oldNamed == '1' then
  redis.call('DEL', KEYS[i])
  i = i + 1
end
setName(KEYS[i], name, namePx)
publish(mode, ch, msg)
return OK
`)

// replyError maps a script's status reply to the error of op: nil for
// replyOK.
func replyError(op string, code int64) error {
	switch code {
	case replyOK:
		return nil
	case replyNotFound:
		return notFound(op)
	case replyConflict:
		return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrConflict)
	case replyExists:
		return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrExists)
	}
	return fmt.Errorf("redisbackend: %s: unexpected script reply %d", op, code)
}

// script is one of the package's Lua scripts. It runs as a function of
// the package's library (FCALL, library.go) where the server has it, and
// otherwise with EVALSHA, falling back to EVAL when the server does not
// know it yet. Unlike rueidis.Lua it can run on a DedicatedClient, which
// WAIT needs.
type script struct {
	name     string // its name in the library: the function is <library name>_<name>
	body     string // the code after its preludes
	src, sha string // the whole script, preludes and body, for EVAL and EVALSHA
	fn       string // the function name in the library
}

// newScript registers the script name: body, which uses the definitions
// of prelude (luaPrelude, luaIndex, both or none: the library defines both
// once for all its functions).
func newScript(name, prelude, body string) *script {
	src := prelude + body
	sum := sha1.Sum([]byte(src))
	s := &script{name: name, body: body, src: src, sha: hex.EncodeToString(sum[:])}
	allScripts = append(allScripts, s)
	return s
}

// allScripts are the scripts of the package, which make up its library
// (and which New loads with SCRIPT LOAD where the server refuses
// libraries, so that the first EVALSHA of each finds it).
var allScripts []*script

// runMode is how a script is sent.
type runMode uint8

const (
	modeEvalsha runMode = iota // by its SHA-1; NOSCRIPT if the server forgot it
	modeEval                   // with its source
	modeFcall                  // as a function of the library
)

func (s *script) cmd(c rueidis.CommandClient, mode runMode, keys []string, args []string) rueidis.Completed {
	switch mode {
	case modeFcall:
		return c.B().Fcall().Function(s.fn).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	case modeEval:
		return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func isNoScript(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && e.IsNoScript()
}

// write sends one write command (built by mk for a mode, and again with
// the mode again returns if the server does not know the script or
// function). When wait is true and the backend has WithWaitReplicas, it
// runs WAIT on the same connection right after the command and returns,
// besides the command's result, an error matching ErrNotReplicated if too
// few replicas acknowledged. The first return is the command's result,
// whose error the caller maps.
func (b *Backend) write(ctx context.Context, wait bool, mk func(c rueidis.CommandClient, mode runMode) rueidis.Completed) (rueidis.RedisResult, error) {
	mode := b.mode()
	if !wait || b.cfg.waitN == 0 {
		res := b.client.Do(ctx, mk(b.client, mode))
		if m, ok := b.again(ctx, mode, res.Error()); ok {
			res = b.client.Do(ctx, mk(b.client, m))
		}
		return res, nil
	}
	var res, acked rueidis.RedisResult
	ran := false
	derr := b.client.Dedicated(func(c rueidis.DedicatedClient) error {
		ran = true
		waitCmd := func() rueidis.Completed {
			return c.B().Wait().Numreplicas(int64(b.cfg.waitN)).Timeout(b.cfg.waitTimeout.Milliseconds()).Build()
		}
		rs := c.DoMulti(ctx, mk(c, mode), waitCmd())
		if m, ok := b.again(ctx, mode, rs[0].Error()); ok {
			rs = c.DoMulti(ctx, mk(c, m), waitCmd())
		}
		res, acked = rs[0], rs[1]
		return nil
	})
	if !ran {
		if derr == nil {
			derr = errors.New("no dedicated connection")
		}
		return rueidis.NewErrorResult(derr), nil
	}
	if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
		return res, nil
	}
	n, err := acked.AsInt64()
	if err != nil {
		return res, fmt.Errorf("%w: WAIT failed: %w", ErrNotReplicated, err)
	}
	if n < int64(b.cfg.waitN) {
		return res, fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, n, b.cfg.waitN, b.cfg.waitTimeout)
	}
	return res, nil
}

// run executes s on keys with args through write.
func (b *Backend) run(ctx context.Context, wait bool, s *script, keys []string, args ...string) (rueidis.RedisResult, error) {
	return b.write(ctx, wait, func(c rueidis.CommandClient, mode runMode) rueidis.Completed {
		return s.cmd(c, mode, keys, args)
	})
}

// runMulti executes s once per keys[i] (the keys of one session or one
// index each, with args(i)) in one pipeline, without WAIT.
func (b *Backend) runMulti(ctx context.Context, s *script, keys [][]string, args func(i int) []string) []rueidis.RedisResult {
	mode := b.mode()
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.cmd(b.client, mode, k, args(i))
	}
	res := b.client.DoMulti(ctx, cmds...)
	for i, r := range res {
		if m, ok := b.again(ctx, mode, r.Error()); ok {
			res[i] = b.client.Do(ctx, s.cmd(b.client, m, keys[i], args(i)))
		}
	}
	return res
}
