package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/session"
)

// The oracle, fed by hand: each case is a history and the violation it
// must report (or none).

func sess(x *tracked, n int64) *session.Session[Data] {
	s := &session.Session[Data]{ID: x.id, Data: Data{Serial: x.serial, N: n}}
	if x.owner != nil {
		s.Owner = x.owner.name
	}
	return s
}

// create tracks a new session created on instance 0 with err.
func create(o *oracle, ow *owner, err error) *tracked {
	serial, e := o.beginCreate(ow)
	s := &session.Session[Data]{ID: fmt.Sprintf("id-%d", serial), Data: Data{Serial: serial}}
	if ow != nil {
		s.Owner = ow.name
	}
	o.endCreate(ow, serial, e, s, err, 0)
	for _, x := range o.all() {
		if x.serial == serial {
			return x
		}
	}
	return nil
}

func update(o *oracle, x *tracked, n int64, err error, inst int) {
	snap := o.beginUpdate(x)
	o.endUpdate(x, snap, sess(x, n), err, inst)
}

func fresh(o *oracle, x *tracked, s *session.Session[Data], err error) {
	o.endFresh(opGetFresh, x, o.beginRead(x), s, err, 1)
}

var errNotFound = fmt.Errorf("session: get: %w", session.ErrNotFound)
var errNotDurable = fmt.Errorf("session: destroy: %w", session.ErrNotDurable)

func TestOracle(t *testing.T) {
	tests := []struct {
		name    string
		history func(o *oracle)
		want    int // violation kind, -1 for none
	}{
		{"Consistent", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			fresh(o, x, sess(x, 1), nil)
			o.beginLogout(x)
			o.endDestroy(x, nil, 0)
			fresh(o, x, nil, errNotFound)
		}, -1},
		{"LogoutUndone", func(o *oracle) {
			x := create(o, nil, nil)
			o.beginLogout(x)
			o.endDestroy(x, nil, 0)
			fresh(o, x, sess(x, 0), nil)
		}, vLogoutUndone},
		{"UpdateAfterLogout", func(o *oracle) {
			x := create(o, nil, nil)
			o.beginLogout(x)
			o.endDestroy(x, nil, 0)
			update(o, x, 1, nil, 0)
		}, vLogoutUndone},
		{"DestroyByOwnerUndone", func(o *oracle) {
			ow := o.owners[0]
			x, y := create(o, ow, nil), create(o, ow, nil)
			snap := o.beginDestroyByOwner(ow)
			o.endDestroyByOwner(ow, snap, 2, nil, 0)
			fresh(o, x, nil, errNotFound)
			fresh(o, y, sess(y, 0), nil)
		}, vLogoutUndone},
		{"RenewedIDUndone", func(o *oracle) {
			x := create(o, nil, nil)
			snap := o.beginLogout(x)
			s := sess(x, 0)
			s.ID = "new"
			o.endRenew(x, snap, s, nil, 0)
			fresh(o, x, sess(x, 0), nil)
		}, vLogoutUndone},
		{"NotDurableLogoutUndoneIsAllowed", func(o *oracle) {
			x := create(o, nil, nil)
			o.beginLogout(x)
			o.endDestroy(x, errNotDurable, 0)
			fresh(o, x, sess(x, 0), nil)
		}, -1},
		{"UpdateLost", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			update(o, x, 2, nil, 1)
			fresh(o, x, sess(x, 1), nil)
		}, vUpdateLost},
		{"UpdateOverwritten", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			update(o, x, 1, nil, 1)
		}, vUpdateLost},
		{"NotDurableUpdateLostIsAllowed", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, fmt.Errorf("session: update: %w", session.ErrNotDurable), 0)
			fresh(o, x, sess(x, 0), nil)
		}, -1},
		{"SessionLost", func(o *oracle) {
			x := create(o, o.owners[0], nil)
			fresh(o, x, nil, errNotFound)
		}, vSessionLost},
		{"NotFoundDuringLogoutIsAllowed", func(o *oracle) {
			x := create(o, nil, nil)
			snap := o.beginRead(x)
			o.beginLogout(x)
			o.endFresh(opGetFresh, x, snap, nil, errNotFound, 1)
		}, -1},
		{"NotFoundDuringDestroyByOwnerIsAllowed", func(o *oracle) {
			ow := o.owners[0]
			x := create(o, ow, nil)
			dbo := o.beginDestroyByOwner(ow)
			fresh(o, x, nil, errNotFound)
			o.endDestroyByOwner(ow, dbo, 1, nil, 0)
		}, -1},
		{"NotFoundAfterFailedLogoutIsAllowed", func(o *oracle) {
			x := create(o, nil, nil)
			o.beginLogout(x)
			o.endDestroy(x, fmt.Errorf("x: %w", backend.ErrUnavailable), 0)
			fresh(o, x, nil, errNotFound)
		}, -1},
		{"NotDurableCreateLostIsAllowed", func(o *oracle) {
			x := create(o, nil, errNotDurable)
			fresh(o, x, nil, errNotFound)
		}, -1},
		{"WrongRecord", func(o *oracle) {
			x := create(o, nil, nil)
			s := sess(x, 0)
			s.Data.Serial++
			fresh(o, x, s, nil)
		}, vWrongRecord},
		{"Phantom", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			fresh(o, x, sess(x, 2), nil)
		}, vPhantom},
		{"UndocumentedError", func(o *oracle) {
			x := create(o, nil, nil)
			fresh(o, x, nil, errors.New("something else"))
		}, vErrorClass},
		{"Corrupt", func(o *oracle) {
			x := create(o, nil, nil)
			fresh(o, x, nil, fmt.Errorf("x: %w", session.ErrCorrupt))
		}, vUnexpectedClass},
		{"StaleGetWithinTTLIsAllowed", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			o.endCached(x, o.beginRead(x), sess(x, 0), nil, 1)
		}, -1},
		{"StaleGetBeyondTTL", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 0)
			x.acks[0].at = time.Now().Add(-time.Hour)
			o.endCached(x, o.beginRead(x), sess(x, 0), nil, 1)
		}, vStaleGet},
		{"GetMissesOwnWrite", func(o *oracle) {
			x := create(o, nil, nil)
			update(o, x, 1, nil, 2)
			o.endCached(x, o.beginRead(x), sess(x, 0), nil, 2)
		}, vOwnWrite},
		{"GetMissesOwnLogout", func(o *oracle) {
			x := create(o, nil, nil)
			o.beginLogout(x)
			o.endDestroy(x, nil, 1)
			o.endCached(x, o.beginRead(x), sess(x, 0), nil, 1)
		}, vOwnWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOracle(3, time.Minute, time.Second, t.Logf)
			tt.history(o)
			for k, n := range o.violations {
				want := 0
				if k == tt.want {
					want = 1
				}
				if n != want {
					t.Errorf("%s: %d, want %d", violationNames[k], n, want)
				}
			}
		})
	}
}

// Control runs: the whole load on three Managers sharing one memory store,
// as honest as it comes and then with each kind of lie a backend could
// tell. The honest run must show nothing; each broken one its violation.

// forgetfulDelete acknowledges Deletes without deleting.
type forgetfulDelete struct{ *memorybackend.Backend }

func (forgetfulDelete) Delete(context.Context, string) error { return nil }

// forgetfulUpdate acknowledges every third Update without storing it.
type forgetfulUpdate struct {
	*memorybackend.Backend
	n *int64
	m *sync.Mutex
}

func (b forgetfulUpdate) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	b.m.Lock()
	*b.n++
	lie := *b.n%3 == 0
	b.m.Unlock()
	if !lie {
		return b.Backend.Update(ctx, rec)
	}
	if _, err := b.Load(ctx, rec.Key); err != nil {
		return backend.Record{}, err
	}
	rec.Version++
	return rec, nil
}

// oddErrors fails every tenth Load with an error of no documented class.
type oddErrors struct {
	*memorybackend.Backend
	n *int64
	m *sync.Mutex
}

func (b oddErrors) Load(ctx context.Context, key string) (backend.Record, error) {
	b.m.Lock()
	*b.n++
	odd := *b.n%10 == 0
	b.m.Unlock()
	if odd {
		return backend.Record{}, errors.New("oddErrors: something undocumented")
	}
	return b.Backend.Load(ctx, key)
}

// staleCache serves Load from a copy it never invalidates (LoadFresh reads
// the store), like a client-side cache that lost its invalidations.
type staleCache struct {
	*memorybackend.Backend
	m     *sync.Mutex
	cache map[string]backend.Record
}

func (b staleCache) Load(ctx context.Context, key string) (backend.Record, error) {
	b.m.Lock()
	rec, ok := b.cache[key]
	b.m.Unlock()
	if ok {
		return rec, nil
	}
	rec, err := b.Backend.Load(ctx, key)
	if err == nil {
		b.m.Lock()
		b.cache[key] = rec
		b.m.Unlock()
	}
	return rec, err
}

func (b staleCache) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	return b.Backend.Load(ctx, key)
}

func (b staleCache) Close() error { return nil }

// Each wrapper's Close is the store's; the test closes the store once.
func (forgetfulDelete) Close() error { return nil }
func (forgetfulUpdate) Close() error { return nil }
func (oddErrors) Close() error       { return nil }

func TestControlRuns(t *testing.T) {
	tests := []struct {
		name string
		wrap func(*memorybackend.Backend) backend.Backend // per instance
		ttl  time.Duration
		want int // violation kind that must show, -1 for none at all
	}{
		{"Honest", func(b *memorybackend.Backend) backend.Backend { return honest{b} }, time.Minute, -1},
		{"ForgetfulDelete", func(b *memorybackend.Backend) backend.Backend { return forgetfulDelete{b} }, time.Minute, vLogoutUndone},
		{"ForgetfulUpdate", func(b *memorybackend.Backend) backend.Backend {
			return forgetfulUpdate{b, new(int64), new(sync.Mutex)}
		}, time.Minute, vUpdateLost},
		{"UndocumentedErrors", func(b *memorybackend.Backend) backend.Backend {
			return oddErrors{b, new(int64), new(sync.Mutex)}
		}, time.Minute, vErrorClass},
		{"StaleCache", func(b *memorybackend.Backend) backend.Backend {
			return staleCache{b, new(sync.Mutex), map[string]backend.Record{}}
		}, time.Millisecond, vStaleGet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memorybackend.New()
			defer store.Close()
			var ms []*session.Manager[Data]
			for range 3 {
				m, err := session.NewManager[Data](tt.wrap(store))
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			var logs strings.Builder
			var logMu sync.Mutex
			o := newOracle(10, tt.ttl, time.Second, func(format string, args ...any) {
				logMu.Lock()
				defer logMu.Unlock()
				fmt.Fprintf(&logs, format+"\n", args...)
			})
			const ops = 600
			l := &load{cfg: loadConfig{rate: 5000, workers: 2, opTimeout: time.Second, maxLive: 300, seed: 7, maxOps: ops}, ms: ms, o: o}
			l.run(nil)
			finalCheck(o, ms, options{load: l.cfg, faults: faultConfig{recoverTimeout: time.Second}})

			calls := 0
			for op := range numOps {
				for c := range numClasses {
					calls += o.ops[op][c]
				}
			}
			if calls < ops || o.finalChecked == 0 {
				t.Fatalf("only %d calls and %d final checks: the load did not run", calls, o.finalChecked)
			}
			total := 0
			for _, n := range o.violations {
				total += n
			}
			t.Logf("%d calls, %d sessions checked at the end, violations %v", calls, o.finalChecked, o.violations)
			if tt.want < 0 {
				if total != 0 {
					t.Errorf("%d violations in an honest run:\n%s", total, logs.String())
				}
				return
			}
			if o.violations[tt.want] == 0 {
				t.Errorf("no %q in %d calls; violations %v:\n%s", violationNames[tt.want], calls, o.violations, logs.String())
			}
		})
	}
}

// honest is the store as it is, with a Close that leaves it to the test.
type honest struct{ *memorybackend.Backend }

func (honest) Close() error { return nil }

func TestRunner(t *testing.T) {
	r, err := newRunner()
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	r.Cleanup(func() { order = append(order, 1) })
	r.Cleanup(func() { order = append(order, 2) })
	dir := r.TempDir()
	err = try(func() {
		r.Fatalf("stop %d", 42)
		t.Error("Fatalf returned")
	})
	if err == nil || err.Error() != "stop 42" {
		t.Errorf("try = %v, want the Fatalf message", err)
	}
	r.close()
	if fmt.Sprint(order) != "[2 1]" {
		t.Errorf("cleanups ran in order %v, want [2 1]", order)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("TempDir %s after close: %v, want it gone", dir, err)
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-duration", "30s", "-rate", "50"}, io.Discard)
	if err != nil || o.duration != 30*time.Second || o.load.rate != 50 || o.faults.recoverTimeout != time.Minute {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	seen := map[faultKind]bool{}
	for _, k := range o.faults.schedule {
		seen[k] = true
	}
	if len(seen) != int(numFaults) {
		t.Errorf("default schedule %v, want every kind", o.faults.schedule)
	}
	o, err = parseFlags([]string{"-faults", "kill-restart, failover"}, io.Discard)
	if err != nil || fmt.Sprint(o.faults.schedule) != fmt.Sprint([]faultKind{fKillRestart, fFailover}) {
		t.Errorf("-faults kill-restart,failover: %v, %v", o.faults.schedule, err)
	}
	for _, args := range [][]string{{"-rate", "0"}, {"-duration", "-1s"}, {"extra"}, {"-faults", "kill,"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want class
	}{
		{nil, classOK},
		{fmt.Errorf("a: %w", session.ErrNotFound), classNotFound},
		{fmt.Errorf("a: %w", session.ErrConflict), classConflict},
		{fmt.Errorf("a: %w", session.ErrNotDurable), classNotDurable},
		{fmt.Errorf("a: %w: %w", backend.ErrUnavailable, context.DeadlineExceeded), classUnavailable},
		{fmt.Errorf("a: %w", context.Canceled), classContext},
		{fmt.Errorf("a: %w", session.ErrCorrupt), classCorrupt},
		{fmt.Errorf("a: %w", redisbackend.ErrPermission), classPermission},
		{errors.New("a"), classOther},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, className(got), className(tt.want))
		}
	}
}

func TestEntries(t *testing.T) {
	flat := "name\n127.0.0.1:1\nflags\nslave\nname\n127.0.0.1:2\nflags\ns_down,slave"
	es := entries(flat)
	if len(es) != 2 || es[0]["flags"] != "slave" || es[1]["name"] != "127.0.0.1:2" {
		t.Errorf("entries = %v", es)
	}
	if got := field("# Replication\r\nrole:master\r\nconnected_slaves:1\r\n", "role"); got != "master" {
		t.Errorf("field = %q", got)
	}
}
