package redisbackend

import (
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// On a Cluster a Rekey is two scripts on two slots (rekey.go): step 1
// creates the new key K2 and SPUBLISHes, on K2's channel, an internal
// pending message P(K2 from K1); step 2 deletes K1 and SPUBLISHes the
// EventRekeyed R(K1→K2) on K1's channel; if step 2 fails, the undo
// deletes K2 and SPUBLISHes an internal abort message A(K2 from K1) on
// K2's channel. R belongs to both keys' streams: in K1's at the place R
// has on K1's channel, in K2's at the place P has on K2's channel. The
// two channels reach the subscriber on different connections, so a
// Cluster subscription puts them together again (reorder):
//
//   - Events wait in one list, in arrival order, only while some event
//     before them of one of their keys waits (an event blocks the keys it
//     holds a place in: its Key and OldKey; R only K1, P only K2).
//   - P waits until R arrives and reaches its place in K1's stream; R
//     waits until P arrives and reaches its place in K2's. Then R is
//     delivered and both leave the list: K2's events after P follow R.
//   - A removes its P: K2's events after it go on. P and A are never
//     delivered.
//
// Both P and every later event of K2 travel on K2's channel, and R was
// published before step 2 returned, so an event waits only for an R or a
// P that is already on its way. What never comes is bounded: the oldest
// waiting entry is let go after reorderTimeout (a P whose Rekey's
// connection failed between the steps, a new record left as an orphan
// until its deadline; an R from a writer that publishes no P), and when
// more than reorderMax entries wait. A P or R let go is remembered (up
// to reorderMax pairs) so that its partner arriving later passes at
// once. When the subscription's connections are replaced, everything
// waiting is delivered after the EventMissed and the state dropped.

// Internal message kinds, published on a Cluster's shard channels beside
// the events and never delivered: they are outside backend.EventKind's
// range.
const (
	kindPending backend.EventKind = 0x80 // step 1 of a Rekey created Key, moving from OldKey
	kindAbort   backend.EventKind = 0x81 // the Rekey from OldKey to Key failed; Key was deleted again
)

// The bounds of a Cluster subscription's reordering.
const (
	reorderTimeout = 2 * time.Second
	reorderMax     = 4096
)

// pair names a Rekey: the new key and the old one.
type pair struct{ key, old string }

// reorderEntry is an event (or P) waiting in the list.
type reorderEntry struct {
	e       backend.Event
	arrived time.Time
}

// pairOf is the Rekey an entry is a half of (ok false for other events).
func (x *reorderEntry) pairOf() (pair, bool) {
	switch x.e.Kind {
	case backend.EventRekeyed, kindPending:
		return pair{x.e.Key, x.e.OldKey}, true
	}
	return pair{}, false
}

// blocks reports the keys whose later events wait behind x.
func (x *reorderEntry) blocks() (string, string) {
	switch x.e.Kind {
	case backend.EventRekeyed:
		return x.e.OldKey, ""
	case kindPending:
		return x.e.Key, ""
	}
	return x.e.Key, x.e.OldKey
}

// reorder is the per-key ordering of a Cluster subscription (see above).
// Its methods are safe for concurrent use; out and lost are called with
// its lock held, in order.
type reorder struct {
	out     func(backend.Event)
	lost    func()
	timeout time.Duration
	max     int
	now     func() time.Time

	mu     sync.Mutex
	list   []*reorderEntry
	gated  bool            // the connections are being replaced: arrivals wait in gate
	gate   []backend.Event // arrivals while gated
	missed bool            // gate overflowed: another EventMissed after it
	gone   map[pair]int    // halves let go whose partner may still come
	goneQ  []pair          // gone's pairs, oldest first
	timer  *time.Timer
	closed bool
}

func newReorder(out func(backend.Event), lost func(), timeout time.Duration, max int, now func() time.Time) *reorder {
	r := &reorder{out: out, lost: lost, timeout: timeout, max: max, now: now, gone: map[pair]int{}}
	r.timer = time.AfterFunc(time.Hour, r.expire)
	r.timer.Stop()
	return r
}

// add takes an event, or P or A, in arrival order.
func (r *reorder) add(e backend.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.gated {
		if len(r.gate) >= r.max {
			r.missed = true
			return
		}
		r.gate = append(r.gate, e)
		return
	}
	r.addLocked(e)
}

func (r *reorder) addLocked(e backend.Event) {
	switch {
	case e.Kind == kindAbort:
		p := pair{e.Key, e.OldKey}
		for i, x := range r.list {
			if x.e.Kind == kindPending && (pair{x.e.Key, x.e.OldKey}) == p {
				r.list = append(r.list[:i], r.list[i+1:]...)
				r.settle()
				return
			}
		}
		r.forget(p) // its P was let go
		return
	case len(r.list) == 0 && e.Kind != backend.EventRekeyed && e.Kind != kindPending:
		r.out(e) // nothing waits: the common case
		return
	}
	if p, ok := (&reorderEntry{e: e}).pairOf(); ok && r.forget(p) {
		// The other half was let go: there is no partner to wait for.
		if e.Kind == kindPending {
			return
		}
		e.Kind = kindForced
	}
	r.list = append(r.list, &reorderEntry{e: e, arrived: r.now()})
	r.settle()
}

// kindForced marks, in the list, an EventRekeyed whose P was let go: it
// waits for no partner, only behind the earlier events of its keys.
const kindForced backend.EventKind = 0x82

// forget removes one remembered let-go half of p, reporting whether there
// was one.
func (r *reorder) forget(p pair) bool {
	if r.gone[p] == 0 {
		return false
	}
	if r.gone[p]--; r.gone[p] == 0 {
		delete(r.gone, p)
	}
	return true
}

// remember records that a half of p was let go without its partner.
func (r *reorder) remember(p pair) {
	if len(r.goneQ) >= r.max {
		old := r.goneQ[0]
		r.goneQ = r.goneQ[1:]
		r.forget(old)
	}
	r.goneQ = append(r.goneQ, p)
	r.gone[p]++
}

// deliver sends an entry's event out, as the EventRekeyed it is for a
// forced one.
func (r *reorder) deliver(x *reorderEntry) {
	e := x.e
	if e.Kind == kindForced {
		e.Kind = backend.EventRekeyed
	}
	r.out(e)
}

// settle delivers what no longer waits, pass after pass until a pass
// delivers nothing, then lets go of the oldest entries beyond the bounds
// and sets the timer for the next timeout.
func (r *reorder) settle() {
	for {
		for r.pass() {
		}
		if len(r.list) <= r.max {
			break
		}
		r.letGo()
	}
	r.schedule()
}

// pass walks the list once: an entry none of whose keys is blocked by an
// earlier entry has reached its place; a plain event there is delivered,
// an R and its P are delivered (R) once both have. It reports whether it
// delivered anything.
func (r *reorder) pass() bool {
	blocked := map[string]bool{}
	atPlace := map[pair]*reorderEntry{} // halves at their place, waiting for the partner
	drop := map[*reorderEntry]bool{}
	delivered := false
	keep := r.list[:0]
	for _, x := range r.list {
		a, b := x.blocks()
		if blocked[a] || (b != "" && blocked[b]) {
			blocked[a] = true
			if b != "" {
				blocked[b] = true
			}
			keep = append(keep, x)
			continue
		}
		p, half := x.pairOf()
		if !half {
			r.deliver(x)
			delivered = true
			continue
		}
		if y := atPlace[p]; y != nil && y.e.Kind != x.e.Kind {
			if x.e.Kind == backend.EventRekeyed {
				r.deliver(x)
			} else {
				r.deliver(y)
			}
			delete(atPlace, p)
			drop[y] = true
			delivered = true
			continue
		}
		if atPlace[p] == nil {
			atPlace[p] = x
		}
		blocked[a] = true
		keep = append(keep, x)
	}
	// Clear the tail so the dropped entries can be collected; remove the
	// partners found after they were kept.
	for i := len(keep); i < len(r.list); i++ {
		r.list[i] = nil
	}
	r.list = keep
	if len(drop) > 0 {
		out := r.list[:0]
		for _, x := range r.list {
			if !drop[x] {
				out = append(out, x)
			}
		}
		for i := len(out); i < len(r.list); i++ {
			r.list[i] = nil
		}
		r.list = out
	}
	return delivered
}

// letGo gives up waiting for the oldest entry's partner: a P is dropped
// (its key's later events go on), an R is delivered. The oldest entry
// waits for nothing else, as nothing is before it.
func (r *reorder) letGo() {
	x := r.list[0]
	r.list[0] = nil
	r.list = r.list[1:]
	if p, ok := x.pairOf(); ok {
		r.remember(p)
	}
	if x.e.Kind != kindPending {
		r.deliver(x)
	}
}

// schedule sets the timer for the oldest entry's timeout.
func (r *reorder) schedule() {
	if len(r.list) == 0 || r.gated {
		r.timer.Stop()
		return
	}
	r.timer.Reset(max(r.list[0].arrived.Add(r.timeout).Sub(r.now()), 0))
}

// expire lets go of the entries that waited for the timeout.
func (r *reorder) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.gated {
		return
	}
	now := r.now()
	for len(r.list) > 0 && !now.Before(r.list[0].arrived.Add(r.timeout)) {
		r.letGo()
		for r.pass() {
		}
	}
	r.schedule()
}

// hold makes arrivals wait: the subscription's connections are being
// replaced.
func (r *reorder) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gated = true
	r.timer.Stop()
}

// resume ends hold once the new connections are established: it reports
// the gap (lost), lets go of everything that waited (delivering it in
// order), and then takes the arrivals since hold.
func (r *reorder) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost()
	for _, x := range r.list {
		if p, ok := x.pairOf(); ok {
			r.remember(p) // a late partner passes at once
		}
		if x.e.Kind != kindPending {
			r.deliver(x)
		}
	}
	r.list = nil
	gate, missed := r.gate, r.missed
	r.gate, r.missed, r.gated = nil, false, false
	for _, e := range gate {
		r.addLocked(e)
	}
	if missed {
		r.lost()
	}
	r.schedule()
}

// close stops the timer; later arrivals are dropped.
func (r *reorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.timer.Stop()
}
