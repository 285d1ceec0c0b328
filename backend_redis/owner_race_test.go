package redisbackend_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/session"
)

// ownerRaceTime bounds each race of testOwnerRaces.
const ownerRaceTime = 2 * time.Second

// testOwnerRaces repeats the two races of "log out everywhere" at the
// Manager level, with three instances (Backends of one prefix) on client:
// sessions created on one instance while two others list their owner, and
// sessions renewed on one instance while another logs their owner out
// everywhere. Afterwards no session of the owner may be alive.
func testOwnerRaces(t *testing.T, client rueidis.Client) {
	prefix := "race" + uniq() + ":"
	managers := make([]*session.Manager[counter], 3)
	for i := range managers {
		b := newBackend(t, client, redisbackend.WithPrefix(prefix))
		m, err := session.NewManager[counter](b)
		if err != nil {
			t.Fatal(err)
		}
		managers[i] = m
	}
	t.Run("CreateWhileListing", func(t *testing.T) {
		testCreateWhileListing(t, managers)
	})
	t.Run("RenewWhileDestroying", func(t *testing.T) {
		testRenewWhileDestroying(t, managers)
	})
}

// expectAllGone fails t for every id that a fresh read still finds.
func expectAllGone(t *testing.T, ctx context.Context, m *session.Manager[counter], ids []string, what string) {
	t.Helper()
	alive := 0
	for _, id := range ids {
		_, err := m.GetFresh(ctx, id)
		switch {
		case err == nil:
			alive++
		case !errors.Is(err, session.ErrNotFound):
			t.Fatalf("GetFresh: %v", err)
		}
	}
	if alive > 0 {
		t.Fatalf("%s: %d of %d sessions alive", what, alive, len(ids))
	}
}

func testCreateWhileListing(t *testing.T, ms []*session.Manager[counter]) {
	ctx := ctxT(t, time.Minute)
	const owner, perCreator = "lovelace", 600
	stop := time.Now().Add(ownerRaceTime)
	var (
		mu       sync.Mutex
		ids      []string
		creators sync.WaitGroup
		listers  sync.WaitGroup
		done     = make(chan struct{})
		errs     = make(chan error, 4)
	)
	for c := range 2 {
		creators.Go(func() {
			for i := 0; i < perCreator && time.Now().Before(stop); i++ {
				s, err := ms[0].Create(ctx, owner, counter{N: c})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ids = append(ids, s.ID)
				mu.Unlock()
			}
		})
	}
	for _, m := range ms[1:] {
		listers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := m.ListByOwner(ctx, owner); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	creators.Wait()
	close(done)
	listers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if list, err := ms[2].ListByOwner(ctx, owner); err != nil || len(list) != len(ids) {
		t.Fatalf("ListByOwner after %d Creates raced with listing = %d sessions, %v", len(ids), len(list), err)
	}
	n, err := ms[1].DestroyByOwner(ctx, owner)
	if err != nil || n != len(ids) {
		t.Fatalf("DestroyByOwner = %d, %v; want %d", n, err, len(ids))
	}
	expectAllGone(t, ctx, ms[0], ids, fmt.Sprintf("after %d Creates raced with ListByOwner and a quiet DestroyByOwner", len(ids)))
	t.Logf("%d sessions created while listing, all destroyed", len(ids))
}

func testRenewWhileDestroying(t *testing.T, ms []*session.Manager[counter]) {
	ctx := ctxT(t, time.Minute)
	const perRound, renewers, maxRounds = 30, 4, 40
	stop := time.Now().Add(ownerRaceTime)
	renewed := 0
	for round := 0; round < maxRounds && (round < 2 || time.Now().Before(stop)); round++ {
		owner := fmt.Sprint("babbage", round)
		sessions := make([]*session.Session[counter], perRound)
		var ids []string
		for i := range sessions {
			s, err := ms[0].Create(ctx, owner, counter{N: i})
			if err != nil {
				t.Fatal(err)
			}
			sessions[i] = s
			ids = append(ids, s.ID)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			start = make(chan struct{})
			errs  = make(chan error, renewers+1)
		)
		for g := range renewers {
			wg.Go(func() {
				<-start
				for i := g; i < perRound; i += renewers {
					s := sessions[i]
					err := ms[0].Renew(ctx, s)
					if err != nil && !errors.Is(err, session.ErrNotFound) {
						errs <- fmt.Errorf("Renew racing DestroyByOwner: %w", err)
						return
					}
					mu.Lock()
					if err == nil {
						renewed++
						ids = append(ids, s.ID)
					}
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			<-start
			if _, err := ms[1].DestroyByOwner(ctx, owner); err != nil {
				errs <- err
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		expectAllGone(t, ctx, ms[2], ids, fmt.Sprintf("round %d: Renew raced with DestroyByOwner on another instance", round))
	}
	t.Logf("%d sessions renewed while their owner was logged out everywhere, none alive", renewed)
}
