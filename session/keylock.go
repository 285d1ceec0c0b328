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
	refs int           // holders and waiters; at 0 it leaves the map for the pool
}

// freeLocks keeps the keyLocks no key holds, so that an uncontended lock
// allocates nothing: a lock leaves the map, and enters the pool, only when
// no holder or waiter refers to it, and its semaphore is empty then.
var freeLocks = sync.Pool{New: func() any { return &keyLock{sem: make(chan struct{}, 1)} }}

const lockWait = time.Second

// heldLock is what lock took; its release gives it back. The zero value
// holds nothing.
type heldLock struct {
	k    *keyLocks
	key  string
	l    *keyLock
	held bool // the semaphore's slot is ours
}

// release gives back what lock took.
func (h heldLock) release() {
	if h.l == nil {
		return
	}
	if h.held {
		<-h.l.sem
	}
	h.k.release(h.key, h.l)
}

// lock takes the lock of key, or gives up waiting after lockWait and
// returns a lock that holds nothing, or returns ctx's error. The caller
// releases what it returns.
func (k *keyLocks) lock(ctx context.Context, key string) (heldLock, error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = freeLocks.Get().(*keyLock)
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
		return heldLock{k: k, key: key, l: l, held: true}, nil
	default:
	}
	t := time.NewTimer(lockWait)
	defer t.Stop()
	select {
	case l.sem <- struct{}{}:
		return heldLock{k: k, key: key, l: l, held: true}, nil
	case <-t.C:
		return heldLock{k: k, key: key, l: l}, nil
	case <-ctx.Done():
		k.release(key, l)
		return heldLock{}, ctx.Err()
	}
}

func (k *keyLocks) release(key string, l *keyLock) {
	k.mu.Lock()
	l.refs--
	done := l.refs == 0
	if done {
		delete(k.m, key)
	}
	k.mu.Unlock()
	if done {
		freeLocks.Put(l)
	}
}
