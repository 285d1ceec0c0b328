package main

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/procstat"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

// workload is a mix of reads and writes.
type workload struct {
	name     string // for -workloads
	label    string // for the table
	writePct int    // share of writes, in percent
}

var workloads = []workload{
	{"read", "read-only", 0},
	{"mixed", "90/10", 10},
	{"write", "write-only", 100},
}

// cell is the result of one contender on one workload at one number of
// goroutines.
type cell struct {
	contender  string
	workload   workload
	goroutines int
	repeat     int // 0 to -repeat minus 1: cells of one repeat ran side by side
	ops        uint64
	errors     uint64
	firstErr   error
	elapsed    time.Duration
	mallocs    uint64
	clientCPU  time.Duration      // this process, user + system; -1: unknown
	serverCPU  time.Duration      // redis-server, user + system; -1: unknown
	cmds       redisproc.CmdStats // INFO commandstats over the cell; nil: unknown
	lat        hist
}

func (c *cell) opsPerSec() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(c.ops) / c.elapsed.Seconds()
}

// cpuPerOp returns d per operation, or -1 if d is unknown.
func (c *cell) cpuPerOp(d time.Duration) time.Duration {
	if d < 0 || c.ops == 0 {
		return -1
	}
	return d / time.Duration(c.ops)
}

// totalCPUPerOp is client plus server CPU per operation (the server's
// counts as 0 for a contender without one), or -1 if unknown. On a machine
// that runs client and server, its inverse is the throughput the
// contender would reach with the CPUs to itself.
func (c *cell) totalCPUPerOp() time.Duration {
	cl := c.cpuPerOp(c.clientCPU)
	if cl < 0 {
		return -1
	}
	return cl + max(c.cpuPerOp(c.serverCPU), 0)
}

func (c *cell) allocsPerOp() float64 {
	if c.ops == 0 {
		return 0
	}
	return float64(c.mallocs) / float64(c.ops)
}

// worker is one goroutine's state; each is its own allocation, so workers
// never share a cache line.
type worker struct {
	rng      *rand.Rand
	lat      hist
	ops      uint64
	errors   uint64
	firstErr error
}

// runPhase runs wl on c with g goroutines until d has passed, maxOps
// operations are done (split evenly over the goroutines) or ctx is done.
// Each goroutine picks tokens uniformly at random with its own generator
// and times every operation. srv, if not nil, is the Redis server of c:
// its CPU time and commandstats are read before and after.
func runPhase(ctx context.Context, c contender, tokens []string, wl workload, g int, d time.Duration, maxOps int64, seed uint64, srv *redisproc.Server) cell {
	workers := make([]*worker, g)
	for i := range workers {
		workers[i] = &worker{rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	}
	limit := uint64(max(1, (maxOps+int64(g)-1)/int64(g)))
	// Operations get a deadline (rueidis retries reads until the context is
	// done) far beyond the phase, so a healthy run never meets it.
	opCtx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()

	var stop atomic.Bool
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			<-start
			n := len(tokens)
			for w.ops < limit && !stop.Load() {
				token := tokens[w.rng.IntN(n)]
				write := wl.writePct > 0 && w.rng.IntN(100) < wl.writePct
				t0 := time.Now()
				var err error
				if write {
					err = c.Write(opCtx, token)
				} else {
					err = c.Read(opCtx, token)
				}
				w.lat.record(time.Since(t0))
				w.ops++
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
				}
			}
		})
	}

	srvBefore, srvOK := time.Duration(0), false
	var statsBefore redisproc.CmdStats
	if srv != nil {
		srvBefore, srvOK = srv.CPU()
		statsBefore, _ = redisproc.CommandStats(srv.Addr)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore, cpuOK := procstat.CPU()
	t0 := time.Now()
	close(start)
	timer := time.NewTimer(d)
	done := make(chan struct{})
	go func() {
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-done:
		}
		stop.Store(true)
	}()
	wg.Wait()
	elapsed := time.Since(t0)
	cpuAfter, cpuOK2 := procstat.CPU()
	close(done)
	timer.Stop()
	runtime.ReadMemStats(&after)

	res := cell{workload: wl, goroutines: g, elapsed: elapsed, mallocs: after.Mallocs - before.Mallocs, clientCPU: -1, serverCPU: -1}
	if cpuOK && cpuOK2 {
		res.clientCPU = cpuAfter - cpuBefore
	}
	if srvOK {
		if srvAfter, ok := srv.CPU(); ok {
			res.serverCPU = srvAfter - srvBefore
		}
	}
	if statsBefore != nil {
		if after, err := redisproc.CommandStats(srv.Addr); err == nil {
			res.cmds = after.Sub(statsBefore)
		}
	}
	for _, w := range workers {
		res.ops += w.ops
		res.errors += w.errors
		if res.firstErr == nil {
			res.firstErr = w.firstErr
		}
		res.lat.merge(&w.lat)
	}
	return res
}
