package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

// FuzzGetID feeds client-supplied IDs to the Manager: anything but a live
// session's ID is ErrNotFound, and only well-formed IDs reach the backend.
func FuzzGetID(f *testing.F) {
	for _, s := range []string{
		"", "x", "*", "{}", "\x00\xff", "../../etc/passwd", "a b\r\n",
		"6ba7b810-9dad-41d1-80b4-00c04fd430c8", "6BA7B810-9DAD-41D1-80B4-00C04FD430C8",
		"urn:uuid:6ba7b810-9dad-41d1-80b4-00c04fd430c8", "6ba7b8109dad41d180b400c04fd430c8",
	} {
		f.Add(s)
	}
	cb := &counting{Backend: newMemory(f, nil)}
	m := newManager[Profile](f, cb)
	live, err := m.Create(context.Background(), "", Profile{Name: "live"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string) {
		before := cb.loads.Load()
		s, err := m.Get(context.Background(), id)
		if id == live.ID {
			if err != nil {
				t.Fatalf("live session: %v", err)
			}
			return
		}
		if !errors.Is(err, session.ErrNotFound) || s != nil {
			t.Fatalf("Get(%q) = %v, %v; want ErrNotFound", id, s, err)
		}
		if cb.loads.Load() != before && (len(id) != 36 || id[14] != '4') {
			t.Fatalf("Get(%q) reached the backend", id)
		}
	})
}

// FuzzStoredPayload stores arbitrary bytes as a session's payload: Get
// returns the session or ErrCorrupt, never a panic or another error.
func FuzzStoredPayload(f *testing.F) {
	for _, c := range []codec.Codec{codec.MsgPack(), codec.JSON(), codec.Gob()} {
		p, err := c.Marshal(&Profile{Name: "Ada", Roles: []string{"x"}, Cart: map[string]int{"a": 1}})
		if err != nil {
			f.Fatal(err)
		}
		header := append([]byte{0x01, byte(len(c.Name()))}, c.Name()...)
		f.Add(append(header, p...))
		f.Add(append(header, p[:len(p)/2]...))
		f.Add(header)
	}
	f.Add([]byte{})
	f.Add([]byte{0x01})
	f.Add([]byte{0x01, 0x07, 'm', 's', 'g', 'p', 'a', 'c', 'k', 0xdf, 0xff, 0xff, 0xff, 0xff})
	ctx := context.Background()
	mem := newMemory(f, nil)
	m := newManager[Profile](f, mem)
	s, err := m.Create(ctx, "", Profile{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cur, err := mem.Load(ctx, s.Handle())
		if err != nil {
			t.Fatal(err)
		}
		cur.Payload = payload
		if _, err := mem.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		_, err = m.Get(ctx, s.ID)
		if err != nil && !errors.Is(err, session.ErrCorrupt) {
			t.Fatalf("Get of payload %x: %v; want nil or ErrCorrupt", payload, err)
		}
		if errors.Is(err, backend.ErrNotFound) {
			t.Fatal("a corrupt payload must not look like a missing session")
		}
	})
}
