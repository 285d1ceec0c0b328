package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// Errors of New's checks of the server.
var (
	// ErrPermission means the Redis user lacks a permission the backend
	// needs: running Lua scripts (EVAL and EVALSHA, the @scripting
	// category), or a command one of its scripts runs. It is a
	// configuration error, not a transient one: it does not match
	// backend.ErrUnavailable.
	ErrPermission = errors.New("redisbackend: permission denied")
	// ErrEvictionPolicy means the server's maxmemory-policy lets Redis
	// evict keys under memory pressure, owner indexes included, which
	// would make DeleteByOwner ("log out everywhere") miss live sessions.
	// Set maxmemory-policy to noeviction, or accept the risk with
	// WithEvictionAllowed(true).
	ErrEvictionPolicy = errors.New("redisbackend: maxmemory-policy may evict owner indexes")
)

// preflight checks what the backend needs of the server, as far as the
// server lets it look, within the operation timeout: that the user may
// run scripts, and, unless WithEvictionAllowed, that no node can evict
// keys (maxmemory-policy noeviction). It also loads the library of
// scripts (library.go) into every node, or where the user may not, the
// scripts. A server it cannot reach, or that
// refuses CONFIG GET (managed Redis often does), is not an error here:
// the first operation reports the former, and the latter is documented.
func (b *Backend) preflight() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.opTimeout)
	defer cancel()
	err := b.client.Do(ctx, b.client.B().Eval().Script("return 1").Numkeys(0).Build()).Error()
	if isNoPerm(err) {
		return fmt.Errorf("redisbackend: the Redis user may not run Lua scripts (EVAL and EVALSHA, the @scripting category), which every write needs: %w: %w", ErrPermission, err)
	}
	if err != nil {
		return nil
	}
	if err := b.checkPublish(ctx); err != nil {
		return err
	}
	nodes := b.nodes()
	if !b.loadLibrary(ctx) && b.noFunctions.Load() {
		for _, node := range nodes {
			cmds := make(rueidis.Commands, len(allScripts))
			for i, s := range allScripts {
				cmds[i] = node.B().ScriptLoad().Script(s.src).Build()
			}
			node.DoMulti(ctx, cmds...) // best effort: EVALSHA falls back to EVAL
		}
	}
	if b.cfg.allowEviction {
		return nil
	}
	for addr, node := range nodes {
		m, err := node.Do(ctx, node.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
		if err != nil {
			continue // not allowed, or not reachable: nothing to learn
		}
		if p := m["maxmemory-policy"]; p != "" && p != "noeviction" {
			return fmt.Errorf("%w: %s has maxmemory-policy %q: under memory pressure Redis evicts keys, and "+
				"\"log out everywhere\" would miss the sessions of an evicted owner index; set it to noeviction "+
				"(CONFIG SET maxmemory-policy noeviction, and in redis.conf), or pass WithEvictionAllowed(true) "+
				"to accept the risk", ErrEvictionPolicy, addr, p)
		}
	}
	return nil
}

// checkPublish checks, where Redis can tell (7.0 and later:
// redis.acl_check_cmd), that the user may publish the events the write
// scripts publish: new ACL users may publish to no channel by default
// (acl-pubsub-default resetchannels), and then every Create and Delete
// would fail.
func (b *Backend) checkPublish(ctx context.Context) error {
	cmd, ch := "PUBLISH", b.cfg.prefix+"ev"
	if b.cluster {
		cmd, ch = "SPUBLISH", b.slotChannel(0)
	}
	const probe = `if not redis.acl_check_cmd then return 1 end
if redis.acl_check_cmd(ARGV[1], ARGV[2], 'x') then return 1 end
return 0`
	n, err := b.client.Do(ctx, b.client.B().Eval().Script(probe).Numkeys(0).Arg(cmd, ch).Build()).AsInt64()
	if err != nil || n == 1 {
		return nil // cannot tell: the first write will
	}
	return fmt.Errorf("redisbackend: the Redis user may not %s to %s, and every write publishes its event there "+
		"(Subscribe): grant the channels with ACL SETUSER <user> &%sev* (Redis 7 gives new users no channels, "+
		"acl-pubsub-default resetchannels): %w", cmd, ch, b.cfg.prefix, ErrPermission)
}

// nodes returns a client per node: every primary of a Cluster, else the
// one server.
func (b *Backend) nodes() map[string]rueidis.Client {
	if b.cluster {
		if ns := b.client.Nodes(); len(ns) > 0 {
			return ns
		}
	}
	return map[string]rueidis.Client{"the server": b.client}
}

// isNoPerm reports whether err is an ACL refusal: a NOPERM reply, or the
// error of a script that ran a command the user may not run, or touched a
// key or channel the user may not (Redis 7.0: "The user executing the
// script can't run this command", "... can't publish to the channel
// mentioned in the command").
func isNoPerm(err error) bool {
	if err == nil {
		return false
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		return strings.Contains(msg, "NOPERM") || strings.Contains(msg, "user executing the script can't")
	}
	return false
}
