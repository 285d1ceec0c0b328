package postgresbackend

import (
	"context"
	"time"
)

// cleanupLoop runs Cleanup every interval until Close, then closes b.done.
// A run in flight when Close is called is cancelled.
func (b *Backend) cleanupLoop(every time.Duration) {
	defer close(b.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			n, err := b.cleanup(ctx)
			if ctx.Err() != nil {
				err = nil // stopped by Close
			}
			if b.cleanupReport != nil {
				b.cleanupReport(n, err)
			}
		}
	}
}

// Cleanup deletes the rows that are no longer live by the Backend's clock,
// in statements of at most the cleanup batch size (see WithCleanupBatch),
// until a statement deletes fewer rows than that, and reports how many it
// deleted. Each statement publishes an EventExpired, with the row's owner,
// for every row it deleted (see Subscribe). It never deletes a live row. Rows that another transaction holds
// locked (another instance's cleanup, or a writer) are skipped and left
// for a later run, so instances running Cleanup at once share the work
// instead of waiting on each other. The background cleanup (see
// WithCleanupInterval) calls it; call it yourself to clean up on your own
// schedule. On an error it returns what it deleted so far.
func (b *Backend) Cleanup(ctx context.Context) (int, error) {
	if err := b.begin(ctx, "cleanup"); err != nil {
		return 0, err
	}
	return b.cleanup(ctx)
}

func (b *Backend) cleanup(ctx context.Context) (int, error) {
	total := 0
	for {
		now := dbTime(b.now())
		var n int
		if err := b.pool.QueryRow(ctx, b.sql.cleanup, now, b.cleanupBatch).Scan(&n); err != nil {
			return total, storeError(ctx, "cleanup", err)
		}
		total += n
		if n < b.cleanupBatch {
			return total, nil
		}
		if b.closed.Load() {
			return total, nil
		}
	}
}
