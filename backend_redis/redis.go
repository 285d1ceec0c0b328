package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
)

// Compile-time checks of the capabilities.
var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.OwnerIndex  = (*Backend)(nil)
	_ backend.Rekeyer     = (*Backend)(nil)
	_ backend.FreshLoader = (*Backend)(nil)
)

// Errors of this package, besides the sentinels of package backend.
var (
	// ErrNotReplicated means a write was applied on the primary but fewer
	// replicas than WithWaitReplicas asks for acknowledged it in time. The
	// error also says how many did. The write is not undone, and the
	// error matches backend.ErrNotDurable too.
	ErrNotReplicated error = notReplicated{}
	// ErrCorruptRecord means a session key holds a value this package did
	// not write (or a newer format): a bad header, lengths beyond the
	// value, a different key, or a value that is not a string. It matches
	// backend.ErrCorrupt (and so session.ErrCorrupt) too.
	ErrCorruptRecord = fmt.Errorf("redisbackend: %w", backend.ErrCorrupt)
	// ErrClosed is returned by every method except Close after Close. It
	// matches backend.ErrUnavailable too.
	ErrClosed = errors.New("redisbackend: closed")
)

// notReplicated is the type of ErrNotReplicated.
type notReplicated struct{}

func (notReplicated) Error() string { return "redisbackend: not replicated" }

// Is makes ErrNotReplicated match backend.ErrNotDurable.
func (notReplicated) Is(target error) bool { return target == backend.ErrNotDurable }

// NewFromOption's client defaults.
const (
	ownedConnWriteTimeout = 2 * time.Second
	ownedCacheSize        = 16 << 20
)

// Backend is a backend.Backend on Redis through rueidis. It also implements
// backend.OwnerIndex, backend.Rekeyer, backend.FreshLoader and
// backend.Notifier (events.go). It is safe for concurrent use.
type Backend struct {
	client  rueidis.Client
	owned   bool // Close closes client
	cluster bool
	cfg     config
	guard   guard
	known   known
	front   *front // NewFromOption's clients: the near cache of Load
	shared  atomic.Pointer[sharedCtx]
	closed  atomic.Bool
	done    chan struct{} // closed by Close: subscriptions end
	// malformed counts undecodable messages on the event channels.
	malformed atomic.Int64
	// noFunctions: scripts go by EVALSHA, since the server or the user
	// refused the library (library.go); loading serialises its loads.
	noFunctions atomic.Bool
	loading     sync.Mutex
}

// New returns a Backend that stores sessions through client, which may be a
// standalone, Sentinel or Cluster client (see the package documentation).
// The caller owns the client: Close of the Backend does not close it. It
// returns an error if the options are invalid, and checks the server
// within the operation timeout: an error matching ErrPermission if the
// user may not run Lua scripts, and one matching ErrEvictionPolicy if a
// node's maxmemory-policy is not noeviction (unless WithEvictionAllowed).
// A server that cannot be reached yet, or that does not allow CONFIG GET,
// passes.
func New(client rueidis.Client, opts ...Option) (*Backend, error) {
	if client == nil {
		return nil, errors.New("redisbackend: nil client")
	}
	cfg := configOf(opts)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Backend{client: client, cfg: cfg, cluster: client.Mode() == rueidis.ClientModeCluster, done: make(chan struct{})}
	b.guard.window = cfg.writeGuard
	if err := b.preflight(); err != nil {
		return nil, err
	}
	return b, nil
}

// NewFromURL connects to the Redis that url names (see rueidis.ParseURL:
// redis://, rediss://, unix://, with ?master_set= for Sentinel and
// several addr= for a Cluster) and returns a Backend that owns the client,
// as NewFromOption does with the options the URL gives.
func NewFromURL(ctx context.Context, url string, opts ...Option) (*Backend, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbackend: %w", err)
	}
	return NewFromOption(ctx, opt, opts...)
}

// NewFromOption makes a rueidis client from opt (for what a URL cannot
// say: TLS configuration, credentials functions, dialers) and returns a
// Backend that owns it: Close closes it. Unless opt says otherwise it
// lowers the connection write timeout to 2s (so a dead connection, and
// with it the client-side cache, is dropped within seconds) and limits the
// client-side cache to 16 MiB per connection. If the server supports no
// client-side caching (no RESP3 or CLIENT TRACKING), it connects without
// and turns the cache off. With the cache on, the client's
// OnInvalidations (after opt's own, if it has one) feeds a near cache in
// front of rueidis's, which serves a warm Load with one map lookup (see
// the package documentation); a Backend from New has no near cache, since
// the caller made the client. It pings the server within ctx before
// returning.
func NewFromOption(ctx context.Context, opt rueidis.ClientOption, opts ...Option) (*Backend, error) {
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = ownedConnWriteTimeout
	}
	if opt.CacheSizeEachConn == 0 {
		opt.CacheSizeEachConn = ownedCacheSize
	}
	var f *front
	if cfg := configOf(opts); cfg.cache && !opt.DisableCache {
		f = newFront(opt.CacheSizeEachConn)
		ours, theirs := f.onInvalidations(cfg.prefix), opt.OnInvalidations
		opt.OnInvalidations = ours
		if theirs != nil {
			opt.OnInvalidations = func(keys []rueidis.RedisMessage) { theirs(keys); ours(keys) }
		}
	}
	client, err := rueidis.NewClient(opt)
	if errors.Is(err, rueidis.ErrNoCache) {
		opt.DisableCache, f = true, nil
		client, err = rueidis.NewClient(opt)
	}
	if err != nil {
		return nil, fmt.Errorf("redisbackend: connect: %w: %w", backend.ErrUnavailable, err)
	}
	if opt.DisableCache {
		opts = append(opts, WithCache(false))
	}
	b, err := New(client, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	b.owned = true
	b.front = f
	pctx, cancel := b.opCtx(ctx)
	defer cancel()
	if err := client.Do(pctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, b.fail(pctx, "connect", err)
	}
	return b, nil
}

// Close marks the Backend closed, ends its subscriptions (Subscribe) and,
// if NewFromOption or NewFromURL created it, closes the client. Calling it
// more than once is not an error.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.done)
	if s := b.shared.Load(); s != nil {
		s.cancel()
	}
	if b.owned {
		b.client.Close()
	}
	return nil
}

// enter checks what every method checks first: not closed, ctx not done.
func (b *Backend) enter(ctx context.Context, op string) error {
	if b.closed.Load() {
		return fmt.Errorf("redisbackend: %s: %w: %w", op, ErrClosed, backend.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisbackend: %s: %w", op, err)
	}
	return nil
}

// errEmptyKey is returned by the writes for an empty key; no record can
// have one, so the reads return backend.ErrNotFound instead.
func errEmptyKey(op string) error {
	return fmt.Errorf("redisbackend: %s: empty key", op)
}

func notFound(op string) error {
	return fmt.Errorf("redisbackend: %s: %w", op, backend.ErrNotFound)
}

// fail maps a client error: an ACL refusal (NOPERM) is ErrPermission; a
// record this package cannot read is ErrCorruptRecord; everything else (connection errors, timeouts, replies
// such as LOADING, READONLY or CLUSTERDOWN) is backend.ErrUnavailable with
// the cause, and the context's error when it is done.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		err = errors.New("no reply")
	}
	if isNoPerm(err) {
		return fmt.Errorf("redisbackend: %s: %w: %w", op, ErrPermission, err)
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if msg := re.Error(); strings.HasPrefix(msg, "SKCORRUPT") || strings.HasPrefix(msg, "WRONGTYPE") ||
			strings.HasPrefix(msg, "SKBROKENINDEX") {
			return fmt.Errorf("redisbackend: %s: %w: %w", op, ErrCorruptRecord, err)
		}
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return fmt.Errorf("redisbackend: %s: %w: %w", op, backend.ErrUnavailable, err)
}
