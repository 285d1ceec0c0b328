package redisbackend

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of the options.
const (
	DefaultPrefix     = "sessionkit:"
	DefaultCacheTTL   = time.Minute
	DefaultOpTimeout  = 3 * time.Second
	DefaultWriteGuard = 5 * time.Second
)

// maxPrefix bounds WithPrefix; a key prefix is a namespace, not data.
const maxPrefix = 256

// An Option configures a Backend built by New, NewFromOption or
// NewFromURL. When an option is given more than once, the last one wins.
// New validates the options together and returns an error for a
// combination that cannot work.
type Option func(*config)

type config struct {
	prefix      string
	cache       bool
	cacheTTL    time.Duration
	opTimeout   time.Duration
	waitN       int
	waitTimeout time.Duration
	writeGuard  time.Duration
	// allowEviction skips New's check of maxmemory-policy.
	allowEviction bool
	// noExpiryEvents: Subscribe delivers no EventExpired.
	noExpiryEvents bool
}

func defaultConfig() config {
	return config{
		prefix:     DefaultPrefix,
		cache:      true,
		cacheTTL:   DefaultCacheTTL,
		opTimeout:  DefaultOpTimeout,
		writeGuard: DefaultWriteGuard,
	}
}

// configOf is the default configuration with opts applied.
func configOf(opts []Option) config {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

func (c config) validate() error {
	var errs []error
	if len(c.prefix) > maxPrefix {
		errs = append(errs, fmt.Errorf("prefix longer than %d bytes", maxPrefix))
	}
	if strings.ContainsAny(c.prefix, "{}") {
		errs = append(errs, fmt.Errorf("prefix %q contains { or }, which would change the Redis Cluster hash tag", c.prefix))
	}
	if c.cacheTTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("cache TTL %v below 1ms (use WithCache(false) to turn the cache off)", c.cacheTTL))
	}
	if c.opTimeout <= 0 {
		errs = append(errs, fmt.Errorf("operation timeout %v not positive", c.opTimeout))
	}
	if c.waitN < 0 {
		errs = append(errs, fmt.Errorf("WAIT replica count %d negative", c.waitN))
	}
	if c.waitN > 0 {
		if c.waitTimeout < time.Millisecond {
			errs = append(errs, fmt.Errorf("WAIT timeout %v below 1ms (WAIT 0 would block forever)", c.waitTimeout))
		} else if c.waitTimeout >= c.opTimeout/2 {
			// Calls without a deadline share a context that may have only
			// three quarters of the operation timeout left: leave the
			// write itself room too.
			errs = append(errs, fmt.Errorf("WAIT timeout %v not below half the operation timeout %v", c.waitTimeout, c.opTimeout))
		}
	}
	if c.writeGuard <= 0 {
		errs = append(errs, fmt.Errorf("write guard %v not positive", c.writeGuard))
	}
	if len(errs) > 0 {
		return fmt.Errorf("redisbackend: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// WithPrefix sets the string every Redis key of this backend starts with,
// so that several applications or environments can share one Redis. It must
// not contain '{' or '}' (they would change the Cluster hash tag) and is at
// most 256 bytes. The default is "sessionkit:".
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithCache turns server-assisted client-side caching of Load on or off.
// With the cache on, Load uses DoCache: a session read again on the same
// instance is served from process memory, and Redis pushes an invalidation
// when any instance changes it. With it off, every Load is a GET round
// trip. The default is true.
func WithCache(on bool) Option {
	return func(c *config) { c.cache = on }
}

// WithCacheTTL bounds how long Load may serve a record from the client-side
// cache without asking Redis. Invalidations normally remove a changed record
// long before; the TTL is the bound for when they do not arrive (a silently
// dead connection). A cached copy also never outlives the record's own
// deadlines, whatever the TTL. It must be at least 1ms. The default is one
// minute.
func WithCacheTTL(d time.Duration) Option {
	return func(c *config) { c.cacheTTL = d }
}

// WithOpTimeout sets the deadline applied to an operation whose context has
// none. rueidis retries reads until the context is done, so without a
// deadline a Load against an unreachable Redis would never return. It also
// bounds the write of a session that has an owner, whatever the context's
// deadline: the write must land while the owner index entry is claimed
// (owners.go). It must be positive and, with WithWaitReplicas, more than
// twice the WAIT timeout. The default is 3 seconds.
func WithOpTimeout(d time.Duration) Option {
	return func(c *config) { c.opTimeout = d }
}

// WithWaitReplicas makes writes wait until n replicas have acknowledged
// them, for at most timeout, by running WAIT n timeout on the same
// connection right after the write. A write that fewer replicas acknowledged
// in time returns the stored record with an error matching ErrNotReplicated
// and backend.ErrNotDurable; it has been applied on the primary, and is
// kept there.
//
// Redis replicates asynchronously. Without WAIT, a write acknowledged by the
// primary can be lost when the primary fails before its replicas received
// it and a replica is promoted (Sentinel or Cluster failover): a lost
// Delete, DeleteByOwner or Rekey brings a logged-out or retired session back
// to life on the new primary; a lost Create or Update loses a new session or
// its latest data. WAIT narrows that window to writes whose error the caller
// saw; it does not make Redis strongly consistent (a failover can still pick
// a replica that missed an acknowledged write if more than one replica
// exists and n is smaller than their number).
//
// It applies to Create, Update, Delete, DeleteByOwner and Rekey, and on a
// Cluster also to the owner index entries written before a session write.
// Touch does not wait: losing one only makes a session expire earlier. n = 0
// turns WAIT off; for n > 0 the timeout must be at least 1ms and shorter
// than half the operation timeout (WithOpTimeout), so that a write and its
// WAIT fit in one operation. The default is n = 0: no WAIT.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(c *config) { c.waitN, c.waitTimeout = n, timeout }
}

// WithWriteGuard sets how long after this Backend writes or deletes a
// session its Load double-checks cached copies of that session. It is what
// gives read-your-writes on one instance: rueidis can answer a cached read
// right after the client's own write with the old value, until the
// invalidation push arrives (about one round trip later, more under load).
// Within the window Load serves a cached copy only if it is at least as new
// as what this Backend wrote, and reads from Redis otherwise; the first
// such copy shows the push has arrived, and ends the window for that
// session. The window only has
// to outlast the push; longer costs a little memory per written key. It
// must be positive. The default is 5 seconds.
func WithWriteGuard(d time.Duration) Option {
	return func(c *config) { c.writeGuard = d }
}

// WithEvictionAllowed makes New accept a server whose maxmemory-policy is
// not noeviction. Under memory pressure such a server may evict owner
// indexes, and then DeleteByOwner ("log out everywhere") misses the live
// sessions they listed, until those expire; it may evict sessions too,
// which logs their users out. Use it only where maxmemory is never
// reached. Default: false (New refuses such a server with
// ErrEvictionPolicy).
func WithEvictionAllowed(allowed bool) Option {
	return func(c *config) { c.allowEviction = allowed }
}

// WithoutExpiryEvents makes Subscribe deliver no EventExpired: it neither
// reads nor changes the server's notify-keyspace-events, and does not
// listen to expired keys. Use it where the server refuses CONFIG (managed
// Redis) and notify-keyspace-events cannot include "Ex"; subscribers then
// learn of an expired session only by not finding it. Created, rekeyed and
// deleted events are delivered as without it. Default: off (Subscribe
// turns expired events on, or fails with ErrNoExpiryEvents).
func WithoutExpiryEvents() Option {
	return func(c *config) { c.noExpiryEvents = true }
}
