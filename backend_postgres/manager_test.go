package postgresbackend_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/session"
)

type counter struct{ N int }

// twoManagers returns two Managers, as on two application instances: each
// with its own pool and Backend, on one table.
func twoManagers(t *testing.T) [2]*session.Manager[counter] {
	t.Helper()
	table := postgresbackend.WithTable(freshTable())
	var ms [2]*session.Manager[counter]
	for i := range ms {
		m, err := session.NewManager[counter](newBackend(t, newPool(t), table))
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

// conflictCounter is a Backend that counts the conflicts its Updates
// return. It embeds the interface, so it promotes no capability.
type conflictCounter struct {
	backend.Backend
	conflicts *atomic.Int64
}

func (c conflictCounter) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	r, err := c.Backend.Update(ctx, rec)
	if errors.Is(err, backend.ErrConflict) {
		c.conflicts.Add(1)
	}
	return r, err
}

// TestManagerConcurrentUpdate: 100 goroutines on two Managers each make 20
// read-modify-write increments of one session: the counter ends at exactly
// 2000, and the stored version shows exactly 2000 successful writes.
//
// Each Manager lets its own Updates of a session take turns, so the two
// instances race each other without pause: an attempt loses whenever the
// other instance commits between its read and its compare-and-swap, and a
// commit waits for the WAL flush, most of a write's time. On a loaded
// machine an attempt can lose more than the Manager's default 100 times
// in a row, so the Managers here may try 1000 times; the conflicts are
// counted and logged.
func TestManagerConcurrentUpdate(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	table := postgresbackend.WithTable(freshTable())
	var conflicts atomic.Int64
	var ms [2]*session.Manager[counter]
	for i := range ms {
		b := conflictCounter{newBackend(t, newPool(t), table), &conflicts}
		m, err := session.NewManager[counter](b, session.WithUpdateAttempts(1000))
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	s, err := ms[0].Create(ctx, "frank", counter{})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 100, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			m := ms[w%2]
			for range each {
				if _, err := m.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N++; return nil }); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, m := range ms {
		got, err := m.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Data.N != workers*each {
			t.Errorf("Manager %d: counter = %d after %d increments", i, got.Data.N, workers*each)
		}
	}
	rec, err := ms[1].Backend().Load(ctx, s.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != 1+workers*each {
		t.Errorf("stored version %d, want %d (1 + one per increment)", rec.Version, 1+workers*each)
	}
	t.Logf("%d increments, %d compare-and-swap conflicts retried", workers*each, conflicts.Load())
}

// TestManagerRenew: Renew on one instance retires the old ID on both: Get,
// Update and Destroy of it find nothing, and the new ID carries the data
// and the owner.
func TestManagerRenew(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	ms := twoManagers(t)
	s, err := ms[0].Create(ctx, "", counter{N: 7})
	if err != nil {
		t.Fatal(err)
	}
	old := s.ID
	if _, err := ms[1].Get(ctx, old); err != nil {
		t.Fatalf("Get on the other instance before Renew: %v", err)
	}
	s.Owner = "grace" // log in
	if err := ms[0].Renew(ctx, s); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if s.ID == old {
		t.Fatal("Renew kept the ID")
	}
	for i, m := range ms {
		if _, err := m.Get(ctx, old); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Manager %d: Get of the old ID after Renew: %v, want ErrNotFound", i, err)
		}
		if _, err := m.Update(ctx, old, func(*session.Session[counter]) error { return nil }); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Manager %d: Update of the old ID after Renew: %v, want ErrNotFound", i, err)
		}
		got, err := m.Get(ctx, s.ID)
		if err != nil {
			t.Fatalf("Manager %d: Get of the new ID: %v", i, err)
		}
		if got.Data.N != 7 || got.Owner != "grace" {
			t.Errorf("Manager %d: new ID holds N=%d owner %q, want 7 and grace", i, got.Data.N, got.Owner)
		}
	}
	list, err := ms[1].ListByOwner(ctx, "grace")
	if err != nil || len(list) != 1 || list[0].Handle() != s.Handle() {
		t.Errorf("ListByOwner(grace) after Renew: %d sessions, %v; want the renewed one", len(list), err)
	}
}

// TestManagerDestroyByOwner: log out everywhere on one instance removes
// the owner's sessions created on both, and leaves other owners alone.
func TestManagerDestroyByOwner(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	ms := twoManagers(t)
	var ids []string
	for i := range 10 {
		s, err := ms[i%2].Create(ctx, "heidi", counter{N: i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	other, err := ms[1].Create(ctx, "ivan", counter{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ms[0].DestroyByOwner(ctx, "heidi")
	if err != nil || n != len(ids) {
		t.Fatalf("DestroyByOwner = %d, %v; want %d", n, err, len(ids))
	}
	for _, m := range ms {
		for _, id := range ids {
			if _, err := m.Get(ctx, id); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Get of a destroyed session: %v, want ErrNotFound", err)
			}
		}
		if list, err := m.ListByOwner(ctx, "heidi"); err != nil || len(list) != 0 {
			t.Errorf("ListByOwner after DestroyByOwner: %d sessions, %v", len(list), err)
		}
		if _, err := m.Get(ctx, other.ID); err != nil {
			t.Errorf("another owner's session after DestroyByOwner: %v", err)
		}
	}
}
