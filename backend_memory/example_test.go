package memorybackend_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
)

// The backend at the bytes level, as session.Manager uses it: create a
// record, read it, update it by version, and see that a stale version is
// refused.
func Example() {
	b := memorybackend.New()
	defer b.Close()
	ctx := context.Background()

	now := time.Now()
	rec, err := b.Create(ctx, backend.Record{
		Key:              "storage-key",
		Owner:            "alice",
		Payload:          []byte("cart: 1 book"),
		CreatedAt:        now,
		IdleDeadline:     now.Add(30 * time.Minute),
		AbsoluteDeadline: now.Add(24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("created version", rec.Version)

	rec.Payload = []byte("cart: 2 books")
	updated, err := b.Update(ctx, rec)
	if err != nil {
		panic(err)
	}
	fmt.Println("updated to version", updated.Version)

	_, err = b.Update(ctx, rec) // rec still has version 1
	fmt.Println("stale update is a conflict:", errors.Is(err, backend.ErrConflict))

	mine, _ := b.ListByOwner(ctx, "alice")
	fmt.Printf("alice has %d session: %s\n", len(mine), mine[0].Payload)

	n, _ := b.DeleteByOwner(ctx, "alice") // log out everywhere
	_, err = b.Load(ctx, "storage-key")
	fmt.Println("deleted", n, "- not found now:", errors.Is(err, backend.ErrNotFound))
	// Output:
	// created version 1
	// updated to version 2
	// stale update is a conflict: true
	// alice has 1 session: cart: 2 books
	// deleted 1 - not found now: true
}
