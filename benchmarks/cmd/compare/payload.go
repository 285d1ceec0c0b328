package main

import (
	"encoding/gob"

	"github.com/sessionkit/sessionkit/benchmarks/internal/fixture"
)

// Payload is the session every contender stores (see package fixture).
type Payload = fixture.Payload

func init() {
	// scs stores values in a map[string]interface{} encoded with gob, which
	// needs every concrete type registered.
	gob.Register(Payload{})
}

// newPayload returns the payload of the i-th session.
func newPayload(i int) Payload { return fixture.New(i) }

// errBadPayload is what an operation returns when the decoded payload is
// not one the harness stored.
var errBadPayload = fixture.ErrBadPayload
