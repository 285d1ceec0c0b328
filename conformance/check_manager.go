package conformance

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/session"
)

// The Manager group: session.Manager driven over the backend under test,
// as Go CDK's drivertest drives the portable type over a driver. If these
// pass, "passes Run, so the Manager works on it" is not a promise but a
// result.

// tally is the typed session data of the Manager cases.
type tally struct {
	N    int
	Note string
}

func newManager(b backend.Backend, opts ...session.Option) (*session.Manager[tally], error) {
	m, err := session.NewManager[tally](b, opts...)
	if err != nil {
		return nil, failf("session.NewManager: %w", err)
	}
	return m, nil
}

// getN gets id through m and checks that it holds n.
func getN(ctx context.Context, m *session.Manager[tally], id string, n int, what string) (*session.Session[tally], error) {
	s, err := m.GetFresh(ctx, id)
	if err != nil {
		return nil, failf("%s: Manager.Get: %w", what, err)
	}
	if s.Data.N != n {
		return nil, failf("%s: Manager.Get returned N = %d, want %d", what, s.Data.N, n)
	}
	return s, nil
}

func expectNoSession(ctx context.Context, m *session.Manager[tally], id, what string) error {
	_, err := m.GetFresh(ctx, id)
	if !errors.Is(err, session.ErrNotFound) {
		return failf("%s: Manager.Get = %v, want ErrNotFound", what, err)
	}
	return nil
}

func checkManagerLifecycle(ctx context.Context, b backend.Backend) error {
	m, err := newManager(b)
	if err != nil {
		return err
	}
	owner := newOwner("manager")
	s, err := m.Create(ctx, "", tally{N: 1})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	if _, err := getN(ctx, m, s.ID, 1, "after Create"); err != nil {
		return err
	}
	s.Data.N = 2
	if err := m.Save(ctx, s); err != nil {
		return failf("Manager.Save: %w", err)
	}
	s.Data.N = 3
	if err := m.Save(ctx, s); err != nil {
		return failf("a second Manager.Save of the same session: %w", err)
	}
	if _, err := m.Update(ctx, s.ID, func(s *session.Session[tally]) error { s.Data.N++; return nil }); err != nil {
		return failf("Manager.Update: %w", err)
	}
	s, err = getN(ctx, m, s.ID, 4, "after Save, Save, Update")
	if err != nil {
		return err
	}
	old := s.ID
	s.Owner = owner
	if err := m.Renew(ctx, s); err != nil {
		return failf("Manager.Renew: %w", err)
	}
	if s.ID == old {
		return failf("Manager.Renew kept the ID")
	}
	if err := expectNoSession(ctx, m, old, "the old ID after Renew"); err != nil {
		return err
	}
	if got, err := getN(ctx, m, s.ID, 4, "the new ID after Renew"); err != nil {
		return err
	} else if got.Owner != owner {
		return failf("after Renew with an owner, Manager.Get has Owner %s, want %s", show(got.Owner), show(owner))
	}
	if err := m.Destroy(ctx, s.ID); err != nil {
		return failf("Manager.Destroy: %w", err)
	}
	if err := expectNoSession(ctx, m, s.ID, "after Destroy"); err != nil {
		return err
	}
	return checkManagerDestroyByOwner(ctx, b, m, owner)
}

// checkManagerDestroyByOwner: log out everywhere ends every session of the
// owner and no other, or is ErrUnsupported without an OwnerIndex.
func checkManagerDestroyByOwner(ctx context.Context, b backend.Backend, m *session.Manager[tally], owner string) error {
	var ids []string
	for i := range 3 {
		s, err := m.Create(ctx, owner, tally{N: i})
		if err != nil {
			return failf("Manager.Create: %w", err)
		}
		ids = append(ids, s.ID)
	}
	other, err := m.Create(ctx, owner+"-other", tally{})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	n, err := m.DestroyByOwner(ctx, owner)
	if _, ok := b.(backend.OwnerIndex); !ok {
		if !errors.Is(err, session.ErrUnsupported) {
			return failf("Manager.DestroyByOwner on a backend without OwnerIndex = %v, want ErrUnsupported", err)
		}
		return nil
	}
	if err != nil || n != len(ids) {
		return failf("Manager.DestroyByOwner = %d, %v; want %d, nil", n, err, len(ids))
	}
	for _, id := range ids {
		if err := expectNoSession(ctx, m, id, "after DestroyByOwner"); err != nil {
			return err
		}
	}
	if _, err := getN(ctx, m, other.ID, 0, "another owner's session after DestroyByOwner"); err != nil {
		return err
	}
	return nil
}

// checkManagerConcurrentUpdate: two Managers on the backend (two
// instances), 50 goroutines each, 20 increments per goroutine through
// Manager.Update: the session ends at exactly 2000.
func checkManagerConcurrentUpdate(ctx context.Context, b backend.Backend) error {
	const managers, goroutines, increments = 2, 50, 20
	ms := make([]*session.Manager[tally], managers)
	for i := range ms {
		m, err := newManager(b, session.WithUpdateAttempts(1000))
		if err != nil {
			return err
		}
		ms[i] = m
	}
	s, err := ms[0].Create(ctx, "", tally{})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	ctx, fail := newFirstError(ctx)
	defer fail.cancel()
	var wg sync.WaitGroup
	var done atomic.Int64
	for _, m := range ms {
		for range goroutines {
			fail.goSafe(&wg, func() error {
				for range increments {
					if _, err := m.Update(ctx, s.ID, func(s *session.Session[tally]) error { s.Data.N++; return nil }); err != nil {
						return failf("Manager.Update with %d concurrent writers on %d Managers: %w", goroutines*managers, managers, err)
					}
					done.Add(1)
				}
				return nil
			})
		}
	}
	wg.Wait()
	if fail.err != nil {
		return fail.err
	}
	_, err = getN(ctx, ms[1], s.ID, managers*goroutines*increments, "after the concurrent Updates")
	return err
}

// checkManagerCorrupt: a payload that no codec wrote, stored behind the
// Manager's back, is ErrCorrupt from Get, never a panic or a zero session.
func checkManagerCorrupt(ctx context.Context, b backend.Backend) error {
	m, err := newManager(b)
	if err != nil {
		return err
	}
	s, err := m.Create(ctx, "", tally{N: 7})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	rec, err := load(ctx, b, s.Handle())
	if err != nil {
		return err
	}
	rec.Payload = []byte("\xffnot a payload of any codec\x00")
	if _, err := b.Update(ctx, rec); err != nil {
		return failf("Update of the stored record: %w", err)
	}
	if _, err := m.GetFresh(ctx, s.ID); !errors.Is(err, session.ErrCorrupt) {
		return failf("Manager.Get of a corrupt stored payload = %v, want ErrCorrupt", err)
	}
	return nil
}

// checkManagerNotDurable: over a backend that applies every write and then
// reports backend.ErrNotDurable, the Manager treats each write as done.
func checkManagerNotDurable(ctx context.Context, b backend.Backend) error {
	m, err := newManager(notDurableOf(b))
	if err != nil {
		return err
	}
	notDurable := func(what string, err error) error {
		if !errors.Is(err, session.ErrNotDurable) {
			return failf("%s over a backend that reports ErrNotDurable = %v, want that error", what, err)
		}
		return nil
	}
	s, err := m.Create(ctx, "", tally{N: 1})
	if err := notDurable("Manager.Create", err); err != nil {
		return err
	}
	if s == nil {
		return failf("Manager.Create returned no session with ErrNotDurable: the session exists")
	}
	for n := 2; n <= 3; n++ {
		s.Data.N = n
		if err := notDurable("Manager.Save", m.Save(ctx, s)); err != nil {
			return err
		}
		if _, err := getN(ctx, m, s.ID, n, "after a Save reported ErrNotDurable"); err != nil {
			return err
		}
	}
	calls := 0
	got, err := m.Update(ctx, s.ID, func(s *session.Session[tally]) error { calls++; s.Data.N++; return nil })
	if err := notDurable("Manager.Update", err); err != nil {
		return err
	}
	if calls != 1 || got == nil || got.Data.N != 4 {
		return failf("Manager.Update ran fn %d times and returned %v with ErrNotDurable; want once, the stored session (N = 4)", calls, got)
	}
	s, err = getN(ctx, m, s.ID, 4, "after Update")
	if err != nil {
		return err
	}
	old := s.ID
	if err := notDurable("Manager.Renew", m.Renew(ctx, s)); err != nil {
		return err
	}
	if s.ID == old {
		return failf("Manager.Renew with ErrNotDurable kept the old ID in s.ID; the old one is dead")
	}
	if _, err := getN(ctx, m, s.ID, 4, "the new ID of a Renew that reported ErrNotDurable"); err != nil {
		return err
	}
	return expectNoSession(ctx, m, old, "the old ID after Renew")
}

// checkManagerNoRawID: no session ID reaches the backend, in any key,
// owner or payload, through any Manager operation.
func checkManagerNoRawID(ctx context.Context, b backend.Backend) error {
	spy := &spyBackend{Backend: b}
	m, err := newManager(spy.withCapabilities())
	if err != nil {
		return err
	}
	var ids []string
	s, err := m.Create(ctx, newOwner("spy"), tally{N: 1, Note: "notes"})
	if err != nil {
		return failf("Manager.Create: %w", err)
	}
	ids = append(ids, s.ID)
	if _, err := m.Get(ctx, s.ID); err != nil {
		return failf("Manager.Get: %w", err)
	}
	if _, err := m.Update(ctx, s.ID, func(s *session.Session[tally]) error { s.Data.N++; return nil }); err != nil {
		return failf("Manager.Update: %w", err)
	}
	s, err = m.Get(ctx, s.ID)
	if err != nil {
		return failf("Manager.Get: %w", err)
	}
	if err := m.Renew(ctx, s); err != nil {
		return failf("Manager.Renew: %w", err)
	}
	ids = append(ids, s.ID)
	if _, err := m.ListByOwner(ctx, s.Owner); err != nil && !errors.Is(err, session.ErrUnsupported) {
		return failf("Manager.ListByOwner: %w", err)
	}
	if err := m.Destroy(ctx, s.ID); err != nil {
		return failf("Manager.Destroy: %w", err)
	}
	for _, id := range ids {
		if seen := spy.find(id); seen != "" {
			return failf("the session ID reached the backend in %s", seen)
		}
	}
	return nil
}

// notDurableBackend applies each write through the backend it wraps and
// then reports backend.ErrNotDurable, as Redis with WithWaitReplicas does
// when no replica acknowledges in time.
type notDurableBackend struct{ backend.Backend }

var errNotDurable = failf("conformance: %w (injected after the write was applied)", backend.ErrNotDurable)

func (b notDurableBackend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	return orNotDurable(b.Backend.Create(ctx, rec))
}

func (b notDurableBackend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	return orNotDurable(b.Backend.Update(ctx, rec))
}

func orNotDurable(rec backend.Record, err error) (backend.Record, error) {
	if err != nil {
		return rec, err
	}
	return rec, errNotDurable
}

// notDurableRekeyer is notDurableBackend for a backend with Rekeyer.
type notDurableRekeyer struct {
	notDurableBackend
	r backend.Rekeyer
}

func (b notDurableRekeyer) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	return orNotDurable(b.r.Rekey(ctx, rec, newKey))
}

func notDurableOf(b backend.Backend) backend.Backend {
	if r, ok := b.(backend.Rekeyer); ok {
		return notDurableRekeyer{notDurableBackend{b}, r}
	}
	return notDurableBackend{b}
}

// spyBackend records every key, owner and payload the Manager passes to
// the backend it wraps.
type spyBackend struct {
	backend.Backend
	mu   sync.Mutex
	seen []string // "what: value"
}

func (s *spyBackend) note(what string, vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		s.seen = append(s.seen, what+": "+v)
	}
}

// find returns the first note that contains id, or "".
func (s *spyBackend) find(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.seen {
		if _, val, _ := strings.Cut(v, ": "); strings.Contains(val, id) {
			return show(v)
		}
	}
	return ""
}

func (s *spyBackend) rec(what string, rec backend.Record) {
	s.note(what+" key", rec.Key)
	s.note(what+" owner", rec.Owner)
	s.note(what+" payload", string(rec.Payload))
}

func (s *spyBackend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	s.rec("Create", rec)
	return s.Backend.Create(ctx, rec)
}

func (s *spyBackend) Load(ctx context.Context, key string) (backend.Record, error) {
	s.note("Load key", key)
	return s.Backend.Load(ctx, key)
}

func (s *spyBackend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	s.rec("Update", rec)
	return s.Backend.Update(ctx, rec)
}

func (s *spyBackend) Touch(ctx context.Context, key string, idle time.Time) error {
	s.note("Touch key", key)
	return s.Backend.Touch(ctx, key, idle)
}

func (s *spyBackend) Delete(ctx context.Context, key string) error {
	s.note("Delete key", key)
	return s.Backend.Delete(ctx, key)
}

// spyFull adds the capabilities of the wrapped backend that the Manager
// uses, each recorded too.
type spyFull struct {
	*spyBackend
	r backend.Rekeyer
	o backend.OwnerIndex
	f backend.FreshLoader
}

func (s spyFull) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	s.rec("Rekey", rec)
	s.note("Rekey new key", newKey)
	return s.r.Rekey(ctx, rec, newKey)
}

func (s spyFull) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	s.note("ListByOwner owner", owner)
	return s.o.ListByOwner(ctx, owner)
}

func (s spyFull) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	s.note("DeleteByOwner owner", owner)
	return s.o.DeleteByOwner(ctx, owner)
}

func (s spyFull) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	s.note("LoadFresh key", key)
	return s.f.LoadFresh(ctx, key)
}

// withCapabilities returns the spy with every capability of the wrapped
// backend, when it has all three that the Manager uses; otherwise the spy
// of the core methods, on which the Manager takes its generic paths.
func (s *spyBackend) withCapabilities() backend.Backend {
	r, ok1 := s.Backend.(backend.Rekeyer)
	o, ok2 := s.Backend.(backend.OwnerIndex)
	f, ok3 := s.Backend.(backend.FreshLoader)
	if ok1 && ok2 && ok3 {
		return spyFull{s, r, o, f}
	}
	return s
}
