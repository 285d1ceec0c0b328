package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
)

// Cart is the typed data of a shop's session.
type Cart struct {
	Items map[string]int
}

func Example() {
	ctx := context.Background()
	store := memorybackend.New()
	defer store.Close()
	m, err := session.NewManager[Cart](store)
	if err != nil {
		log.Fatal(err)
	}

	// An anonymous visitor puts something in the cart.
	s, err := m.Create(ctx, "", Cart{Items: map[string]int{"apple": 1}})
	if err != nil {
		log.Fatal(err)
	}
	id := s.ID // hand this to the client, e.g. in a cookie

	// A later request, possibly on another instance, finds the session.
	s, err = m.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("apples:", s.Data.Items["apple"])

	// Logging in: set the owner and renew the ID (session fixation).
	s.Owner = "ada"
	if err := m.Renew(ctx, s); err != nil {
		log.Fatal(err)
	}
	_, err = m.Get(ctx, id)
	fmt.Println("old ID:", errors.Is(err, session.ErrNotFound))
	fmt.Println("new ID works:", s.ID != id)
	// Output:
	// apples: 1
	// old ID: true
	// new ID works: true
}

func ExampleManager_Update() {
	ctx := context.Background()
	store := memorybackend.New()
	defer store.Close()
	m, _ := session.NewManager[Cart](store)
	s, _ := m.Create(ctx, "", Cart{Items: map[string]int{}})

	// Read-modify-write, retried when another request changed the session
	// in between.
	s, err := m.Update(ctx, s.ID, func(s *session.Session[Cart]) error {
		s.Data.Items["pear"]++
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pears:", s.Data.Items["pear"])
	// Output: pears: 1
}

func ExampleManager_DestroyByOwner() {
	ctx := context.Background()
	store := memorybackend.New()
	defer store.Close()
	m, _ := session.NewManager[Cart](store)
	phone, _ := m.Create(ctx, "ada", Cart{})
	laptop, _ := m.Create(ctx, "ada", Cart{})

	devices, _ := m.ListByOwner(ctx, "ada")
	fmt.Println("ada's sessions:", len(devices))

	// Log out everywhere.
	n, err := m.DestroyByOwner(ctx, "ada")
	if err != nil {
		log.Fatal(err)
	}
	_, err1 := m.Get(ctx, phone.ID)
	_, err2 := m.Get(ctx, laptop.ID)
	fmt.Println("destroyed:", n, errors.Is(err1, session.ErrNotFound), errors.Is(err2, session.ErrNotFound))
	// Output:
	// ada's sessions: 2
	// destroyed: 2 true true
}
