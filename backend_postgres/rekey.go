package postgresbackend

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionkit/sessionkit/backend"
)

// Rekey stores rec under newKey at version 1 and deletes the record under
// rec.Key, in one statement (so one transaction), provided rec.Key has a
// live record whose version is rec.Version, and then publishes an
// EventRekeyed in the same transaction (after an EventExpired of a row
// under newKey that it replaced). It returns an error matching
// backend.ErrNotFound if rec.Key has no live record, backend.ErrConflict if
// its version differs and backend.ErrExists if newKey has a live record;
// in each case nothing is written. A row under newKey that is no longer
// live is replaced. The returned Record is the new one; its Payload
// belongs to the caller.
func (b *Backend) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	if err := b.begin(ctx, "rekey"); err != nil {
		return backend.Record{}, err
	}
	rec = stored(rec)
	now := dbTime(b.now())
	type result struct {
		current        *int64
		wrote, deleted bool
	}
	r, err := retrying(ctx, func() (result, error) {
		var r result
		var replaced, notified int64
		err := b.pool.QueryRow(ctx, b.sql.rekey, []byte(rec.Key), now, []byte(newKey), []byte(rec.Owner), rec.Payload,
			rec.CreatedAt, rec.IdleDeadline, rec.AbsoluteDeadline, int64(rec.Version)).Scan(&r.current, &r.wrote, &r.deleted, &replaced, &notified)
		return r, err
	})
	switch {
	case err != nil: // the statement always returns one row

		return backend.Record{}, storeError(ctx, "rekey", err)
	case r.current == nil:
		return backend.Record{}, fmt.Errorf("postgresbackend: rekey: %w", backend.ErrNotFound)
	case uint64(*r.current) != rec.Version:
		return backend.Record{}, fmt.Errorf("postgresbackend: rekey: stored version %d, given %d: %w",
			*r.current, rec.Version, backend.ErrConflict)
	case !r.wrote:
		return backend.Record{}, fmt.Errorf("postgresbackend: rekey: new key: %w", backend.ErrExists)
	case !r.deleted:
		// cur held the old row locked, so del must have found it.
		return backend.Record{}, errors.New("postgresbackend: rekey: the old row vanished under its lock")
	}
	rec.Key, rec.Version = newKey, 1
	return rec, nil
}
