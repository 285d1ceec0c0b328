package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// precision is how far a stored time may be from the one passed in: a store
// may keep millisecond precision.
const precision = time.Millisecond

// clockSkew is the allowance between the test's clock and the store's in
// the expiry checks: a Load that begins more than clockSkew after a deadline
// must not return the record, and one that ends more than clockSkew before
// it must.
const clockSkew = 100 * time.Millisecond

// pollEvery is the pause between two Loads while waiting for a record to
// expire.
const pollEvery = 15 * time.Millisecond

// uniq returns 16 random hex digits, so that keys and owners of different
// cases, runs and processes never meet in a shared store.
func uniq() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newKey returns a key no other case uses.
func newKey(tag string) string { return "conformance:" + tag + ":" + uniq() }

// newOwner returns an owner no other case uses.
func newOwner(tag string) string { return "owner:" + tag + ":" + uniq() }

// newRecord returns a record for key with deadlines an hour and two hours
// away.
func newRecord(key, owner string, payload []byte) backend.Record {
	now := time.Now()
	return backend.Record{
		Key:              key,
		Owner:            owner,
		Payload:          payload,
		CreatedAt:        now,
		IdleDeadline:     now.Add(time.Hour),
		AbsoluteDeadline: now.Add(2 * time.Hour),
	}
}

// show quotes s for a message, shortened if long.
func show(s string) string {
	if len(s) > 48 {
		return fmt.Sprintf("%q…(%d bytes)", s[:40], len(s))
	}
	return strconv.Quote(s)
}

// create stores rec and returns what Create returned, checked against rec.
func create(ctx context.Context, b backend.Backend, rec backend.Record) (backend.Record, error) {
	got, err := b.Create(ctx, rec)
	if err != nil {
		return got, failf("Create(%s): %w", show(rec.Key), err)
	}
	want := rec
	want.Version = 1
	if err := sameRecord(got, want); err != nil {
		return got, failf("Create(%s) returned a record unlike the one passed in: %w", show(rec.Key), err)
	}
	return got, nil
}

// load loads key, which must be live.
func load(ctx context.Context, b backend.Backend, key string) (backend.Record, error) {
	rec, err := b.Load(ctx, key)
	if err != nil {
		return rec, failf("Load(%s) of a live record: %w", show(key), err)
	}
	if rec.Key != key {
		return rec, failf("Load(%s) returned a record with Key %s", show(key), show(rec.Key))
	}
	return rec, nil
}

// expectStored loads want.Key and compares the result with want.
func expectStored(ctx context.Context, b backend.Backend, want backend.Record, what string) error {
	got, err := load(ctx, b, want.Key)
	if err != nil {
		return failf("%s: %w", what, err)
	}
	if err := sameRecord(got, want); err != nil {
		return failf("%s: Load(%s): %w", what, show(want.Key), err)
	}
	return nil
}

// expectGone checks that key has no live record.
func expectGone(ctx context.Context, b backend.Backend, key, what string) error {
	_, err := b.Load(ctx, key)
	return wantErr(err, backend.ErrNotFound, what+": Load("+show(key)+")")
}

// sameRecord reports the fields in which got differs from want. Times may
// differ by up to precision; payloads of length 0 are equal whether nil or
// empty.
func sameRecord(got, want backend.Record) error {
	var diffs []string
	if got.Key != want.Key {
		diffs = append(diffs, fmt.Sprintf("Key = %s, want %s", show(got.Key), show(want.Key)))
	}
	if got.Owner != want.Owner {
		diffs = append(diffs, fmt.Sprintf("Owner = %s, want %s", show(got.Owner), show(want.Owner)))
	}
	if err := samePayload(got.Payload, want.Payload); err != nil {
		diffs = append(diffs, err.Error())
	}
	if got.Version != want.Version {
		diffs = append(diffs, fmt.Sprintf("Version = %d, want %d", got.Version, want.Version))
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"IdleDeadline", got.IdleDeadline, want.IdleDeadline},
		{"AbsoluteDeadline", got.AbsoluteDeadline, want.AbsoluteDeadline},
	} {
		if !sameTime(f.got, f.want) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v (±%v)", f.name, f.got.Round(0), f.want.Round(0), precision))
		}
	}
	if diffs == nil {
		return nil
	}
	return errors.New(strings.Join(diffs, "; "))
}

// sameTime reports whether a and b are the same instant to within
// precision, whatever their locations and monotonic readings.
func sameTime(a, b time.Time) bool {
	d := a.Round(0).Sub(b.Round(0))
	return d <= precision && d >= -precision
}

// samePayload compares payloads without printing a megabyte.
func samePayload(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return failf("Payload has %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return failf("Payload differs at byte %d of %d: %#02x, want %#02x", i, len(got), got[i], want[i])
		}
	}
	return nil
}

// sentinels are the errors of package backend, named for messages.
var sentinels = []struct {
	err  error
	name string
}{
	{backend.ErrNotFound, "backend.ErrNotFound"},
	{backend.ErrExists, "backend.ErrExists"},
	{backend.ErrConflict, "backend.ErrConflict"},
	{backend.ErrUnavailable, "backend.ErrUnavailable"},
	{backend.ErrNotDurable, "backend.ErrNotDurable"},
	{backend.ErrCorrupt, "backend.ErrCorrupt"},
}

func sentinelName(err error) string {
	for _, s := range sentinels {
		if s.err == err {
			return s.name
		}
	}
	return fmt.Sprintf("%v", err)
}

// wantErr checks that err matches want (with errors.Is) and no other
// sentinel of package backend: a not-found that also reads as a conflict
// would send a caller down the wrong path.
func wantErr(err, want error, what string) error {
	if err == nil {
		return failf("%s: got no error, want one matching %s", what, sentinelName(want))
	}
	if !errors.Is(err, want) {
		return failf("%s: got error %q (%T), want one matching %s with errors.Is", what, err, err, sentinelName(want))
	}
	for _, s := range sentinels {
		if s.err != want && errors.Is(err, s.err) {
			return failf("%s: error %q matches %s and also %s", what, err, sentinelName(want), s.name)
		}
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepUntil waits until the instant at or until ctx is done.
func sleepUntil(ctx context.Context, at time.Time) error {
	return sleep(ctx, time.Until(at))
}

// errTooLate says a liveness check could not be decided: the call ended too
// close to the deadline (a slow machine), so a not-found proves nothing.
var errTooLate = errors.New("too close to the deadline to tell")

// expectLive loads key, whose record must live until deadline. A not-found
// from a Load that ended more than clockSkew before deadline is an error;
// one that ended later returns errTooLate, which callers treat as "cannot
// tell" rather than as a failure.
func expectLive(ctx context.Context, b backend.Backend, key string, deadline time.Time, what string) (backend.Record, error) {
	rec, err := b.Load(ctx, key)
	end := time.Now()
	if errors.Is(err, backend.ErrNotFound) {
		if end.Before(deadline.Add(-clockSkew)) {
			return rec, failf("%s: Load(%s) = not found %v before the deadline: the record expired early (%v)", what, show(key), deadline.Sub(end).Round(time.Millisecond), err)
		}
		return rec, errTooLate
	}
	if err != nil {
		return rec, failf("%s: Load(%s): %w", what, show(key), err)
	}
	return rec, nil
}

// awaitGone polls Load until key is not found. It fails if a Load that
// began more than clockSkew after deadline still returned the record, or
// if the record was not found earlier than clockSkew before deadline.
// Once not found, the record must stay so: one more Load checks that.
func awaitGone(ctx context.Context, b backend.Backend, key string, deadline time.Time, what string) error {
	for {
		start := time.Now()
		rec, err := b.Load(ctx, key)
		end := time.Now()
		if errors.Is(err, backend.ErrNotFound) {
			if end.Before(deadline.Add(-clockSkew)) {
				return failf("%s: Load(%s) = not found %v before the deadline: the record expired early", what, show(key), deadline.Sub(end).Round(time.Millisecond))
			}
			if err := sleep(ctx, pollEvery); err != nil {
				return err
			}
			_, err := b.Load(ctx, key)
			return wantErr(err, backend.ErrNotFound, what+": Load("+show(key)+") again after the record expired")
		}
		if err != nil {
			return failf("%s: Load(%s) while waiting for expiry: %w", what, show(key), err)
		}
		if late := start.Sub(deadline); late > clockSkew {
			return failf("%s: Load(%s) that began %v after the deadline %v still returned the record (IdleDeadline %v, AbsoluteDeadline %v)",
				what, show(key), late.Round(time.Millisecond), deadline.Round(0), rec.IdleDeadline.Round(0), rec.AbsoluteDeadline.Round(0))
		}
		if err := sleep(ctx, min(pollEvery, time.Until(deadline.Add(clockSkew))+time.Millisecond)); err != nil {
			return err
		}
	}
}
