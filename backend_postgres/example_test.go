package postgresbackend_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/sessionkit/backend"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
	"github.com/sessionkit/sessionkit/session"
)

type cart struct {
	Items []string
}

// A Manager on PostgreSQL: log in, add to the cart, see that the session
// is found by owner, log out everywhere.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.ExampleURL()) // for instance os.Getenv("DATABASE_URL")
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	b, err := postgresbackend.New(ctx, pool, postgresbackend.WithTable("example_sessions"))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	m, err := session.NewManager[cart](b)
	if err != nil {
		panic(err)
	}

	s, err := m.Create(ctx, "alice", cart{})
	if err != nil {
		panic(err)
	}
	s, err = m.Update(ctx, s.ID, func(s *session.Session[cart]) error {
		s.Data.Items = append(s.Data.Items, "book")
		return nil
	})
	if err != nil {
		panic(err)
	}
	got, err := m.Get(ctx, s.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("cart:", got.Data.Items)

	mine, err := m.ListByOwner(ctx, "alice")
	if err != nil {
		panic(err)
	}
	fmt.Println("alice's sessions:", len(mine))

	n, err := m.DestroyByOwner(ctx, "alice") // log out everywhere
	if err != nil {
		panic(err)
	}
	_, err = m.Get(ctx, s.ID)
	fmt.Println("destroyed:", n, "- not found now:", errors.Is(err, backend.ErrNotFound))
	// Output:
	// cart: [book]
	// alice's sessions: 1
	// destroyed: 1 - not found now: true
}

// Every instance on the table hears of logins and logouts: here one
// Backend subscribes (through its Manager) and another, as a second
// instance would, creates and destroys a session.
func ExampleBackend_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.ExampleURL())
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	var ms [2]*session.Manager[cart]
	for i := range ms {
		b, err := postgresbackend.New(ctx, pool, postgresbackend.WithTable("example_events"))
		if err != nil {
			panic(err)
		}
		defer b.Close()
		if ms[i], err = session.NewManager[cart](b); err != nil {
			panic(err)
		}
	}
	events := make(chan session.Event, 16)
	// Subscribe returns once it listens: every later write is heard.
	if err := ms[0].Subscribe(ctx, func(e session.Event) { events <- e }); err != nil {
		panic(err)
	}

	s, err := ms[1].Create(ctx, "bob", cart{})
	if err != nil {
		panic(err)
	}
	if err := ms[1].Destroy(ctx, s.ID); err != nil {
		panic(err)
	}
	for range 2 {
		select {
		case e := <-events:
			fmt.Println(e.Kind, e.Owner, e.Handle == s.Handle())
		case <-ctx.Done():
			fmt.Println("no event")
			return
		}
	}
	// Output:
	// created bob true
	// destroyed bob true
}
