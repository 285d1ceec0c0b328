package redisbackend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestOwnerIndexInterleavings drives the Cluster's owner index protocol
// step by step through the interleavings of a pruner (snapshot, read,
// prune) and a writer (claim, write, release) that lost entries before,
// and checks that the entry of the written session survives each of them
// (see owners.go). TestOwnerIndexSweep does the same off a Cluster.
func TestOwnerIndexInterleavings(t *testing.T) {
	srv := redistest.Standalone(t)
	client := newTestClient(t, srv.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// Each step is one action of the pruner (p*) or the writer (w*); the
	// order is the interleaving.
	type steps []string
	cases := map[string]steps{
		// The writer claims after the pruner's snapshot: the generation
		// changed, the prune is refused.
		"ClaimAfterSnapshot": {"pSnapshot", "wClaim", "pRead", "wWrite", "wRelease", "pPrune"},
		// The writer has claimed, not released, at the snapshot: pending,
		// never pruned.
		"PendingAtSnapshot": {"wClaim", "pSnapshot", "pRead", "wWrite", "pPrune", "wRelease"},
		// The whole write between the read and the prune.
		"WriteBetweenReadAndPrune": {"pSnapshot", "pRead", "wClaim", "wWrite", "wRelease", "pPrune"},
		// Two pruners of the same stale entry; the writer claims it anew
		// after the first prune emptied the index (the case the old index
		// lost: the second pruner removed the new entry).
		"TwoPruners": {"pSnapshot", "qSnapshot", "pRead", "pPrune", "wClaim", "qRead", "wWrite", "wRelease", "qPrune"},
	}
	for name, order := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := New(client, WithPrefix("il"+name+":"))
			if err != nil {
				t.Fatal(err)
			}
			b.cluster = true // the claims protocol, on one server
			rec := testRecord("k", "olga", "p")
			var kb keyBuf
			rk, h := b.sessionKey(&kb, rec.Key)
			val, times, err := encodeAt(rec, 1)
			abs := times.abs
			if err != nil {
				t.Fatal(err)
			}
			idx := b.ownerIndex(rec.Owner)
			// A stale entry of h to begin with: claimed once by a write
			// that never happened.
			c0, err := idx.claim(ctx, "test", h, abs)
			if err != nil {
				t.Fatal(err)
			}
			c0.release()

			type pruner struct {
				snap  []indexEntry
				stale []indexEntry
			}
			ps := map[byte]*pruner{'p': {}, 'q': {}}
			var c *claim
			for _, step := range order {
				p := ps[step[0]]
				switch step[1:] {
				case "Snapshot":
					if p.snap, err = idx.snapshot(ctx, "test"); err != nil {
						t.Fatal(err)
					}
				case "Read":
					if _, _, p.stale, err = idx.check(ctx, p.snap); err != nil {
						t.Fatal(err)
					}
				case "Prune":
					idx.prune(ctx, p.stale)
				case "Claim":
					if c, err = idx.claim(ctx, "test", h, abs); err != nil {
						t.Fatal(err)
					}
				case "Write": // the record and its name, as Create's script writes them
					for _, r := range client.DoMulti(ctx, client.B().Set().Key(rk).Value(val).Build(), client.B().Set().Key(b.nameKey(h)).Value(rec.Key).Build()) {
						if err := r.Error(); err != nil {
							t.Fatal(err)
						}
					}
				case "Release":
					c.release()
				default:
					t.Fatalf("unknown step %q", step)
				}
			}
			expectWritten(t, ctx, b, rec.Owner, order)
		})
	}

	t.Run("PruneStale", func(t *testing.T) {
		// Without a writer, a stale entry is pruned, and the claims key goes
		// with the last entry.
		b, err := New(client, WithPrefix("ilstale:"))
		if err != nil {
			t.Fatal(err)
		}
		b.cluster = true // the claims protocol, on one server
		idx := b.ownerIndex("olga")
		c, err := idx.claim(ctx, "test", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", time.Now().Add(time.Hour).UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
		c.release()
		if got, err := b.ListByOwner(ctx, "olga"); err != nil || len(got) != 0 {
			t.Fatalf("ListByOwner = %d, %v; want 0", len(got), err)
		}
		if keys := srv.Do(t, "KEYS", "ilstale:*"); keys != "" {
			t.Fatalf("keys left after pruning the only entry: %q", keys)
		}
	})

	t.Run("LapsedClaim", func(t *testing.T) {
		// A writer that never releases blocks pruning only until its lease
		// lapses; DeleteByOwner waits for it meanwhile, within its context.
		b, err := New(client, WithPrefix("illapse:"), WithOpTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		b.cluster = true // the claims protocol, on one server
		idx := b.ownerIndex("olga")
		h := "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
		if _, err := idx.claim(ctx, "test", h, time.Now().Add(time.Hour).UnixMicro()); err != nil {
			t.Fatal(err)
		}
		snap, err := idx.snapshot(ctx, "test")
		if err != nil || len(snap) != 1 || !snap[0].pending {
			t.Fatalf("snapshot with an unreleased claim = %+v, %v; want one pending entry", snap, err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := b.DeleteByOwner(short, "olga"); err == nil {
			t.Fatal("DeleteByOwner returned while a claim was pending")
		}
		// The lease is the operation timeout plus claimLeaseMargin.
		deadline := time.Now().Add(100*time.Millisecond + claimLeaseMargin + 2*time.Second)
		for {
			n, err := b.DeleteByOwner(ctx, "olga")
			if err == nil {
				if n != 0 {
					t.Fatalf("DeleteByOwner = %d, want 0", n)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DeleteByOwner still fails after the lease lapsed: %v", err)
			}
		}
		if keys := srv.Do(t, "KEYS", "illapse:*"); keys != "" {
			t.Fatalf("keys left after the lapsed claim was pruned: %q", keys)
		}
	})
}

// TestOwnerIndexSweep: off a Cluster a writer adds the index entry in the
// script of its write, and a pruner removes one only in a sweep that reads
// the session in the same script. Whatever the pruner saw before, a write
// between its snapshot or read and its sweep keeps the entry; a stale
// entry is removed; and a sweep reports members it was not given, so that
// DeleteByOwner does not stop before a session it never saw.
func TestOwnerIndexSweep(t *testing.T) {
	srv := redistest.Standalone(t)
	client := newTestClient(t, srv.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	cases := map[string][]string{
		"WriteBetweenReadAndSweep":     {"pSnapshot", "pRead", "wWrite", "pSweep"},
		"WriteBetweenSnapshotAndRead":  {"pSnapshot", "wWrite", "pRead", "pSweep"},
		"TwoPruners":                   {"pSnapshot", "qSnapshot", "pRead", "pSweep", "wWrite", "qRead", "qSweep"},
		"WriteAfterTheSweepOfTheOther": {"pSnapshot", "pRead", "qSnapshot", "qRead", "qSweep", "wWrite", "pSweep"},
	}
	for name, order := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := New(client, WithPrefix("sw"+name+":"))
			if err != nil {
				t.Fatal(err)
			}
			rec := testRecord("k", "olga", "p")
			idx := staleEntry(t, ctx, b, rec)
			type pruner struct{ snap, stale []indexEntry }
			ps := map[byte]*pruner{'p': {}, 'q': {}}
			for _, step := range order {
				p := ps[step[0]]
				switch step[1:] {
				case "Snapshot":
					if p.snap, err = idx.snapshot(ctx, "test"); err != nil || len(p.snap) != 1 {
						t.Fatalf("snapshot = %+v, %v; want the stale entry", p.snap, err)
					}
				case "Read":
					if _, _, p.stale, err = idx.check(ctx, p.snap); err != nil {
						t.Fatal(err)
					}
				case "Sweep":
					idx.prune(ctx, p.stale)
				case "Write":
					if _, err := b.Create(ctx, rec); err != nil {
						t.Fatal(err)
					}
				default:
					t.Fatalf("unknown step %q", step)
				}
			}
			expectWritten(t, ctx, b, rec.Owner, order)
			if keys := srv.Do(t, "KEYS", "sw"+name+":*"); keys != "" {
				t.Fatalf("keys left after DeleteByOwner: %q", keys)
			}
		})
	}

	t.Run("PruneStale", func(t *testing.T) {
		// The control: without a writer the stale entry goes, and the
		// index key with it.
		b, err := New(client, WithPrefix("swstale:"))
		if err != nil {
			t.Fatal(err)
		}
		rec := testRecord("k", "olga", "p")
		idx := staleEntry(t, ctx, b, rec)
		snap, err := idx.snapshot(ctx, "test")
		if err != nil || len(snap) != 1 {
			t.Fatalf("snapshot = %+v, %v; want the stale entry", snap, err)
		}
		live, others, err := idx.sweep(ctx, snap)
		if err != nil || live != 0 || others != 0 {
			t.Fatalf("sweep = %d live, %d others, %v; want 0, 0", live, others, err)
		}
		if keys := srv.Do(t, "KEYS", "swstale:*"); keys != "" {
			t.Fatalf("keys left after sweeping the only entry: %q", keys)
		}
	})

	t.Run("ForeignMember", func(t *testing.T) {
		// A member that is no session hash (something else wrote it) is
		// not a session of the owner: DeleteByOwner ends, and drops it.
		b, err := New(client, WithPrefix("swforeign:"), WithOpTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, testRecord("a", "olga", "p")); err != nil {
			t.Fatal(err)
		}
		srv.Do(t, "ZADD", b.ownerIndex("olga").keys[0], fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()), "junk")
		if n, err := b.DeleteByOwner(ctx, "olga"); n != 1 || err != nil {
			t.Fatalf("DeleteByOwner with a foreign member in the index = %d, %v; want 1, nil", n, err)
		}
		if keys := srv.Do(t, "KEYS", "swforeign:*"); keys != "" {
			t.Fatalf("keys left after DeleteByOwner: %q", keys)
		}
	})

	t.Run("ManyInBatches", func(t *testing.T) {
		// More sessions than one deletion call takes, under hashed keys and
		// keys of the Manager's form, some past their idle deadline by
		// the application's clock, and one of another owner: every live
		// session of the owner is deleted and counted, the expired ones
		// deleted uncounted, the other owner's kept.
		b, err := New(client, WithPrefix("swmany:"))
		if err != nil {
			t.Fatal(err)
		}
		const n = 2*deleteBatch + 7
		for i := range n {
			key := fmt.Sprint("hashed-", i)
			if i%2 == 0 {
				key = fmt.Sprintf("%043d", i) // a storage key of the Manager's form
			}
			rec := testRecord(key, "olga", "p")
			if i%10 == 3 {
				rec.IdleDeadline = time.Now().Add(50 * time.Millisecond)
			}
			if _, err := b.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Create(ctx, testRecord("bob's", "bob", "p")); err != nil {
			t.Fatal(err)
		}
		expired := 0
		for i := range n {
			if i%10 == 3 {
				expired++
			}
		}
		time.Sleep(60 * time.Millisecond) // the expiry is the subject: past the short idle deadlines
		if got, err := b.DeleteByOwner(ctx, "olga"); err != nil || got != n-expired {
			t.Fatalf("DeleteByOwner = %d, %v; want %d", got, err, n-expired)
		}
		if list, err := b.ListByOwner(ctx, "olga"); err != nil || len(list) != 0 {
			t.Fatalf("ListByOwner after DeleteByOwner = %d, %v; want 0", len(list), err)
		}
		if list, err := b.ListByOwner(ctx, "bob"); err != nil || len(list) != 1 {
			t.Fatalf("ListByOwner of another owner = %d, %v; want 1", len(list), err)
		}
	})

	t.Run("OthersCounted", func(t *testing.T) {
		// A session created after the snapshot is a member the sweep was
		// not given: it counts, so DeleteByOwner goes on.
		b, err := New(client, WithPrefix("swothers:"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, testRecord("a", "olga", "p")); err != nil {
			t.Fatal(err)
		}
		idx := b.ownerIndex("olga")
		snap, err := idx.snapshot(ctx, "test")
		if err != nil || len(snap) != 1 {
			t.Fatalf("snapshot = %+v, %v; want one entry", snap, err)
		}
		if _, err := b.Create(ctx, testRecord("b", "olga", "p")); err != nil {
			t.Fatal(err)
		}
		live, others, err := idx.sweep(ctx, snap)
		if err != nil || live != 1 || others != 1 {
			t.Fatalf("sweep = %d live, %d others, %v; want 1, 1", live, others, err)
		}
	})
}

// staleEntry leaves a stale entry of rec in its owner's index (its session
// created, then deleted) and returns the index.
func staleEntry(t *testing.T, ctx context.Context, b *Backend, rec backend.Record) ownerIndex {
	t.Helper()
	if _, err := b.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, rec.Key); err != nil {
		t.Fatal(err)
	}
	return b.ownerIndex(rec.Owner)
}

// expectWritten fails t unless owner lists exactly the written session
// after the steps of order, and DeleteByOwner then ends it.
func expectWritten(t *testing.T, ctx context.Context, b *Backend, owner string, order []string) {
	t.Helper()
	got, err := b.ListByOwner(ctx, owner)
	if err != nil || len(got) != 1 {
		t.Fatalf("after %v: ListByOwner = %d records, %v; want the written session", order, len(got), err)
	}
	if n, err := b.DeleteByOwner(ctx, owner); n != 1 || err != nil {
		t.Fatalf("DeleteByOwner = %d, %v; want 1", n, err)
	}
}
