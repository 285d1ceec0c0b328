package main

import (
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Payload is the session every contender stores: about what a web shop
// keeps for a logged-in user. It has ten fields and encodes to roughly 250
// bytes (MessagePack with field names as keys, as sessionkit stores it; JSON
// and scs's gob come out larger, see the header of a run).
type Payload struct {
	UserID    int64
	Username  string
	Email     string
	Roles     []string
	Locale    string
	Theme     string
	CSRFToken string
	CartItems []int64
	Visits    int64
	LastSeen  time.Time
}

func init() {
	// scs stores values in a map[string]interface{} encoded with gob, which
	// needs every concrete type registered.
	gob.Register(Payload{})
}

// Clone returns a deep copy. It makes Payload a session.Cloner, so that
// sessionkit keeps decoded sessions and answers a read of an unchanged one
// with a clone instead of decoding it (run with -decode-cache=false to
// measure sessionkit decoding on every read, as the other contenders do).
func (p Payload) Clone() Payload {
	p.Roles = slices.Clone(p.Roles)
	p.CartItems = slices.Clone(p.CartItems)
	return p
}

// newPayload returns the payload of the i-th session; every session differs
// a little so that no codec can cheat on identical values.
func newPayload(i int) Payload {
	return Payload{
		UserID:    int64(1_000_000 + i),
		Username:  fmt.Sprintf("customer-%06d", i),
		Email:     fmt.Sprintf("customer-%06d@mail.example.com", i),
		Roles:     []string{"customer", "newsletter"},
		Locale:    "en-GB",
		Theme:     "dark",
		CSRFToken: fmt.Sprintf("%032x%011d", uint64(i)*0x9e3779b97f4a7c15, i),
		CartItems: []int64{int64(40000 + i%997), int64(51000 + i%31), 60017},
		Visits:    int64(i % 100),
		LastSeen:  time.Date(2025, 11, 20, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
	}
}

// errBadPayload is what an operation returns when the decoded payload is
// not one the harness stored: it keeps every contender honest (nothing can
// skip the decode) and catches a broken contender.
var errBadPayload = errors.New("decoded payload is not a stored one")

func (p *Payload) check() error {
	if p.UserID < 1_000_000 || p.Username == "" || len(p.CartItems) != 3 {
		return errBadPayload
	}
	return nil
}

// touch is the change a write makes: a page view.
func (p *Payload) touch(now time.Time) {
	p.Visits++
	p.LastSeen = now.UTC().Truncate(time.Second)
}
