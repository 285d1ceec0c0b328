package conformance

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// sessionLog records the session.Events a Manager's subscription delivers
// of the sessions of its owners (other cases may share the store).
type sessionLog struct {
	owners map[string]bool
	wake   chan struct{}
	mu     sync.Mutex
	all    []session.Event
}

func (l *sessionLog) record(e session.Event) {
	if !l.owners[e.Owner] {
		return
	}
	l.mu.Lock()
	l.all = append(l.all, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// of returns the events of handle (an EventRenewed under both its
// handles).
func (l *sessionLog) of(handle string) []session.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []session.Event
	for _, e := range l.all {
		if e.Handle == handle || e.Kind == session.EventRenewed && e.OldHandle == handle {
			out = append(out, e)
		}
	}
	return out
}

// awaitDestroyed waits, at most eventWait, for the EventDestroyed of
// handle and returns the events of handle.
func (l *sessionLog) awaitDestroyed(ctx context.Context, handle, what string) ([]session.Event, error) {
	timeout := time.NewTimer(eventWait)
	defer timeout.Stop()
	for {
		evs := l.of(handle)
		for _, e := range evs {
			if e.Kind == session.EventDestroyed && e.Handle == handle {
				return evs, nil
			}
		}
		select {
		case <-l.wake:
		case <-timeout.C:
			return nil, failf("%s: no EventDestroyed of handle %s within %v; its events: %s", what, show(handle), eventWait, describeSession(evs))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func describeSession(evs []session.Event) string {
	parts := make([]string, 0, len(evs))
	for _, e := range evs {
		s := e.Kind.String() + " " + show(e.Handle)
		if e.OldHandle != "" {
			s += " from " + show(e.OldHandle)
		}
		parts = append(parts, s+" owner "+show(e.Owner))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// expectSessionEvents compares kinds, handles and owners.
func expectSessionEvents(got, want []session.Event, what string) error {
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.Kind == w.Kind && g.Handle == w.Handle && g.OldHandle == w.OldHandle && g.Owner == w.Owner
	}
	if !same {
		return failf("%s: Manager.Subscribe delivered %s, want %s", what, describeSession(got), describeSession(want))
	}
	return nil
}

// checkManagerEvents: Manager.Subscribe over the backend delivers the
// lifecycle of sessions by handle, never by ID; without a Notifier it is
// ErrUnsupported.
func checkManagerEvents(ctx context.Context, b backend.Backend) error {
	m, err := newManager(b)
	if err != nil {
		return err
	}
	owner, other := newOwner("manager-events"), newOwner("manager-events-everywhere")
	l := &sessionLog{owners: map[string]bool{owner: true, other: true}, wake: make(chan struct{}, 1)}
	err = m.Subscribe(ctx, l.record)
	if _, ok := b.(backend.Notifier); !ok {
		if !errors.Is(err, session.ErrUnsupported) {
			return failf("Manager.Subscribe on a backend without Notifier = %v, want an error matching ErrUnsupported", err)
		}
		return nil
	}
	if err != nil {
		return failf("Manager.Subscribe: %w", err)
	}
	s, err := m.Create(ctx, owner, tally{N: 1})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	ids := []string{s.ID}
	h1 := s.Handle()
	if err := m.Renew(ctx, s); err != nil {
		return failf("Manager.Renew: %w", err)
	}
	ids = append(ids, s.ID)
	h2 := s.Handle()
	if err := m.Destroy(ctx, s.ID); err != nil {
		return failf("Manager.Destroy: %w", err)
	}
	created := func(h string) session.Event {
		return session.Event{Kind: session.EventCreated, Handle: h, Owner: owner}
	}
	destroyed := func(h string) session.Event {
		return session.Event{Kind: session.EventDestroyed, Handle: h, Owner: owner}
	}
	renewed := session.Event{Kind: session.EventRenewed, Handle: h2, OldHandle: h1, Owner: owner}
	got, err := l.awaitDestroyed(ctx, h2, "Create, Renew, Destroy")
	if err != nil {
		return err
	}
	if _, ok := b.(backend.Rekeyer); ok {
		if err := expectSessionEvents(l.of(h1), []session.Event{created(h1), renewed}, "the old handle of Create, then Renew"); err != nil {
			return err
		}
		if err := expectSessionEvents(got, []session.Event{renewed, destroyed(h2)}, "the new handle of Renew, then Destroy"); err != nil {
			return err
		}
	} else {
		// Without Rekeyer a renewal is a new session and a deleted one.
		if err := expectSessionEvents(got, []session.Event{created(h2), destroyed(h2)}, "the new handle of Renew (without Rekeyer: a new session), then Destroy"); err != nil {
			return err
		}
		if _, err := l.awaitDestroyed(ctx, h1, "Renew without Rekeyer ends the old session"); err != nil {
			return err
		}
		if err := expectSessionEvents(l.of(h1), []session.Event{created(h1), destroyed(h1)}, "the old handle of Create, then Renew (without Rekeyer: a deleted session)"); err != nil {
			return err
		}
	}
	if _, ok := b.(backend.OwnerIndex); ok {
		var handles []string
		for i := range 2 {
			s, err := m.Create(ctx, other, tally{N: i})
			if err != nil {
				return failf("Manager.Create: %w", err)
			}
			ids = append(ids, s.ID)
			handles = append(handles, s.Handle())
		}
		if n, err := m.DestroyByOwner(ctx, other); err != nil || n != len(handles) {
			return failf("Manager.DestroyByOwner = %d, %v; want %d, nil", n, err, len(handles))
		}
		for _, h := range handles {
			got, err := l.awaitDestroyed(ctx, h, "DestroyByOwner")
			if err != nil {
				return err
			}
			want := []session.Event{{Kind: session.EventCreated, Handle: h, Owner: other}, {Kind: session.EventDestroyed, Handle: h, Owner: other}}
			if err := expectSessionEvents(got, want, "Create, then DestroyByOwner"); err != nil {
				return err
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.all {
		for _, f := range []struct{ name, val string }{{"Handle", e.Handle}, {"OldHandle", e.OldHandle}, {"Owner", e.Owner}} {
			for _, id := range ids {
				if strings.Contains(f.val, id) {
					return failf("an %v event carries a session ID in its %s (%s): events hold handles, never IDs", e.Kind, f.name, show(f.val))
				}
			}
		}
		if e.At.IsZero() || time.Since(e.At).Abs() > atWindow {
			return failf("an %v event of handle %s has At %v, want the time of the write (±%v)", e.Kind, show(e.Handle), e.At.Round(0), atWindow)
		}
	}
	return nil
}
