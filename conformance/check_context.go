package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks that a context already done stops every call. What is
// required: the call returns an error that matches the context's error
// with errors.Is, and no sentinel that would mislead a caller (a cancelled
// Load that reads as ErrNotFound would log a user out). Whether a write
// with a done context was applied is not checked: like ErrUnavailable, a
// context error leaves that open.

func checkContextCanceled(ctx context.Context, b backend.Backend) error {
	done, cancel := context.WithCancel(ctx)
	cancel()
	return contextErrors(ctx, done, b, context.Canceled)
}

func checkContextDeadline(ctx context.Context, b backend.Backend) error {
	done, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	return contextErrors(ctx, done, b, context.DeadlineExceeded)
}

// contextErrors calls every method of b with done and checks that each
// returns an error matching want.
func contextErrors(ctx, done context.Context, b backend.Backend, want error) error {
	owner := newOwner("context")
	rec, err := create(ctx, b, newRecord(newKey("context"), owner, []byte("x")))
	if err != nil {
		return err
	}
	type call struct {
		name string
		call func() error
	}
	calls := []call{
		{"Create", func() error {
			_, err := b.Create(done, newRecord(newKey("context-new"), "", []byte("x")))
			return err
		}},
		{"Load", func() error { _, err := b.Load(done, rec.Key); return err }},
		{"Update", func() error { _, err := b.Update(done, rec); return err }},
		{"Touch", func() error { return b.Touch(done, rec.Key, time.Now().Add(time.Hour)) }},
		{"Delete", func() error { return b.Delete(done, rec.Key) }},
	}
	if idx, ok := b.(backend.OwnerIndex); ok {
		calls = append(calls,
			call{"ListByOwner", func() error { _, err := idx.ListByOwner(done, owner); return err }},
			call{"DeleteByOwner", func() error { _, err := idx.DeleteByOwner(done, owner); return err }})
	}
	if r, ok := b.(backend.Rekeyer); ok {
		calls = append(calls, call{"Rekey", func() error { _, err := r.Rekey(done, rec, newKey("context-rekey")); return err }})
	}
	if f, ok := b.(backend.FreshLoader); ok {
		calls = append(calls, call{"LoadFresh", func() error { _, err := f.LoadFresh(done, rec.Key); return err }})
	}
	if n, ok := b.(backend.Notifier); ok {
		calls = append(calls, call{"Subscribe", func() error { return n.Subscribe(done, func(backend.Event) {}) }})
	}
	for _, c := range calls {
		err := c.call()
		if err == nil {
			return failf("%s with a context already done (%v) returned no error, want one matching %v", c.name, want, want)
		}
		if !errors.Is(err, want) {
			return failf("%s with a context already done: got %q, want an error matching %v with errors.Is", c.name, err, want)
		}
		for _, s := range sentinels[:3] { // NotFound, Exists, Conflict
			if errors.Is(err, s.err) {
				return failf("%s with a context already done: %q also matches %s, which would mislead a caller", c.name, err, s.name)
			}
		}
	}
	return nil
}
