package conformance

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// The checks of the OwnerIndex capability. Each ListByOwner result is
// cross-checked against Load.

// expectList checks that ListByOwner(owner) returns exactly want (compared
// field by field) and that every record it returns Loads the same.
func expectList(ctx context.Context, b backend.Backend, owner string, want []backend.Record, what string) error {
	idx := b.(backend.OwnerIndex)
	got, err := idx.ListByOwner(ctx, owner)
	if err != nil {
		return failf("%s: ListByOwner(%s): %w", what, show(owner), err)
	}
	wantByKey := map[string]backend.Record{}
	for _, r := range want {
		wantByKey[r.Key] = r
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.Key] {
			return failf("%s: ListByOwner(%s) returned key %s twice", what, show(owner), show(r.Key))
		}
		seen[r.Key] = true
		w, ok := wantByKey[r.Key]
		if !ok {
			return failf("%s: ListByOwner(%s) returned key %s (Owner %s), which is not a live record of that owner", what, show(owner), show(r.Key), show(r.Owner))
		}
		if err := sameRecord(r, w); err != nil {
			return failf("%s: ListByOwner(%s) returned key %s unlike the stored record: %w", what, show(owner), show(r.Key), err)
		}
		loaded, err := b.Load(ctx, r.Key)
		if err != nil {
			return failf("%s: ListByOwner(%s) returned key %s, but Load of it: %w", what, show(owner), show(r.Key), err)
		}
		if err := sameRecord(loaded, r); err != nil {
			return failf("%s: ListByOwner(%s) and Load disagree on key %s: %w", what, show(owner), show(r.Key), err)
		}
	}
	for _, w := range want {
		if !seen[w.Key] {
			hint := ""
			if _, err := b.Load(ctx, w.Key); err == nil {
				hint = wrapperHint
			}
			return failf("%s: ListByOwner(%s) returned %d records and missed the live record %s, which Load returns%s", what, show(owner), len(got), show(w.Key), hint)
		}
	}
	return nil
}

// createN creates n records of owner.
func createN(ctx context.Context, b backend.Backend, owner string, n int) ([]backend.Record, error) {
	recs := make([]backend.Record, n)
	for i := range recs {
		rec, err := create(ctx, b, newRecord(newKey("owned"), owner, fmt.Appendf(nil, "%s #%d", owner, i)))
		if err != nil {
			return nil, err
		}
		recs[i] = rec
	}
	return recs, nil
}

func checkOwnerList(ctx context.Context, b backend.Backend) error {
	a, bob := newOwner("a"), newOwner("b")
	as, err := createN(ctx, b, a, 3)
	if err != nil {
		return err
	}
	bs, err := createN(ctx, b, bob, 2)
	if err != nil {
		return err
	}
	if _, err := createN(ctx, b, "", 1); err != nil {
		return err
	}
	// A prefix of an owner is another owner.
	if _, err := createN(ctx, b, a[:len(a)-1], 1); err != nil {
		return err
	}
	if err := expectList(ctx, b, a, as, "three records of one owner"); err != nil {
		return err
	}
	return expectList(ctx, b, bob, bs, "two records of another owner")
}

func checkOwnerEmpty(ctx context.Context, b backend.Backend) error {
	owner := newOwner("nobody")
	got, err := b.(backend.OwnerIndex).ListByOwner(ctx, owner)
	if err != nil {
		return failf("ListByOwner of an owner without records: %w (want an empty result)", err)
	}
	if len(got) != 0 {
		return failf("ListByOwner of an owner without records returned %d records", len(got))
	}
	n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, owner)
	if err != nil || n != 0 {
		return failf("DeleteByOwner of an owner without records = %d, %v; want 0, nil", n, err)
	}
	return nil
}

func checkOwnerDeleted(ctx context.Context, b backend.Backend) error {
	owner := newOwner("deleted")
	recs, err := createN(ctx, b, owner, 3)
	if err != nil {
		return err
	}
	if err := expectList(ctx, b, owner, recs, "before Delete"); err != nil {
		return err
	}
	for len(recs) > 0 {
		if err := b.Delete(ctx, recs[0].Key); err != nil {
			return failf("Delete: %w", err)
		}
		recs = recs[1:]
		if err := expectList(ctx, b, owner, recs, "after Delete of one record"); err != nil {
			return err
		}
	}
	return nil
}

func checkOwnerExpired(ctx context.Context, b backend.Backend) error {
	owner := newOwner("expired")
	long, err := create(ctx, b, newRecord(newKey("owned-long"), owner, []byte("long")))
	if err != nil {
		return err
	}
	short := shortRecord("owned-short", owner, 200*time.Millisecond, time.Hour)
	if _, err := create(ctx, b, short); err != nil {
		return err
	}
	if _, err := b.(backend.OwnerIndex).ListByOwner(ctx, owner); err != nil {
		return failf("ListByOwner: %w", err)
	}
	if err := awaitGone(ctx, b, short.Key, short.IdleDeadline, "at the idle deadline"); err != nil {
		return err
	}
	if err := sleepUntil(ctx, short.IdleDeadline.Add(clockSkew)); err != nil {
		return err
	}
	if err := expectList(ctx, b, owner, []backend.Record{long}, "after one of two records expired"); err != nil {
		return err
	}
	n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, owner)
	if err != nil {
		return failf("DeleteByOwner: %w", err)
	}
	if n != 1 {
		return failf("DeleteByOwner of an owner with one live and one expired record = %d, want 1 (live records only)", n)
	}
	return expectGone(ctx, b, long.Key, "after DeleteByOwner")
}

func checkOwnerFollowsUpdate(ctx context.Context, b backend.Backend) error {
	a, bob := newOwner("from"), newOwner("to")
	rec, err := create(ctx, b, newRecord(newKey("owner-change"), a, []byte("x")))
	if err != nil {
		return err
	}
	if err := expectList(ctx, b, a, []backend.Record{rec}, "before the Owner change"); err != nil {
		return err
	}
	for _, to := range []string{bob, a, bob} {
		from := rec.Owner
		rec.Owner = to
		if rec, err = b.Update(ctx, rec); err != nil {
			return failf("Update of Owner: %w", err)
		}
		if err := expectList(ctx, b, from, nil, "after Update moved the record to another owner, the old owner"); err != nil {
			return err
		}
		if err := expectList(ctx, b, to, []backend.Record{rec}, "after Update moved the record to another owner, the new owner"); err != nil {
			return err
		}
	}
	// A Touch shows in the listing too.
	idle := time.Now().Add(20 * time.Minute)
	if err := b.Touch(ctx, rec.Key, idle); err != nil {
		return failf("Touch: %w", err)
	}
	rec.IdleDeadline = idle
	return expectList(ctx, b, bob, []backend.Record{rec}, "after Touch")
}

func checkOwnerAnonymous(ctx context.Context, b backend.Backend) error {
	user := newOwner("login")
	rec, err := create(ctx, b, newRecord(newKey("anonymous"), "", []byte("x")))
	if err != nil {
		return err
	}
	if err := expectList(ctx, b, user, nil, "an anonymous record"); err != nil {
		return err
	}
	rec.Owner = user // log in
	if rec, err = b.Update(ctx, rec); err != nil {
		return failf("Update of Owner from \"\": %w", err)
	}
	if err := expectList(ctx, b, user, []backend.Record{rec}, "after Update from \"\" to an owner (log in)"); err != nil {
		return err
	}
	rec.Owner = "" // log out
	if rec, err = b.Update(ctx, rec); err != nil {
		return failf("Update of Owner to \"\": %w", err)
	}
	if err := expectList(ctx, b, user, nil, "after Update from an owner to \"\" (log out)"); err != nil {
		return err
	}
	// Whether "" is indexed is the backend's choice; what it lists must be
	// anonymous and live.
	anon, err := b.(backend.OwnerIndex).ListByOwner(ctx, "")
	if err != nil {
		return failf("ListByOwner(\"\"): %w", err)
	}
	for _, r := range anon {
		if r.Owner != "" {
			return failf("ListByOwner(\"\") returned key %s of owner %s", show(r.Key), show(r.Owner))
		}
		loaded, err := b.Load(ctx, r.Key)
		if err != nil {
			return failf("ListByOwner(\"\") returned key %s, but Load of it: %w", show(r.Key), err)
		}
		if err := sameRecord(loaded, r); err != nil {
			return failf("ListByOwner(\"\") and Load disagree on key %s: %w", show(r.Key), err)
		}
	}
	return nil
}

func checkOwnerDeleteByOwner(ctx context.Context, b backend.Backend) error {
	a, bob := newOwner("a"), newOwner("b")
	as, err := createN(ctx, b, a, 5)
	if err != nil {
		return err
	}
	bs, err := createN(ctx, b, bob, 2)
	if err != nil {
		return err
	}
	anon, err := createN(ctx, b, "", 1)
	if err != nil {
		return err
	}
	prefix, err := createN(ctx, b, a[:len(a)-1], 1)
	if err != nil {
		return err
	}
	// One of a's records is deleted, one moves to bob.
	if err := b.Delete(ctx, as[3].Key); err != nil {
		return failf("Delete: %w", err)
	}
	moved := as[4]
	moved.Owner = bob
	if moved, err = b.Update(ctx, moved); err != nil {
		return failf("Update of Owner: %w", err)
	}
	bs = append(bs, moved)
	n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, a)
	if err != nil {
		return failf("DeleteByOwner: %w", err)
	}
	if n != 3 {
		return failf("DeleteByOwner of an owner with 3 live records (one more deleted, one moved away) = %d, want 3", n)
	}
	for _, r := range as[:3] {
		if err := expectGone(ctx, b, r.Key, "after DeleteByOwner"); err != nil {
			return err
		}
	}
	for _, r := range append(append(bs, anon...), prefix...) {
		if err := expectStored(ctx, b, r, "a record of another owner after DeleteByOwner"); err != nil {
			return err
		}
	}
	if err := expectList(ctx, b, a, nil, "after DeleteByOwner"); err != nil {
		return err
	}
	if err := expectList(ctx, b, bob, bs, "another owner after DeleteByOwner"); err != nil {
		return err
	}
	if n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, a); err != nil || n != 0 {
		return failf("second DeleteByOwner = %d, %v; want 0, nil", n, err)
	}
	return nil
}

func checkOwnerHostile(ctx context.Context, b backend.Backend) error {
	owners := hostileStrings(uniq())
	recs := make([]backend.Record, len(owners))
	for i, o := range owners {
		rec, err := create(ctx, b, newRecord(newKey("hostile-owner"), o, []byte(o)))
		if err != nil {
			return failf("owner %s: %w", show(o), err)
		}
		recs[i] = rec
	}
	for i, o := range owners {
		if err := expectList(ctx, b, o, recs[i:i+1], "hostile owner"); err != nil {
			return err
		}
	}
	for i := 0; i < len(owners); i += 2 {
		n, err := b.(backend.OwnerIndex).DeleteByOwner(ctx, owners[i])
		if err != nil || n != 1 {
			return failf("DeleteByOwner(%s) of an owner with one record = %d, %v; want 1, nil", show(owners[i]), n, err)
		}
	}
	for i, o := range owners {
		want := recs[i : i+1]
		if i%2 == 0 {
			want = nil
		}
		if err := expectList(ctx, b, o, want, "hostile owner after DeleteByOwner of every other one"); err != nil {
			return err
		}
	}
	return nil
}

func checkOwnerIsolation(ctx context.Context, b backend.Backend) error {
	owner := newOwner("isolation")
	recs, err := createN(ctx, b, owner, 2)
	if err != nil {
		return err
	}
	got, err := b.(backend.OwnerIndex).ListByOwner(ctx, owner)
	if err != nil {
		return failf("ListByOwner: %w", err)
	}
	for i := range recs {
		recs[i].Payload = bytes.Clone(recs[i].Payload) // our own copies
	}
	for _, r := range got {
		scribble(r.Payload)
		scribbleBeyond(r.Payload)
	}
	return expectList(ctx, b, owner, recs, "after the caller changed the Payloads ListByOwner returned")
}
