package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/sessionkit/session"
)

// mix is the share of each operation in the load, in percent. Renew reads
// the session with GetFresh first (counted as a GetFresh).
var mix = [...]struct {
	op  opKind
	pct int
}{
	{opCreate, 17},
	{opGet, 25},
	{opGetFresh, 25},
	{opUpdate, 20},
	{opRenew, 4},
	{opDestroy, 7},
	{opDestroyByOwner, 2},
}

// loadConfig bounds the load: a fixed number of goroutines, a global rate,
// a deadline per call and a cap on live sessions.
type loadConfig struct {
	rate      int           // operations per second, all instances together
	workers   int           // goroutines per instance
	opTimeout time.Duration // deadline of each call
	maxLive   int           // above it, Creates become Destroys
	seed      uint64        // the operation mix's random numbers
	maxOps    int64         // the load ends after this many operations; 0: no limit
}

// load drives the Managers (one per instance) and reports every outcome to
// the oracle.
type load struct {
	cfg loadConfig
	ms  []*session.Manager[Data]
	o   *oracle
}

// run runs cfg.workers goroutines per Manager, each taking one operation
// per tick of a shared ticker, until stop is closed or cfg.maxOps
// operations have begun, and returns when every one has ended.
func (l *load) run(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second / time.Duration(l.cfg.rate))
	defer tick.Stop()
	var begun atomic.Int64
	var wg sync.WaitGroup
	for w := range l.cfg.workers * len(l.ms) {
		inst := w % len(l.ms)
		r := rand.New(rand.NewPCG(l.cfg.seed, uint64(w)))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				select {
				case <-stop:
					return
				default:
				}
				if n := begun.Add(1); l.cfg.maxOps > 0 && n > l.cfg.maxOps {
					return
				}
				l.step(r, inst)
			}
		})
	}
	wg.Wait()
}

func (l *load) pick(r *rand.Rand) opKind {
	n := r.IntN(100)
	op := opCreate
	for _, m := range mix {
		if n < m.pct {
			op = m.op
			break
		}
		n -= m.pct
	}
	live := l.o.liveCount()
	switch {
	case live == 0:
		return opCreate
	case op == opCreate && live >= l.cfg.maxLive:
		return opDestroy
	}
	return op
}

// step makes one call on instance inst.
func (l *load) step(r *rand.Rand, inst int) {
	m, o := l.ms[inst], l.o
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
	defer cancel()
	op := l.pick(r)
	if op == opDestroyByOwner {
		ow := o.pickOwnerWithSessions(r)
		if ow == nil {
			op = opCreate
		} else {
			snap := o.beginDestroyByOwner(ow)
			n, err := m.DestroyByOwner(ctx, ow.name)
			o.endDestroyByOwner(ow, snap, n, err, inst)
			return
		}
	}
	if op == opCreate {
		ow := o.pickOwner(r)
		name := ""
		if ow != nil {
			name = ow.name
		}
		serial, epoch := o.beginCreate(ow)
		s, err := m.Create(ctx, name, Data{Serial: serial})
		o.endCreate(ow, serial, epoch, s, err, inst)
		return
	}
	if op == opGet || op == opGetFresh {
		x := o.pickRead(r)
		if x == nil {
			return
		}
		snap := o.beginRead(x)
		if op == opGet {
			s, err := m.Get(ctx, x.id)
			o.endCached(x, snap, s, err, inst)
			return
		}
		s, err := m.GetFresh(ctx, x.id)
		o.endFresh(opGetFresh, x, snap, s, err, inst)
		return
	}
	x := o.pickLive(r)
	if x == nil {
		return
	}
	switch op {
	case opUpdate:
		snap := o.beginUpdate(x)
		s, err := m.Update(ctx, x.id, func(s *session.Session[Data]) error {
			s.Data.N++
			return nil
		})
		o.endUpdate(x, snap, s, err, inst)
	case opRenew:
		rs := o.beginRead(x)
		s, err := m.GetFresh(ctx, x.id)
		o.endFresh(opGetFresh, x, rs, s, err, inst)
		if err != nil {
			return
		}
		snap := o.beginLogout(x)
		err = m.Renew(ctx, s)
		o.endRenew(x, snap, s, err, inst)
	case opDestroy:
		o.beginLogout(x)
		err := m.Destroy(ctx, x.id)
		o.endDestroy(x, err, inst)
	}
}
