package conformance

import (
	"bytes"
	"context"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks that slices cross the backend boundary by copy: the caller
// owns what it passed in once the call returns, and owns what it got back.

// scribble overwrites every byte of p.
func scribble(p []byte) {
	for i := range p {
		p[i] ^= 0xff
	}
}

// scribbleBeyond writes into the spare capacity of p, where a backend that
// hands out a sub-slice of its own buffer would keep other data.
func scribbleBeyond(p []byte) {
	spare := p[len(p):cap(p)]
	for i := range spare {
		spare[i] = '!'
	}
}

func isolationPayload() []byte { return []byte("isolation: the stored bytes") }

func checkIsolationCreateInput(ctx context.Context, b backend.Backend) error {
	p := isolationPayload()
	rec := newRecord(newKey("isolation-create-in"), "", p)
	want := rec
	want.Payload = bytes.Clone(p)
	want.Version = 1
	if _, err := b.Create(ctx, rec); err != nil {
		return failf("Create: %w", err)
	}
	scribble(p)
	return expectStored(ctx, b, want, "after the caller changed the slice it passed to Create")
}

func checkIsolationUpdateInput(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("isolation-update-in"), "", []byte("x")))
	if err != nil {
		return err
	}
	p := isolationPayload()
	rec.Payload = p
	want := rec
	want.Payload = bytes.Clone(p)
	want.Version++
	if _, err := b.Update(ctx, rec); err != nil {
		return failf("Update: %w", err)
	}
	scribble(p)
	return expectStored(ctx, b, want, "after the caller changed the slice it passed to Update")
}

func checkIsolationCreateResult(ctx context.Context, b backend.Backend) error {
	rec := newRecord(newKey("isolation-create-out"), "", isolationPayload())
	got, err := create(ctx, b, rec)
	if err != nil {
		return err
	}
	scribble(got.Payload)
	scribbleBeyond(got.Payload)
	rec.Version = 1
	return expectStored(ctx, b, rec, "after the caller changed the Payload Create returned")
}

func checkIsolationUpdateResult(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("isolation-update-out"), "", []byte("x")))
	if err != nil {
		return err
	}
	rec.Payload = isolationPayload()
	got, err := b.Update(ctx, rec)
	if err != nil {
		return failf("Update: %w", err)
	}
	scribble(got.Payload)
	scribbleBeyond(got.Payload)
	rec.Version++
	return expectStored(ctx, b, rec, "after the caller changed the Payload Update returned")
}

func checkIsolationLoadResult(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("isolation-load-out"), "", isolationPayload()))
	if err != nil {
		return err
	}
	rec.Payload = isolationPayload() // our own copy, whatever Create returned
	first, err := load(ctx, b, rec.Key)
	if err != nil {
		return err
	}
	second, err := load(ctx, b, rec.Key)
	if err != nil {
		return err
	}
	scribble(first.Payload)
	scribbleBeyond(first.Payload)
	if err := samePayload(second.Payload, rec.Payload); err != nil {
		return failf("two Loads share memory: changing the first one's Payload changed the second's: %w", err)
	}
	return expectStored(ctx, b, rec, "after the caller changed the Payload Load returned")
}
