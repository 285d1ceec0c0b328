// Command scale measures how sessionkit's backends grow with the number of
// sessions they hold:
//
//	cd benchmarks && go run ./cmd/scale          # 10k, 100k and 1M sessions: a few minutes
//	cd benchmarks && go run ./cmd/scale -quick   # 10k and 100k, for CI
//
// For each size N and each backend (memory, and Redis on a redis-server it
// starts itself on a free 127.0.0.1 port, never 6379) it creates N
// sessions in owners of 10 and 10,000 more of one owner, through
// session.Manager, and prints markdown: bytes per session (Go heap and
// RSS of this process for the memory backend, used_memory and keys of the
// server for Redis), the CPU per operation and throughput of Create and of
// Get, and the time of ListByOwner and DestroyByOwner for a 10-session
// owner and for the 10,000-session owner, with the Redis commands each
// operation sent (INFO commandstats). It checks what it measures: every
// Get decodes a stored payload, every ListByOwner and DestroyByOwner
// counts the owner's sessions, and a destroyed owner's sessions are gone.
// The server is stopped by pid at the end and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

func init() {
	// Keep the main goroutine on the main thread for the life of the
	// process: redis-server is forked from it with a parent-death signal,
	// which the kernel sends when the forking thread exits.
	runtime.LockOSThread()
}

type options struct {
	sizes       []int    // sessions in owners of ownerSize, per step
	backends    []string // memory, redis
	ownerSize   int      // sessions of a small owner
	bigOwner    int      // sessions of the one large owner
	goroutines  int      // concurrency of Create and Get
	getFor      time.Duration
	maxGets     int64
	ownerCalls  int // ListByOwner and DestroyByOwner calls on small owners
	redisServer string
	memProfile  string // heap profile after the memory backend's last load
	seed        uint64
}

// Bounds of the flags, so that every loop of a run is bounded.
const (
	maxSize       = 10_000_000
	maxGoroutines = 1024
	maxOwnerCalls = 10_000
)

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	o := &options{}
	var sizes, backends string
	var quick bool
	fs.StringVar(&sizes, "sizes", "10000,100000,1000000", "comma list of numbers of sessions in owners of -owner-size (the large owner's come on top)")
	fs.BoolVar(&quick, "quick", false, "stop at 100,000 sessions (-sizes 10000,100000), for CI")
	fs.StringVar(&backends, "backends", "memory,redis", "comma list: memory, redis")
	fs.IntVar(&o.ownerSize, "owner-size", 10, "sessions of each small owner")
	fs.IntVar(&o.bigOwner, "big-owner", 10_000, "sessions of the one large owner")
	fs.IntVar(&o.goroutines, "goroutines", 16, "concurrent goroutines of Create and Get")
	fs.DurationVar(&o.getFor, "get-duration", 2*time.Second, "measured time of the Get phase per size and backend")
	fs.Int64Var(&o.maxGets, "max-gets", 10_000_000, "at most this many Gets per phase")
	fs.IntVar(&o.ownerCalls, "owner-calls", 50, "ListByOwner and DestroyByOwner calls on distinct small owners per size and backend")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "redis-server binary to start")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file after loading the memory backend (the last size overwrites the others), for go tool pprof")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the choice of sessions and owners")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if quick {
		sizes = "10000,100000"
	}
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > maxSize {
			return nil, fmt.Errorf("bad size %q (0 to %d)", s, maxSize)
		}
		o.sizes = append(o.sizes, n)
	}
	for b := range strings.SplitSeq(backends, ",") {
		b = strings.TrimSpace(b)
		if b != "memory" && b != "redis" {
			return nil, fmt.Errorf("unknown backend %q (have memory, redis)", b)
		}
		if !slices.Contains(o.backends, b) {
			o.backends = append(o.backends, b)
		}
	}
	switch {
	case o.ownerSize < 1 || o.bigOwner < 1:
		return nil, errors.New("-owner-size and -big-owner must be positive")
	case o.goroutines < 1 || o.goroutines > maxGoroutines:
		return nil, fmt.Errorf("-goroutines must be from 1 to %d", maxGoroutines)
	case o.getFor <= 0 || o.maxGets < 1:
		return nil, errors.New("-get-duration and -max-gets must be positive")
	case o.ownerCalls < 1 || o.ownerCalls > maxOwnerCalls:
		return nil, fmt.Errorf("-owner-calls must be from 1 to %d", maxOwnerCalls)
	}
	for _, n := range o.sizes {
		if n%o.ownerSize != 0 || n/o.ownerSize < 2*o.ownerCalls {
			return nil, fmt.Errorf("size %d: want a multiple of -owner-size %d with at least 2 × -owner-calls (%d) owners", n, o.ownerSize, o.ownerCalls)
		}
	}
	return o, nil
}

func run(o *options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var srv *redisproc.Server
	if slices.Contains(o.backends, "redis") {
		var err error
		if srv, err = redisproc.Start(o.redisServer); err != nil {
			return err
		}
		defer srv.Stop()
		progress("redis-server %s on %s (pid %d)", srv.Version, srv.Addr, srv.Pid())
	}
	var addr, version string
	if srv != nil {
		addr, version = srv.Addr, srv.Version
	}
	printHeader(os.Stdout, o, version)
	var results []result
	for _, n := range o.sizes {
		for _, b := range o.backends {
			if ctx.Err() != nil {
				break
			}
			t0 := time.Now()
			res, err := measure(ctx, o, b, n, addr)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("%s, %d sessions: %w", b, n, err)
			}
			progress("%s, %d sessions: done in %v", b, res.stored, time.Since(t0).Round(time.Millisecond))
			results = append(results, res)
		}
	}
	if ctx.Err() != nil {
		progress("interrupted; the tables hold the sizes that completed")
	}
	printResults(os.Stdout, o, results)
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
