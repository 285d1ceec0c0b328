// Command chaos runs sessionkit on Redis under faults and checks that
// what the library acknowledged holds:
//
//	cd benchmarks && go run ./cmd/chaos -duration 2m
//
// It starts its own Redis group on free 127.0.0.1 ports (never 6379) with
// internal/redistest: a master, a replica and a Sentinel. Three instances,
// each a redisbackend.Backend from NewFromURL on the Sentinels with
// WithWaitReplicas(1, ...) and a session.Manager, share it under a bounded
// load of Creates, Gets, GetFreshes, Updates, Renews, Destroys and
// DestroyByOwners (a fixed number of goroutines and a global rate). Faults
// come on a schedule (-faults): CLIENT KILL of the primary's connections,
// SIGSTOP and SIGCONT of the primary and of the replica, kill -9 of the
// primary, and SENTINEL FAILOVER. A killed primary is restarted once
// Sentinel failed over and every instance writes to the new primary, and
// made a replica of it at once: without persistence it comes back empty,
// and an empty server must not be reachable as a master (Redis's
// replication docs warn about it; -restart-empty-master does it anyway, to
// show what clients that reach it see). After each fault it measures how
// long every instance took until a write was applied again and until one
// was acknowledged by the replica, and waits until the group is healthy
// before the next.
//
// An oracle records every acknowledged write and logout and checks every
// read as it happens, and every session once more at the end:
//
//   - a logout (Destroy, Renew of the old ID, DestroyByOwner) that returned
//     nil is never undone: GetFresh finds nothing and no Update succeeds;
//   - an Update that returned nil is never lost or overwritten, and no read
//     holds more Updates than were attempted or another session's record;
//   - a session created with nil, and not logged out, is always found;
//   - GetFresh sees every acknowledged write that completed before it
//     began; Get (client-side cache) is measured, and must not be staler
//     than the cache TTL nor miss a write of its own instance;
//   - every error is of a documented class (session.ErrNotFound,
//     ErrConflict, ErrNotDurable, backend.ErrUnavailable, context errors;
//     ErrCorrupt and redisbackend.ErrPermission are documented but nothing
//     here causes them, so they count as violations too);
//   - every instance recovers from every fault within -recover-timeout;
//   - no goroutine is left once the clients are closed.
//
// A write that returned ErrNotDurable (the replica did not acknowledge it
// in time) may be lost in a failover: such losses are counted, not
// violations. It prints one report of tables, describes each violation on
// stderr with the session's history, and exits 1 if there was any (2 if
// the run could not be set up).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// defaultOpTimeout is the deadline of each call of the load.
const defaultOpTimeout = 2 * time.Second

// options are the command's flags.
type options struct {
	duration     time.Duration
	load         loadConfig
	faults       faultConfig
	owners       int
	waitTimeout  time.Duration
	cacheTTL     time.Duration
	writeTimeout time.Duration
	quiet        bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 2*time.Minute, "how long faults are injected; the last one is seen through to its recovery")
	fs.IntVar(&o.load.rate, "rate", 300, "operations per second, all instances together")
	fs.IntVar(&o.load.workers, "workers", 4, "goroutines per instance")
	fs.DurationVar(&o.load.opTimeout, "op-timeout", defaultOpTimeout, "deadline of each call")
	fs.IntVar(&o.load.maxLive, "max-live", 2000, "live sessions at most; beyond, Creates become Destroys")
	seed := fs.Uint64("seed", 1, "seed of the operation mix")
	fs.IntVar(&o.owners, "owners", 100, "users the sessions belong to (a fifth of the sessions are anonymous)")
	fs.DurationVar(&o.faults.warmup, "warmup", 2*time.Second, "load before the first fault")
	fs.DurationVar(&o.faults.gap, "gap", 2*time.Second, "load between a recovery and the next fault")
	fs.DurationVar(&o.faults.pause, "pause", 700*time.Millisecond, "how long SIGSTOP lasts (Sentinel fails over after 1s)")
	fs.DurationVar(&o.faults.recoverTimeout, "recover-timeout", time.Minute, "bound on each recovery: a violation beyond it")
	faults := fs.String("faults", defaultSchedule, "the faults to inject, in order, repeated: "+strings.Join(faultFlags[:], ", "))
	fs.BoolVar(&o.faults.restartEmpty, "restart-empty-master", false,
		"restart a killed primary as soon as Sentinel names the new one, as the empty master Redis warns against, and leave it to Sentinel")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 250*time.Millisecond, "timeout of WithWaitReplicas(1, ...)")
	fs.DurationVar(&o.cacheTTL, "cache-ttl", 10*time.Second, "WithCacheTTL: the documented bound on a cached Get's staleness")
	fs.DurationVar(&o.writeTimeout, "conn-write-timeout", 2*time.Second, "rueidis ConnWriteTimeout")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log faults and recoveries on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.load.seed = *seed
	var err error
	if o.faults.schedule, err = parseSchedule(*faults); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.duration <= 0, o.load.rate <= 0, o.load.workers <= 0, o.load.opTimeout <= 0,
		o.load.maxLive <= 0, o.owners <= 0, o.faults.pause <= 0, o.faults.recoverTimeout <= 0,
		o.waitTimeout <= 0, o.cacheTTL <= 0, o.writeTimeout <= 0:
		return o, fmt.Errorf("every duration and count must be positive")
	}
	return o, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// instance is one application instance: its own Backend (with a client
// of its own, from NewFromURL, as the README starts from: the near cache
// included) and Manager.
type instance struct {
	b *redisbackend.Backend
	m *session.Manager[Data]
}

func newInstance(g *redistest.SentinelGroup, o options) (instance, error) {
	q := url.Values{"master_set": {g.MasterName}, "write_timeout": {o.writeTimeout.String()}}
	for _, a := range g.SentinelAddrs[1:] {
		q.Add("addr", a)
	}
	b, err := redisbackend.NewFromURL(context.Background(), "redis://"+g.SentinelAddrs[0]+"?"+q.Encode(),
		redisbackend.WithPrefix("chaos:"),
		redisbackend.WithWaitReplicas(1, o.waitTimeout),
		redisbackend.WithCacheTTL(o.cacheTTL))
	if err != nil {
		return instance{}, err
	}
	// No session may expire during the run.
	idle := o.duration + 30*time.Minute
	m, err := session.NewManager[Data](b, session.WithIdleTimeout(idle),
		session.WithAbsoluteTimeout(max(idle, session.DefaultAbsoluteTimeout)))
	if err != nil {
		_ = b.Close()
		return instance{}, err
	}
	return instance{b: b, m: m}, nil
}

func (in instance) close() { _ = in.b.Close() }

// run is the command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "chaos:", err)
		}
		return 2
	}
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(stderr, format+"\n", args...)
	}
	quietf := logf
	if opts.quiet {
		quietf = func(string, ...any) {}
	}

	r, err := newRunner()
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	defer r.close()
	var g *redistest.SentinelGroup
	if err := try(func() { g = redistest.NewSentinel(r) }); err != nil {
		fmt.Fprintln(stderr, "chaos: starting the Redis group:", err)
		return 2
	}
	version, _ := g.Master.Exec("INFO", "server")
	version = field(version, "redis_version")
	goroutinesBefore := runtime.NumGoroutine()

	var insts []instance
	closeAll := func() {
		for _, in := range insts {
			in.close()
		}
		insts = nil
	}
	defer closeAll()
	var ms []*session.Manager[Data]
	for range 3 {
		in, err := newInstance(g, opts)
		if err != nil {
			fmt.Fprintln(stderr, "chaos: starting an instance:", err)
			return 2
		}
		insts = append(insts, in)
		ms = append(ms, in.m)
	}

	o := newOracle(opts.owners, opts.cacheTTL, opts.load.opTimeout, logf)
	l := &load{cfg: opts.load, ms: ms, o: o}
	f := &injector{cfg: opts.faults, r: r, g: g, ms: ms, o: o, logf: quietf}
	quietf("chaos: Redis %s: master %s, replica %s, sentinel %s; 3 instances, %d ops/s, faults for %v",
		version, g.Master.Addr, g.Replica.Addr, g.Sentinel.Addr, opts.load.rate, opts.duration)

	start := time.Now()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		l.run(stop)
		close(loadDone)
	}()
	f.run(start.Add(opts.duration))
	close(stop)
	<-loadDone
	ran := time.Since(start)

	finalCheck(o, ms, opts)
	goroutinesMax := runtime.NumGoroutine()
	closeAll()
	goroutinesAfter := waitGoroutines(goroutinesBefore, 10*time.Second)
	if goroutinesAfter > goroutinesBefore {
		o.violate(vGoroutines, "%d goroutines before the instances started, %d after they closed", goroutinesBefore, goroutinesAfter)
		_ = pprof.Lookup("goroutine").WriteTo(stderr, 1)
	}

	rep := report{
		opts: opts, version: version, ran: ran, o: o, f: f,
		goroutines: [3]int{goroutinesBefore, goroutinesMax, goroutinesAfter},
	}
	rep.write(stdout)
	if rep.violations() > 0 {
		return 1
	}
	return 0
}

// finalCheck reads every session the oracle knows with GetFresh, spread
// over the instances, retrying reads that fail while the store is
// unavailable, and checks each.
func finalCheck(o *oracle, ms []*session.Manager[Data], opts options) {
	all := o.all()
	work := make(chan *tracked)
	var wg sync.WaitGroup
	for w := range 8 {
		m := ms[w%len(ms)]
		wg.Go(func() {
			for x := range work {
				snap := o.beginRead(x)
				s, err := readFresh(m, x.id, opts)
				o.endFinal(x, snap, s, err)
			}
		})
	}
	for _, x := range all {
		work <- x
	}
	close(work)
	wg.Wait()
}

// readFresh is GetFresh, tried again while it fails for a reason other
// than not found, for at most the recovery timeout.
func readFresh(m *session.Manager[Data], id string, opts options) (*session.Session[Data], error) {
	deadline := time.Now().Add(opts.faults.recoverTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), opts.load.opTimeout)
		s, err := m.GetFresh(ctx, id)
		cancel()
		if c := classify(err); c == classOK || c == classNotFound || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(probePause) // the store sends no signal that it is back
	}
}

// waitGoroutines waits up to timeout for the number of goroutines to drop
// to want (closed clients end theirs asynchronously, with no signal), and
// returns the last count.
func waitGoroutines(want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
