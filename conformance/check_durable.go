package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// checkNotDurableApplied runs each kind of write once; wherever the
// backend answers with ErrNotDurable, the write must have been applied and
// the returned record must be what Load shows. Most backends never return
// it, and pass trivially; Redis with WithWaitReplicas does.
func checkNotDurableApplied(ctx context.Context, b backend.Backend) error {
	// applied checks a write's error: nil, or ErrNotDurable with the write
	// visible to Load (want; gone for a Delete).
	applied := func(what string, err error, want backend.Record, gone bool) error {
		if err == nil {
			return nil
		}
		if !errors.Is(err, backend.ErrNotDurable) {
			return failf("%s: %w", what, err)
		}
		for _, s := range sentinels {
			if s.err != backend.ErrNotDurable && errors.Is(err, s.err) {
				return failf("%s returned %q, which matches ErrNotDurable and also %s", what, err, s.name)
			}
		}
		if gone {
			return expectGone(ctx, b, want.Key, what+" reported ErrNotDurable")
		}
		return expectStored(ctx, b, want, what+" reported ErrNotDurable, so it was applied")
	}
	rec := newRecord(newKey("durable"), newOwner("durable"), []byte("v1"))
	got, err := b.Create(ctx, rec)
	want := rec
	want.Version = 1
	if err := applied("Create", err, want, false); err != nil {
		return err
	}
	if err := sameRecord(got, want); err != nil {
		return failf("Create returned a record unlike the one stored: %w", err)
	}
	got.Payload = []byte("v2")
	want = got
	want.Version = 2
	got, err = b.Update(ctx, got)
	if err := applied("Update", err, want, false); err != nil {
		return err
	}
	if err := sameRecord(got, want); err != nil {
		return failf("Update returned a record unlike the one stored: %w", err)
	}
	// Refused writes report their own sentinel, never ErrNotDurable.
	stale := want
	stale.Version = 1
	if _, err := b.Update(ctx, stale); errors.Is(err, backend.ErrNotDurable) || !errors.Is(err, backend.ErrConflict) {
		return failf("Update with a stale version = %v, want ErrConflict alone: it was not applied", err)
	}
	if _, err := b.Create(ctx, rec); errors.Is(err, backend.ErrNotDurable) || !errors.Is(err, backend.ErrExists) {
		return failf("Create of a live key = %v, want ErrExists alone: it was not applied", err)
	}
	if err := b.Touch(ctx, newKey("durable-missing"), time.Now().Add(time.Hour)); errors.Is(err, backend.ErrNotDurable) {
		return failf("Touch of a missing key = %v: nothing was applied", err)
	}
	if r, ok := b.(backend.Rekeyer); ok {
		moved := want
		moved.Key = newKey("durable-renewed")
		moved.Version = 1
		got, err := r.Rekey(ctx, want, moved.Key)
		if err := applied("Rekey", err, moved, false); err != nil {
			return err
		}
		if err == nil || errors.Is(err, backend.ErrNotDurable) {
			if err := sameRecord(got, moved); err != nil {
				return failf("Rekey returned a record unlike the one stored: %w", err)
			}
			if err := expectGone(ctx, b, want.Key, "the old key after Rekey"); err != nil {
				return err
			}
		}
		want = moved
	}
	return applied("Delete", b.Delete(ctx, want.Key), want, true)
}
