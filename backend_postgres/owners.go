package postgresbackend

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessionkit/sessionkit/backend"
)

// maxOwnerRounds bounds DeleteByOwner's repetitions. A round is repeated
// only when rows of the owner moved under it; each repetition needs
// another writer to commit within one statement's time.
const maxOwnerRounds = 64

// ListByOwner returns the live records whose Owner is owner, through the
// owner index: the cost is proportional to the sessions of that owner, not
// to the table. Anonymous records (owner "") are not indexed: for "" it
// returns an empty slice without a query. The Payloads belong to the
// caller.
func (b *Backend) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	if err := b.begin(ctx, "list by owner"); err != nil {
		return nil, err
	}
	if owner == "" {
		return []backend.Record{}, nil
	}
	now := dbTime(b.now())
	recs, err := retryingIdempotent(ctx, b.tries, func() ([]backend.Record, error) {
		rows, err := b.pool.Query(ctx, b.sql.list, []byte(owner), now)
		if err != nil {
			return nil, err
		}
		recs := []backend.Record{}
		var key []byte
		var version int64
		rec := backend.Record{Owner: owner}
		_, err = pgx.ForEachRow(rows, []any{&key, &version, &rec.Payload, &rec.CreatedAt, &rec.IdleDeadline, &rec.AbsoluteDeadline}, func() error {
			rec.Key, rec.Version = string(key), uint64(version)
			recs = append(recs, rec)
			return nil
		})
		return recs, err
	})
	if err != nil {
		return nil, storeError(ctx, "list by owner", err)
	}
	return recs, nil
}

// DeleteByOwner deletes every row whose Owner is owner and reports how many
// of them were live. It repeats its statement until a round deletes every
// row of the owner that round saw, so a record that a concurrent Rekey or
// Update moved while a round ran cannot survive under a new key: when
// DeleteByOwner returns, no record of the owner that existed when it began
// is left, and a record created for the owner after it began may be. It
// gives up with an error after 64 rounds that each met such a move.
// Anonymous records are not indexed: for "" it deletes nothing and
// returns 0. Each round publishes, in its own statement, one EventDeleted
// for every live row it deleted and one EventExpired for every row past
// its deadline.
func (b *Backend) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	if err := b.begin(ctx, "delete by owner"); err != nil {
		return 0, err
	}
	if owner == "" {
		return 0, nil
	}
	live := 0
	for range maxOwnerRounds {
		now := dbTime(b.now())
		var seen, deleted, deletedLive, notified int64
		_, err := retrying(ctx, func() (struct{}, error) {
			return struct{}{}, b.pool.QueryRow(ctx, b.sql.deleteOwner, []byte(owner), now).Scan(&seen, &deleted, &deletedLive, &notified)
		})
		if err != nil {
			return live, storeError(ctx, "delete by owner", err)
		}
		live += int(deletedLive)
		if deleted == seen {
			return live, nil
		}
	}
	return live, fmt.Errorf("postgresbackend: delete by owner: rows of the owner were still moving after %d rounds", maxOwnerRounds)
}
