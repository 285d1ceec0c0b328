package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

// Profile is a typical session: about ten fields of what web apps keep.
type Profile struct {
	UserID    uint64
	Name      string
	Email     string
	Roles     []string
	CSRF      string
	LoginAt   time.Time
	Cart      map[string]int
	Counter   int
	Theme     string
	Verified  bool
	LastPages []string
}

// clock is a manual clock shared by a Manager and its memory backend.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// counting wraps a backend and counts the calls that reach it. It exposes
// only backend.Backend, so capabilities of the wrapped backend are hidden.
type counting struct {
	backend.Backend
	loads, touches, creates, updates atomic.Int64
}

func (c *counting) Load(ctx context.Context, key string) (backend.Record, error) {
	c.loads.Add(1)
	return c.Backend.Load(ctx, key)
}

func (c *counting) Touch(ctx context.Context, key string, d time.Time) error {
	c.touches.Add(1)
	return c.Backend.Touch(ctx, key, d)
}

func (c *counting) Create(ctx context.Context, r backend.Record) (backend.Record, error) {
	c.creates.Add(1)
	return c.Backend.Create(ctx, r)
}

func (c *counting) Update(ctx context.Context, r backend.Record) (backend.Record, error) {
	c.updates.Add(1)
	return c.Backend.Update(ctx, r)
}

func newMemory(t testing.TB, clk *clock) *memorybackend.Backend {
	opts := []memorybackend.Option{}
	if clk != nil {
		opts = append(opts, memorybackend.WithClock(clk.Now))
	}
	b := memorybackend.New(opts...)
	t.Cleanup(func() { b.Close() })
	return b
}

func newManager[T any](t testing.TB, b backend.Backend, opts ...session.Option) *session.Manager[T] {
	t.Helper()
	m, err := session.NewManager[T](b, opts...)
	require.NoError(t, err)
	return m
}

func TestCreateGet(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager[Profile](t, newMemory(t, clk), session.WithClock(clk.Now))
	want := Profile{UserID: 7, Name: "Ada", Roles: []string{"admin"}, LoginAt: clk.Now(), Cart: map[string]int{"apple": 2}}
	s, err := m.Create(ctx, "ada", want)
	require.NoError(t, err)
	assert.Len(t, s.ID, 36)
	assert.Equal(t, "ada", s.Owner)
	assert.True(t, s.CreatedAt.Equal(clk.Now()))
	assert.True(t, s.IdleDeadline.Equal(clk.Now().Add(session.DefaultIdleTimeout)))
	assert.True(t, s.AbsoluteDeadline.Equal(clk.Now().Add(session.DefaultAbsoluteTimeout)))

	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, want.Name, got.Data.Name)
	assert.Equal(t, want.Cart, got.Data.Cart)
	assert.True(t, want.LoginAt.Equal(got.Data.LoginAt))
	assert.Equal(t, s.ID, got.ID)
	assert.Equal(t, s.Handle(), got.Handle())
}

func TestIDsNeverReachTheStore(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	m := newManager[Profile](t, mem)
	s, err := m.Create(ctx, "ada", Profile{Name: "Ada"})
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(s.ID))
	key := base64.RawURLEncoding.EncodeToString(sum[:])
	assert.Equal(t, key, s.Handle())
	rec, err := mem.Load(ctx, key)
	require.NoError(t, err, "the record must be stored under base64url(SHA-256(ID))")
	assert.NotContains(t, string(rec.Payload), s.ID)
	_, err = mem.Load(ctx, s.ID)
	assert.ErrorIs(t, err, backend.ErrNotFound, "nothing may be stored under the raw ID")
}

func TestMalformedIDsCostNoBackendCall(t *testing.T) {
	ctx := context.Background()
	cb := &counting{Backend: newMemory(t, nil)}
	m := newManager[Profile](t, cb)
	s, err := m.Create(ctx, "", Profile{})
	require.NoError(t, err)
	for _, id := range []string{
		"", "x", strings.Repeat("a", 1<<20), "*", "{}", "\x00", "a b", "\n",
		strings.ToUpper(s.ID),                             // not canonical
		"urn:uuid:" + s.ID,                                // another uuid form
		"{" + s.ID + "}",                                  // braces
		strings.Replace(s.ID, "-", "", 1),                 // wrong length
		s.ID[:14] + "1" + s.ID[15:],                       // version 1
		"00000000-0000-4000-0000-000000000000",            // wrong variant
		"gggggggg-gggg-4ggg-8ggg-gggggggggggg",            // not hex
		s.ID + "\n",                                       // trailing bytes
		strings.Repeat("0", 8) + "-0000-4000-8000-" + "0", // short
	} {
		_, err := m.Get(ctx, id)
		assert.ErrorIs(t, err, session.ErrNotFound, "%q", id)
		assert.NoError(t, m.Destroy(ctx, id))
		_, err = m.Update(ctx, id, func(*session.Session[Profile]) error { return nil })
		assert.ErrorIs(t, err, session.ErrNotFound, "%q", id)
	}
	assert.Zero(t, cb.loads.Load(), "a malformed ID must not reach the backend")
	_, err = m.Get(ctx, s.ID)
	assert.NoError(t, err)
}

func TestCustomIDGenerator(t *testing.T) {
	ctx := context.Background()
	n := 0
	m := newManager[int](t, newMemory(t, nil), session.WithIDGenerator(func() (string, error) {
		n++
		return strings.Repeat("k", 30) + string(rune('a'+n)), nil
	}))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Data)
	_, err = m.Get(ctx, "bad id with spaces")
	assert.ErrorIs(t, err, session.ErrNotFound)

	bad := newManager[int](t, newMemory(t, nil), session.WithIDGenerator(func() (string, error) { return "semi;colon", nil }))
	_, err = bad.Create(ctx, "", 1)
	assert.ErrorContains(t, err, "not a valid ID")
	failing := newManager[int](t, newMemory(t, nil), session.WithIDGenerator(func() (string, error) { return "", errors.New("entropy gone") }))
	_, err = failing.Create(ctx, "", 1)
	assert.ErrorContains(t, err, "entropy gone")
	same := newManager[int](t, newMemory(t, nil), session.WithIDGenerator(func() (string, error) { return "always-the-same-id", nil }))
	_, err = same.Create(ctx, "", 1)
	require.NoError(t, err)
	_, err = same.Create(ctx, "", 2)
	assert.ErrorContains(t, err, "in use")
}

func TestOptionsValidation(t *testing.T) {
	mem := newMemory(t, nil)
	for name, opts := range map[string][]session.Option{
		"NegativeIdle":         {session.WithIdleTimeout(-time.Second)},
		"ZeroIdle":             {session.WithIdleTimeout(0)},
		"ZeroAbsolute":         {session.WithAbsoluteTimeout(0)},
		"TouchEqualsIdle":      {session.WithIdleTimeout(time.Minute), session.WithTouchInterval(time.Minute)},
		"NegativeTouch":        {session.WithTouchInterval(-1)},
		"ZeroMaxPayload":       {session.WithMaxPayload(0)},
		"NilCodec":             {session.WithCodec(nil)},
		"NilClock":             {session.WithClock(nil)},
		"NilIDGenerator":       {session.WithIDGenerator(nil)},
		"ZeroAttempts":         {session.WithUpdateAttempts(0)},
		"LongCodecName":        {session.WithCodec(namedCodec{strings.Repeat("n", 256)})},
		"EmptyDecoderName":     {session.WithDecoders(namedCodec{""})},
		"DefaultTouchVsShorts": {session.WithTouchInterval(time.Hour), session.WithIdleTimeout(time.Minute)},
	} {
		_, err := session.NewManager[int](mem, opts...)
		assert.Error(t, err, name)
	}
	_, err := session.NewManager[int](nil)
	assert.Error(t, err)
	for name, opts := range map[string][]session.Option{
		"Defaults":              nil,
		"OnlyIdle":              {session.WithIdleTimeout(time.Second)},
		"SubSecond":             {session.WithIdleTimeout(150 * time.Millisecond), session.WithAbsoluteTimeout(300 * time.Millisecond)},
		"AbsoluteShorterIdle":   {session.WithIdleTimeout(time.Hour), session.WithAbsoluteTimeout(time.Minute)},
		"TouchEveryGet":         {session.WithTouchInterval(0)},
		"Nanosecond":            {session.WithIdleTimeout(time.Nanosecond)},
		"LastOneWins":           {session.WithIdleTimeout(-1), session.WithIdleTimeout(time.Minute)},
		"TouchBeforeIdleOption": {session.WithTouchInterval(time.Second), session.WithIdleTimeout(time.Minute)},
	} {
		_, err := session.NewManager[int](mem, opts...)
		assert.NoError(t, err, name)
	}
}

type namedCodec struct{ name string }

func (n namedCodec) Name() string                     { return n.name }
func (namedCodec) Marshal(any) ([]byte, error)        { return nil, nil }
func (namedCodec) Unmarshal(data []byte, v any) error { return nil }

func TestIdleExpiryAndTouchThrottle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	cb := &counting{Backend: newMemory(t, clk)}
	m := newManager[int](t, cb, session.WithClock(clk.Now), session.WithIdleTimeout(time.Minute))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)

	// Within the touch interval (default idle/4 = 15 s) Get writes nothing.
	clk.Advance(10 * time.Second)
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Zero(t, cb.touches.Load())
	assert.True(t, got.IdleDeadline.Equal(s.IdleDeadline))

	// Past it, Get moves the idle deadline to now+idle.
	clk.Advance(10 * time.Second)
	got, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 1, cb.touches.Load())
	assert.True(t, got.IdleDeadline.Equal(clk.Now().Add(time.Minute)), "idle deadline %v", got.IdleDeadline)

	// The refresh is stored: the session outlives its first idle deadline.
	clk.Advance(50 * time.Second)
	_, err = m.Get(ctx, s.ID)
	require.NoError(t, err)

	// Without activity it ends at its idle deadline.
	clk.Advance(time.Minute)
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestAbsoluteExpiry(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager[int](t, newMemory(t, clk), session.WithClock(clk.Now),
		session.WithIdleTimeout(time.Minute), session.WithAbsoluteTimeout(150*time.Second))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	for range 4 { // active every 40 s: idle never ends it
		clk.Advance(40 * time.Second)
		got, err := m.Get(ctx, s.ID)
		if clk.Now().Before(s.AbsoluteDeadline) {
			require.NoError(t, err)
			assert.False(t, got.IdleDeadline.After(s.AbsoluteDeadline), "idle deadline past the absolute one")
		} else {
			assert.ErrorIs(t, err, session.ErrNotFound)
		}
	}
}

func TestAbsoluteShorterThanIdle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager[int](t, newMemory(t, clk), session.WithClock(clk.Now),
		session.WithIdleTimeout(time.Hour), session.WithAbsoluteTimeout(time.Second))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	assert.True(t, s.IdleDeadline.Equal(s.AbsoluteDeadline))
	clk.Advance(999 * time.Millisecond)
	_, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	clk.Advance(time.Millisecond)
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestSubSecondTimeoutsRealTime(t *testing.T) {
	// No injected clock: the Manager and the backend run on real time.
	ctx := context.Background()
	mem := newMemory(t, nil)
	m := newManager[int](t, mem, session.WithIdleTimeout(100*time.Millisecond))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	_, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	// Poll the backend, not Get: a Get is activity and would keep the
	// session alive.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err = mem.Load(ctx, s.Handle()); errors.Is(err, backend.ErrNotFound) {
			break
		}
		time.Sleep(20 * time.Millisecond) // time is the subject here
	}
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestSaveAndConflict(t *testing.T) {
	ctx := context.Background()
	m := newManager[Profile](t, newMemory(t, nil))
	s, err := m.Create(ctx, "", Profile{Counter: 1})
	require.NoError(t, err)
	a, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	b, err := m.Get(ctx, s.ID)
	require.NoError(t, err)

	a.Data.Counter = 2
	require.NoError(t, m.Save(ctx, a))
	a.Data.Counter = 3
	require.NoError(t, m.Save(ctx, a), "a saved session can be saved again")

	b.Data.Counter = 99
	err = m.Save(ctx, b)
	assert.ErrorIs(t, err, session.ErrConflict)
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Data.Counter)

	require.NoError(t, m.Destroy(ctx, s.ID))
	assert.ErrorIs(t, m.Save(ctx, got), session.ErrNotFound, "Save must not resurrect a destroyed session")
	assert.Error(t, m.Save(ctx, &session.Session[Profile]{ID: s.ID}), "a session not from the Manager")
}

// TestUpdateConcurrent: 100 goroutines × 20 increments lose nothing. Half
// of them go through a second Manager, as on another instance, so
// compare-and-swap conflicts really happen.
func TestUpdateConcurrent(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	ms := []*session.Manager[Profile]{newManager[Profile](t, mem), newManager[Profile](t, mem)}
	s, err := ms[0].Create(ctx, "", Profile{})
	require.NoError(t, err)
	const workers, each = 100, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		m := ms[w%2]
		wg.Go(func() {
			for range each {
				_, err := m.Update(ctx, s.ID, func(s *session.Session[Profile]) error {
					s.Data.Counter++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := ms[1].Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, workers*each, got.Data.Counter)
}

func TestUpdateFnErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	cb := &counting{Backend: newMemory(t, nil)}
	m := newManager[int](t, cb)
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	boom := errors.New("boom")
	_, err = m.Update(ctx, s.ID, func(s *session.Session[int]) error { s.Data = 2; return boom })
	assert.ErrorIs(t, err, boom)
	assert.Zero(t, cb.updates.Load())
	got, _ := m.Get(ctx, s.ID)
	assert.Equal(t, 1, got.Data)
}

func TestUpdateGivesUp(t *testing.T) {
	ctx := context.Background()
	m := newManager[int](t, newMemory(t, nil), session.WithUpdateAttempts(3))
	other := newManager[int](t, m.Backend()) // another instance
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	calls := 0
	_, err = m.Update(ctx, s.ID, func(in *session.Session[int]) error {
		calls++
		// Another instance gets in between every time.
		_, err := other.Update(ctx, s.ID, func(o *session.Session[int]) error { o.Data++; return nil })
		return err
	})
	assert.ErrorIs(t, err, session.ErrConflict)
	assert.Equal(t, 3, calls)
}

func TestNestedUpdateDoesNotDeadlock(t *testing.T) {
	ctx := context.Background()
	m := newManager[int](t, newMemory(t, nil), session.WithUpdateAttempts(2))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	_, err = m.Update(ctx, s.ID, func(in *session.Session[int]) error {
		_, err := m.Update(ctx, s.ID, func(o *session.Session[int]) error { o.Data++; return nil })
		return err
	})
	assert.ErrorIs(t, err, session.ErrConflict, "the inner Update wins, the outer one conflicts")
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Data, "two inner updates, one per outer attempt")
}

func TestUpdateCanceledWhileWaiting(t *testing.T) {
	m := newManager[int](t, newMemory(t, nil))
	s, err := m.Create(context.Background(), "", 1)
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Update(context.Background(), s.ID, func(*session.Session[int]) error {
			close(entered)
			<-release
			return nil
		})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Update(ctx, s.ID, func(*session.Session[int]) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
	close(release)
	require.NoError(t, <-done)
}

func TestTooLarge(t *testing.T) {
	ctx := context.Background()
	cb := &counting{Backend: newMemory(t, nil)}
	m := newManager[[]byte](t, cb, session.WithMaxPayload(1024))
	_, err := m.Create(ctx, "", make([]byte, 2000))
	assert.ErrorIs(t, err, session.ErrTooLarge)
	assert.Zero(t, cb.creates.Load())

	s, err := m.Create(ctx, "", []byte("small"))
	require.NoError(t, err)
	s.Data = make([]byte, 2000)
	assert.ErrorIs(t, m.Save(ctx, s), session.ErrTooLarge)
	assert.ErrorIs(t, m.Renew(ctx, s), session.ErrTooLarge)
	_, err = m.Update(ctx, s.ID, func(s *session.Session[[]byte]) error { s.Data = make([]byte, 2000); return nil })
	assert.ErrorIs(t, err, session.ErrTooLarge)
	assert.Zero(t, cb.updates.Load())
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, []byte("small"), got.Data)
}

// hideCaps exposes only backend.Backend, to test the generic paths.
type hideCaps struct{ backend.Backend }

func TestRenew(t *testing.T) {
	for name, wrap := range map[string]func(*memorybackend.Backend) backend.Backend{
		"Rekeyer": func(b *memorybackend.Backend) backend.Backend { return b },
		"Generic": func(b *memorybackend.Backend) backend.Backend { return ownerOnly{b} },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			m := newManager[Profile](t, wrap(newMemory(t, clk)), session.WithClock(clk.Now))
			s, err := m.Create(ctx, "", Profile{Counter: 1})
			require.NoError(t, err)
			oldID, created, abs := s.ID, s.CreatedAt, s.AbsoluteDeadline
			clk.Advance(time.Minute)

			// The login step: unsaved changes and the owner go along.
			s.Owner = "ada"
			s.Data.Name = "Ada"
			require.NoError(t, m.Renew(ctx, s))
			assert.NotEqual(t, oldID, s.ID)
			_, err = m.Get(ctx, oldID)
			assert.ErrorIs(t, err, session.ErrNotFound, "the old ID must be dead once Renew returns")

			got, err := m.Get(ctx, s.ID)
			require.NoError(t, err)
			assert.Equal(t, "ada", got.Owner)
			assert.Equal(t, "Ada", got.Data.Name)
			assert.Equal(t, 1, got.Data.Counter)
			assert.True(t, got.CreatedAt.Equal(created))
			assert.True(t, got.AbsoluteDeadline.Equal(abs))

			list, err := m.ListByOwner(ctx, "ada")
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, s.Handle(), list[0].Handle())

			// The renewed session can be saved and renewed again.
			s.Data.Counter = 2
			require.NoError(t, m.Save(ctx, s))
			require.NoError(t, m.Renew(ctx, s))

			// A stale copy cannot be renewed.
			stale, err := m.Get(ctx, s.ID)
			require.NoError(t, err)
			_, err = m.Update(ctx, s.ID, func(s *session.Session[Profile]) error { s.Data.Counter++; return nil })
			require.NoError(t, err)
			staleID := stale.ID
			assert.ErrorIs(t, m.Renew(ctx, stale), session.ErrConflict)
			assert.Equal(t, staleID, stale.ID, "a failed Renew keeps the ID")
			_, err = m.Get(ctx, staleID)
			assert.NoError(t, err, "a failed Renew must leave the session alive")
		})
	}
}

// ownerOnly hides Rekeyer but keeps OwnerIndex.
type ownerOnly struct{ *memorybackend.Backend }

func (o ownerOnly) Rekey() {} // shadows the method so ownerOnly is no Rekeyer

func TestOwnerOperations(t *testing.T) {
	ctx := context.Background()
	m := newManager[Profile](t, newMemory(t, nil))
	var ada []string
	for i := range 3 {
		s, err := m.Create(ctx, "ada", Profile{Counter: i})
		require.NoError(t, err)
		ada = append(ada, s.ID)
	}
	bob, err := m.Create(ctx, "bob", Profile{})
	require.NoError(t, err)
	anon, err := m.Create(ctx, "", Profile{})
	require.NoError(t, err)

	list, err := m.ListByOwner(ctx, "ada")
	require.NoError(t, err)
	require.Len(t, list, 3)
	for _, s := range list {
		assert.Empty(t, s.ID, "listed sessions carry no ID")
		assert.Equal(t, "ada", s.Owner)
		assert.NotEmpty(t, s.Handle())
	}
	require.NoError(t, m.Revoke(ctx, list[0]))
	list, err = m.ListByOwner(ctx, "ada")
	require.NoError(t, err)
	assert.Len(t, list, 2)

	n, err := m.DestroyByOwner(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, id := range ada {
		_, err := m.Get(ctx, id)
		assert.ErrorIs(t, err, session.ErrNotFound)
	}
	_, err = m.Get(ctx, bob.ID)
	assert.NoError(t, err)
	_, err = m.Get(ctx, anon.ID)
	assert.NoError(t, err)

	_, err = m.DestroyByOwner(ctx, "")
	assert.Error(t, err, "log out everywhere of anonymous would end every visitor's session")
	_, err = m.ListByOwner(ctx, "")
	assert.Error(t, err)
}

func TestOwnerOperationsUnsupported(t *testing.T) {
	ctx := context.Background()
	m := newManager[int](t, hideCaps{newMemory(t, nil)})
	_, err := m.ListByOwner(ctx, "ada")
	assert.ErrorIs(t, err, session.ErrUnsupported)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = m.DestroyByOwner(ctx, "ada")
	assert.ErrorIs(t, err, session.ErrUnsupported)
}

func TestDestroyIdempotent(t *testing.T) {
	ctx := context.Background()
	m := newManager[int](t, newMemory(t, nil))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	require.NoError(t, m.Destroy(ctx, s.ID))
	require.NoError(t, m.Destroy(ctx, s.ID))
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound)
	_, err = m.Update(ctx, s.ID, func(*session.Session[int]) error { return nil })
	assert.ErrorIs(t, err, session.ErrNotFound)
}

func TestCodecSwitchKeepsLiveSessions(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	var ids []string
	for _, c := range []codec.Codec{codec.JSON(), codec.Gob(), codec.MsgPack()} {
		m := newManager[Profile](t, mem, session.WithCodec(c))
		s, err := m.Create(ctx, "", Profile{Name: c.Name(), Counter: 5})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	m := newManager[Profile](t, mem) // msgpack now
	for _, id := range ids {
		s, err := m.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, 5, s.Data.Counter, s.Data.Name)
		s.Data.Counter = 6
		require.NoError(t, m.Save(ctx, s))
	}
	// A session written by a custom codec is readable where that codec is
	// passed as a decoder, and corrupt elsewhere.
	custom := newManager[Profile](t, mem, session.WithCodec(renamed{codec.JSON(), "custom-json"}))
	s, err := custom.Create(ctx, "", Profile{Counter: 9})
	require.NoError(t, err)
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrCorrupt)
	reader := newManager[Profile](t, mem, session.WithDecoders(renamed{codec.JSON(), "custom-json"}))
	got, err := reader.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 9, got.Data.Counter)
}

type renamed struct {
	codec.Codec
	name string
}

func (r renamed) Name() string { return r.name }

func TestCorruptPayload(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	m := newManager[Profile](t, mem)
	s, err := m.Create(ctx, "ada", Profile{Name: "Ada", Roles: []string{"a", "b"}})
	require.NoError(t, err)
	rec, err := mem.Load(ctx, s.Handle())
	require.NoError(t, err)
	for name, p := range map[string][]byte{
		"Empty":        {},
		"Garbage":      []byte("\xff\xfe garbage"),
		"Truncated":    rec.Payload[:len(rec.Payload)-3],
		"BadHeader":    append([]byte{0x02}, rec.Payload[1:]...),
		"HeaderOnly":   rec.Payload[:2],
		"LongName":     {0x01, 0xff, 'm'},
		"UnknownCodec": append([]byte{0x01, 3, 'x', 'm', 'l'}, rec.Payload[9:]...),
		"Trailing":     append(append([]byte{}, rec.Payload...), 0xc0),
	} {
		rec.Payload = p
		cur, err := mem.Load(ctx, s.Handle())
		require.NoError(t, err)
		rec.Version = cur.Version
		_, err = mem.Update(ctx, rec)
		require.NoError(t, err)
		_, err = m.Get(ctx, s.ID)
		assert.ErrorIs(t, err, session.ErrCorrupt, name)
		_, err = m.ListByOwner(ctx, "ada")
		assert.ErrorIs(t, err, session.ErrCorrupt, name)
	}
}

func TestPanickingCodecIsCorrupt(t *testing.T) {
	ctx := context.Background()
	m := newManager[int](t, newMemory(t, nil), session.WithCodec(panicky{codec.JSON()}))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrCorrupt)
}

type panicky struct{ codec.Codec }

func (panicky) Name() string                { return "panicky" }
func (panicky) Unmarshal([]byte, any) error { panic("broken codec") }

func TestContextCanceled(t *testing.T) {
	m := newManager[int](t, newMemory(t, nil))
	s, err := m.Create(context.Background(), "", 1)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = m.Create(ctx, "", 1)
	assert.ErrorIs(t, err, context.Canceled)
}

// failingCreate fails every Create after the first n, and hides Rekeyer.
type failingCreate struct {
	backend.Backend
	n atomic.Int64
}

func (f *failingCreate) Create(ctx context.Context, r backend.Record) (backend.Record, error) {
	if f.n.Add(-1) < 0 {
		return backend.Record{}, errors.New("store refused the write")
	}
	return f.Backend.Create(ctx, r)
}

// TestRenewGenericFailureKeepsOldSession: when the generic Renew fails, the
// old ID still names the session as it was stored — never with the new
// owner, which would log in whoever planted the old ID.
func TestRenewGenericFailureKeepsOldSession(t *testing.T) {
	ctx := context.Background()
	fb := &failingCreate{Backend: newMemory(t, nil)}
	fb.n.Store(1)
	m := newManager[Profile](t, fb)
	planted, err := m.Create(ctx, "", Profile{Name: "anonymous"})
	require.NoError(t, err)

	planted.Owner = "alice"
	planted.Data.Name = "Alice"
	require.Error(t, m.Renew(ctx, planted))

	got, err := m.Get(ctx, planted.ID)
	require.NoError(t, err, "a failed Renew leaves the old session alive")
	assert.Equal(t, "", got.Owner, "the planted ID must not be logged in as alice")
	assert.Equal(t, "anonymous", got.Data.Name)
}

func TestSaveIgnoresChangedDeadlines(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager[int](t, newMemory(t, clk), session.WithClock(clk.Now), session.WithAbsoluteTimeout(time.Hour))
	s, err := m.Create(ctx, "", 1)
	require.NoError(t, err)
	abs := s.AbsoluteDeadline
	s.AbsoluteDeadline = abs.Add(1000 * time.Hour)
	s.CreatedAt = time.Time{}
	require.NoError(t, m.Save(ctx, s))
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.True(t, got.AbsoluteDeadline.Equal(abs), "Save must not move the absolute deadline")
	assert.False(t, got.CreatedAt.IsZero())
}
