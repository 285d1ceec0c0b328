package session

import (
	"context"
	"sync"
	"time"
)

// keyLocks serialises the Updates of one session within one Manager, so
// that goroutines of one process take turns instead of failing each other's
// compare-and-swap: retries are left to writers on other instances.
//
// The lock is an optimisation, never needed for correctness (Update's
// compare-and-swap is): a caller that waits longer than lockWait goes ahead
// without it, so an Update nested in another Update's fn on the same
// session is slow but cannot deadlock.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sem  chan struct{} // a one-slot semaphore: waiting can be cancelled
	refs int
}

const lockWait = time.Second

// lock takes the lock of key, or gives up waiting after lockWait and
// returns a no-op, or returns ctx's error. The returned function releases
// what was taken.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{sem: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; k.release(key, l) }, nil
	default:
	}
	t := time.NewTimer(lockWait)
	defer t.Stop()
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; k.release(key, l) }, nil
	case <-t.C:
		k.release(key, l)
		return func() {}, nil
	case <-ctx.Done():
		k.release(key, l)
		return nil, ctx.Err()
	}
}

func (k *keyLocks) release(key string, l *keyLock) {
	k.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
