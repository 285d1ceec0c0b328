// Command compare measures sessionkit against the session stores Go
// applications would otherwise pick, in one run on one Redis server that it
// starts itself:
//
//	cd benchmarks && go run ./cmd/compare                 # the full matrix, 2 s per cell
//	cd benchmarks && go run ./cmd/compare -duration 1s    # quicker
//	cd benchmarks && go run ./cmd/compare -contenders sessionkit-redis,rueidis-raw -workloads mixed -goroutines 128 -cpuprofile cpu.out
//
// It starts redis-server on a free 127.0.0.1 port (never 6379) without
// persistence, runs redis-benchmark against it as the server's ceiling,
// loads 10,000 sessions into every contender, and runs each workload
// (read-only, 90/10 read/write, write-only) at each number of goroutines
// for a fixed time after a warm-up, contenders side by side per cell
// (-repeat N runs every cell N times, the contenders in turn, and reports
// medians and ranges). It prints markdown: the targets with each one's
// ratio from this run and its verdict, then one row per cell led by the
// CPU per operation of the client and of Redis (which the neighbours of a
// shared machine move far less than throughput), then ops/s, latency and
// allocations, and the Redis commands per operation from INFO
// commandstats. The server is stopped by pid at the end and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/benchmarks/internal/mdfmt"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
	"github.com/sessionkit/sessionkit/benchmarks/internal/runenv"
)

func init() {
	// Keep the main goroutine on the main thread for the life of the
	// process: redis-server is forked from it with a parent-death signal,
	// which the kernel sends when the forking thread exits.
	runtime.LockOSThread()
}

// maxRepeat bounds -repeat.
const maxRepeat = 50

type options struct {
	duration    time.Duration
	warmup      time.Duration
	repeat      int
	maxOps      int64
	sessions    int
	contenders  []contenderSpec
	workloads   []workload
	goroutines  []int
	owners      bool
	decodeCache bool
	postgresURL string
	redisServer string
	redisBench  string
	benchN      int
	cpuProfile  string
	seed        uint64
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	o := &options{}
	var contenderList, workloadList, goroutineList string
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "measured time per cell (contender × workload × goroutines)")
	fs.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "unmeasured warm-up before each cell")
	fs.IntVar(&o.repeat, "repeat", 1, "run every cell this many times (contenders in turn) and report the median and range")
	fs.Int64Var(&o.maxOps, "max-ops", 10_000_000, "at most this many operations per cell")
	fs.IntVar(&o.sessions, "sessions", 10_000, "sessions loaded into each contender")
	fs.StringVar(&contenderList, "contenders", "all", "comma list of contenders, or all: "+contenderNames())
	fs.StringVar(&workloadList, "workloads", "read,mixed,write", "comma list of workloads: read (read-only), mixed (90% reads, 10% writes), write (write-only)")
	fs.StringVar(&goroutineList, "goroutines", "1,16,128", "comma list of numbers of concurrent goroutines")
	fs.BoolVar(&o.decodeCache, "decode-cache", true, "sessionkit keeps decoded sessions (Payload implements session.Cloner); false decodes on every read")
	fs.BoolVar(&o.owners, "owners", true, "sessionkit sessions belong to a user (kept in the owner index), as logged-in sessions do")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "redis-server binary to start")
	fs.StringVar(&o.redisBench, "redis-benchmark", "redis-benchmark", "redis-benchmark binary for the server's ceiling; empty to skip it")
	fs.IntVar(&o.benchN, "redis-benchmark-n", 100_000, "requests per redis-benchmark test (ten times as many with -P 16)")
	fs.StringVar(&o.postgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of the PostgreSQL server of sessionkit-postgres and scs-postgresstore, as a user that may create databases (each contender gets one, dropped at the end); empty leaves them out")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured cells to this file")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the goroutines' token choice")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.duration <= 0 || o.warmup < 0 || o.maxOps <= 0 || o.sessions <= 0 || o.benchN <= 0 || o.repeat < 1 || o.repeat > maxRepeat {
		return nil, fmt.Errorf("-duration, -max-ops, -sessions and -redis-benchmark-n must be positive, -warmup at least 0, -repeat from 1 to %d", maxRepeat)
	}
	for name := range strings.SplitSeq(contenderList, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			o.contenders = append(o.contenders, contenders...)
			continue
		}
		c, ok := findContender(name)
		if !ok {
			return nil, fmt.Errorf("unknown contender %q (have %s)", name, contenderNames())
		}
		o.contenders = append(o.contenders, c)
	}
	for name := range strings.SplitSeq(workloadList, ",") {
		i := slices.IndexFunc(workloads, func(w workload) bool { return w.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (have read, mixed, write)", name)
		}
		o.workloads = append(o.workloads, workloads[i])
	}
	for s := range strings.SplitSeq(goroutineList, ",") {
		g, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || g < 1 || g > 100_000 {
			return nil, fmt.Errorf("bad number of goroutines %q", s)
		}
		o.goroutines = append(o.goroutines, g)
	}
	return o, nil
}

func run(o *options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	needRedis := o.redisBench != ""
	for _, c := range o.contenders {
		needRedis = needRedis || c.redis
	}
	var srv *redisproc.Server
	if needRedis {
		var err error
		if srv, err = redisproc.Start(o.redisServer); err != nil {
			return err
		}
		defer srv.Stop()
		progress("redis-server %s on %s (pid %d)", srv.Version, srv.Addr, srv.Pid())
	}

	printHeader(o, srv)

	if o.redisBench != "" {
		progress("redis-benchmark ...")
		lines, err := runRedisBenchmark(ctx, o.redisBench, srv.Addr, o.benchN)
		if err != nil {
			progress("redis-benchmark failed, no ceiling in this run: %v", err)
		}
		printRedisBenchmark(os.Stdout, lines, o.benchN)
	}

	e := &env{owners: o.owners, decodeCache: o.decodeCache, sessions: o.sessions, poolSize: slices.Max(o.goroutines), postgresURL: o.postgresURL}
	if srv != nil {
		e.addr = srv.Addr
	}
	type loaded struct {
		name   string
		redis  bool
		c      contender
		tokens []string
	}
	loadStats := map[string]redisproc.CmdStats{} // INFO commandstats over each Redis contender's Load
	var live []loaded
	defer func() {
		for _, l := range live {
			l.c.Close()
		}
	}()
	fmt.Println("Contenders (bytes = the codec output a store keeps per session, before its own keys and metadata):")
	fmt.Println()
	for _, spec := range o.contenders {
		if ctx.Err() != nil {
			break
		}
		var before redisproc.CmdStats
		if spec.redis {
			before, _ = redisproc.CommandStats(srv.Addr)
		}
		t0 := time.Now()
		c, err := spec.make(e)
		if err != nil {
			progress("%s: cannot start, left out: %v", spec.name, err)
			fmt.Printf("- %s: %s — could not start: %v\n", spec.name, spec.about, err)
			continue
		}
		tokens, err := c.Load(ctx, o.sessions)
		if err != nil {
			c.Close()
			progress("%s: cannot load, left out: %v", spec.name, err)
			fmt.Printf("- %s: %s — could not load: %v\n", spec.name, spec.about, err)
			continue
		}
		progress("%s: %d sessions loaded in %v", spec.name, len(tokens), time.Since(t0).Round(time.Millisecond))
		if before != nil {
			if after, err := redisproc.CommandStats(srv.Addr); err == nil {
				loadStats[spec.name] = after.Sub(before)
			}
		}
		fmt.Printf("- %s: %s; %d bytes\n", spec.name, spec.about, c.Size())
		live = append(live, loaded{spec.name, spec.redis, c, tokens})
	}
	fmt.Println()

	// Read every session once: it opens every contender's connections and
	// fills the client-side cache. Sessions in real life were created well
	// before they are read again; the Redis backend reads a session it
	// wrote itself within its write guard without the cache, so wait that
	// long after the last load first.
	select {
	case <-time.After(redisbackend.DefaultWriteGuard):
	case <-ctx.Done():
	}
	for _, l := range live {
		if err := prime(ctx, l.c, l.tokens); err != nil && ctx.Err() == nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var cells []cell
	seed := o.seed
	for _, wl := range o.workloads {
		for _, g := range o.goroutines {
			for r := range o.repeat {
				for _, l := range live {
					if ctx.Err() != nil {
						break
					}
					seed++
					if wl.writePct == 0 && hasClientCache(l.name) {
						// A contender runs one cell in len(live), so a
						// client-side entry of a minute expires while it
						// waits: in a run of its own, or in an application,
						// a session would miss once a minute, not once a
						// cell. Refill the cache before read-only cells;
						// mixed and write cells keep the misses that their
						// own writes cause.
						if err := prime(ctx, l.c, l.tokens); err != nil && ctx.Err() == nil {
							return fmt.Errorf("%s: %w", l.name, err)
						}
					}
					if o.warmup > 0 {
						runPhase(ctx, l.c, l.tokens, wl, g, o.warmup, o.maxOps, seed, nil)
					}
					runtime.GC() // no collection debt from the last cell
					var s *redisproc.Server
					if l.redis {
						s = srv
					}
					res := runPhase(ctx, l.c, l.tokens, wl, g, o.duration, o.maxOps, seed, s)
					res.contender = l.name
					res.repeat = r
					if ctx.Err() != nil {
						break // interrupted: the cell is partial
					}
					cells = append(cells, res)
					progress("%-24s %-10s %4d goroutines run %d/%d %12s ops/s  CPU/op %8s + %8s  p50 %8s  errors %d",
						l.name, wl.label, g, r+1, o.repeat, mdfmt.Thousands(res.opsPerSec()), mdfmt.CPU(res.cpuPerOp(res.clientCPU)), mdfmt.CPU(res.cpuPerOp(res.serverCPU)),
						mdfmt.Latency(res.lat.quantile(.5)), res.errors)
				}
			}
		}
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile() // the calibration below is no part of a cell
	}
	var yard *yardsticks
	if srv != nil && ctx.Err() == nil {
		if y, ok := measureYardsticks(srv.Addr, []string{"skn:s:", "skc:s:"}); ok {
			yard = &y
		}
	}
	if ctx.Err() != nil {
		progress("interrupted; the report holds the cells that completed")
	}
	if la := runenv.LoadAverage(); la != "" {
		fmt.Printf("Load average at the end (1, 5, 15 min): %s.\n\n", la)
	}
	rep := newReport(cells, o.repeat)
	rep.loadStats = loadStats
	rep.yardsticks = yard
	rep.printTargets(os.Stdout)
	rep.printTable(os.Stdout)
	rep.printCommands(os.Stdout)
	return nil
}

// prime reads every session once, so that a client-side cache starts warm
// and every contender's connections are open.
func prime(ctx context.Context, c contender, tokens []string) error {
	for _, t := range tokens {
		if err := c.Read(ctx, t); err != nil {
			return fmt.Errorf("read back: %w", err)
		}
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func printHeader(o *options, srv *redisproc.Server) {
	fmt.Println("## sessionkit comparison")
	fmt.Println()
	fmt.Printf("- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- machine: %s/%s, %d CPUs%s, GOMAXPROCS %d\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runenv.CPUModel(), runtime.GOMAXPROCS(0))
	fmt.Printf("- Go: %s\n", runtime.Version())
	if src := runenv.Source(); src != "" {
		fmt.Printf("- sessionkit: %s\n", src)
	}
	if srv != nil {
		fmt.Printf("- Redis: %s, started by this run on 127.0.0.1 (--save \"\" --appendonly no), the same server for every contender\n", srv.Version)
	}
	if v := depVersions(); v != "" {
		fmt.Printf("- libraries: %s\n", v)
	}
	fmt.Printf("- %d sessions per contender, tokens picked uniformly at random; %v per cell after %v of warm-up, at most %d operations\n",
		o.sessions, o.duration, o.warmup, o.maxOps)
	if o.repeat > 1 {
		fmt.Printf("- every cell run %d times, the contenders of a cell in turn each time; figures are medians with the range of the runs\n", o.repeat)
	}
	if la := runenv.LoadAverage(); la != "" {
		fmt.Printf("- load average at the start (1, 5, 15 min): %s on %d CPUs; other processes share them\n", la, runtime.NumCPU())
	}
	fmt.Println("- allocs/op: runtime.MemStats.Mallocs over the cell / operations, the harness and client goroutines included")
	fmt.Println("- CPU/op: CPU time (user + system) per operation of this process (client: contender, its client library, the harness) and of redis-server (INFO cpu); on a shared machine a better guide than ops/s to what each contender costs")
	fmt.Println()
}

func depVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	want := []string{"github.com/alexedwards/scs/v2", "github.com/alexedwards/scs/redisstore", "github.com/gomodule/redigo", "github.com/redis/go-redis/v9", "github.com/redis/rueidis",
		"github.com/alexedwards/scs/postgresstore", "github.com/jackc/pgx/v5"}
	var out []string
	for _, d := range bi.Deps {
		if slices.Contains(want, d.Path) {
			out = append(out, d.Path+" "+d.Version)
		}
	}
	return strings.Join(out, ", ")
}
