package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/benchmarks/internal/fixture"
	"github.com/sessionkit/sessionkit/benchmarks/internal/procstat"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

// Session lifetimes, those of the comparison.
const (
	idleTimeout     = 30 * time.Minute
	absoluteTimeout = 24 * time.Hour
)

// idLen is the length of the Manager's session IDs (UUIDv4 text).
const idLen = 36

// redisPrefix is the key prefix of the Redis backend in a run.
const redisPrefix = "sc:"

// phaseTimeout bounds every phase of a measurement: the context of its
// operations ends then (rueidis retries reads until it does).
const phaseTimeout = 15 * time.Minute

// bigOwnerName owns the -big-owner sessions; small owners are "user-<j>".
const bigOwnerName = "big-owner"

// cost is what a phase took: operations, wall time, the CPU time of this
// process and of the Redis server (-1: unknown or none), and the Redis
// commands it sent (nil without a server).
type cost struct {
	ops     int64
	elapsed time.Duration
	client  time.Duration
	server  time.Duration
	cmds    redisproc.CmdStats
	lat     []time.Duration // per call, for the owner operations
}

func (c cost) perOp(d time.Duration) time.Duration {
	if d < 0 || c.ops == 0 {
		return -1
	}
	return d / time.Duration(c.ops)
}

func (c cost) opsPerSec() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(c.ops) / c.elapsed.Seconds()
}

// result is one backend at one size.
type result struct {
	backend string
	n       int // sessions in small owners
	stored  int // n plus the large owner's
	owners  int // small owners
	payload int // bytes the Manager hands the backend per session
	record  int // bytes of a Redis record (STRLEN), 0 for memory

	heap, rss  int64 // growth of this process over the load (memory backend)
	usedMemory int64 // growth of the server's used_memory (Redis)
	keys       int64 // keys of the server after the load (Redis)
	// MEMORY USAGE, averaged over a sample (Redis): of a session key, and
	// of a small owner's index (sorted set, and claims on a Cluster) per
	// member.
	sessionKeyBytes, indexBytesPerMember float64

	create, get                          cost
	list10, listBig, destroy10, destroyB cost
}

// opened is a Manager over one backend, with what closes both.
type opened struct {
	m     *session.Manager[fixture.Payload]
	close func()
}

func open(name, addr string) (*opened, error) {
	var b backend.Backend
	var closer func()
	switch name {
	case "memory":
		mb := memorybackend.New()
		b, closer = mb, func() { mb.Close() }
	case "redis":
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			return nil, err
		}
		rb, err := redisbackend.New(client, redisbackend.WithPrefix(redisPrefix), redisbackend.WithCache(false))
		if err != nil {
			client.Close()
			return nil, err
		}
		b, closer = rb, func() { rb.Close(); client.Close() }
	default:
		return nil, fmt.Errorf("unknown backend %q", name)
	}
	m, err := session.NewManager[fixture.Payload](b,
		session.WithIdleTimeout(idleTimeout),
		session.WithAbsoluteTimeout(absoluteTimeout),
		session.WithDecodeCache(0)) // the backend's memory, not the Manager's
	if err != nil {
		closer()
		return nil, err
	}
	return &opened{m: m, close: closer}, nil
}

// memorySnapshot collects garbage, returns freed pages to the system and
// reports the live Go heap and the resident set of this process.
func memorySnapshot() (heap, rss int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ = procstat.RSS()
	return int64(ms.HeapAlloc), rss
}

// measure creates the sessions of one size in one backend, measures them
// and the operations on them, and leaves the backend empty.
func measure(ctx context.Context, o *options, name string, n int, addr string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	res := result{backend: name, n: n, stored: n + o.bigOwner, owners: n / o.ownerSize}
	if name != "redis" {
		addr = "" // no server to read
	}
	// The IDs a client would hold, in one allocation made before the
	// baseline, so that they do not count as the backend's memory.
	ids := make([]byte, res.stored*idLen)
	id := func(i int) string { return string(ids[i*idLen : (i+1)*idLen]) }
	owner := func(i int) string {
		if i < n {
			return "user-" + strconv.Itoa(i/o.ownerSize)
		}
		return bigOwnerName
	}

	var used0 int64
	if addr != "" {
		if _, err := redisproc.Command(addr, "FLUSHALL", "SYNC"); err != nil {
			return res, err
		}
		var err error
		if used0, err = redisproc.UsedMemory(addr); err != nil {
			return res, err
		}
	}
	heap0, rss0 := memorySnapshot()

	b, err := open(name, addr)
	if err != nil {
		return res, err
	}
	defer func() {
		b.close()
		if addr != "" {
			redisproc.Command(addr, "FLUSHALL", "SYNC")
		}
	}()
	p := fixture.New(0)
	enc, err := b.m.EncodeData(&p)
	if err != nil {
		return res, err
	}
	res.payload = len(enc) + 2 + len(codec.MsgPack().Name()) // the Manager's payload header

	progress("%s, %d sessions: creating", name, res.stored)
	res.create, err = measured(addr, func() (int64, error) {
		return parallel(ctx, o.goroutines, int64(res.stored), func(i int64) error {
			s, err := b.m.Create(ctx, owner(int(i)), fixture.New(int(i)))
			if err != nil {
				return err
			}
			if len(s.ID) != idLen {
				return fmt.Errorf("session ID %q: want %d bytes", s.ID, idLen)
			}
			copy(ids[int(i)*idLen:], s.ID)
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}

	heap1, rss1 := memorySnapshot()
	runtime.KeepAlive(b)
	res.heap, res.rss = heap1-heap0, rss1-rss0
	if o.memProfile != "" && name == "memory" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return res, err
		}
	}
	if addr != "" {
		used1, err := redisproc.UsedMemory(addr)
		if err != nil {
			return res, err
		}
		res.usedMemory = used1 - used0
		if res.keys, err = redisproc.DBSize(addr); err != nil {
			return res, err
		}
		if k, err := redisproc.RandomKeyWithPrefix(addr, redisPrefix+"s:", 1000); err == nil {
			if s, err := redisproc.Command(addr, "STRLEN", k); err == nil {
				res.record, _ = strconv.Atoi(s)
			}
		}
		res.sessionKeyBytes, res.indexBytesPerMember = sampleKeys(addr, o.ownerSize)
	}

	progress("%s, %d sessions: Get for %v", name, res.stored, o.getFor)
	res.get, err = measured(addr, func() (int64, error) {
		return getPhase(ctx, b.m, o, res.stored, id)
	})
	if err != nil {
		return res, fmt.Errorf("get: %w", err)
	}

	progress("%s, %d sessions: owners", name, res.stored)
	rng := rand.New(rand.NewPCG(o.seed, uint64(n)))
	picked := rng.Perm(res.owners)[:2*o.ownerCalls]
	listed, destroyed := picked[:o.ownerCalls], picked[o.ownerCalls:]
	list := func(owner string, want int) func() error {
		return func() error {
			ss, err := b.m.ListByOwner(ctx, owner)
			if err == nil && len(ss) != want {
				err = fmt.Errorf("ListByOwner(%s): %d sessions, want %d", owner, len(ss), want)
			}
			return err
		}
	}
	destroy := func(owner string, want int) func() error {
		return func() error {
			k, err := b.m.DestroyByOwner(ctx, owner)
			if err == nil && k != want {
				err = fmt.Errorf("DestroyByOwner(%s): %d sessions, want %d", owner, k, want)
			}
			return err
		}
	}
	var calls []func() error
	for _, j := range listed {
		calls = append(calls, list("user-"+strconv.Itoa(j), o.ownerSize))
	}
	if res.list10, err = timedCalls(addr, calls); err != nil {
		return res, err
	}
	const bigCalls = 3
	calls = calls[:0]
	for range bigCalls {
		calls = append(calls, list(bigOwnerName, o.bigOwner))
	}
	if res.listBig, err = timedCalls(addr, calls); err != nil {
		return res, err
	}
	calls = calls[:0]
	for _, j := range destroyed {
		calls = append(calls, destroy("user-"+strconv.Itoa(j), o.ownerSize))
	}
	if res.destroy10, err = timedCalls(addr, calls); err != nil {
		return res, err
	}
	if res.destroyB, err = timedCalls(addr, []func() error{destroy(bigOwnerName, o.bigOwner)}); err != nil {
		return res, err
	}

	// What DestroyByOwner removed is gone; a neighbour is not.
	gone := []struct {
		owner string
		first int
	}{{"user-" + strconv.Itoa(destroyed[0]), destroyed[0] * o.ownerSize}, {bigOwnerName, n}}
	for _, g := range gone {
		if err := list(g.owner, 0)(); err != nil {
			return res, fmt.Errorf("after DestroyByOwner: %w", err)
		}
		if _, err := b.m.Get(ctx, id(g.first)); !errors.Is(err, session.ErrNotFound) {
			return res, fmt.Errorf("a session of %s after DestroyByOwner: Get returned %v, want ErrNotFound", g.owner, err)
		}
	}
	if err := list("user-"+strconv.Itoa(listed[0]), o.ownerSize)(); err != nil {
		return res, fmt.Errorf("an owner that was not destroyed: %w", err)
	}
	return res, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keySamples is how many keys of each kind sampleKeys measures.
const keySamples = 50

// sampleKeys returns the mean MEMORY USAGE of a session key and of a small
// owner's index per member (its sorted set <prefix>o:{h} and, where there
// is one, its hash of claims <prefix>o:{h}w, which only a Cluster keeps),
// over keySamples keys picked by RANDOMKEY; 0 for what it could not
// measure.
func sampleKeys(addr string, ownerSize int) (session, perMember float64) {
	usage := func(key string) (int64, bool) {
		s, err := redisproc.Command(addr, "MEMORY", "USAGE", key, "SAMPLES", "0")
		n, err2 := strconv.ParseInt(s, 10, 64)
		return n, err == nil && err2 == nil
	}
	var sum, members int64
	var n int
	for range keySamples {
		k, err := redisproc.RandomKeyWithPrefix(addr, redisPrefix+"s:", 1000)
		if u, ok := usage(k); err == nil && ok {
			sum += u
			n++
		}
	}
	if n > 0 {
		session = float64(sum) / float64(n)
	}
	sum = 0
	for range keySamples {
		k, err := redisproc.RandomKeyWithPrefix(addr, redisPrefix+"o:", 1000)
		if err != nil {
			break
		}
		k = strings.TrimSuffix(k, "w")
		card, err := redisproc.Command(addr, "ZCARD", k)
		if err != nil || card != strconv.Itoa(ownerSize) {
			continue // the large owner's, or not an index
		}
		z, ok1 := usage(k)
		h, ok2 := int64(0), true
		if ex, err := redisproc.Command(addr, "EXISTS", k+"w"); err != nil || ex != "0" {
			h, ok2 = usage(k + "w")
		}
		if ok1 && ok2 {
			sum += z + h
			members += int64(ownerSize)
		}
	}
	if members > 0 {
		perMember = float64(sum) / float64(members)
	}
	return session, perMember
}

// measured runs fn, which returns how many operations it did, and
// measures it; addr is the Redis server, or "".
func measured(addr string, fn func() (int64, error)) (cost, error) {
	c := cost{client: -1, server: -1}
	var srv0 time.Duration
	srvOK := false
	var stats0 redisproc.CmdStats
	if addr != "" {
		srv0, srvOK = redisproc.CPU(addr)
		stats0, _ = redisproc.CommandStats(addr)
	}
	cpu0, cpuOK := procstat.CPU()
	t0 := time.Now()
	ops, err := fn()
	c.elapsed = time.Since(t0)
	c.ops = ops
	if cpu1, ok := procstat.CPU(); ok && cpuOK {
		c.client = cpu1 - cpu0
	}
	if srvOK {
		if srv1, ok := redisproc.CPU(addr); ok {
			c.server = srv1 - srv0
		}
	}
	if stats0 != nil {
		if stats1, err := redisproc.CommandStats(addr); err == nil {
			c.cmds = stats1.Sub(stats0)
		}
	}
	return c, err
}

// timedCalls runs calls one after the other and measures them, each call
// on its own and all together.
func timedCalls(addr string, calls []func() error) (cost, error) {
	lat := make([]time.Duration, 0, len(calls))
	c, err := measured(addr, func() (int64, error) {
		for _, call := range calls {
			t0 := time.Now()
			if err := call(); err != nil {
				return int64(len(lat)), err
			}
			lat = append(lat, time.Since(t0))
		}
		return int64(len(lat)), nil
	})
	c.lat = lat
	return c, err
}

// parallel calls fn(i) for every i in [0, n) on g goroutines and returns
// how many calls succeeded; it stops at the first error.
func parallel(ctx context.Context, g int, n int64, fn func(i int64) error) (int64, error) {
	var next, done atomic.Int64
	errs := make([]error, g)
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					errs[w] = fmt.Errorf("%d: %w", i, err)
					next.Store(n) // the others stop too
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return done.Load(), err
	}
	return done.Load(), ctx.Err()
}

// getPhase reads sessions picked uniformly at random on -goroutines
// goroutines until -get-duration has passed or -max-gets are done, and
// checks each payload.
func getPhase(ctx context.Context, m *session.Manager[fixture.Payload], o *options, stored int, id func(int) string) (int64, error) {
	var stop atomic.Bool
	timer := time.AfterFunc(o.getFor, func() { stop.Store(true) })
	defer timer.Stop()
	limit := max(1, o.maxGets/int64(o.goroutines))
	counts := make([]int64, o.goroutines)
	errs := make([]error, o.goroutines)
	var wg sync.WaitGroup
	for w := range o.goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(o.seed, uint64(w)))
			for k := int64(0); k < limit && !stop.Load() && ctx.Err() == nil; k++ {
				s, err := m.Get(ctx, id(rng.IntN(stored)))
				if err == nil {
					err = s.Data.Check()
				}
				if err != nil {
					errs[w] = err
					return
				}
				counts[w]++
			}
		})
	}
	wg.Wait()
	var total int64
	for _, c := range counts {
		total += c
	}
	if err := errors.Join(errs...); err != nil {
		return total, err
	}
	return total, ctx.Err()
}

// median returns the median of ds, or -1 if there are none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
