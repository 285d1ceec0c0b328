package redisbackend

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/rueidis"
)

// Every script touches exactly the keys in KEYS, and every KEYS list is one
// session key (or one owner index key), except rekeyScript, which is used
// only on clients that are not Cluster clients. Scripts work on the record
// layout described in record.go (Lua strings are 1-based: the version is
// bytes 2..9, the absolute deadline 26..33, the owner field starts at 34).
//
// Scripts that change a record take the application's clock, now in unix
// microseconds, and treat a record at or past one of its deadlines by that
// clock as not found, as Load does: Redis expires keys by its own clock,
// which may lag the application's, and a write must not bring back a
// session that Load already calls expired.
//
// Replies: 0 = not found, 2 = version conflict, 3 = the owner index must be
// written first, 4 = new key exists; success is 1 or an array starting
// with 1. A record with a bad header is an error reply starting with
// SKCORRUPT.
const luaPrelude = `
local function num(s, i)
  local n = 0
  for j = i, i + 7 do n = n * 256 + string.byte(s, j) end
  return n
end
-- live returns the record at key if it is live at now, else nil and the
-- reply for a missing, expired or unreadable record.
local function live(key, now)
  local v = redis.call('GET', key)
  if not v then return nil, 0 end
  if #v < 41 or string.byte(v, 1) ~= 1 then
    return nil, redis.error_reply('SKCORRUPT bad record header')
  end
  now = tonumber(now)
  if num(v, 18) <= now or num(v, 26) <= now then return nil, 0 end
  return v
end
`

// updateScript: KEYS[1] session; ARGV[1] expected version (8 bytes),
// ARGV[2] new record (its created-at is replaced by the stored one),
// ARGV[3] PXAT, ARGV[4] new owner field, ARGV[5] new absolute deadline
// (micros), ARGV[6] "1" if the new owner's index already has the session,
// ARGV[7] now.
// Without ARGV[6], a change of owner or a later absolute deadline returns 3
// so that the caller adds the index entry first. Success: {1, created-at
// bytes}.
var updateScript = newScript(luaPrelude + `
local v, reply = live(KEYS[1], ARGV[7])
if not v then return reply end
if string.sub(v, 2, 9) ~= ARGV[1] then return 2 end
if ARGV[6] ~= '1' and (string.sub(v, 34, 33 + #ARGV[4]) ~= ARGV[4] or tonumber(ARGV[5]) > num(v, 26)) then
  return 3
end
redis.call('SET', KEYS[1], string.sub(ARGV[2], 1, 9) .. string.sub(v, 10, 17) .. string.sub(ARGV[2], 18), 'PXAT', ARGV[3])
return {1, string.sub(v, 10, 17)}
`)

// touchScript: KEYS[1] session; ARGV[1] new idle deadline (micros), ARGV[2]
// now. It
// clamps the deadline to the absolute one, rewrites it in place and moves
// the key's expiry; the version stays. Success: {version bytes, created-at
// bytes, stored idle deadline}.
var touchScript = newScript(luaPrelude + `
local v, reply = live(KEYS[1], ARGV[2])
if not v then return reply end
local idle = math.min(tonumber(ARGV[1]), num(v, 26))
local b, x = {}, idle
for j = 8, 1, -1 do
  b[j] = string.char(x % 256)
  x = math.floor(x / 256)
end
redis.call('SETRANGE', KEYS[1], 17, table.concat(b))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.max(math.floor(idle / 1000) - 1, 1)))
return {string.sub(v, 2, 9), string.sub(v, 10, 17), idle}
`)

// deleteOwnedScript: KEYS[1] session; ARGV[1] owner field. It deletes the
// session only if it still belongs to that owner: 1 deleted, 0 gone, -1
// another owner (or a record it cannot read).
var deleteOwnedScript = newScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if #v < 41 or string.byte(v, 1) ~= 1 or string.sub(v, 34, 33 + #ARGV[1]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`)

// deleteVersionScript: KEYS[1] session; ARGV[1] expected version, ARGV[2]
// now. The
// second half of a Rekey on a Cluster: delete the old record if its version
// still matches. Success: 1.
var deleteVersionScript = newScript(luaPrelude + `
local v, reply = live(KEYS[1], ARGV[2])
if not v then return reply end
if string.sub(v, 2, 9) ~= ARGV[1] then return 2 end
redis.call('DEL', KEYS[1])
return 1
`)

// rekeyScript: KEYS[1] old session, KEYS[2] new session; ARGV[1] expected
// version, ARGV[2] new record, ARGV[3] its PXAT, ARGV[4] now. Atomic Rekey for clients
// that are not Cluster clients (both keys on one server). Success: 1.
var rekeyScript = newScript(luaPrelude + `
local v, reply = live(KEYS[1], ARGV[4])
if not v then return reply end
if string.sub(v, 2, 9) ~= ARGV[1] then return 2 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 4 end
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
`)

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// server does not know it yet. Unlike rueidis.Lua it can run on a
// DedicatedClient, which WAIT needs.
type script struct {
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

func (s *script) cmd(c rueidis.CommandClient, eval bool, keys []string, args []string) rueidis.Completed {
	if eval {
		return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func isNoScript(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && e.IsNoScript()
}

// write sends one write command (built by mk, which is called again with
// eval = true if EVALSHA found no script). When wait is true and the
// backend has WithWaitReplicas, it runs WAIT on the same connection right
// after the command and returns, besides the command's result, an error
// matching ErrNotReplicated if too few replicas acknowledged. The first
// return is the command's result, whose error the caller maps.
func (b *Backend) write(ctx context.Context, wait bool, mk func(c rueidis.CommandClient, eval bool) rueidis.Completed) (rueidis.RedisResult, error) {
	if !wait || b.cfg.waitN == 0 {
		res := b.client.Do(ctx, mk(b.client, false))
		if isNoScript(res.Error()) {
			res = b.client.Do(ctx, mk(b.client, true))
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
		rs := c.DoMulti(ctx, mk(c, false), waitCmd())
		if isNoScript(rs[0].Error()) {
			rs = c.DoMulti(ctx, mk(c, true), waitCmd())
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
	return b.write(ctx, wait, func(c rueidis.CommandClient, eval bool) rueidis.Completed {
		return s.cmd(c, eval, keys, args)
	})
}

// runMulti executes s once per key (one session or index key each, with
// args(i)) in one pipeline, without WAIT.
func (b *Backend) runMulti(ctx context.Context, s *script, keys []string, args func(i int) []string) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.cmd(b.client, false, []string{k}, args(i))
	}
	res := b.client.DoMulti(ctx, cmds...)
	for i, r := range res {
		if isNoScript(r.Error()) {
			res[i] = b.client.Do(ctx, s.cmd(b.client, true, []string{keys[i]}, args(i)))
		}
	}
	return res
}
