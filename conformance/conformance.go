package conformance

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// Factory returns a fresh, empty backend each time it is called. It
// registers whatever cleanup the backend needs (Close, dropping a database)
// with tb.Cleanup. Run calls it once per case, concurrently for the cases
// that wait on real deadlines, so it must be safe for concurrent use.
// Backends that share one store are fine as long as the factory does not
// empty that store: every case uses its own random keys and owners.
type Factory func(tb testing.TB) backend.Backend

// caseTimeout bounds one case: Run gives each check a context with this
// deadline and fails the case if the check has not returned shortly after
// it, so a backend that hangs fails instead of blocking the run.
const caseTimeout = 30 * time.Second

// hangGrace is how long after its context's deadline a check may take to
// return before Run reports it as hung.
const hangGrace = 5 * time.Second

// capability is a set of optional backend interfaces a case needs.
type capability uint8

const (
	capOwnerIndex capability = 1 << iota
	capRekeyer
	capFreshLoader
	capNotifier
)

// missing names the first capability in c that b lacks, or returns "".
func (c capability) missing(b backend.Backend) string {
	if c&capOwnerIndex != 0 {
		if _, ok := b.(backend.OwnerIndex); !ok {
			return "OwnerIndex"
		}
	}
	if c&capRekeyer != 0 {
		if _, ok := b.(backend.Rekeyer); !ok {
			return "Rekeyer"
		}
	}
	if c&capFreshLoader != 0 {
		if _, ok := b.(backend.FreshLoader); !ok {
			return "FreshLoader"
		}
	}
	if c&capNotifier != 0 {
		if _, ok := b.(backend.Notifier); !ok {
			return "Notifier"
		}
	}
	return ""
}

// testCase is one row of the suite: one rule of the backend contract.
type testCase struct {
	// name is "Group/Case", the sub-test path below Run's test.
	name string
	// rule is the contract sentence the case proves, printed on failure.
	rule string
	// needs lists the optional capabilities the case requires; without them
	// the case is skipped.
	needs capability
	// slow marks a case that waits on real deadlines. Slow cases of a group
	// run in parallel with each other.
	slow bool
	// timeout replaces caseTimeout for a case whose work grows with the
	// machine's load (thousands of conflicting writes).
	timeout time.Duration
	// check runs the case against b and returns what is wrong, or nil. It
	// never calls t.Fatal; it must return once ctx is done.
	check func(ctx context.Context, b backend.Backend) error
}

// Run proves that the backends newBackend returns keep the contract of
// package backend. It runs one sub-test per rule, grouped as
// Group/Case (for example Update/Concurrent), each with a fresh backend
// from newBackend and a context that ends after 30 seconds (2 minutes for
// Manager/ConcurrentUpdate, 90 seconds for Events/Slow); a case that
// has not returned shortly after that fails as hung. The cases that wait
// on real deadlines run concurrently with the rest of their group. Cases that need
// an optional capability the backend lacks are skipped with a message. Call
// Run from a test of the backend's package and run it with -race.
func Run(t *testing.T, newBackend Factory) {
	t.Helper()
	for _, g := range groups(cases()) {
		t.Run(g.name, func(t *testing.T) {
			// Slow cases spend their time waiting on deadlines; they run
			// concurrently with the rest of their group.
			var slow sync.WaitGroup
			for _, c := range g.cases {
				name := strings.TrimPrefix(c.name, g.name+"/")
				run := func(t *testing.T) {
					b := newBackend(t)
					if b == nil {
						t.Fatal("conformance: the factory returned a nil backend")
					}
					if m := c.needs.missing(b); m != "" {
						t.Skipf("%T does not implement backend.%s: capability absent, case skipped", b, m)
					}
					if err := runCase(t.Context(), c, b, cmp.Or(c.timeout, caseTimeout)); err != nil {
						t.Errorf("%s: %s\ncontract: %s", c.name, located(err), c.rule)
					}
				}
				if c.slow {
					slow.Go(func() { t.Run(name, run) })
					continue
				}
				t.Run(name, run)
			}
			slow.Wait()
		})
	}
}

// group is the cases sharing the first element of their name, in table
// order.
type group struct {
	name  string
	cases []testCase
}

func groups(cs []testCase) []group {
	var gs []group
	index := map[string]int{}
	for _, c := range cs {
		name, _, _ := strings.Cut(c.name, "/")
		i, ok := index[name]
		if !ok {
			i = len(gs)
			index[name] = i
			gs = append(gs, group{name: name})
		}
		gs[i].cases = append(gs[i].cases, c)
	}
	return gs
}

// runCase runs c.check against b with a context that ends after timeout.
// A panic in the check becomes an error, and so does a check that has not
// returned some time (hangGrace at most) after its context ended: the
// goroutine is abandoned and the case fails instead of blocking the run.
func runCase(ctx context.Context, c testCase, b backend.Backend, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- c.check(ctx, b)
	}()
	grace := min(hangGrace, timeout)
	hung := time.NewTimer(timeout + grace)
	defer hung.Stop()
	select {
	case err := <-done:
		return err
	case <-hung.C:
		return fmt.Errorf("no answer %v after the case's context ended: a backend call blocks and ignores its context", grace)
	}
}
