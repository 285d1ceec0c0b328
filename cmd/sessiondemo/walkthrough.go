package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
)

// Visit is the typed session data of the walkthrough.
type Visit struct {
	Name    string
	Counter int
	Cart    map[string]int
}

// walkthrough runs the session lifecycle once over the in-memory backend,
// printing what happens: create, read, update, concurrent updates, renew,
// log out everywhere and expiry. Expiry uses a manual clock, so it does not
// wait.
func walkthrough(ctx context.Context, w io.Writer) error {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	store := memorybackend.New(memorybackend.WithClock(clock))
	defer store.Close()
	m, err := session.NewManager[Visit](store,
		session.WithClock(clock),
		session.WithIdleTimeout(15*time.Minute),
		session.WithAbsoluteTimeout(8*time.Hour))
	if err != nil {
		return err
	}

	s, err := m.Create(ctx, "", Visit{Cart: map[string]int{}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "create:      anonymous session, ID %s… stored only as SHA-256 %s…\n", s.ID[:8], s.Handle()[:8])

	got, err := m.Get(ctx, s.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "read:        counter=%d, idle deadline %s, absolute %s\n",
		got.Data.Counter, got.IdleDeadline.Format(time.TimeOnly), got.AbsoluteDeadline.Format(time.DateTime))

	got, err = m.Update(ctx, s.ID, func(s *session.Session[Visit]) error {
		s.Data.Cart["apple"] += 3
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "update:      cart=%v\n", got.Data.Cart)

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := m.Update(ctx, s.ID, func(s *session.Session[Visit]) error {
				s.Data.Counter++
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	got, err = m.Get(ctx, s.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "concurrency: 50 goroutines incremented at once, counter=%d (no lost update)\n", got.Data.Counter)

	oldID := got.ID
	got.Owner, got.Data.Name = "ada", "Ada"
	if err := m.Renew(ctx, got); err != nil {
		return err
	}
	_, err = m.Get(ctx, oldID)
	fmt.Fprintf(w, "login:       Renew gave ID %s…; the old ID %s… is not found: %t\n",
		got.ID[:8], oldID[:8], errors.Is(err, session.ErrNotFound))

	if _, err := m.Create(ctx, "ada", Visit{Name: "Ada on her phone"}); err != nil {
		return err
	}
	list, err := m.ListByOwner(ctx, "ada")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "devices:     ada has %d sessions\n", len(list))
	n, err := m.DestroyByOwner(ctx, "ada")
	if err != nil {
		return err
	}
	_, err = m.Get(ctx, got.ID)
	fmt.Fprintf(w, "logout all:  destroyed %d sessions; laptop session not found: %t\n", n, errors.Is(err, session.ErrNotFound))

	idle, err := m.Create(ctx, "", Visit{})
	if err != nil {
		return err
	}
	advance(10 * time.Minute)
	_, err = m.Get(ctx, idle.ID)
	fmt.Fprintf(w, "expiry:      after 10 min idle the session lives: %t\n", err == nil)
	advance(16 * time.Minute)
	_, err = m.Get(ctx, idle.ID)
	fmt.Fprintf(w, "expiry:      after 16 more idle minutes it is gone: %t\n", errors.Is(err, session.ErrNotFound))
	return nil
}
