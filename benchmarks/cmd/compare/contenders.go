package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	redigo "github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

// A contender is one way of keeping sessions. Every contender does the same
// work per operation:
//
//   - Read: look the session up by the token a client holds and decode it
//     into a Payload;
//   - Write: the same, then change the Payload (a page view), encode it and
//     store it with its expiry.
//
// Only raw rueidis skips the session work (no encoding, no hashing, no
// checks): it is the ceiling of the wire, not a session store.
type contender interface {
	// Load stores n sessions, session i holding newPayload(i), and returns
	// the tokens a client would hold, in order.
	Load(ctx context.Context, n int) ([]string, error)
	Read(ctx context.Context, token string) error
	Write(ctx context.Context, token string) error
	// Size is the number of bytes the store keeps for a session's data
	// (the codec output, before any key or metadata of the store).
	Size() int
	Close()
}

// Session lifetimes, the same for every contender that has the notion.
const (
	idleTimeout     = 30 * time.Minute
	absoluteTimeout = 24 * time.Hour
)

// contenderSpec describes a contender for -contenders and the table.
type contenderSpec struct {
	name  string
	redis bool // needs the Redis server
	about string
	make  func(env *env) (contender, error)
}

// env is what the contenders share: the server and the pool size.
type env struct {
	addr     string
	poolSize int  // connections for pooled clients: the most goroutines
	owners   bool // sessionkit sessions belong to a user (owner index on)
	// decodeCache: sessionkit keeps decoded sessions (session.Cloner),
	// as many as there are sessions
	decodeCache bool
	sessions    int
	// postgresURL is the server of the PostgreSQL contenders (-postgres).
	postgresURL string
}

// baseline is the contender ratios are computed against.
const baseline = "scs-redisstore"

var contenders = []contenderSpec{
	{"sessionkit-redis-cache", true, "sessionkit Manager, Redis backend from NewFromURL, client-side caching on (with its near cache)", newSessionkitRedisCache},
	{"sessionkit-redis", true, "sessionkit Manager, Redis backend, caching off", newSessionkitRedis},
	{"sessionkit-memory", false, "sessionkit Manager, memory backend (the floor)", newSessionkitMemory},
	{"scs-memstore", false, "scs/v2 SessionManager, memstore (gob)", newSCSMemstore},
	{"scs-redisstore", true, "scs/v2 SessionManager, redisstore over a redigo pool (gob)", newSCSRedisstore},
	{"goredis-json", true, "hand-rolled go-redis/v9 store: GET / SET EX of a JSON blob", newGoRedisJSON},
	{"rueidis-raw", true, "raw rueidis GET / SET EX of the bytes, no session logic, no cache", newRueidisRaw},
	{"sessionkit-postgres", false, "sessionkit Manager, PostgreSQL backend (pgxpool), compare-and-swap writes", newSessionkitPostgres},
	{"scs-postgresstore", false, "scs/v2 SessionManager, postgresstore over database/sql with pgx's driver (gob)", newSCSPostgresstore},
}

// hasClientCache reports whether contender name keeps a client-side cache
// whose entries expire (the Redis backend's WithCacheTTL, a minute by
// default).
func hasClientCache(name string) bool { return name == "sessionkit-redis-cache" }

func findContender(name string) (contenderSpec, bool) {
	for _, c := range contenders {
		if c.name == name {
			return c, true
		}
	}
	return contenderSpec{}, false
}

// loadWorkers is how many goroutines load a contender's sessions.
const loadWorkers = 16

// loadParallel calls create(i) for i in [0, n) on loadWorkers goroutines
// and returns the tokens in order.
func loadParallel(ctx context.Context, n int, create func(ctx context.Context, i int) (string, error)) ([]string, error) {
	const workers = loadWorkers
	tokens := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				tok, err := create(ctx, i)
				if err != nil {
					errs[w] = fmt.Errorf("session %d: %w", i, err)
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tokens, ctx.Err()
}

// randomToken is what a hand-rolled store hands out: 32 bytes from
// crypto/rand, base64url (the same as scs).
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ---- sessionkit ----

type sessionkitContender struct {
	m      *session.Manager[Payload]
	owners bool
	close  func()
}

// newSessionkitRedisCache is the Backend the README starts from:
// NewFromURL, with its defaults (the client-side cache, 16 MiB of it per
// connection, and the near cache in front of it).
func newSessionkitRedisCache(e *env) (contender, error) {
	b, err := redisbackend.NewFromURL(context.Background(), "redis://"+e.addr, redisbackend.WithPrefix("skc:"))
	if err != nil {
		return nil, err
	}
	return newSessionkit(b, e, func() { b.Close() })
}

// newSessionkitRedis is a Backend on a client of the harness's, without
// the client-side cache.
func newSessionkitRedis(e *env) (contender, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{e.addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	b, err := redisbackend.New(client, redisbackend.WithPrefix("skn:"), redisbackend.WithCache(false))
	if err != nil {
		client.Close()
		return nil, err
	}
	return newSessionkit(b, e, func() { b.Close(); client.Close() })
}

func newSessionkitMemory(e *env) (contender, error) {
	b := memorybackend.New()
	return newSessionkit(b, e, func() { b.Close() })
}

func newSessionkit(b backend.Backend, e *env, closer func()) (contender, error) {
	decodeCache := 0
	if e.decodeCache {
		decodeCache = e.sessions
	}
	m, err := session.NewManager[Payload](b,
		session.WithIdleTimeout(idleTimeout),
		session.WithAbsoluteTimeout(absoluteTimeout),
		session.WithDecodeCache(decodeCache))
	if err != nil {
		closer()
		return nil, err
	}
	return &sessionkitContender{m: m, owners: e.owners, close: closer}, nil
}

func (c *sessionkitContender) Load(ctx context.Context, n int) ([]string, error) {
	return loadParallel(ctx, n, func(ctx context.Context, i int) (string, error) {
		owner := ""
		if c.owners {
			owner = fmt.Sprintf("user-%d", i)
		}
		s, err := c.m.Create(ctx, owner, newPayload(i))
		if err != nil {
			return "", err
		}
		return s.ID, nil
	})
}

func (c *sessionkitContender) Read(ctx context.Context, token string) error {
	s, err := c.m.Get(ctx, token)
	if err != nil {
		return err
	}
	return s.Data.Check()
}

// Write is Update: load, change, compare-and-swap store, retried on a
// conflict with another writer (the other contenders overwrite blindly).
func (c *sessionkitContender) Write(ctx context.Context, token string) error {
	_, err := c.m.Update(ctx, token, func(s *session.Session[Payload]) error {
		if err := s.Data.Check(); err != nil {
			return err
		}
		s.Data.Touch(time.Now())
		return nil
	})
	return err
}

func (c *sessionkitContender) Size() int {
	p := newPayload(0)
	b, _ := codec.MsgPack().Marshal(&p)
	return len(b) + 2 + len("msgpack") // the Manager's payload header
}

func (c *sessionkitContender) Close() { c.close() }

// ---- scs ----

// scsContender drives scs the way its LoadAndSave middleware does on each
// request, minus the HTTP cookie: Load(ctx, token) (store Find + gob decode
// of the whole session), Get of the value; for a write Put and Commit (gob
// encode + store Commit with the expiry). The Payload is one value in the
// session, registered with gob. The SessionManager has scs's default
// configuration: a 24 h Lifetime and no IdleTimeout. With an IdleTimeout,
// scs marks every loaded session modified and commits it on every request,
// which would turn each read into a write; without it reads are pure reads,
// the favourable case for scs.
type scsContender struct {
	sm    *scs.SessionManager
	close func()
}

const scsKey = "session"

func newSCS(store scs.Store, closer func()) *scsContender {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = absoluteTimeout
	return &scsContender{sm: sm, close: closer}
}

func newSCSMemstore(*env) (contender, error) {
	// No cleanup goroutine: no session expires within a run, and scs v2.9.0
	// races on its stop channel when StopCleanup follows New closely (the
	// goroutine assigns the channel that StopCleanup reads).
	return newSCS(memstore.NewWithCleanupInterval(0), func() {}), nil
}

func newSCSRedisstore(e *env) (contender, error) {
	addr := e.addr
	pool := &redigo.Pool{
		MaxIdle:     e.poolSize,
		MaxActive:   e.poolSize,
		Wait:        true,
		IdleTimeout: 5 * time.Minute,
		Dial:        func() (redigo.Conn, error) { return redigo.Dial("tcp", addr) },
	}
	return newSCS(redisstore.New(pool), func() { pool.Close() }), nil
}

func (c *scsContender) Load(ctx context.Context, n int) ([]string, error) {
	return loadParallel(ctx, n, func(ctx context.Context, i int) (string, error) {
		ctx, err := c.sm.Load(ctx, "")
		if err != nil {
			return "", err
		}
		c.sm.Put(ctx, scsKey, newPayload(i))
		token, _, err := c.sm.Commit(ctx)
		return token, err
	})
}

func (c *scsContender) load(ctx context.Context, token string) (context.Context, Payload, error) {
	ctx, err := c.sm.Load(ctx, token)
	if err != nil {
		return nil, Payload{}, err
	}
	p, ok := c.sm.Get(ctx, scsKey).(Payload)
	if !ok {
		return nil, Payload{}, errors.New("scs: session not found")
	}
	return ctx, p, p.Check()
}

func (c *scsContender) Read(ctx context.Context, token string) error {
	_, _, err := c.load(ctx, token)
	return err
}

func (c *scsContender) Write(ctx context.Context, token string) error {
	ctx, p, err := c.load(ctx, token)
	if err != nil {
		return err
	}
	p.Touch(time.Now())
	c.sm.Put(ctx, scsKey, p)
	_, _, err = c.sm.Commit(ctx)
	return err
}

func (c *scsContender) Size() int {
	b, _ := c.sm.Codec.Encode(time.Now().Add(absoluteTimeout), map[string]any{scsKey: newPayload(0)})
	return len(b)
}

func (c *scsContender) Close() { c.close() }

// ---- go-redis, hand-rolled ----

// goredisContender is the store most tutorials teach: a random token, the
// session as a JSON blob under prefix+token, GET to read, SET EX to write.
type goredisContender struct {
	rdb *goredis.Client
}

const goredisPrefix = "gr:"

func newGoRedisJSON(e *env) (contender, error) {
	rdb := goredis.NewClient(&goredis.Options{Addr: e.addr, PoolSize: e.poolSize})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return &goredisContender{rdb: rdb}, nil
}

func (c *goredisContender) Load(ctx context.Context, n int) ([]string, error) {
	return loadParallel(ctx, n, func(ctx context.Context, i int) (string, error) {
		b, err := json.Marshal(newPayload(i))
		if err != nil {
			return "", err
		}
		token := randomToken()
		return token, c.rdb.Set(ctx, goredisPrefix+token, b, idleTimeout).Err()
	})
}

func (c *goredisContender) load(ctx context.Context, token string) (Payload, error) {
	var p Payload
	b, err := c.rdb.Get(ctx, goredisPrefix+token).Bytes()
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, err
	}
	return p, p.Check()
}

func (c *goredisContender) Read(ctx context.Context, token string) error {
	_, err := c.load(ctx, token)
	return err
}

func (c *goredisContender) Write(ctx context.Context, token string) error {
	p, err := c.load(ctx, token)
	if err != nil {
		return err
	}
	p.Touch(time.Now())
	b, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	return c.rdb.Set(ctx, goredisPrefix+token, b, idleTimeout).Err()
}

func (c *goredisContender) Size() int {
	b, _ := json.Marshal(newPayload(0))
	return len(b)
}

func (c *goredisContender) Close() { c.rdb.Close() }

// ---- raw rueidis ----

// rueidisContender is the wire: the same round trips as a session store
// (read: GET; write: GET, then SET EX of the bytes read) on a rueidis
// client without caching, and nothing else: no decoding, no hashing, no
// checks beyond a non-empty reply. The value is the MessagePack encoding of
// the Payload, the size sessionkit stores.
type rueidisContender struct {
	client rueidis.Client
}

const rawPrefix = "raw:"

func newRueidisRaw(e *env) (contender, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{e.addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	return &rueidisContender{client: client}, nil
}

func (c *rueidisContender) Load(ctx context.Context, n int) ([]string, error) {
	return loadParallel(ctx, n, func(ctx context.Context, i int) (string, error) {
		p := newPayload(i)
		b, err := codec.MsgPack().Marshal(&p)
		if err != nil {
			return "", err
		}
		token := randomToken()
		cmd := c.client.B().Set().Key(rawPrefix + token).Value(rueidis.BinaryString(b)).Ex(idleTimeout).Build()
		return token, c.client.Do(ctx, cmd).Error()
	})
}

func (c *rueidisContender) get(ctx context.Context, key string) ([]byte, error) {
	b, err := c.client.Do(ctx, c.client.B().Get().Key(key).Build()).AsBytes()
	if err == nil && len(b) == 0 {
		err = errBadPayload
	}
	return b, err
}

func (c *rueidisContender) Read(ctx context.Context, token string) error {
	_, err := c.get(ctx, rawPrefix+token)
	return err
}

func (c *rueidisContender) Write(ctx context.Context, token string) error {
	key := rawPrefix + token
	b, err := c.get(ctx, key)
	if err != nil {
		return err
	}
	return c.client.Do(ctx, c.client.B().Set().Key(key).Value(rueidis.BinaryString(b)).Ex(idleTimeout).Build()).Error()
}

func (c *rueidisContender) Size() int {
	p := newPayload(0)
	b, _ := codec.MsgPack().Marshal(&p)
	return len(b)
}

func (c *rueidisContender) Close() { c.client.Close() }

// contenderNames is the list for -help.
func contenderNames() string {
	var names []string
	for _, c := range contenders {
		names = append(names, c.name)
	}
	return strings.Join(names, ",")
}
