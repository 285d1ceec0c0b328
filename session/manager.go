package session

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/retry"
)

// Session is one user's session as the application sees it. Change Owner
// and Data freely, then Save, Update or Renew to store the change.
type Session[T any] struct {
	// ID is what the client holds (in a cookie); only its SHA-256 reaches
	// the backend. It is empty in sessions returned by ListByOwner, since
	// the store knows only the hash.
	ID string
	// Owner is the user the session belongs to; "" while anonymous.
	Owner string
	// Data is the application's typed session data.
	Data T
	// CreatedAt is when the session was created.
	CreatedAt time.Time
	// IdleDeadline is when the session ends without further activity.
	IdleDeadline time.Time
	// AbsoluteDeadline is when the session ends in any case.
	AbsoluteDeadline time.Time
	// (Changing the three times above changes nothing in the store: they
	// are for reading.)

	key     string
	version uint64
	// what the store holds, whatever the caller does to the fields above
	created, absolute time.Time
}

// Manager creates, loads and stores sessions of type T in a backend. It is
// safe for concurrent use.
type Manager[T any] struct {
	b       backend.Backend
	cf      config
	updates keyLocks
	decoded *decodeCache[T]
}

// NewManager returns a Manager that stores sessions in b. It returns an
// error if b is nil or the options cannot work together (a non-positive
// timeout, a touch interval not shorter than the idle timeout, ...).
func NewManager[T any](b backend.Backend, opts ...Option) (*Manager[T], error) {
	if b == nil {
		return nil, errors.New("session: backend is nil")
	}
	cf, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Manager[T]{b: b, cf: cf, decoded: newDecodeCache[T](cf.decodeCache)}, nil
}

// Backend returns the backend the Manager stores sessions in.
func (m *Manager[T]) Backend() backend.Backend { return m.b }

// IdleTimeout returns the configured idle timeout: how long a session
// lives without activity (WithIdleTimeout).
func (m *Manager[T]) IdleTimeout() time.Duration { return m.cf.idle }

// AbsoluteTimeout returns the configured absolute timeout: how long a
// session lives at most from its creation, whatever its activity
// (WithAbsoluteTimeout).
func (m *Manager[T]) AbsoluteTimeout() time.Duration { return m.cf.absolute }

// idleDeadline is the idle deadline a session active at now gets.
func (m *Manager[T]) idleDeadline(now, absolute time.Time) time.Time {
	d := now.Add(m.cf.idle)
	if d.After(absolute) {
		return absolute
	}
	return d
}

// Create stores a new session of owner ("" for anonymous) holding data and
// returns it with its fresh ID. If the backend stored it but reports
// ErrNotDurable, Create returns the session and that error.
func (m *Manager[T]) Create(ctx context.Context, owner string, data T) (*Session[T], error) {
	return m.create(ctx, owner, data, m.cf.absolute)
}

// create is Create with the absolute deadline lifetime after now.
func (m *Manager[T]) create(ctx context.Context, owner string, data T, lifetime time.Duration) (*Session[T], error) {
	payload, err := m.encode(&data)
	if err != nil {
		return nil, err
	}
	now := m.cf.clock()
	abs := now.Add(lifetime)
	rec := backend.Record{
		Owner:            owner,
		Payload:          payload,
		CreatedAt:        now,
		IdleDeadline:     m.idleDeadline(now, abs),
		AbsoluteDeadline: abs,
	}
	// A collision of 122-bit IDs does not happen; a broken generator does.
	for range 3 {
		id, err := m.newID()
		if err != nil {
			return nil, err
		}
		rec.Key = storageKey(id)
		stored, err := m.b.Create(ctx, rec)
		m.logErr(ctx, OpCreate, "Create", rec.Key, err)
		if errors.Is(err, backend.ErrExists) {
			continue
		}
		if err != nil && !applied(err) {
			return nil, fmt.Errorf("session: create: %w", err)
		}
		s := m.fromRecord(id, stored, data)
		m.remember(stored, payload, &s.Data)
		m.observe(ctx, Observation{Kind: ObservedCreated, Op: OpCreate, Bytes: len(payload)})
		if err != nil {
			return s, fmt.Errorf("session: create: %w", err)
		}
		return s, nil
	}
	return nil, errors.New("session: create: the ID generator keeps returning IDs in use")
}

func (m *Manager[T]) newID() (string, error) {
	id, err := m.cf.newID()
	if err != nil {
		return "", fmt.Errorf("session: generate ID: %w", err)
	}
	if !m.validID(id) {
		return "", fmt.Errorf("session: generated ID of %d bytes is not a valid ID (1 to %d bytes of A-Z a-z 0-9 - _ . ~ + / =)", len(id), maxIDLen)
	}
	return id, nil
}

func (m *Manager[T]) fromRecord(id string, rec backend.Record, data T) *Session[T] {
	return &Session[T]{
		ID:               id,
		Owner:            rec.Owner,
		Data:             data,
		CreatedAt:        rec.CreatedAt,
		IdleDeadline:     rec.IdleDeadline,
		AbsoluteDeadline: rec.AbsoluteDeadline,
		key:              rec.Key,
		version:          rec.Version,
		created:          rec.CreatedAt,
		absolute:         rec.AbsoluteDeadline,
	}
}

// Get returns the live session with that ID, or an error matching
// ErrNotFound. A malformed ID is ErrNotFound without any backend call. Get
// moves the idle deadline when more than the touch interval has passed
// since it was last moved.
func (m *Manager[T]) Get(ctx context.Context, id string) (*Session[T], error) {
	return m.get(ctx, OpGet, id, false)
}

// GetFresh is Get without any cache of the backend: it sees every write
// that completed before it began, on any instance. Use it where a stale
// read matters (authorization checks right after a logout elsewhere). On a
// backend without a cache (no backend.FreshLoader) it is Get.
func (m *Manager[T]) GetFresh(ctx context.Context, id string) (*Session[T], error) {
	return m.get(ctx, OpGetFresh, id, true)
}

func (m *Manager[T]) get(ctx context.Context, op Op, id string, fresh bool) (*Session[T], error) {
	now := m.cf.clock()
	s, err := m.load(ctx, op, id, now, fresh)
	if err != nil {
		return nil, err
	}
	if idle := m.idleDeadline(now, s.absolute); idle.Sub(s.IdleDeadline) > m.cf.touch {
		if err := m.b.Touch(ctx, s.key, idle); err != nil {
			m.logErr(ctx, op, "Touch", s.key, err)
			return nil, fmt.Errorf("session: get: refresh idle deadline: %w", err)
		}
		s.IdleDeadline = idle
	}
	return s, nil
}

// load reads and decodes the session without refreshing it, as live at
// now, from the store itself if fresh.
func (m *Manager[T]) load(ctx context.Context, op Op, id string, now time.Time, fresh bool) (*Session[T], error) {
	if !m.validID(id) {
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: OutcomeMalformed})
		return nil, fmt.Errorf("session: get: malformed ID: %w", ErrNotFound)
	}
	key := storageKey(id)
	rec, call, err := m.read(ctx, key, fresh)
	if err != nil {
		m.logErr(ctx, op, call, key, err)
		m.observeLoadErr(ctx, op, err)
		return nil, fmt.Errorf("session: get: %w", err)
	}
	return m.open(ctx, op, id, rec, now)
}

// open decodes rec, the stored record of the session id, as live at now.
func (m *Manager[T]) open(ctx context.Context, op Op, id string, rec backend.Record, now time.Time) (*Session[T], error) {
	if rec.Expired(now) {
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: OutcomeExpired})
		return nil, fmt.Errorf("session: get: expired: %w", ErrNotFound)
	}
	key := rec.Key
	s := m.fromRecord(id, rec, *new(T))
	if m.decoded.get(key, stampOf(rec), rec.Payload, &s.Data) {
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: OutcomeFound, Cache: CacheHit, Bytes: len(rec.Payload)})
		return s, nil
	}
	// A codec may alias its input in what it decodes, which the caller
	// then owns and may change: decode from the bytes Load returned (ours
	// alone) and keep a copy for the decode cache.
	data := rec.Payload
	if m.decoded.on() {
		rec.Payload = bytes.Clone(data)
	}
	if err := m.decode(data, &s.Data); err != nil {
		m.logCorrupt(ctx, op, key, data, err)
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: OutcomeCorrupt})
		return nil, fmt.Errorf("session: get: %w", err)
	}
	m.decoded.put(rec, &s.Data, false)
	m.observe(ctx, Observation{Kind: ObservedLoaded, Op: op, Outcome: OutcomeFound, Cache: m.cacheResult(), Bytes: len(data)})
	return s, nil
}

// read is the backend's Load, or its LoadFresh if fresh and it has one;
// call names the method.
func (m *Manager[T]) read(ctx context.Context, key string, fresh bool) (rec backend.Record, call string, err error) {
	if fresh {
		if f, ok := m.b.(backend.FreshLoader); ok {
			rec, err = f.LoadFresh(ctx, key)
			return rec, "LoadFresh", err
		}
	}
	rec, err = m.b.Load(ctx, key)
	return rec, "Load", err
}

// Save stores s, which must come from this Manager, and moves its idle
// deadline. It returns an error matching ErrConflict if the stored session
// changed since s was read (use Update to retry), and ErrNotFound if it is
// gone. On success s carries the new version, so it can be saved again;
// so it does when the error matches ErrNotDurable (the write was applied).
func (m *Manager[T]) Save(ctx context.Context, s *Session[T]) error {
	if err := m.save(ctx, OpSave, s); err != nil {
		return fmt.Errorf("session: save: %w", err)
	}
	return nil
}

func (m *Manager[T]) save(ctx context.Context, op Op, s *Session[T]) error {
	rec, err := m.record(s)
	if err != nil {
		return err
	}
	stored, err := m.b.Update(ctx, rec)
	m.logErr(ctx, op, "Update", rec.Key, err)
	if err != nil && !applied(err) {
		if errors.Is(err, ErrConflict) {
			m.observe(ctx, Observation{Kind: ObservedConflict, Op: op})
		}
		return err
	}
	m.observe(ctx, Observation{Kind: ObservedSaved, Op: op, Bytes: len(rec.Payload)})
	s.IdleDeadline, s.version = stored.IdleDeadline, stored.Version
	m.remember(stored, rec.Payload, &s.Data)
	return err
}

// remember keeps stored, just written with payload (which the backend
// copied on the way in) encoded from v, in the decode cache, so that the
// next Update of the session starts from it without a read.
func (m *Manager[T]) remember(stored backend.Record, payload []byte, v *T) {
	stored.Payload = payload
	m.decoded.put(stored, v, true)
}

// remembered is the session id as this Manager last read or wrote it, if
// the decode cache holds it and it is live at now: where to start an
// Update without a read. It may be stale; the write then conflicts.
func (m *Manager[T]) remembered(ctx context.Context, id, key string, now time.Time) *Session[T] {
	var data T
	rec, ok := m.decoded.last(key, &data)
	if !ok || rec.Expired(now) {
		return nil
	}
	m.observe(ctx, Observation{Kind: ObservedLoaded, Op: OpUpdate, Outcome: OutcomeFound, Cache: CacheHit, Bytes: len(rec.Payload)})
	return m.fromRecord(id, rec, data)
}

// applied reports whether err says that the write was applied all the same
// (backend.ErrNotDurable).
func applied(err error) bool { return errors.Is(err, backend.ErrNotDurable) }

// record is what storing s writes: its current data and owner, a refreshed
// idle deadline and the version it was read at.
func (m *Manager[T]) record(s *Session[T]) (backend.Record, error) {
	if s == nil || s.key == "" {
		return backend.Record{}, errors.New("the session does not come from Create or Get of a Manager")
	}
	payload, err := m.encode(&s.Data)
	if err != nil {
		return backend.Record{}, err
	}
	return backend.Record{
		Key:              s.key,
		Owner:            s.Owner,
		Payload:          payload,
		Version:          s.version,
		CreatedAt:        s.created,
		IdleDeadline:     m.idleDeadline(m.cf.clock(), s.absolute),
		AbsoluteDeadline: s.absolute,
	}, nil
}

// Update loads the session, calls fn on it and saves the result, again and
// again while another writer changed the session in between, up to the
// configured number of attempts with jittered backoff. Updates of one
// session through one Manager take turns, so only writers on other
// instances (or Save) can make an attempt fail. If fn returns an error,
// Update stops and returns it, and nothing is saved. fn may run more than
// once and must not keep s. A write that was applied is never retried: with
// ErrNotDurable, Update returns the stored session and the error.
//
// An Update of a session this Manager created or wrote last (and still
// holds in its decode cache, WithDecodeCache) reads nothing: fn gets a
// copy of the data as this Manager wrote it, and the Update costs the
// write alone, one round trip on the Redis and PostgreSQL backends. When
// another instance wrote in between, the write conflicts and the next
// attempt starts from the stored record the conflict carries
// (backend.ConflictError), or from a fresh read where the backend returns
// a plain ErrConflict.
func (m *Manager[T]) Update(ctx context.Context, id string, fn func(*Session[T]) error) (*Session[T], error) {
	if !m.validID(id) {
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: OpUpdate, Outcome: OutcomeMalformed})
		return nil, fmt.Errorf("session: update: malformed ID: %w", ErrNotFound)
	}
	key := storageKey(id)
	held, err := m.updates.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("session: update: %w", err)
	}
	defer held.release()
	var current *backend.Record // what the last conflict reported stored
	for attempt := 0; ; attempt++ {
		// The first attempt starts from the session as this Manager last
		// read or wrote it: when that is current the Update costs one
		// round trip, the write's. When it is stale the write conflicts,
		// and the next attempt starts from the stored record the conflict
		// carries (backend.ConflictError), else from a read of the store
		// itself. Without such an entry the first attempt reads: from the
		// store itself too where the decode cache is on (a session this
		// Manager has not read lately is seldom in the backend's cache
		// either, and a cache miss costs more than a plain read), else
		// through the backend's cache.
		now := m.cf.clock()
		var s *Session[T]
		switch {
		case current != nil:
			s, err = m.open(ctx, OpUpdate, id, *current, now)
		case attempt == 0:
			if s = m.remembered(ctx, id, key, now); s == nil {
				s, err = m.load(ctx, OpUpdate, id, now, m.decoded.on())
			}
		default:
			s, err = m.load(ctx, OpUpdate, id, now, true)
		}
		if err != nil {
			return nil, err
		}
		if err := fn(s); err != nil {
			return nil, err
		}
		err = m.save(ctx, OpUpdate, s)
		if err == nil {
			return s, nil
		}
		if applied(err) {
			return s, fmt.Errorf("session: update: %w", err)
		}
		if !errors.Is(err, ErrConflict) || attempt+1 >= m.cf.maxAttempts {
			if errors.Is(err, ErrConflict) {
				m.logExhausted(ctx, s.key, attempt+1, err)
				m.observe(ctx, Observation{Kind: ObservedExhausted, Op: OpUpdate, N: attempt + 1})
			}
			return nil, fmt.Errorf("session: update after %d attempts: %w", attempt+1, err)
		}
		current = nil
		if ce := (*backend.ConflictError)(nil); errors.As(err, &ce) && ce.Current.Key == key {
			current = &ce.Current
		}
		m.observe(ctx, Observation{Kind: ObservedRetry, Op: OpUpdate, N: attempt + 2})
		if err := retry.Backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("session: update: %w", err)
		}
	}
}

// Renew stores s as it is now — data and owner, changes not yet saved
// included — under a new ID, and retires the old ID: from the moment Renew
// returns the old ID is ErrNotFound on this instance and for GetFresh
// everywhere. Another instance that has the old session in a client-side
// cache (Redis) may serve it from there until the invalidation arrives:
// about one round trip, and up to 13.9 ms measured on a loaded two-core
// machine. Check with GetFresh where that matters. It keeps CreatedAt and the absolute
// deadline and moves the idle deadline, like every write. On success s.ID
// is the new ID to hand to the client. It returns an error matching
// ErrConflict if the stored session changed since s was read. With an
// error matching ErrNotDurable the renewal was applied: s.ID is the new
// ID, the old one is dead, and the client must get the new one.
//
// Renew on login and on every privilege change, so that an ID planted
// before login (session fixation) is worthless:
//
//	s.Owner = user
//	err := m.Renew(ctx, s)
func (m *Manager[T]) Renew(ctx context.Context, s *Session[T]) error {
	rec, err := m.record(s)
	if err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	id, err := m.newID()
	if err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	newKey := storageKey(id)
	var stored backend.Record
	if r, ok := m.b.(backend.Rekeyer); ok {
		stored, err = r.Rekey(ctx, rec, newKey)
		m.logErr(ctx, OpRenew, "Rekey", rec.Key, err)
	} else {
		stored, err = m.rekey(ctx, rec, newKey)
	}
	if err != nil && !applied(err) {
		if errors.Is(err, ErrConflict) {
			m.observe(ctx, Observation{Kind: ObservedConflict, Op: OpRenew})
		}
		return fmt.Errorf("session: renew: %w", err)
	}
	m.observe(ctx, Observation{Kind: ObservedRenewed, Op: OpRenew, Bytes: len(rec.Payload)})
	m.decoded.forget(s.key)
	s.ID, s.key, s.version, s.IdleDeadline = id, stored.Key, stored.Version, stored.IdleDeadline
	m.remember(stored, rec.Payload, &s.Data)
	if err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	return nil
}

// rekey is Renew on a backend without Rekeyer. The new key is created
// first; then a compare-and-swap on the old key proves nobody changed the
// session and retires it in the same write (anonymous, empty, idle
// deadline now), so from that instant the old ID is dead and a concurrent
// write to it fails instead of being lost. If the swap fails, the new key
// is deleted again and the old session is left as it was: a failed Renew
// never leaves the old ID carrying the new owner (session fixation). The
// final Delete of the dead old key only tidies up. An ErrNotDurable of
// either write is returned with the new record.
func (m *Manager[T]) rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	oldKey := rec.Key
	rec.Key = newKey
	stored, cerr := m.b.Create(ctx, rec)
	m.logErr(ctx, OpRenew, "Create", newKey, cerr)
	if cerr != nil && !applied(cerr) {
		return backend.Record{}, cerr
	}
	retire := backend.Record{
		Key:              oldKey,
		Version:          rec.Version,
		CreatedAt:        rec.CreatedAt,
		IdleDeadline:     m.cf.clock(),
		AbsoluteDeadline: rec.AbsoluteDeadline,
	}
	_, uerr := m.b.Update(ctx, retire)
	m.logErr(ctx, OpRenew, "Update", oldKey, uerr)
	if uerr != nil && !applied(uerr) {
		cleanup := m.b.Delete(ctx, newKey)
		m.logErr(ctx, OpRenew, "Delete", newKey, cleanup)
		if cleanup != nil && !applied(cleanup) {
			uerr = errors.Join(uerr, cleanup)
		}
		return backend.Record{}, uerr
	}
	// Dead already; a failure leaves only garbage that expires.
	m.logErr(ctx, OpRenew, "Delete", oldKey, m.b.Delete(ctx, oldKey))
	return stored, cmp.Or(cerr, uerr)
}

// Destroy deletes the session with that ID. It is idempotent: an ID that is
// already gone, or malformed, is not an error.
func (m *Manager[T]) Destroy(ctx context.Context, id string) error {
	if !m.validID(id) {
		return nil
	}
	key := storageKey(id)
	m.decoded.forget(key)
	if err := m.b.Delete(ctx, key); err != nil {
		m.logErr(ctx, OpDestroy, "Delete", key, err)
		return fmt.Errorf("session: destroy: %w", err)
	}
	m.observe(ctx, Observation{Kind: ObservedDestroyed, Op: OpDestroy, N: 1})
	return nil
}

// Revoke deletes the session s, which may come from ListByOwner (where the
// ID is unknown): it is how a "your devices" page logs out one device. It is
// idempotent.
func (m *Manager[T]) Revoke(ctx context.Context, s *Session[T]) error {
	if s == nil || s.key == "" {
		return errors.New("session: revoke: the session does not come from this Manager")
	}
	m.decoded.forget(s.key)
	if err := m.b.Delete(ctx, s.key); err != nil {
		m.logErr(ctx, OpRevoke, "Delete", s.key, err)
		return fmt.Errorf("session: revoke: %w", err)
	}
	m.observe(ctx, Observation{Kind: ObservedDestroyed, Op: OpRevoke, N: 1})
	return nil
}

// Handle returns a stable identifier of the session that is safe to show
// and to log: the hash under which it is stored, not the ID. Sessions from
// ListByOwner have a Handle but no ID.
func (s *Session[T]) Handle() string { return s.key }

// ListByOwner returns the live sessions of owner, each with an empty ID
// (only hashes are stored; use Handle and Revoke). It returns an error
// matching ErrUnsupported if the backend has no backend.OwnerIndex, and
// ErrCorrupt if a stored payload cannot be decoded.
func (m *Manager[T]) ListByOwner(ctx context.Context, owner string) ([]*Session[T], error) {
	idx, err := m.ownerIndex(owner)
	if err != nil {
		return nil, fmt.Errorf("session: list by owner: %w", err)
	}
	recs, err := idx.ListByOwner(ctx, owner)
	if err != nil {
		m.logOwnerErr(ctx, OpListByOwner, "ListByOwner", owner, err)
		return nil, fmt.Errorf("session: list by owner: %w", err)
	}
	now := m.cf.clock()
	out := make([]*Session[T], 0, len(recs))
	for _, rec := range recs {
		if rec.Expired(now) {
			m.observe(ctx, Observation{Kind: ObservedLoaded, Op: OpListByOwner, Outcome: OutcomeExpired})
			continue
		}
		s := m.fromRecord("", rec, *new(T))
		if err := m.decode(rec.Payload, &s.Data); err != nil {
			m.logCorrupt(ctx, OpListByOwner, rec.Key, rec.Payload, err)
			m.observe(ctx, Observation{Kind: ObservedLoaded, Op: OpListByOwner, Outcome: OutcomeCorrupt})
			return nil, fmt.Errorf("session: list by owner: %w", err)
		}
		m.observe(ctx, Observation{Kind: ObservedLoaded, Op: OpListByOwner, Outcome: OutcomeFound, Bytes: len(rec.Payload)})
		out = append(out, s)
	}
	return out, nil
}

// DestroyByOwner deletes every session of owner ("log out everywhere") and
// reports how many it deleted. It returns an error matching ErrUnsupported
// if the backend has no backend.OwnerIndex.
func (m *Manager[T]) DestroyByOwner(ctx context.Context, owner string) (int, error) {
	idx, err := m.ownerIndex(owner)
	if err != nil {
		return 0, fmt.Errorf("session: destroy by owner: %w", err)
	}
	n, err := idx.DeleteByOwner(ctx, owner)
	m.decoded.forgetOwner(owner)
	if n > 0 || err == nil {
		m.observe(ctx, Observation{Kind: ObservedDestroyed, Op: OpDestroyByOwner, N: n})
	}
	if err != nil {
		m.logOwnerErr(ctx, OpDestroyByOwner, "DeleteByOwner", owner, err)
		return n, fmt.Errorf("session: destroy by owner: %w", err)
	}
	return n, nil
}

func (m *Manager[T]) ownerIndex(owner string) (backend.OwnerIndex, error) {
	if owner == "" {
		return nil, errors.New("the owner is empty (anonymous sessions have no owner to find them by)")
	}
	idx, ok := m.b.(backend.OwnerIndex)
	if !ok {
		return nil, ErrUnsupported
	}
	return idx, nil
}
