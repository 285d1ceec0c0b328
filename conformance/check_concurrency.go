package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks with many goroutines on one key. Run them with -race.

// firstError keeps the first error reported by any goroutine and cancels
// the others' context.
type firstError struct {
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func (f *firstError) set(err error) {
	f.once.Do(func() {
		f.err = err
		f.cancel()
	})
}

// goSafe runs fn on a goroutine of wg, turning a panic into an error.
func (f *firstError) goSafe(wg *sync.WaitGroup, fn func() error) {
	wg.Go(func() {
		defer func() {
			if r := recover(); r != nil {
				f.set(failf("panic: %v", r))
			}
		}()
		if err := fn(); err != nil {
			f.set(err)
		}
	})
}

func newFirstError(ctx context.Context) (context.Context, *firstError) {
	ctx, cancel := context.WithCancel(ctx)
	return ctx, &firstError{cancel: cancel}
}

// backoff pauses a writer after its attempt-th conflict.
func backoff(ctx context.Context, r *rand.Rand, attempt int) {
	if attempt < 3 {
		runtime.Gosched()
		return
	}
	_ = sleep(ctx, time.Duration(r.IntN(min(attempt, 40)*50+1))*time.Microsecond)
}

func checkCreateConcurrent(ctx context.Context, b backend.Backend) error {
	for round := range 8 {
		if err := createRace(ctx, b); err != nil {
			return failf("round %d: %w", round+1, err)
		}
	}
	return nil
}

// createRace lets 16 goroutines Create one new key at once.
func createRace(ctx context.Context, b backend.Backend) error {
	const racers = 16
	key := newKey("create-concurrent")
	errs := make([]error, racers)
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
			_, errs[i] = b.Create(ctx, newRecord(key, "", []byte(strconv.Itoa(i))))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				return failf("%d goroutines each called Create on one new key: both #%d and #%d succeeded, want exactly one", racers, winner, i)
			}
			winner = i
			continue
		}
		if err := wantErr(err, backend.ErrExists, fmt.Sprintf("Create #%d of %d concurrent Creates of one key", i, racers)); err != nil {
			return err
		}
	}
	if winner < 0 {
		return failf("%d concurrent Creates of one new key all failed, want exactly one to succeed", racers)
	}
	got, err := load(ctx, b, key)
	if err != nil {
		return err
	}
	if string(got.Payload) != strconv.Itoa(winner) || got.Version != 1 {
		return failf("after concurrent Creates, Load has payload %q version %d; want the successful Create's %q version 1", got.Payload, got.Version, strconv.Itoa(winner))
	}
	return nil
}

func checkUpdateConcurrent(ctx context.Context, b backend.Backend) error {
	const writers, increments, maxAttempts = 16, 25, 5000
	key := newKey("update-concurrent")
	if _, err := create(ctx, b, newRecord(key, "", []byte("0"))); err != nil {
		return err
	}
	ctx, fail := newFirstError(ctx)
	defer fail.cancel()
	var (
		mu       sync.Mutex
		versions = map[uint64]int{} // version -> writer whose Update produced it
		wg       sync.WaitGroup
	)
	increment := func(w int, r *rand.Rand) error {
		for attempt := 1; ; attempt++ {
			rec, err := b.Load(ctx, key)
			if err != nil {
				return failf("writer %d: Load: %w", w, err)
			}
			n, err := strconv.ParseUint(string(rec.Payload), 10, 64)
			if err != nil {
				return failf("writer %d: Load returned payload %q, not the counter the writers store", w, rec.Payload)
			}
			rec.Payload = strconv.AppendUint(nil, n+1, 10)
			runtime.Gosched() // a real writer decodes and encodes here
			got, err := b.Update(ctx, rec)
			if errors.Is(err, backend.ErrConflict) {
				if attempt >= maxAttempts {
					return failf("writer %d: %d conflicts in a row on one increment, gave up", w, attempt)
				}
				backoff(ctx, r, attempt)
				continue
			}
			if err != nil {
				return failf("writer %d: Update with version %d: %w", w, rec.Version, err)
			}
			if got.Version != rec.Version+1 {
				return failf("writer %d: Update of version %d returned Version %d", w, rec.Version, got.Version)
			}
			mu.Lock()
			other, dup := versions[got.Version]
			versions[got.Version] = w
			mu.Unlock()
			if dup {
				return failf("writers %d and %d both had an Update to version %d succeed: one of the updates is lost", other, w, got.Version)
			}
			return nil
		}
	}
	for w := range writers {
		fail.goSafe(&wg, func() error {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range increments {
				if err := increment(w, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	wg.Wait()
	if fail.err != nil {
		return fail.err
	}
	got, err := load(ctx, b, key)
	if err != nil {
		return err
	}
	const total = writers * increments
	if string(got.Payload) != strconv.Itoa(total) || got.Version != total+1 {
		return failf("%d writers × %d read-modify-write increments: Load has counter %q at version %d, want %d at version %d (lost updates)",
			writers, increments, got.Payload, got.Version, total, total+1)
	}
	return nil
}

func checkUpdateDeleteRace(ctx context.Context, b backend.Backend) error {
	const writers, maxRounds = 8, 100000
	key := newKey("update-delete-race")
	if _, err := create(ctx, b, newRecord(key, "", []byte("x"))); err != nil {
		return err
	}
	ctx, fail := newFirstError(ctx)
	defer fail.cancel()
	var (
		updates   atomic.Int64
		deletedAt atomic.Int64 // UnixNano when Delete returned; 0 before
		wg        sync.WaitGroup
	)
	for w := range writers {
		fail.goSafe(&wg, func() error {
			for range maxRounds {
				rec, err := b.Load(ctx, key)
				if errors.Is(err, backend.ErrNotFound) {
					return nil
				}
				if err != nil {
					return failf("writer %d: Load: %w", w, err)
				}
				rec.Payload = []byte(strconv.Itoa(w))
				start := time.Now().UnixNano()
				_, err = b.Update(ctx, rec)
				switch {
				case errors.Is(err, backend.ErrNotFound):
					return nil
				case errors.Is(err, backend.ErrConflict):
					runtime.Gosched()
				case err != nil:
					return failf("writer %d: Update: %w", w, err)
				default:
					if d := deletedAt.Load(); d != 0 && start > d {
						return failf("writer %d: an Update that began after Delete returned succeeded: the deleted record came back", w)
					}
					updates.Add(1)
				}
			}
			return failf("writer %d: %d rounds of Load and Update without seeing the Delete", w, maxRounds)
		})
	}
	for updates.Load() < writers && ctx.Err() == nil {
		_ = sleep(ctx, time.Millisecond)
	}
	if err := b.Delete(ctx, key); err != nil {
		fail.set(failf("Delete during concurrent Updates: %w", err))
	}
	deletedAt.Store(time.Now().UnixNano())
	wg.Wait()
	if fail.err != nil {
		return fail.err
	}
	return expectGone(ctx, b, key, "after a Delete racing with Updates")
}
