package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The races of "log out everywhere": the owner index must never lose a
// live record, whatever runs at the same time. Both checks are bounded in
// count and in time.

// raceTime bounds how long each race runs.
const raceTime = 1500 * time.Millisecond

// checkOwnerCreateListRace: records created for one owner while others
// list that owner are all listed afterwards, and all deleted by one
// DeleteByOwner.
func checkOwnerCreateListRace(ctx context.Context, b backend.Backend) error {
	const creators, listers, perCreator = 2, 2, 150
	idx := b.(backend.OwnerIndex)
	owner := newOwner("create-list-race")
	ctx, fail := newFirstError(ctx)
	defer fail.cancel()
	stop := time.Now().Add(raceTime)
	var (
		mu      sync.Mutex
		created []string
		wg      sync.WaitGroup
		done    = make(chan struct{})
	)
	var creating sync.WaitGroup
	for c := range creators {
		creating.Add(1)
		fail.goSafe(&wg, func() error {
			defer creating.Done()
			for i := 0; i < perCreator && time.Now().Before(stop) && ctx.Err() == nil; i++ {
				rec, err := create(ctx, b, newRecord(newKey("race"), owner, fmt.Appendf(nil, "%d/%d", c, i)))
				if err != nil {
					return err
				}
				mu.Lock()
				created = append(created, rec.Key)
				mu.Unlock()
			}
			return nil
		})
	}
	for range listers {
		fail.goSafe(&wg, func() error {
			for {
				select {
				case <-done:
					return nil
				default:
				}
				if _, err := idx.ListByOwner(ctx, owner); err != nil {
					return failf("ListByOwner while records are created: %w", err)
				}
			}
		})
	}
	creating.Wait()
	close(done)
	wg.Wait()
	if fail.err != nil {
		return fail.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	got, err := idx.ListByOwner(ctx, owner)
	if err != nil {
		return failf("ListByOwner after the race: %w", err)
	}
	if len(got) != len(created) {
		return failf("after %d Creates raced with ListByOwner of their owner, a quiet ListByOwner returns %d records: the index lost %d live records", len(created), len(got), len(created)-len(got))
	}
	n, err := idx.DeleteByOwner(ctx, owner)
	if err != nil {
		return failf("DeleteByOwner after the race: %w", err)
	}
	alive := 0
	for _, k := range created {
		if _, err := b.Load(ctx, k); err == nil {
			alive++
		} else if !errors.Is(err, backend.ErrNotFound) {
			return failf("Load after DeleteByOwner: %w", err)
		}
	}
	if alive > 0 || n != len(created) {
		return failf("DeleteByOwner after %d Creates raced with ListByOwner reported %d and left %d records alive", len(created), n, alive)
	}
	return nil
}

// checkOwnerRekeyDeleteRace: records moved to new keys (Rekey, the
// Manager's Renew) while DeleteByOwner of their owner runs are all gone
// once both have returned: each Rekey either happened first, and
// DeleteByOwner ended the new record, or it fails with ErrNotFound.
func checkOwnerRekeyDeleteRace(ctx context.Context, b backend.Backend) error {
	const perRound, rekeyers, maxRounds = 24, 4, 12
	idx := b.(backend.OwnerIndex)
	rk := b.(backend.Rekeyer)
	stop := time.Now().Add(raceTime)
	for round := 0; round < maxRounds && (round < 2 || time.Now().Before(stop)); round++ {
		owner := newOwner("rekey-delete-race")
		recs, err := createN(ctx, b, owner, perRound)
		if err != nil {
			return err
		}
		rctx, fail := newFirstError(ctx)
		var (
			wg      sync.WaitGroup
			newKeys = make([]string, len(recs))
			results = make([]error, len(recs))
			start   = make(chan struct{})
		)
		for i := range newKeys {
			newKeys[i] = newKey("renewed")
		}
		for g := range rekeyers {
			fail.goSafe(&wg, func() error {
				<-start
				for i := g; i < len(recs); i += rekeyers {
					_, err := rk.Rekey(rctx, recs[i], newKeys[i])
					if err != nil && !errors.Is(err, backend.ErrNotFound) {
						return failf("Rekey racing DeleteByOwner: %w (want success or ErrNotFound)", err)
					}
					results[i] = err
				}
				return nil
			})
		}
		deleted := 0
		fail.goSafe(&wg, func() error {
			<-start
			var err error
			if deleted, err = idx.DeleteByOwner(rctx, owner); err != nil {
				return failf("DeleteByOwner racing Rekey: %w", err)
			}
			return nil
		})
		close(start)
		wg.Wait()
		fail.cancel()
		if fail.err != nil {
			return fail.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, r := range recs {
			for _, k := range []string{r.Key, newKeys[i]} {
				_, err := b.Load(ctx, k)
				if err == nil {
					return failf("round %d: record %s is alive after its Rekey (to %s, which returned %v) raced with DeleteByOwner of its owner (which reported %d of %d) and both returned", round, show(k), show(newKeys[i]), results[i], deleted, perRound)
				}
				if !errors.Is(err, backend.ErrNotFound) {
					return failf("Load after the race: %w", err)
				}
			}
		}
		if got, err := idx.ListByOwner(ctx, owner); err != nil || len(got) != 0 {
			return failf("round %d: ListByOwner after the race = %d records, %v; want none", round, len(got), err)
		}
	}
	return nil
}
