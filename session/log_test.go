package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
)

// faulty is the memory backend with calls that fail on demand: a call
// named in fail returns that error; an error matching ErrNotDurable is
// returned after the write was applied, as the contract says.
type faulty struct {
	*memorybackend.Backend
	mu   sync.Mutex
	fail map[string]error
}

func newFaulty(t *testing.T, clk *clock) *faulty {
	return &faulty{Backend: newMemory(t, clk), fail: map[string]error{}}
}

func (f *faulty) failing(call string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[call] = err
}

func (f *faulty) err(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[call]
}

// write runs a write of the named call through fault injection.
func write[R any](f *faulty, call string, do func() (R, error)) (R, error) {
	err := f.err(call)
	if err == nil {
		return do()
	}
	if errors.Is(err, backend.ErrNotDurable) {
		r, derr := do()
		if derr != nil {
			return r, derr
		}
		return r, err
	}
	var zero R
	return zero, err
}

func (f *faulty) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	return write(f, "Create", func() (backend.Record, error) { return f.Backend.Create(ctx, rec) })
}

func (f *faulty) Load(ctx context.Context, key string) (backend.Record, error) {
	return write(f, "Load", func() (backend.Record, error) { return f.Backend.Load(ctx, key) })
}

func (f *faulty) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	return write(f, "Update", func() (backend.Record, error) { return f.Backend.Update(ctx, rec) })
}

func (f *faulty) Touch(ctx context.Context, key string, idle time.Time) error {
	_, err := write(f, "Touch", func() (struct{}, error) { return struct{}{}, f.Backend.Touch(ctx, key, idle) })
	return err
}

func (f *faulty) Delete(ctx context.Context, key string) error {
	_, err := write(f, "Delete", func() (struct{}, error) { return struct{}{}, f.Backend.Delete(ctx, key) })
	return err
}

func (f *faulty) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	return write(f, "Rekey", func() (backend.Record, error) { return f.Backend.Rekey(ctx, rec, newKey) })
}

func (f *faulty) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	return write(f, "ListByOwner", func() ([]backend.Record, error) { return f.Backend.ListByOwner(ctx, owner) })
}

func (f *faulty) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	return write(f, "DeleteByOwner", func() (int, error) { return f.Backend.DeleteByOwner(ctx, owner) })
}

// faultyNoRekey is faulty without Rekeyer, so Renew takes its generic path.
type faultyNoRekey struct{ *faulty }

func (faultyNoRekey) Rekey() {} // shadows the method

var errDown = fmt.Errorf("fake: %w: %w", backend.ErrUnavailable, errors.New("connection refused"))

// logLine is one record of the JSON handler.
type logLine map[string]any

func parseLog(t *testing.T, buf *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var l logLine
		require.NoError(t, json.Unmarshal([]byte(line), &l), line)
		out = append(out, l)
	}
	return out
}

// env is what a case of TestLogPaths works on.
type env struct {
	ctx   context.Context
	f     *faulty
	m     *session.Manager[Profile]
	other *session.Manager[Profile] // another instance, refreshing on every Get
	s     *session.Session[Profile] // a stored session of owner "ada"
}

// TestLogPaths drives every path that logs, captures the records, checks
// level, message and attributes, and checks that no record, and no error
// returned, holds any session ID the test ever saw.
func TestLogPaths(t *testing.T) {
	type want struct {
		level, msg, op, call string
		session              bool // the record names s by its Handle
		owner                bool // the record names owner "ada"
		codec                bool // the record has codec and bytes
	}
	storeFailed := func(op, call string) want {
		return want{level: "WARN", msg: "session: store failed", op: op, call: call, session: true}
	}
	cases := []struct {
		name   string
		noRkey bool
		run    func(e *env) error
		want   []want
	}{
		{"Create", false, func(e *env) error {
			e.f.failing("Create", errDown)
			_, err := e.m.Create(e.ctx, "", Profile{})
			return err
		}, []want{{level: "WARN", msg: "session: store failed", op: "create", call: "Create"}}},
		{"GetLoad", false, func(e *env) error {
			e.f.failing("Load", errDown)
			_, err := e.m.Get(e.ctx, e.s.ID)
			return err
		}, []want{storeFailed("get", "Load")}},
		{"GetFreshLoad", false, func(e *env) error {
			e.f.failing("Load", errDown)
			_, err := e.m.GetFresh(e.ctx, e.s.ID)
			return err
		}, []want{storeFailed("get_fresh", "Load")}},
		{"GetTouch", false, func(e *env) error {
			e.f.failing("Touch", errDown)
			_, err := e.other.Get(e.ctx, e.s.ID) // other refreshes on every Get
			return err
		}, []want{storeFailed("get", "Touch")}},
		{"Save", false, func(e *env) error {
			e.f.failing("Update", errDown)
			return e.m.Save(e.ctx, e.s)
		}, []want{storeFailed("save", "Update")}},
		{"SaveNotDurable", false, func(e *env) error {
			e.f.failing("Update", fmt.Errorf("fake: %w", backend.ErrNotDurable))
			return e.m.Save(e.ctx, e.s)
		}, []want{{level: "WARN", msg: "session: write not confirmed durable", op: "save", call: "Update", session: true}}},
		{"UpdateLoad", false, func(e *env) error {
			// other has not seen the session, so its Update must read it.
			e.f.failing("Load", errDown)
			_, err := e.other.Update(e.ctx, e.s.ID, func(*session.Session[Profile]) error { return nil })
			return err
		}, []want{storeFailed("update", "Load")}},
		{"UpdateExhausted", false, func(e *env) error {
			_, err := e.m.Update(e.ctx, e.s.ID, func(*session.Session[Profile]) error {
				// Another instance gets in between every time.
				_, err := e.other.Update(e.ctx, e.s.ID, func(o *session.Session[Profile]) error { o.Data.Counter++; return nil })
				return err
			})
			return err
		}, []want{{level: "WARN", msg: "session: update gave up", op: "update", session: true}}},
		{"RenewRekey", false, func(e *env) error {
			e.f.failing("Rekey", errDown)
			return e.m.Renew(e.ctx, e.s)
		}, []want{storeFailed("renew", "Rekey")}},
		{"RenewCreate", true, func(e *env) error {
			e.f.failing("Create", errDown)
			return e.m.Renew(e.ctx, e.s)
		}, []want{{level: "WARN", msg: "session: store failed", op: "renew", call: "Create"}}},
		{"RenewRetireAndCleanup", true, func(e *env) error {
			e.f.failing("Update", errDown)
			e.f.failing("Delete", errDown)
			return e.m.Renew(e.ctx, e.s)
		}, []want{storeFailed("renew", "Update"), {level: "WARN", msg: "session: store failed", op: "renew", call: "Delete"}}},
		{"Destroy", false, func(e *env) error {
			e.f.failing("Delete", errDown)
			return e.m.Destroy(e.ctx, e.s.ID)
		}, []want{storeFailed("destroy", "Delete")}},
		{"Revoke", false, func(e *env) error {
			e.f.failing("Delete", errDown)
			return e.m.Revoke(e.ctx, e.s)
		}, []want{storeFailed("revoke", "Delete")}},
		{"ListByOwner", false, func(e *env) error {
			e.f.failing("ListByOwner", errDown)
			_, err := e.m.ListByOwner(e.ctx, "ada")
			return err
		}, []want{{level: "WARN", msg: "session: store failed", op: "list_by_owner", call: "ListByOwner", owner: true}}},
		{"DestroyByOwner", false, func(e *env) error {
			e.f.failing("DeleteByOwner", errDown)
			_, err := e.m.DestroyByOwner(e.ctx, "ada")
			return err
		}, []want{{level: "WARN", msg: "session: store failed", op: "destroy_by_owner", call: "DeleteByOwner", owner: true}}},
		{"CorruptGet", false, func(e *env) error {
			corrupt(t, e)
			_, err := e.m.Get(e.ctx, e.s.ID)
			return err
		}, []want{{level: "ERROR", msg: "session: corrupt payload", op: "get", session: true, codec: true}}},
		{"CorruptList", false, func(e *env) error {
			corrupt(t, e)
			_, err := e.m.ListByOwner(e.ctx, "ada")
			return err
		}, []want{{level: "ERROR", msg: "session: corrupt payload", op: "list_by_owner", session: true, codec: true}}},
		// Outcomes of the contract and the caller's own cancellation are
		// not the store failing: nothing is logged.
		{"NotFoundIsSilent", false, func(e *env) error {
			require.NoError(t, e.m.Destroy(e.ctx, e.s.ID))
			_, err := e.m.Get(e.ctx, e.s.ID)
			return err
		}, nil},
		{"CanceledIsSilent", false, func(e *env) error {
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			e.f.failing("Load", fmt.Errorf("fake: %w", context.Canceled))
			_, err := e.m.Get(ctx, e.s.ID)
			return err
		}, nil},
	}
	var seen []string // every ID the test saw
	var lines []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			f := newFaulty(t, clk)
			var b backend.Backend = f
			if c.noRkey {
				b = faultyNoRekey{f}
			}
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			m := newManager[Profile](t, b, session.WithClock(clk.Now), session.WithLogger(logger), session.WithUpdateAttempts(2))
			other := newManager[Profile](t, b, session.WithClock(clk.Now), session.WithLogger(logger), session.WithTouchInterval(0))
			s, err := m.Create(ctx, "ada", Profile{Name: "Ada", CSRF: "csrf"})
			require.NoError(t, err)
			seen = append(seen, s.ID)
			clk.Advance(time.Second)
			handle := s.Handle()

			err = c.run(&env{ctx: ctx, f: f, m: m, other: other, s: s})
			if c.want != nil {
				require.Error(t, err)
			}
			seen = append(seen, s.ID) // Renew may have changed it
			if err != nil {
				lines = append(lines, err.Error())
			}
			lines = append(lines, strings.Split(buf.String(), "\n")...)

			got := parseLog(t, &buf)
			require.Len(t, got, len(c.want), "records:\n%s", buf.String())
			for i, w := range c.want {
				l := got[i]
				assert.Equal(t, w.level, l["level"], "level")
				assert.Equal(t, w.msg, l["msg"], "msg")
				assert.Equal(t, w.op, l["op"], "op")
				if w.call != "" {
					assert.Equal(t, w.call, l["call"], "call")
				}
				switch {
				case w.owner:
					assert.Equal(t, "ada", l["owner"])
				case w.session:
					assert.Equal(t, handle, l["session"], "session is the Handle")
				default:
					assert.NotEmpty(t, l["session"]) // the new key of a Create
				}
				if w.codec {
					assert.Equal(t, "msgpack", l["codec"])
					assert.EqualValues(t, 10, l["bytes"])
				}
				if w.msg == "session: update gave up" {
					assert.EqualValues(t, 2, l["attempts"])
				}
				assert.NotEmpty(t, l["error"])
			}
		})
	}
	require.NotEmpty(t, lines)
	for _, line := range lines {
		for _, id := range seen {
			if strings.Contains(line, id) {
				t.Errorf("a log record or error holds the session ID %s:\n%s", id, line)
			}
		}
	}
}

// corrupt replaces the stored payload of e.s with a msgpack header and
// garbage.
func corrupt(t *testing.T, e *env) {
	t.Helper()
	rec, err := e.f.Backend.Load(e.ctx, e.s.Handle())
	require.NoError(t, err)
	rec.Payload = append([]byte{0x01, byte(len("msgpack"))}, "msgpack\xc1"...) // 0xc1: never used
	_, err = e.f.Backend.Update(e.ctx, rec)
	require.NoError(t, err)
}

func TestSessionLogValue(t *testing.T) {
	ctx := context.Background()
	m := newManager[Profile](t, newMemory(t, nil))
	s, err := m.Create(ctx, "ada", Profile{Name: "Ada", CSRF: "secret-csrf"})
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("hello", "session", s)
	out := buf.String()
	assert.Contains(t, out, "session.handle="+s.Handle())
	assert.Contains(t, out, "session.owner=ada")
	for _, leak := range []string{s.ID, "secret-csrf", "Ada"} {
		assert.NotContains(t, out, leak)
	}
	for _, printed := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v", s, s, s)} {
		assert.Contains(t, printed, s.Handle())
		assert.NotContains(t, printed, s.ID)
		assert.NotContains(t, printed, "secret-csrf")
	}
	var none *session.Session[Profile]
	assert.Equal(t, "session <nil>", none.String())
	assert.Equal(t, "<nil>", none.LogValue().String())
}

func TestWithLoggerNil(t *testing.T) {
	_, err := session.NewManager[int](newMemory(t, nil), session.WithLogger(nil))
	assert.ErrorContains(t, err, "logger is nil")
}
