package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks of the core methods: Create, Load, Update, Touch, Delete, and
// the payloads and errors they carry.

func checkCreateFields(ctx context.Context, b backend.Backend) error {
	// Nanoseconds and a zone other than UTC and Local: the instant is what
	// must survive, to within precision.
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	now := time.Now().In(zone)
	rec := backend.Record{
		Key:              newKey("create-fields"),
		Owner:            newOwner("create-fields"),
		Payload:          []byte("payload \x00\xff"),
		CreatedAt:        now.Add(-1234567891 * time.Nanosecond),
		IdleDeadline:     now.Add(30*time.Minute + 123456789*time.Nanosecond),
		AbsoluteDeadline: now.Add(90*time.Minute + 987654321*time.Nanosecond),
	}
	if _, err := create(ctx, b, rec); err != nil {
		return err
	}
	want := rec
	want.Version = 1
	return expectStored(ctx, b, want, "after Create")
}

func checkCreateVersion(ctx context.Context, b backend.Backend) error {
	rec := newRecord(newKey("create-version"), "", []byte("v"))
	rec.Version = 42
	if _, err := create(ctx, b, rec); err != nil {
		return failf("Create with Version 42 (which it must ignore): %w", err)
	}
	want := rec
	want.Version = 1
	if err := expectStored(ctx, b, want, "after Create with Version 42"); err != nil {
		return err
	}
	want.Payload = []byte("v2")
	got, err := b.Update(ctx, want)
	if err != nil {
		return failf("Update with version 1 right after Create: %w", err)
	}
	if got.Version != 2 {
		return failf("Update of a created record returned Version %d, want 2", got.Version)
	}
	return nil
}

func checkCreateExists(ctx context.Context, b backend.Backend) error {
	key := newKey("create-exists")
	first, err := create(ctx, b, newRecord(key, newOwner("first"), []byte("first")))
	if err != nil {
		return err
	}
	second := newRecord(key, newOwner("second"), []byte("second"))
	second.IdleDeadline = second.IdleDeadline.Add(time.Minute)
	second.AbsoluteDeadline = second.AbsoluteDeadline.Add(time.Minute)
	second.Version = 7
	_, err = b.Create(ctx, second)
	if err := wantErr(err, backend.ErrExists, "Create of a key already taken"); err != nil {
		return err
	}
	return expectStored(ctx, b, first, "after a second Create of the same key")
}

func checkLoadNotFound(ctx context.Context, b backend.Backend) error {
	return expectGone(ctx, b, newKey("load-missing"), "key never created")
}

func checkLoadReadYourWrites(ctx context.Context, b backend.Backend) error {
	return readYourWrites(ctx, b, b.Load, "Load")
}

// readYourWrites checks that load sees every write that completed before
// it began.
func readYourWrites(ctx context.Context, b backend.Backend, load func(context.Context, string) (backend.Record, error), name string) error {
	key := newKey("read-your-writes")
	rec, err := create(ctx, b, newRecord(key, "", []byte("0")))
	if err != nil {
		return err
	}
	for i := range 50 {
		got, err := load(ctx, key)
		if err != nil {
			return failf("%s(%s) after write %d: %w", name, show(key), i, err)
		}
		if err := sameRecord(got, rec); err != nil {
			return failf("%s right after write %d did not see it: %w", name, i, err)
		}
		if i%5 == 4 {
			idle := time.Now().Add(time.Hour + time.Duration(i)*time.Second)
			if err := b.Touch(ctx, key, idle); err != nil {
				return failf("Touch(%s): %w", show(key), err)
			}
			rec.IdleDeadline = idle
			continue
		}
		rec.Payload = fmt.Appendf(nil, "%d", i+1)
		if rec, err = b.Update(ctx, rec); err != nil {
			return failf("Update(%s) %d: %w", show(key), i, err)
		}
	}
	if err := b.Delete(ctx, key); err != nil {
		return failf("Delete(%s): %w", show(key), err)
	}
	_, err = load(ctx, key)
	if err := wantErr(err, backend.ErrNotFound, name+" right after Delete"); err != nil {
		return err
	}
	rec, err = create(ctx, b, newRecord(key, "", []byte("again")))
	if err != nil {
		return failf("Create after Delete: %w", err)
	}
	got, err := load(ctx, key)
	if err != nil {
		return failf("%s right after Create: %w", name, err)
	}
	if err := sameRecord(got, rec); err != nil {
		return failf("%s right after Create did not see it: %w", name, err)
	}
	return nil
}

// payloadRoundTrip creates a record with each payload of first and updates
// it with second, checking both against Load.
func payloadRoundTrip(ctx context.Context, b backend.Backend, tag string, first, second []byte) error {
	key := newKey(tag)
	rec, err := create(ctx, b, newRecord(key, "", first))
	if err != nil {
		return err
	}
	if err := expectStored(ctx, b, rec, "after Create"); err != nil {
		return err
	}
	rec.Payload = second
	want := rec
	want.Version++
	got, err := b.Update(ctx, rec)
	if err != nil {
		return failf("Update(%s): %w", show(key), err)
	}
	if err := sameRecord(got, want); err != nil {
		return failf("Update returned: %w", err)
	}
	return expectStored(ctx, b, want, "after Update")
}

func checkPayloadEmpty(ctx context.Context, b backend.Backend) error {
	if err := payloadRoundTrip(ctx, b, "payload-empty", []byte{}, []byte("x")); err != nil {
		return failf("empty payload: %w", err)
	}
	if err := payloadRoundTrip(ctx, b, "payload-nil", nil, []byte{}); err != nil {
		return failf("nil payload: %w", err)
	}
	if err := payloadRoundTrip(ctx, b, "payload-to-empty", []byte("x"), nil); err != nil {
		return failf("update to an empty payload: %w", err)
	}
	return nil
}

func checkPayloadLarge(ctx context.Context, b backend.Backend) error {
	r := rand.NewChaCha8([32]byte{'s', 'e', 's', 's', 'i', 'o', 'n'})
	first := make([]byte, 1<<20)
	second := make([]byte, 1<<20+1)
	_, _ = r.Read(first)
	_, _ = r.Read(second)
	return payloadRoundTrip(ctx, b, "payload-large", first, second)
}

func checkPayloadAllBytes(ctx context.Context, b backend.Backend) error {
	first := make([]byte, 0, 512)
	for i := range 256 {
		first = append(first, byte(i))
	}
	for i := range 256 {
		first = append(first, byte(255-i))
	}
	// Byte sequences that are special somewhere: UTF-8 BOM, invalid UTF-8,
	// CRLF, NUL runs, a Redis protocol line.
	second := []byte("\xef\xbb\xbf\xc3\x28\xff\xfe\r\n\x00\x00\x00*1\r\n$4\r\nPING\r\n")
	return payloadRoundTrip(ctx, b, "payload-all-bytes", first, second)
}

func checkUpdateVersion(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("update-version"), "", []byte("1")))
	if err != nil {
		return err
	}
	for want := uint64(2); want <= 4; want++ {
		rec.Payload = fmt.Appendf(nil, "%d", want)
		got, err := b.Update(ctx, rec)
		if err != nil {
			return failf("Update with the current version %d: %w", rec.Version, err)
		}
		if got.Version != want {
			return failf("Update of version %d returned Version %d, want %d", rec.Version, got.Version, want)
		}
		rec.Version = want
		if err := expectStored(ctx, b, rec, fmt.Sprintf("after Update to version %d", want)); err != nil {
			return err
		}
	}
	return nil
}

func checkUpdateCAS(ctx context.Context, b backend.Backend) error {
	v1, err := create(ctx, b, newRecord(newKey("update-cas"), "", []byte("v1")))
	if err != nil {
		return err
	}
	next := v1
	next.Payload = []byte("v2")
	v2, err := b.Update(ctx, next)
	if err != nil {
		return failf("Update with the current version: %w", err)
	}
	for _, version := range []uint64{1, 0, 3, 1 << 63} {
		stale := v1
		stale.Version = version
		stale.Owner = newOwner("stale")
		stale.Payload = []byte("stale write")
		stale.IdleDeadline = stale.IdleDeadline.Add(time.Minute)
		_, err := b.Update(ctx, stale)
		if err := wantErr(err, backend.ErrConflict, fmt.Sprintf("Update with version %d of a record at version 2", version)); err != nil {
			return err
		}
		if err := expectStored(ctx, b, v2, fmt.Sprintf("after a conflicting Update with version %d", version)); err != nil {
			return failf("%w (a conflicting Update must not write)", err)
		}
	}
	return nil
}

// checkUpdateConflictRecord: the record a ConflictError carries is the
// stored one. A caller retries from it without a read, so a stale one
// would lose the write it reports as conflicting.
func checkUpdateConflictRecord(ctx context.Context, b backend.Backend) error {
	v1, err := create(ctx, b, newRecord(newKey("update-conflict"), newOwner("before"), []byte("v1")))
	if err != nil {
		return err
	}
	next := v1
	next.Owner = newOwner("after")
	next.Payload = []byte("v2")
	next.IdleDeadline = v1.IdleDeadline.Add(time.Minute)
	v2, err := b.Update(ctx, next)
	if err != nil {
		return failf("Update with the current version: %w", err)
	}
	stale := v1
	stale.Payload = []byte("stale write")
	_, err = b.Update(ctx, stale)
	if err := wantErr(err, backend.ErrConflict, "Update with version 1 of a record at version 2"); err != nil {
		return err
	}
	var ce *backend.ConflictError
	if !errors.As(err, &ce) {
		return nil // optional: a plain ErrConflict is correct too
	}
	if err := sameRecord(ce.Current, v2); err != nil {
		return failf("Update with version 1 of a record at version 2: the ConflictError's Current: %w", err)
	}
	for i := range ce.Current.Payload {
		ce.Current.Payload[i] ^= 0xff
	}
	return expectStored(ctx, b, v2, "after changing the Payload of a ConflictError's Current")
}

func checkUpdateFields(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("update-fields"), "", []byte("before")))
	if err != nil {
		return err
	}
	now := time.Now()
	upd := rec
	upd.Owner = newOwner("update-fields")
	upd.Payload = []byte("after")
	upd.CreatedAt = rec.CreatedAt.Add(-time.Hour) // must be ignored
	upd.IdleDeadline = now.Add(10*time.Minute + 3*time.Millisecond)
	upd.AbsoluteDeadline = now.Add(20*time.Minute + 7*time.Millisecond)
	want := upd
	want.Version = 2
	want.CreatedAt = rec.CreatedAt
	got, err := b.Update(ctx, upd)
	if err != nil {
		return failf("Update: %w", err)
	}
	if err := sameRecord(got, want); err != nil {
		return failf("Update returned a record unlike the one passed in (CreatedAt kept): %w", err)
	}
	return expectStored(ctx, b, want, "after Update")
}

func checkUpdateNotFound(ctx context.Context, b backend.Backend) error {
	for _, version := range []uint64{0, 1} {
		rec := newRecord(newKey("update-missing"), "", []byte("ghost"))
		rec.Version = version
		_, err := b.Update(ctx, rec)
		if err := wantErr(err, backend.ErrNotFound, fmt.Sprintf("Update with version %d of a key never created", version)); err != nil {
			return err
		}
		if err := expectGone(ctx, b, rec.Key, "after an Update of a missing key (Update must never create)"); err != nil {
			return err
		}
	}
	return nil
}

func checkUpdateDeleted(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("update-deleted"), "", []byte("x")))
	if err != nil {
		return err
	}
	if err := b.Delete(ctx, rec.Key); err != nil {
		return failf("Delete: %w", err)
	}
	rec.Payload = []byte("resurrected")
	_, err = b.Update(ctx, rec)
	if err := wantErr(err, backend.ErrNotFound, "Update of a deleted key with its last version"); err != nil {
		return err
	}
	return expectGone(ctx, b, rec.Key, "after an Update of a deleted key (a deleted session must never come back)")
}

func checkTouchNotFound(ctx context.Context, b backend.Backend) error {
	key := newKey("touch-missing")
	err := b.Touch(ctx, key, time.Now().Add(time.Hour))
	if err := wantErr(err, backend.ErrNotFound, "Touch of a key never created"); err != nil {
		return err
	}
	return expectGone(ctx, b, key, "after Touch of a missing key (Touch must never create)")
}

func checkTouchKeepsVersion(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("touch-version"), newOwner("touch"), []byte("x")))
	if err != nil {
		return err
	}
	for _, d := range []time.Duration{45 * time.Minute, 15 * time.Minute} { // later, then earlier
		idle := time.Now().Add(d)
		if err := b.Touch(ctx, rec.Key, idle); err != nil {
			return failf("Touch: %w", err)
		}
		rec.IdleDeadline = idle
		if err := expectStored(ctx, b, rec, "after Touch (only IdleDeadline moves, Version stays)"); err != nil {
			return err
		}
	}
	rec.Payload = []byte("y")
	if _, err := b.Update(ctx, rec); err != nil {
		return failf("Update with the version read before two Touches: %w", err)
	}
	return nil
}

func checkDeleteRemoves(ctx context.Context, b backend.Backend) error {
	key := newKey("delete")
	rec, err := create(ctx, b, newRecord(key, "", []byte("x")))
	if err != nil {
		return err
	}
	neighbours := []string{key + "x", key[:len(key)-1]}
	var kept []backend.Record
	for _, k := range neighbours {
		r, err := create(ctx, b, newRecord(k, "", []byte(k)))
		if err != nil {
			return err
		}
		kept = append(kept, r)
	}
	if err := b.Delete(ctx, rec.Key); err != nil {
		return failf("Delete of a live record: %w", err)
	}
	if err := expectGone(ctx, b, key, "after Delete"); err != nil {
		return err
	}
	for _, r := range kept {
		if err := expectStored(ctx, b, r, "a key next to a deleted one"); err != nil {
			return err
		}
	}
	return nil
}

func checkDeleteIdempotent(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("delete-twice"), "", []byte("x")))
	if err != nil {
		return err
	}
	for i := range 2 {
		if err := b.Delete(ctx, rec.Key); err != nil {
			return failf("Delete #%d of a created key: %w (Delete must be idempotent)", i+1, err)
		}
	}
	if err := b.Delete(ctx, newKey("delete-never")); err != nil {
		return failf("Delete of a key never created: %w (want nil)", err)
	}
	return expectGone(ctx, b, rec.Key, "after Delete twice")
}

func checkDeleteRecreate(ctx context.Context, b backend.Backend) error {
	key := newKey("delete-recreate")
	if _, err := create(ctx, b, newRecord(key, newOwner("old"), []byte("old"))); err != nil {
		return err
	}
	if err := b.Delete(ctx, key); err != nil {
		return failf("Delete: %w", err)
	}
	again := newRecord(key, newOwner("new"), []byte("new"))
	again.Version = 5
	if _, err := create(ctx, b, again); err != nil {
		return failf("Create of a deleted key: %w", err)
	}
	again.Version = 1
	return expectStored(ctx, b, again, "after Delete and Create of the same key")
}

func checkErrorsDistinct(ctx context.Context, b backend.Backend) error {
	rec, err := create(ctx, b, newRecord(newKey("errors"), "", []byte("x")))
	if err != nil {
		return err
	}
	missing := newRecord(newKey("errors-missing"), "", nil)
	stale := rec
	stale.Version = 99
	_, loadErr := b.Load(ctx, missing.Key)
	_, createErr := b.Create(ctx, rec)
	_, updateMissingErr := b.Update(ctx, missing)
	_, updateStaleErr := b.Update(ctx, stale)
	touchErr := b.Touch(ctx, missing.Key, time.Now().Add(time.Hour))
	for _, c := range []struct {
		err  error
		want error
		what string
	}{
		{loadErr, backend.ErrNotFound, "Load of a missing key"},
		{createErr, backend.ErrExists, "Create of a taken key"},
		{updateMissingErr, backend.ErrNotFound, "Update of a missing key"},
		{updateStaleErr, backend.ErrConflict, "Update with a wrong version"},
		{touchErr, backend.ErrNotFound, "Touch of a missing key"},
	} {
		if err := wantErr(c.err, c.want, c.what); err != nil {
			return err
		}
		// Wrapped once more, as a caller would, it still matches.
		if !errors.Is(failf("caller: %w", c.err), c.want) {
			return failf("%s: %v does not match %s once wrapped", c.what, c.err, sentinelName(c.want))
		}
	}
	return nil
}

func checkCloseTwice(ctx context.Context, b backend.Backend) error {
	if _, err := create(ctx, b, newRecord(newKey("close"), "", []byte("x"))); err != nil {
		return err
	}
	if err := b.Close(); err != nil {
		return failf("first Close: %w", err)
	}
	if err := b.Close(); err != nil {
		return failf("second Close: %w (calling Close more than once is not an error)", err)
	}
	return nil
}
