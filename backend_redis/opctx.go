package redisbackend

import (
	"context"
	"sync"
	"time"
)

// opCtx applies the default operation deadline to a context without one:
// rueidis retries reads until the context is done, so without a deadline a
// Load against an unreachable Redis would never return.
//
// A context.WithTimeout per call costs more than a cached Load (a timer and
// four allocations, more under a cancelable parent). So calls with
// context.Background or context.TODO, which carry neither values nor
// cancellation, share one timeout context, renewed when a quarter of the
// timeout has passed: their deadline lies between 3/4 of the operation
// timeout and all of it. Other contexts get a lazyCtx, which sets up its
// timer only if rueidis waits, and a cache hit never does.
func (b *Backend) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return b.opCtxAt(ctx, time.Now())
}

// opCtxAt is opCtx for a caller that has read the clock already.
func (b *Backend) opCtxAt(ctx context.Context, at time.Time) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, noop
	}
	if ctx == context.Background() || ctx == context.TODO() {
		now := mono(at)
		if s := b.shared.Load(); s != nil && now < s.renew {
			return s.ctx, noop
		}
		// The one it replaces is released by its timer at its deadline;
		// calls still using it are bounded by that deadline.
		sctx, cancel := context.WithTimeout(context.Background(), b.cfg.opTimeout)
		b.shared.Store(&sharedCtx{ctx: sctx, cancel: cancel, renew: now + int64(b.cfg.opTimeout/4)})
		return sctx, noop
	}
	c := &lazyCtx{parent: ctx, deadline: at.Add(b.cfg.opTimeout)}
	return c, c.release
}

func noop() {}

// sharedCtx is the timeout context shared by calls without a context of
// their own (see opCtx).
type sharedCtx struct {
	ctx    context.Context
	cancel context.CancelFunc // called by Close
	renew  int64              // mono nanoseconds
}

// lazyCtx is parent with a deadline, like context.WithDeadline, but the
// timer and the link to parent are made only when Done or Err is first
// called. Deadline and Value need neither.
type lazyCtx struct {
	parent   context.Context
	deadline time.Time
	once     sync.Once
	ctx      context.Context // set by once
	cancel   context.CancelFunc
}

func (c *lazyCtx) init() context.Context {
	c.once.Do(func() { c.ctx, c.cancel = context.WithDeadline(c.parent, c.deadline) })
	return c.ctx
}

// Deadline is the operation deadline, whatever the state of the timer.
func (c *lazyCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed when parent is done or the deadline passes.
func (c *lazyCtx) Done() <-chan struct{} { return c.init().Done() }

// Err is the error of the context behind Done.
func (c *lazyCtx) Err() error { return c.init().Err() }

// Value is parent's.
func (c *lazyCtx) Value(key any) any { return c.parent.Value(key) }

// release ends the context: it stops the timer if one was made, and makes
// a later Done or Err report context.Canceled without making one.
func (c *lazyCtx) release() {
	c.once.Do(func() { c.ctx = canceledCtx })
	if c.cancel != nil {
		c.cancel()
	}
}

var canceledCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
