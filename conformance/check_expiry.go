package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks that wait on real deadlines, a few hundred milliseconds away.
// They run in parallel with each other. A liveness check that a slow
// machine made too late to decide is not a failure (see expectLive).

// shortRecord returns a record whose idle deadline is idle from now and
// whose absolute deadline is abs from now.
func shortRecord(tag, owner string, idle, abs time.Duration) backend.Record {
	now := time.Now()
	return backend.Record{
		Key:              newKey(tag),
		Owner:            owner,
		Payload:          []byte(tag),
		CreatedAt:        now,
		IdleDeadline:     now.Add(idle),
		AbsoluteDeadline: now.Add(abs),
	}
}

func checkExpiryIdle(ctx context.Context, b backend.Backend) error {
	rec := shortRecord("expiry-idle", "", 250*time.Millisecond, time.Hour)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	if _, err := expectLive(ctx, b, rec.Key, rec.IdleDeadline, "before the idle deadline"); err != nil && !errors.Is(err, errTooLate) {
		return err
	}
	return awaitGone(ctx, b, rec.Key, rec.IdleDeadline, "at the idle deadline")
}

func checkExpiryAbsolute(ctx context.Context, b backend.Backend) error {
	const idle = 150 * time.Millisecond
	rec := shortRecord("expiry-absolute", "", idle, 500*time.Millisecond)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	abs := rec.AbsoluteDeadline
	alive := rec.IdleDeadline // the record must live until here
	// Keep the session active, as a user clicking every 30 ms would: Touch
	// and Load. It must live past its first idle deadline, and end at its
	// absolute deadline all the same.
	for {
		start := time.Now()
		// As the Manager does, the caller clamps the idle deadline.
		next := start.Add(idle)
		if next.After(abs) {
			next = abs
		}
		err := b.Touch(ctx, rec.Key, next)
		if errors.Is(err, backend.ErrNotFound) {
			if end := time.Now(); end.Before(alive.Add(-clockSkew)) {
				return failf("Touch of a record kept active returned not found %v before its deadline %v: it expired early", alive.Sub(end).Round(time.Millisecond), alive.Round(0))
			}
			break
		}
		if err != nil {
			return failf("Touch of an active record: %w", err)
		}
		if late := start.Sub(abs); late > clockSkew {
			return failf("Touch that began %v after AbsoluteDeadline succeeded: an active session must still end at its absolute deadline", late.Round(time.Millisecond))
		}
		alive = next
		got, err := expectLive(ctx, b, rec.Key, alive, "a record kept active by Touch")
		if errors.Is(err, errTooLate) {
			break
		}
		if err != nil {
			return err
		}
		if got.IdleDeadline.After(got.AbsoluteDeadline.Add(precision)) {
			return failf("after Touch, Load has IdleDeadline %v after AbsoluteDeadline %v", got.IdleDeadline.Round(0), got.AbsoluteDeadline.Round(0))
		}
		if err := sleep(ctx, 30*time.Millisecond); err != nil {
			return err
		}
	}
	// alive is abs unless a slow machine let the record idle out first.
	return awaitGone(ctx, b, rec.Key, alive, "a record kept active, at its absolute deadline")
}

func checkExpiryNoResurrection(ctx context.Context, b backend.Backend) error {
	rec := shortRecord("expiry-resurrect", "", 150*time.Millisecond, time.Hour)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	if err := awaitGone(ctx, b, rec.Key, rec.IdleDeadline, "at the idle deadline"); err != nil {
		return err
	}
	err := b.Touch(ctx, rec.Key, time.Now().Add(time.Hour))
	if err := wantErr(err, backend.ErrNotFound, "Touch of an expired record"); err != nil {
		return err
	}
	upd := rec
	upd.Version = 1
	upd.IdleDeadline = time.Now().Add(time.Hour)
	_, err = b.Update(ctx, upd)
	if err := wantErr(err, backend.ErrNotFound, "Update of an expired record with its current version"); err != nil {
		return err
	}
	if r, ok := b.(backend.Rekeyer); ok {
		target := newKey("expiry-resurrect-rekey")
		_, err := r.Rekey(ctx, upd, target)
		if err := wantErr(err, backend.ErrNotFound, "Rekey of an expired record"); err != nil {
			return err
		}
		if err := expectGone(ctx, b, target, "after Rekey of an expired record"); err != nil {
			return err
		}
	}
	return expectGone(ctx, b, rec.Key, "after Touch and Update of an expired record (it must stay gone)")
}

func checkExpiryCreateAfter(ctx context.Context, b backend.Backend) error {
	rec := shortRecord("expiry-create", newOwner("before"), 150*time.Millisecond, time.Hour)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	if err := awaitGone(ctx, b, rec.Key, rec.IdleDeadline, "at the idle deadline"); err != nil {
		return err
	}
	again := newRecord(rec.Key, newOwner("after"), []byte("after"))
	again.Version = 3
	if _, err := create(ctx, b, again); err != nil {
		return failf("Create of a key whose record expired (only a live record makes ErrExists): %w", err)
	}
	again.Version = 1
	return expectStored(ctx, b, again, "after Create over an expired record")
}

func checkTouchExtends(ctx context.Context, b backend.Backend) error {
	rec := shortRecord("touch-extends", "", 200*time.Millisecond, time.Hour)
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	extended := time.Now().Add(700 * time.Millisecond)
	if err := b.Touch(ctx, rec.Key, extended); err != nil {
		if errors.Is(err, backend.ErrNotFound) && !time.Now().Before(rec.IdleDeadline.Add(-clockSkew)) {
			return nil // too slow to tell
		}
		return failf("Touch of a live record: %w", err)
	}
	if err := sleepUntil(ctx, rec.IdleDeadline.Add(150*time.Millisecond)); err != nil {
		return err
	}
	if _, err := expectLive(ctx, b, rec.Key, extended, "past the old idle deadline, after Touch moved it"); err != nil && !errors.Is(err, errTooLate) {
		return err
	}
	return awaitGone(ctx, b, rec.Key, extended, "at the idle deadline set by Touch")
}
