package redisbackend

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// The scripts run as the functions of one Lua library (Redis 7 functions,
// FCALL), loaded into every primary: a library defines the helpers of
// luaPrelude and luaIndex once, when it is loaded, where a script sent
// with EVALSHA defines them again on every call (about a quarter of the
// update script's server time, measured on Redis 7.0). The library's name
// carries the hash of its code, sessionkit_<16 hex digits>, and so does
// every function name, so instances of two releases use libraries of
// their own side by side; FUNCTION DELETE removes one that no instance
// uses any more.
//
// A server that lost the library (a restart without persistence, FUNCTION
// FLUSH, a new Cluster node) answers FCALL with "Function not found": the
// write then loads the library into every node and runs once more as
// EVAL. A user who may not load or call functions (ACL) makes the Backend
// fall back to EVALSHA for good.

type library struct {
	name, code string
}

// theLibrary is built on first use, once every script of the package
// exists; it gives each script its function name.
var theLibrary = sync.OnceValue(func() library {
	var body strings.Builder
	body.WriteString(luaPrelude)
	body.WriteString(luaIndex)
	for _, s := range allScripts {
		body.WriteString("\nredis.register_function('%FN%" + s.name + "', function(KEYS, ARGV)\n")
		body.WriteString(s.body)
		body.WriteString("\nend)\n")
	}
	sum := sha1.Sum([]byte(body.String()))
	name := "sessionkit_" + hex.EncodeToString(sum[:8])
	for _, s := range allScripts {
		s.fn = name + "_" + s.name
	}
	return library{name: name, code: "#!lua name=" + name + "\n" + strings.ReplaceAll(body.String(), "%FN%", name+"_")}
})

// mode is how scripts are sent now: as functions unless the server or the
// user refused them.
func (b *Backend) mode() runMode {
	if b.noFunctions.Load() {
		return modeEvalsha
	}
	theLibrary()
	return modeFcall
}

// again says whether, and how, to send a script once more after err, the
// error of sending it in mode: with its source after NOSCRIPT; after
// "Function not found", once the library is loaded again (into every
// node), with its source too, so that this call does not depend on the
// load; and after an ACL refusal of FCALL with its source, for good.
func (b *Backend) again(ctx context.Context, mode runMode, err error) (runMode, bool) {
	if err == nil {
		return mode, false
	}
	switch mode {
	case modeEvalsha:
		return modeEval, isNoScript(err)
	case modeFcall:
		switch {
		case isNoFunction(err):
			b.loadLibrary(ctx)
			return modeEval, true
		case isNoPerm(err) && !strings.Contains(err.Error(), "user executing the script"):
			b.noFunctions.Store(true)
			return modeEval, true
		}
	}
	return mode, false
}

// loadLibrary loads the library into every node (a replica refuses, and
// gets it from its primary). A user who may not load functions, or a
// server without them, turns them off for this Backend. It reports whether
// some node has the library now.
func (b *Backend) loadLibrary(ctx context.Context) bool {
	b.loading.Lock()
	defer b.loading.Unlock()
	lib := theLibrary()
	loaded := false
	for _, node := range b.nodes() {
		err := node.Do(ctx, node.B().FunctionLoad().FunctionCode(lib.code).Build()).Error()
		switch {
		case err == nil || strings.Contains(err.Error(), "already exists"):
			loaded = true
		case isNoPerm(err) || isUnknownCommand(err):
			b.noFunctions.Store(true)
			return false
		}
	}
	return loaded
}

// isNoFunction reports whether err is FCALL's reply for a function the
// server does not have.
func isNoFunction(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && strings.Contains(e.Error(), "Function not found")
}

// isUnknownCommand reports whether the server does not know the command
// (renamed or disabled, as some managed services do).
func isUnknownCommand(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && strings.Contains(e.Error(), "unknown command")
}
