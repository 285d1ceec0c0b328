package redisbackend_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestFaults kills the server while 32 goroutines run Load and Update with
// short deadlines: every call returns within its deadline (plus a grace),
// errors match backend.ErrUnavailable or the context's deadline, nothing
// panics. After a restart on the same port the same client and Backend work
// again.
func TestFaults(t *testing.T) {
	srv := redistest.Standalone(t)
	client := standaloneClient(t, srv.Addr)
	b := newBackend(t, client)
	ctx := ctxT(t, time.Minute)

	const (
		workers  = 32
		deadline = 200 * time.Millisecond
		grace    = time.Second // scheduling under -race on two cores
	)
	for i := 0; i < workers; i++ {
		if _, err := b.Create(ctx, record(fmt.Sprint("f", i), "", "p")); err != nil {
			t.Fatal(err)
		}
	}

	var (
		stop                            atomic.Bool
		down                            atomic.Bool
		okCalls, unavailable, downCalls atomic.Int64
		mu                              sync.Mutex
		problems                        []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("f", w)
			for !stop.Load() {
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				var err error
				if w%2 == 0 {
					_, err = b.Load(cctx, key)
				} else {
					var rec backend.Record
					if rec, err = b.LoadFresh(cctx, key); err == nil {
						_, err = b.Update(cctx, rec)
					}
				}
				took := time.Since(start)
				cancel()
				if took > deadline+grace {
					report("worker %d: call took %v with a %v deadline", w, took, deadline)
				}
				switch {
				case err == nil, errors.Is(err, backend.ErrNotFound): // the restarted server is empty
					okCalls.Add(1)
				case errors.Is(err, backend.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
					unavailable.Add(1)
					if down.Load() {
						downCalls.Add(1)
					}
				default:
					report("worker %d: unexpected error: %v", w, err)
				}
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	down.Store(true)
	srv.Kill()
	time.Sleep(time.Second)
	srv.Restart(t)
	down.Store(false)

	// The same client and Backend work again, within a bounded time.
	var err error
	recovered := time.Now().Add(10 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, deadline)
		_, err = b.Create(cctx, record("after-restart", "", "p"))
		if err == nil {
			_, err = b.Load(cctx, "after-restart")
		}
		cancel()
		if err == nil || time.Now().After(recovered) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if downCalls.Load() == 0 {
		t.Error("no call failed while the server was down")
	}
	t.Logf("%d calls succeeded, %d failed as unavailable (%d while the server was down)",
		okCalls.Load(), unavailable.Load(), downCalls.Load())
}

// TestUnresponsiveServer stops the server (SIGSTOP: connections stay open,
// nothing answers). A Load with a cancelable context without a deadline,
// as net/http hands a handler, ends at the operation timeout. One whose
// context is canceled ends with the cancellation long before its
// operation timeout of a minute, but not at once: rueidis reads an idle
// connection synchronously until the deadline or the connection's write
// timeout (2s in these tests), whichever comes first. Both errors match
// backend.ErrUnavailable and the context's error.
func TestUnresponsiveServer(t *testing.T) {
	srv := redistest.Standalone(t)
	client := standaloneClient(t, srv.Addr)
	const opTimeout = 300 * time.Millisecond
	b := newBackend(t, client, redisbackend.WithOpTimeout(opTimeout))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := b.Create(ctx, record("k", "", "p")); err != nil {
		t.Fatal(err)
	}
	pid := srv.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	const grace = 2 * time.Second // scheduling under -race on two cores
	start := time.Now()
	_, err := b.LoadFresh(ctx, "k")
	took := time.Since(start)
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Load from a stopped server = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if took < opTimeout || took > opTimeout+grace {
		t.Errorf("Load from a stopped server took %v, want the operation timeout %v", took, opTimeout)
	}

	long := newBackend(t, client, redisbackend.WithOpTimeout(time.Minute))
	cctx, cancelLoad := context.WithCancel(ctx)
	timer := time.AfterFunc(50*time.Millisecond, cancelLoad)
	defer timer.Stop()
	start = time.Now()
	_, err = long.LoadFresh(cctx, "k")
	took = time.Since(start)
	if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Load canceled while waiting = %v, want ErrUnavailable and Canceled", err)
	}
	if took > 2*time.Second+grace {
		t.Errorf("Load canceled after 50ms took %v, more than the connection write timeout", took)
	}
}
