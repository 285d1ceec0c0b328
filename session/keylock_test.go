package session

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestKeyLocks: one holder per key at a time, other keys independent, a
// cancelled wait returns the context's error, and once every lock is
// released the table is empty (its locks went back to the pool).
func TestKeyLocks(t *testing.T) {
	var k keyLocks
	ctx := t.Context()
	a, err := k.lock(ctx, "a")
	if err != nil || !a.held {
		t.Fatalf("lock a = %+v, %v", a, err)
	}
	other, err := k.lock(ctx, "b")
	if err != nil || !other.held {
		t.Fatalf("lock b while a is held = %+v, %v", other, err)
	}
	other.release()

	got := make(chan heldLock)
	go func() {
		h, err := k.lock(ctx, "a")
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	select {
	case h := <-got:
		t.Fatalf("a second lock of a while the first is held: %+v", h)
	case <-time.After(20 * time.Millisecond): // the second must still be waiting
	}
	a.release()
	second := <-got
	if !second.held {
		t.Fatal("the waiter did not take the lock its holder released")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if h, err := k.lock(cctx, "a"); !errors.Is(err, context.Canceled) || h.l != nil {
		t.Fatalf("lock with a cancelled context while a is held = %+v, %v", h, err)
	}
	second.release()

	k.mu.Lock()
	n := len(k.m)
	k.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d locks left in the table after every release", n)
	}
	again, err := k.lock(ctx, "a")
	if err != nil || !again.held || len(again.l.sem) != 1 {
		t.Fatalf("lock of a after everything was released = %+v, %v", again, err)
	}
	again.release()
	heldLock{}.release() // the zero value holds nothing
}
