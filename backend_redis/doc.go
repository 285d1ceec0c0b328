// Package redisbackend is a session store on Redis through rueidis, with
// server-assisted client-side caching: a backend.Backend for a fleet of
// instances that share sessions. Import it with its name written out:
//
//	import redisbackend "github.com/sessionkit/sessionkit/backend_redis"
//
// It needs Redis 7.0 or later (it uses SET PXAT, GETDEL, PEXPIRETIME and
// RESP3 client tracking).
//
// # Connecting
//
// New takes a rueidis.Client that the caller creates and owns (Close of the
// Backend leaves it open), so every deployment rueidis supports works,
// including TLS and ACL users. A standalone server:
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{
//		InitAddress:       []string{"127.0.0.1:6379"},
//		ConnWriteTimeout:  2 * time.Second,
//		CacheSizeEachConn: 16 << 20,
//	})
//	b, err := redisbackend.New(client)
//	m, err := session.NewManager[Cart](b)
//
// Sentinel: the addresses are the sentinels', and the client follows
// failovers of the master set:
//
//	rueidis.ClientOption{
//		InitAddress: []string{"10.0.0.1:26379", "10.0.0.2:26379"},
//		Sentinel:    rueidis.SentinelOption{MasterSet: "mymaster"},
//	}
//
// Cluster: InitAddress names any node (or several); the client discovers
// the others and routes each key to its slot.
//
//	rueidis.ClientOption{InitAddress: []string{"10.0.0.1:7000"}}
//
// NewFromOption takes such a rueidis.ClientOption instead, makes the
// client itself with defaults suited to a session store, and owns it;
// NewFromURL does the same from a URL (rueidis.ParseURL). Their Backends
// also keep a near cache in front of rueidis's (see Client-side caching),
// which needs the client's OnInvalidations: prefer them to New where no
// one else has to share the client.
//
// Set ConnWriteTimeout to a few seconds on clients you create: a silently
// dead connection keeps serving cached reads until a ping on it fails,
// which is about 11 s by default. Set CacheSizeEachConn: the default
// is 128 MiB per connection. Do not use NOLOOP tracking or send reads to
// replicas.
//
// # Key layout
//
// A session is one Redis string at
//
//	<prefix>s:{<first 8 characters of h>}<the other 35>
//
// where h, 43 characters, is the backend key itself when it already is a
// base64url SHA-256 (session.Manager's storage keys are: base64url(SHA-256
// of the session ID)), and otherwise '~' followed by 42 characters of
// base64url(SHA-256(key)). So every Redis key is short and well formed
// whatever the backend key holds (binary bytes, braces, newlines,
// kilobytes), the two kinds of h can never collide ('~' is not base64url),
// and the Manager's keys are not hashed twice on every Load. The braces
// make 8 random characters the Cluster hash tag: sessions spread over all
// slots, and the client's slot computation, which runs on every command,
// cached reads included, reads 8 bytes instead of 43. The value holds a
// binary header (format, version, created-at, idle and absolute deadlines in
// unix microseconds, owner) and the payload, so that one GET returns
// everything a Load needs; the Redis key names the session (as it is, or
// through its name key, below), so the record does not repeat it. The key
// expires in Redis at the earlier deadline (PXAT), so Redis drops dead
// sessions itself. The session ID never reaches Redis; a dump shows the
// backend key, which is a one-way hash of it.
//
// A session whose h is a hash ('~': a backend key not of the Manager's
// form) also has a name key, <prefix>n:{<same 8>}<same 35> in the same
// slot, which holds the backend key until a minute after the absolute
// deadline, so that Subscribe can report its expiry by key: Redis forgets
// an expired value. The writes keep it (Create, Update, Rekey, Delete and
// DeleteByOwner, in their scripts); the Manager's sessions have none.
//
// Events (Subscribe) travel on <prefix>ev (PUBLISH) off a Cluster, and on
// a Cluster on <prefix>ev:{<tag>}, one shard channel per slot (SPUBLISH),
// published by the script of the write in the slot of its session key.
// A Cluster's Rekey publishes on both its keys' slots (an internal
// pending message on the new key's, the EventRekeyed on the old key's),
// by which a subscription delivers each key's events in write order
// without comparing clocks (Backend.Subscribe has the details).
// So every Create and Delete is a script, also for anonymous sessions,
// which were a plain SET NX and DEL before: the round trips are the same,
// the server's time per Create and Delete pair grows from about 2 to
// about 20 µs (INFO commandstats, Redis 7.0.15, loaded machine), and a
// PUBLISH to a channel nobody listens to costs next to nothing of it.
//
// The sessions of an owner are indexed in a sorted set at
// <prefix>o:{<SHA-256 of owner>} whose members are the h of the sessions,
// scored by their absolute deadlines, and it is kept a superset of them.
// Off a Cluster the index and the sessions are on one server: the script
// that gives a session its owner adds the entry, and an entry is removed
// only by a script that reads the session in the same step and finds it
// stale. On a Cluster the index lies in another slot than its sessions and
// has a hash of claims beside it, at <prefix>o:{<SHA-256 of owner>}w: a
// writer claims the entry before a session gets the owner and releases the
// claim after the write, and a reader prunes an entry only when a read of
// the session proved it stale and no writer claimed it since the reader's
// snapshot. So no live session is ever missing from its owner's index, and
// DeleteByOwner, which repeats until it finds nothing live and nothing in
// flight, ends every session of the owner (owners.go has the argument).
// The session key is the only authority. No keyspace notifications, no
// background jobs. The prefix is set with WithPrefix.
//
// Create, Update, Touch, Delete and the owner operations are single
// commands or Lua scripts over one key, so they are atomic and need no
// WATCH retries; Update is a compare-and-swap on the version and never
// recreates a missing record. Rekey is one script on standalone and
// Sentinel, and two steps on a Cluster (see Backend.Rekey).
//
// The scripts are the functions of one Lua library (Redis 7 functions),
// which New loads into every primary and sends with FCALL: a function
// costs the server about a quarter less than the same script by EVALSHA,
// which defines its helpers again on every call. The library is named
// sessionkit_<hash of its code>, so instances of two releases each use
// their own (FUNCTION LIST shows them; FUNCTION DELETE one no instance
// uses). A server that lost it (a restart without persistence, FUNCTION
// FLUSH, a new Cluster node) gets it again from the next write. Where the
// ACL user may not run FCALL or FUNCTION LOAD, the Backend sends the same
// scripts with EVALSHA instead; the user needs the @scripting category in
// any case.
//
// # Client-side caching
//
// With the cache on (WithCache, the default), Load reads through rueidis
// DoCache: a session read again on the same instance costs no round trip,
// and Redis pushes an invalidation to every instance that cached a key when
// any instance changes it. In plain words:
//
//   - A change made on one instance is seen by Load on another after its
//     invalidation push arrives, about one network round trip after the
//     write. Until then that instance may serve the previous version. Use
//     LoadFresh (the Manager's fresh read) where that matters, for example
//     before an authorization decision.
//   - A Backend always sees its own writes (so create one per process and
//     share it between goroutines). rueidis alone can answer a
//     cached read right after the client's own write with the old value;
//     so for a few seconds after this Backend writes or deletes a session
//     (WithWriteGuard) its Load serves a cached copy of that session only
//     if it is what this Backend wrote or newer, and reads Redis
//     otherwise. The first such copy, with no write in flight, ends the
//     check for that session: the invalidation has arrived. A write that
//     fails ends its check too; one whose outcome is unknown (a timeout)
//     keeps it for one window.
//   - Only sessions this Backend has seen stored are read through the
//     cache. A random, well-formed ID is read with a plain GET, which Redis
//     does not track: anonymous traffic with made-up cookies grows neither
//     Redis's tracking table nor the client cache.
//   - When a connection drops, rueidis drops the cache of that connection,
//     so a disconnected instance cannot serve stale sessions from it. A
//     server that stops answering without closing the connection (a
//     frozen process, a dropped network path) is noticed by rueidis's
//     periodic PING, within about twice ConnWriteTimeout: with Redis
//     stopped by SIGSTOP and NewFromOption's 2 s, cached reads went on for
//     3.96 s (rueidis v1.0.79, Redis 7.0.15). Meanwhile a logout on
//     another instance is not seen there. Set a lower ConnWriteTimeout
//     (in the URL: ?write_timeout=500ms) for a tighter bound.
//   - A cached copy never lives longer than the cache TTL (WithCacheTTL)
//     and is never served past the record's deadlines: Load checks the
//     deadlines it decodes against the clock, and Redis invalidates the
//     copy when it expires the key. A destroyed session therefore
//     stops being served everywhere within one invalidation push, and at
//     the latest within the cache TTL if invalidations are lost.
//   - A Backend from NewFromOption or NewFromURL keeps a near cache in
//     front of rueidis's: the last reply DoCache gave for each session,
//     removed by the same invalidations (through the client's
//     OnInvalidations), emptied when any connection drops, and expiring
//     with rueidis's copy. It changes none of the above; a warm Load then
//     costs a map lookup instead of rueidis's command building and LRU
//     (Manager.Get over it costs about what it costs over the memory
//     backend). New cannot install the callback on a client the caller
//     made, and reads through DoCache.
//
// Any write to a session key invalidates every instance's cached copy,
// Touch included (it rewrites the idle deadline). A sliding expiry refreshed
// on every request would empty the cache of that session on every request.
// The Manager therefore touches a session only when a configurable part of
// its idle window has passed (the touch interval): a longer interval means
// more cache hits and fewer writes, at the price of a session that may end
// up to one touch interval before a strictly sliding deadline would.
//
// # Durability
//
// Redis replicates asynchronously: a write the primary acknowledged can be
// lost when the primary fails before its replicas received it. For sessions
// the dangerous loss is a deletion: a lost Delete, DeleteByOwner or Rekey
// brings a logged-out or retired session back after a failover.
// WithWaitReplicas makes writes run WAIT on the same connection and report
// ErrNotReplicated when too few replicas acknowledged them in time.
//
// Persistence is the same question for a restart. With RDB snapshots only
// (Redis's default configuration, save 3600 1 300 100 60 10000), a kill -9
// after an acknowledged DestroyByOwner brought 20 of 20 logged-out
// sessions back when the server restarted from its last snapshot; with
// the append-only file (appendonly yes, appendfsync everysec) none came
// back. Run session servers with appendonly yes, or without persistence
// at all (then a restart logs everybody out, which is safe), never with
// snapshots alone. Under Sentinel, a server without persistence must come
// back as a replica, never as an empty primary: clients that reach it
// before Sentinel's switch would find no sessions there (the chaos run in
// the benchmarks module shows it with -restart-empty-master).
//
// Eviction breaks "log out everywhere": a server that evicts keys under
// memory pressure may evict an owner index, and DeleteByOwner then misses
// the live sessions it listed. New refuses a server whose
// maxmemory-policy is not noeviction (ErrEvictionPolicy), unless
// WithEvictionAllowed(true) accepts the risk; where CONFIG GET is not
// allowed (managed Redis) it cannot tell, so check the policy yourself.
//
// # Capabilities
//
// A *Backend implements backend.Backend, backend.OwnerIndex (ListByOwner,
// DeleteByOwner), backend.Rekeyer (Rekey), backend.FreshLoader
// (LoadFresh) and backend.Notifier (Subscribe: events published by the
// write scripts, expiry from Redis's keyspace notifications, which
// Subscribe turns on or reports as ErrNoExpiryEvents; see Subscribe).
//
// # Errors
//
// Conditions are reported with the sentinel errors of package backend,
// wrapped. An unreachable or failing server, a timeout, and replies such as
// LOADING or READONLY during a failover give an error matching
// backend.ErrUnavailable that also wraps the client's error; when the
// context is done it wraps the context's error too. An operation whose
// context has no deadline gets one (WithOpTimeout), because rueidis retries
// reads until the context ends; its timer is made only if the call has to
// wait for Redis, so a cache hit costs none. rueidis notices a canceled
// context late when it reads an idle connection synchronously: such a call
// ends at its deadline or the client's ConnWriteTimeout, whichever comes
// first. A session key holding a value this package
// did not write gives ErrCorruptRecord. ErrNotReplicated reports a write the
// replicas did not acknowledge. After Close, methods return ErrClosed.
//
// # Clocks
//
// Whether a session is live is judged by the application's clock
// (time.Now in the process), not by Redis's: Load checks the deadlines it
// decodes against it, and the scripts of Update, Touch and Rekey get the
// application's time as an argument. Redis's own expiry, the key's PXAT,
// only removes dead keys. So a Redis clock that lags cannot revive an
// expired session through a write, and one that runs ahead ends sessions
// early by as much.
package redisbackend
