package conformance

import (
	"bytes"
	"context"
	"fmt"

	"github.com/sessionkit/sessionkit/backend"
)

func checkViewReadYourWrites(ctx context.Context, b backend.Backend) error {
	return readYourWrites(ctx, b, b.(backend.Viewer).LoadView, "LoadView")
}

func checkViewNotFound(ctx context.Context, b backend.Backend) error {
	_, err := b.(backend.Viewer).LoadView(ctx, newKey("view-missing"))
	return wantErr(err, backend.ErrNotFound, "LoadView of a key never created")
}

func checkViewImmutable(ctx context.Context, b backend.Backend) error {
	v := b.(backend.Viewer)
	rec, err := create(ctx, b, newRecord(newKey("view-immutable"), "", bytes.Repeat([]byte("a"), 64)))
	if err != nil {
		return err
	}
	view, err := v.LoadView(ctx, rec.Key)
	if err != nil {
		return fmt.Errorf("LoadView: %w", err)
	}
	before := bytes.Clone(view.Payload)
	rec.Payload = bytes.Repeat([]byte("b"), 64) // same length: tempting to write in place
	if rec, err = b.Update(ctx, rec); err != nil {
		return fmt.Errorf("Update: %w", err)
	}
	if err := b.Touch(ctx, rec.Key, rec.IdleDeadline); err != nil {
		return fmt.Errorf("Touch: %w", err)
	}
	if !bytes.Equal(view.Payload, before) {
		return fmt.Errorf("a payload LoadView returned changed from %q to %q after an Update", before[:8], view.Payload[:8])
	}
	after, err := v.LoadView(ctx, rec.Key)
	if err != nil {
		return fmt.Errorf("LoadView after Update: %w", err)
	}
	if !bytes.Equal(after.Payload, rec.Payload) {
		return fmt.Errorf("LoadView after Update returned %q, want the new payload", after.Payload[:8])
	}
	return nil
}
