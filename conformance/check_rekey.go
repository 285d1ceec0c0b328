package conformance

import (
	"context"
	"errors"
	"sync"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks of the Rekeyer and FreshLoader capabilities.

func checkRekeyMoves(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("rekey-old"), "", []byte("v1")))
	if err != nil {
		return err
	}
	rec.Payload = []byte("v2")
	if rec, err = b.Update(ctx, rec); err != nil {
		return failf("Update: %w", err)
	}
	// Rekey writes rec as it is now: a new owner and payload (a login).
	p := []byte("as it is now")
	rec.Owner = newOwner("rekey")
	rec.Payload = p
	target := newKey("rekey-new")
	want := rec
	want.Key = target
	want.Version = 1
	want.Payload = []byte("as it is now")
	got, err := b.(backend.Rekeyer).Rekey(ctx, rec, target)
	if errors.Is(err, backend.ErrNotFound) {
		if _, lerr := b.Load(ctx, rec.Key); lerr == nil {
			return failf("Rekey of a record that Load returns: %w%s", err, wrapperHint)
		}
	}
	if err != nil {
		return failf("Rekey with the current version: %w", err)
	}
	if err := sameRecord(got, want); err != nil {
		return failf("Rekey returned (the record passed in, under the new key, at version 1): %w", err)
	}
	scribble(p)
	scribble(got.Payload)
	if err := expectStored(ctx, b, want, "the new key after Rekey"); err != nil {
		return err
	}
	if err := expectGone(ctx, b, rec.Key, "the old key after Rekey"); err != nil {
		return err
	}
	_, err = b.Update(ctx, rec)
	if err := wantErr(err, backend.ErrNotFound, "Update of the old key after Rekey"); err != nil {
		return err
	}
	return expectGone(ctx, b, rec.Key, "the old key after Rekey and an Update of it")
}

func checkRekeyConflict(ctx context.Context, b backend.Backend) error {
	v1, err := create(ctx, b, newRecord(newKey("rekey-conflict"), "", []byte("v1")))
	if err != nil {
		return err
	}
	v2 := v1
	v2.Payload = []byte("v2")
	if v2, err = b.Update(ctx, v2); err != nil {
		return failf("Update: %w", err)
	}
	target := newKey("rekey-conflict-new")
	_, err = b.(backend.Rekeyer).Rekey(ctx, v1, target)
	if err := wantErr(err, backend.ErrConflict, "Rekey with a stale version"); err != nil {
		return err
	}
	if err := expectStored(ctx, b, v2, "the old key after a conflicting Rekey"); err != nil {
		return err
	}
	return expectGone(ctx, b, target, "the new key after a conflicting Rekey")
}

func checkRekeyExists(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("rekey-exists"), "", []byte("old")))
	if err != nil {
		return err
	}
	taken, err := create(ctx, b, newRecord(newKey("rekey-taken"), newOwner("taken"), []byte("taken")))
	if err != nil {
		return err
	}
	_, err = b.(backend.Rekeyer).Rekey(ctx, rec, taken.Key)
	if err := wantErr(err, backend.ErrExists, "Rekey to a key that is taken"); err != nil {
		return err
	}
	if err := expectStored(ctx, b, rec, "the old key after Rekey to a taken key"); err != nil {
		return err
	}
	return expectStored(ctx, b, taken, "the taken key after Rekey to it")
}

func checkRekeyNotFound(ctx context.Context, b backend.Backend) error {
	rec := newRecord(newKey("rekey-missing"), "", []byte("ghost"))
	rec.Version = 1
	target := newKey("rekey-missing-new")
	_, err := b.(backend.Rekeyer).Rekey(ctx, rec, target)
	if err := wantErr(err, backend.ErrNotFound, "Rekey of a key never created"); err != nil {
		return err
	}
	return expectGone(ctx, b, target, "the new key after Rekey of a missing key")
}

func checkRekeyConcurrent(ctx context.Context, b backend.Backend) error {
	const racers = 8
	rec, err := create(ctx, b, newRecord(newKey("rekey-race"), "", []byte("x")))
	if err != nil {
		return err
	}
	targets := make([]string, racers)
	errs := make([]error, racers)
	for i := range targets {
		targets[i] = newKey("rekey-race-new")
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = failf("panic: %v", r)
				}
			}()
			<-start
			_, errs[i] = b.(backend.Rekeyer).Rekey(ctx, rec, targets[i])
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				return failf("%d concurrent Rekeys of one record to different keys: #%d and #%d both succeeded, want exactly one", racers, winner, i)
			}
			winner = i
			continue
		}
		if !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrConflict) {
			return failf("Rekey #%d losing a race: %v, want an error matching backend.ErrNotFound or backend.ErrConflict", i, err)
		}
	}
	if winner < 0 {
		return failf("%d concurrent Rekeys of one record all failed, want exactly one to succeed", racers)
	}
	for i, k := range targets {
		if i == winner {
			if _, err := load(ctx, b, k); err != nil {
				return failf("the new key of the successful Rekey: %w", err)
			}
			continue
		}
		if err := expectGone(ctx, b, k, "the new key of a failed Rekey"); err != nil {
			return err
		}
	}
	return expectGone(ctx, b, rec.Key, "the old key after concurrent Rekeys")
}

func checkRekeyOwner(ctx context.Context, b backend.Backend) error {
	owner := newOwner("rekey")
	rec, err := create(ctx, b, newRecord(newKey("rekey-owned"), owner, []byte("x")))
	if err != nil {
		return err
	}
	got, err := b.(backend.Rekeyer).Rekey(ctx, rec, newKey("rekey-owned-new"))
	if err != nil {
		return failf("Rekey: %w", err)
	}
	if err := expectList(ctx, b, owner, []backend.Record{got}, "after Rekey"); err != nil {
		return err
	}
	// A Rekey that changes the owner (log in) moves the record in the index.
	user := newOwner("rekey-login")
	moved := got
	moved.Owner = user
	if moved, err = b.(backend.Rekeyer).Rekey(ctx, moved, newKey("rekey-owned-login")); err != nil {
		return failf("Rekey with a new Owner: %w", err)
	}
	if err := expectList(ctx, b, owner, nil, "the old owner after Rekey with a new Owner"); err != nil {
		return err
	}
	return expectList(ctx, b, user, []backend.Record{moved}, "the new owner after Rekey with a new Owner")
}

func checkFreshReadYourWrites(ctx context.Context, b backend.Backend) error {
	return readYourWrites(ctx, b, b.(backend.FreshLoader).LoadFresh, "LoadFresh")
}

func checkFreshNotFound(ctx context.Context, b backend.Backend) error {
	_, err := b.(backend.FreshLoader).LoadFresh(ctx, newKey("fresh-missing"))
	return wantErr(err, backend.ErrNotFound, "LoadFresh of a key never created")
}
