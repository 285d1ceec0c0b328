package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/session"
)

// Data is the session payload of the run. Serial names the logical
// session (Renew keeps it under the new ID), so a read that returns another
// session's record is caught; N counts the Updates applied to it.
type Data struct {
	Serial uint64
	N      int64
}

// Clone implements session.Cloner.
func (d Data) Clone() Data { return d }

// gone says whether a session was logged out, and how the logout ended.
type gone uint8

const (
	alive          gone = iota
	goneAcked           // Destroy, Renew (of the old ID) or DestroyByOwner returned nil
	goneNotDurable      // ... returned ErrNotDurable: applied, a failover may undo it
)

// ack is an Update that returned nil: the value it stored, when it
// returned, and the instance that made it.
type ack struct {
	n  int64
	at time.Time
	by int
}

// maxAcks bounds the acknowledged values kept per session for measuring
// the staleness of Get; older ones are dropped (the measure then errs low).
const maxAcks = 64

// maxEvents bounds the history kept per session for violation reports.
const maxEvents = 24

// tracked is the oracle's knowledge of one session ID.
type tracked struct {
	id        string
	serial    uint64
	owner     *owner // nil: anonymous
	creator   int
	createdAt time.Time

	// durable: the session was created, or later written, by a call that
	// returned nil, so the replica has it and no failover may lose it.
	durable bool
	// doubt: a logout may have removed it but its outcome is unknown (an
	// error other than ErrNotDurable), so its existence is not asserted.
	doubt bool

	destructs int // logouts started on it (Destroy, Renew)
	pending   int // logouts in flight

	attempted     int64 // Updates started: an upper bound for N
	maxAcked      int64 // highest N stored by an Update (or Renew) that returned nil
	maxNotDurable int64 // highest N stored by an Update that returned ErrNotDurable
	acks          []ack

	gone   gone
	goneAt time.Time
	goneBy int

	liveIdx int // position in oracle.live, -1 when not there

	// Each allowed loss (of a write that returned ErrNotDurable) is
	// counted once per session.
	lostLogout, lostUpdate, lostCreate bool

	events []string
}

// owner is one user: the "log out everywhere" unit.
type owner struct {
	name string
	dbos int // DestroyByOwner calls started
	// pending counts DestroyByOwner calls in flight; doubtUntil is when a
	// DestroyByOwner that failed may have stopped deleting (its commands
	// can still run on the server after the client gave up).
	pending    int
	doubtUntil time.Time
	live       map[*tracked]struct{}
}

// Violation kinds. Each is a broken promise of the library's docs.
const (
	vLogoutUndone    = iota // a logout that returned nil did not hold
	vUpdateLost             // an Update that returned nil was lost or overwritten
	vSessionLost            // a session created with nil vanished without a logout
	vWrongRecord            // a read returned another session's record
	vPhantom                // a read returned more Updates than were attempted
	vStaleGet               // a Get older than the documented bound (cache TTL)
	vOwnWrite               // a Get missed a write or logout of its own instance
	vErrorClass             // an error of no documented class
	vUnexpectedClass        // ErrCorrupt or ErrPermission, which no fault here causes
	vNoRecovery             // the store did not recover from a fault in time
	vGoroutines             // goroutines left behind at the end
	vFinal                  // the final check could not read a session
	numViolationKinds
)

var violationNames = [numViolationKinds]string{
	"acknowledged logout undone",
	"acknowledged update lost",
	"acknowledged session lost",
	"read returned another session's record",
	"read returned unattempted updates",
	"Get staler than the cache TTL",
	"Get missed its own instance's write",
	"error of no documented class",
	"ErrCorrupt or ErrPermission",
	"no recovery within the timeout",
	"goroutines left at the end",
	"final check could not read",
}

// maxPrinted bounds the violations described on stderr.
const maxPrinted = 20

// oracle records every acknowledged write and logout, checks every read
// against them, and counts what it sees. It is safe for concurrent use.
type oracle struct {
	cacheTTL time.Duration // the documented bound for a cached Get
	// lingering is how long after a failed call returns its commands may
	// still run on the server: twice the longer of the call's deadline and
	// the backend's own operation timeout.
	lingering time.Duration
	start     time.Time
	logf      func(format string, args ...any)

	mu         sync.Mutex
	serial     uint64
	owners     []*owner
	live       []*tracked
	gone       []*tracked
	violations [numViolationKinds]int
	printed    int
	ops        [numOps][numClasses]int
	errSamples map[class]string // first message of each class

	staleGets    []time.Duration // staleness of cached Gets that missed an acked write
	lostLogouts  int             // logouts that returned ErrNotDurable, later undone
	lostUpdates  int             // Updates that returned ErrNotDurable, later lost
	lostCreates  int             // Creates that returned ErrNotDurable, later lost
	finalChecked int
}

func newOracle(owners int, cacheTTL, opTimeout time.Duration, logf func(string, ...any)) *oracle {
	o := &oracle{
		cacheTTL: cacheTTL, lingering: 2 * max(opTimeout, redisbackend.DefaultOpTimeout),
		start: time.Now(), logf: logf, errSamples: map[class]string{},
	}
	for i := range owners {
		o.owners = append(o.owners, &owner{name: fmt.Sprintf("user%03d", i), live: map[*tracked]struct{}{}})
	}
	return o
}

func (o *oracle) since(t time.Time) string {
	return fmt.Sprintf("%.3fs", t.Sub(o.start).Seconds())
}

func (o *oracle) eventLocked(x *tracked, format string, args ...any) {
	if len(x.events) == maxEvents {
		x.events = slices.Delete(x.events, 0, 1)
	}
	x.events = append(x.events, fmt.Sprintf("t=%s ", o.since(time.Now()))+fmt.Sprintf(format, args...))
}

// violateLocked counts a violation and describes the first few, with the
// session's history when there is one.
func (o *oracle) violateLocked(kind int, x *tracked, format string, args ...any) {
	o.violations[kind]++
	if o.printed >= maxPrinted {
		return
	}
	o.printed++
	var b strings.Builder
	fmt.Fprintf(&b, "VIOLATION t=%s %s: %s", o.since(time.Now()), violationNames[kind], fmt.Sprintf(format, args...))
	if x != nil {
		ownerName := ""
		if x.owner != nil {
			ownerName = x.owner.name
		}
		fmt.Fprintf(&b, "\n  session serial %d id %s owner %q created by instance %d at t=%s durable=%v doubt=%v",
			x.serial, x.id, ownerName, x.creator, o.since(x.createdAt), x.durable, x.doubt)
		for _, e := range x.events {
			fmt.Fprintf(&b, "\n    %s", e)
		}
	}
	o.logf("%s", b.String())
}

// violate is violateLocked for callers without the lock.
func (o *oracle) violate(kind int, format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.violateLocked(kind, nil, format, args...)
}

// countLocked records the outcome of one operation, and reports an error
// of no documented class (or of one that nothing here can cause).
func (o *oracle) countLocked(op opKind, err error) class {
	c := classify(err)
	o.ops[op][c]++
	if c != classOK {
		if _, ok := o.errSamples[c]; !ok {
			o.errSamples[c] = err.Error()
		}
	}
	switch c {
	case classOther:
		o.violateLocked(vErrorClass, nil, "%s: %v (%T)", opNames[op], err, err)
	case classCorrupt, classPermission:
		o.violateLocked(vUnexpectedClass, nil, "%s: %v", opNames[op], err)
	}
	return c
}

func (o *oracle) count(op opKind, err error) class {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.countLocked(op, err)
}

// Picking sessions.

func (o *oracle) pickOwner(r *rand.Rand) *owner {
	if r.IntN(5) == 0 {
		return nil // one in five sessions is anonymous
	}
	return o.owners[r.IntN(len(o.owners))]
}

// pickLive returns a random session that is not logged out, or nil.
func (o *oracle) pickLive(r *rand.Rand) *tracked {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pickLiveLocked(r)
}

func (o *oracle) pickLiveLocked(r *rand.Rand) *tracked {
	if len(o.live) == 0 {
		return nil
	}
	return o.live[r.IntN(len(o.live))]
}

// pickRead returns a session to read: mostly live ones, sometimes one
// that was logged out.
func (o *oracle) pickRead(r *rand.Rand) *tracked {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.gone) > 0 && (len(o.live) == 0 || r.IntN(6) == 0) {
		return o.gone[r.IntN(len(o.gone))]
	}
	return o.pickLiveLocked(r)
}

// pickOwnerWithSessions returns an owner who has live sessions, or nil.
func (o *oracle) pickOwnerWithSessions(r *rand.Rand) *owner {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range 8 {
		if ow := o.owners[r.IntN(len(o.owners))]; len(ow.live) > 0 {
			return ow
		}
	}
	return nil
}

func (o *oracle) liveCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

func (o *oracle) addLiveLocked(x *tracked) {
	x.liveIdx = len(o.live)
	o.live = append(o.live, x)
	if x.owner != nil {
		x.owner.live[x] = struct{}{}
	}
}

func (o *oracle) removeLiveLocked(x *tracked) {
	if x.liveIdx < 0 {
		return
	}
	last := o.live[len(o.live)-1]
	o.live[x.liveIdx] = last
	last.liveIdx = x.liveIdx
	o.live = o.live[:len(o.live)-1]
	x.liveIdx = -1
	if x.owner != nil {
		delete(x.owner.live, x)
	}
}

// logoutLocked marks x logged out by a call that returned err (nil or
// ErrNotDurable) on instance inst.
func (o *oracle) logoutLocked(x *tracked, notDurable bool, inst int, how string) {
	o.eventLocked(x, "%s on instance %d: logged out (not durable: %v)", how, inst, notDurable)
	if x.gone == goneAcked {
		return // an earlier acknowledged logout stands
	}
	if x.gone == alive {
		o.gone = append(o.gone, x)
	}
	x.gone, x.goneAt, x.goneBy = goneAcked, time.Now(), inst
	if notDurable {
		x.gone = goneNotDurable
	}
	o.removeLiveLocked(x)
}

// Existence: a session must be found over an interval if, when it began,
// it was created durably, was not logged out or in doubt, and no logout of
// it or its owner was in flight; and none started before the interval
// ended.

type liveness struct {
	quiet           bool // not logged out or in doubt, no logout in flight
	ok              bool // quiet, and created durably: it must be found
	destructs, dbos int
}

func (o *oracle) livenessLocked(x *tracked, self int) liveness {
	l := liveness{destructs: x.destructs}
	l.quiet = x.gone == alive && !x.doubt && x.pending == self
	if x.owner != nil {
		l.dbos = x.owner.dbos
		l.quiet = l.quiet && x.owner.pending == 0 && time.Now().After(x.owner.doubtUntil)
	}
	l.ok = l.quiet && x.durable
	return l
}

// stillQuietLocked reports whether x was quiet when l was taken and no
// logout of it or its owner has begun since.
func (o *oracle) stillQuietLocked(x *tracked, l liveness) bool {
	if !l.quiet || x.destructs != l.destructs {
		return false
	}
	return x.owner == nil || x.owner.dbos == l.dbos
}

// stillLiveLocked is stillQuietLocked for a session that must be found.
func (o *oracle) stillLiveLocked(x *tracked, l liveness) bool {
	return l.ok && o.stillQuietLocked(x, l)
}

// ownerEpoch is taken when a call that gives a session an owner begins.
type ownerEpoch struct {
	dbos int
}

func (o *oracle) epochLocked(ow *owner) ownerEpoch {
	if ow == nil {
		return ownerEpoch{}
	}
	return ownerEpoch{dbos: ow.dbos}
}

// overlappedLocked reports whether a DestroyByOwner of ow may have run
// during a call that began at epoch e and ends now.
func (o *oracle) overlappedLocked(ow *owner, e ownerEpoch) bool {
	if ow == nil {
		return false
	}
	return ow.dbos != e.dbos || ow.pending > 0 || time.Now().Before(ow.doubtUntil)
}

// Create.

func (o *oracle) beginCreate(ow *owner) (uint64, ownerEpoch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.serial++
	return o.serial, o.epochLocked(ow)
}

func (o *oracle) endCreate(ow *owner, serial uint64, e ownerEpoch, s *session.Session[Data], err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.countLocked(opCreate, err)
	if c != classOK && c != classNotDurable {
		return // not created, or unknown: an untracked session at most
	}
	x := &tracked{
		id: s.ID, serial: serial, owner: ow, creator: inst, createdAt: time.Now(),
		durable: c == classOK, doubt: o.overlappedLocked(ow, e),
	}
	o.eventLocked(x, "create on instance %d: %s", inst, className(c))
	if s.Data.Serial != serial || (ow != nil && s.Owner != ow.name) {
		o.violateLocked(vWrongRecord, x, "Create returned serial %d owner %q", s.Data.Serial, s.Owner)
	}
	o.addLiveLocked(x)
}

// Reads.

// readSnap is what the oracle knew when a read began.
type readSnap struct {
	t0            time.Time
	live          liveness
	gone          gone
	goneAt        time.Time
	goneBy        int
	maxAcked      int64
	maxNotDurable int64
	acks          []ack
}

func (o *oracle) beginRead(x *tracked) readSnap {
	o.mu.Lock()
	defer o.mu.Unlock()
	return readSnap{
		t0: time.Now(), live: o.livenessLocked(x, 0),
		gone: x.gone, goneAt: x.goneAt, goneBy: x.goneBy,
		maxAcked: x.maxAcked, maxNotDurable: x.maxNotDurable,
		acks: slices.Clone(x.acks),
	}
}

// checkRecordLocked checks that s is x's record and holds no more Updates
// than were attempted.
func (o *oracle) checkRecordLocked(x *tracked, what string, s *session.Session[Data]) {
	wantOwner := ""
	if x.owner != nil {
		wantOwner = x.owner.name
	}
	if s.Data.Serial != x.serial || s.Owner != wantOwner {
		o.violateLocked(vWrongRecord, x, "%s returned serial %d owner %q", what, s.Data.Serial, s.Owner)
	}
	if s.Data.N > x.attempted {
		o.violateLocked(vPhantom, x, "%s returned N=%d after %d Updates attempted", what, s.Data.N, x.attempted)
	}
}

// endFresh checks a GetFresh (or the final read) of x: it must see every
// acknowledged write and logout that completed before it began.
func (o *oracle) endFresh(op opKind, x *tracked, snap readSnap, s *session.Session[Data], err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.countLocked(op, err)
	o.checkFreshLocked(opNames[op], x, snap, s, c, inst)
}

func (o *oracle) checkFreshLocked(what string, x *tracked, snap readSnap, s *session.Session[Data], c class, inst int) {
	switch c {
	case classOK:
		o.checkRecordLocked(x, what, s)
		switch snap.gone {
		case goneAcked:
			o.violateLocked(vLogoutUndone, x, "%s on instance %d found N=%d after the logout at t=%s on instance %d",
				what, inst, s.Data.N, o.since(snap.goneAt), snap.goneBy)
		case goneNotDurable:
			if !x.lostLogout {
				x.lostLogout = true
				o.lostLogouts++
				o.eventLocked(x, "%s on instance %d: not-durable logout undone", what, inst)
			}
		}
		if s.Data.N < snap.maxAcked {
			o.violateLocked(vUpdateLost, x, "%s on instance %d found N=%d, acknowledged N=%d",
				what, inst, s.Data.N, snap.maxAcked)
		} else if s.Data.N < snap.maxNotDurable && !x.lostUpdate {
			x.lostUpdate = true
			o.lostUpdates++
			o.eventLocked(x, "%s on instance %d: not-durable update lost (N=%d < %d)", what, inst, s.Data.N, snap.maxNotDurable)
		}
	case classNotFound:
		switch {
		case o.stillLiveLocked(x, snap.live):
			o.violateLocked(vSessionLost, x, "%s on instance %d: not found", what, inst)
		case !x.durable && !x.lostCreate && o.stillQuietLocked(x, snap.live):
			x.lostCreate = true
			o.lostCreates++
			o.eventLocked(x, "%s on instance %d: not-durable create lost", what, inst)
		}
	}
}

// endCached checks a Get of x, which may be served from a client-side
// cache: a stale answer is measured, and must be within the cache TTL and
// never miss a write of the same instance.
func (o *oracle) endCached(x *tracked, snap readSnap, s *session.Session[Data], err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.countLocked(opGet, err)
	var missedAt time.Time // when the oldest write this Get missed returned
	own := false
	switch c {
	case classOK:
		o.checkRecordLocked(x, "Get", s)
		if snap.gone == goneAcked {
			missedAt, own = snap.goneAt, snap.goneBy == inst
			break
		}
		for _, a := range snap.acks {
			if a.n > s.Data.N {
				if missedAt.IsZero() || a.at.Before(missedAt) {
					missedAt = a.at
				}
				own = own || a.by == inst
			}
		}
		if missedAt.IsZero() && s.Data.N < snap.maxAcked {
			missedAt = snap.t0 // the missed write is older than the kept history
		}
	case classNotFound:
		if o.stillLiveLocked(x, snap.live) {
			missedAt, own = x.createdAt, x.creator == inst
		}
	}
	if missedAt.IsZero() {
		return
	}
	stale := snap.t0.Sub(missedAt)
	o.staleGets = append(o.staleGets, stale)
	if stale > o.cacheTTL {
		o.violateLocked(vStaleGet, x, "Get on instance %d was %v stale", inst, stale)
	}
	if own {
		o.violateLocked(vOwnWrite, x, "Get on instance %d missed a write it made %v earlier (%s)", inst, stale, className(c))
	}
}

// Update.

type updateSnap struct {
	live     liveness
	gone     gone
	maxAcked int64
}

func (o *oracle) beginUpdate(x *tracked) updateSnap {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.attempted++
	return updateSnap{live: o.livenessLocked(x, 0), gone: x.gone, maxAcked: x.maxAcked}
}

func (o *oracle) endUpdate(x *tracked, snap updateSnap, s *session.Session[Data], err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.countLocked(opUpdate, err)
	switch c {
	case classOK, classNotDurable:
		o.checkRecordLocked(x, "Update", s)
		o.eventLocked(x, "update on instance %d: N=%d %s", inst, s.Data.N, className(c))
		if snap.gone == goneAcked {
			o.violateLocked(vLogoutUndone, x, "Update on instance %d succeeded (N=%d, %s) after an acknowledged logout",
				inst, s.Data.N, className(c))
		}
		if s.Data.N <= snap.maxAcked {
			o.violateLocked(vUpdateLost, x, "Update on instance %d stored N=%d over acknowledged N=%d",
				inst, s.Data.N, snap.maxAcked)
		}
		if c == classNotDurable {
			x.maxNotDurable = max(x.maxNotDurable, s.Data.N)
			return
		}
		x.durable = true
		x.maxAcked = max(x.maxAcked, s.Data.N)
		if len(x.acks) == maxAcks {
			x.acks = slices.Delete(x.acks, 0, 1)
		}
		x.acks = append(x.acks, ack{n: s.Data.N, at: time.Now(), by: inst})
	case classNotFound:
		if o.stillLiveLocked(x, snap.live) {
			o.violateLocked(vSessionLost, x, "Update on instance %d: not found", inst)
		}
	}
}

// Logouts: Destroy, Renew (retires the old ID), DestroyByOwner.

type logoutSnap struct {
	live  liveness
	epoch ownerEpoch
}

func (o *oracle) beginLogout(x *tracked) logoutSnap {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.destructs++
	x.pending++
	return logoutSnap{live: o.livenessLocked(x, 1), epoch: o.epochLocked(x.owner)}
}

func (o *oracle) endDestroy(x *tracked, err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.pending--
	switch c := o.countLocked(opDestroy, err); c {
	case classOK, classNotDurable:
		o.logoutLocked(x, c == classNotDurable, inst, "destroy")
	default:
		x.doubt = true
		o.eventLocked(x, "destroy on instance %d: %s, in doubt", inst, className(c))
	}
}

// endRenew records a Renew of x, whose data s held (s.ID is the new ID
// after a Renew that was applied).
func (o *oracle) endRenew(x *tracked, snap logoutSnap, s *session.Session[Data], err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.pending--
	c := o.countLocked(opRenew, err)
	switch c {
	case classOK, classNotDurable:
		o.logoutLocked(x, c == classNotDurable, inst, "renew (old ID)")
		y := &tracked{
			id: s.ID, serial: x.serial, owner: x.owner, creator: inst, createdAt: time.Now(),
			durable: c == classOK, doubt: o.overlappedLocked(x.owner, snap.epoch),
			attempted: x.attempted,
		}
		if c == classOK {
			y.maxAcked = s.Data.N
			y.acks = []ack{{n: s.Data.N, at: y.createdAt, by: inst}}
		} else {
			y.maxNotDurable = s.Data.N
		}
		o.checkRecordLocked(y, "Renew", s)
		o.eventLocked(y, "renewed from serial %d's old ID on instance %d: N=%d %s", x.serial, inst, s.Data.N, className(c))
		o.addLiveLocked(y)
	case classNotFound:
		if o.stillLiveLocked(x, snap.live) {
			o.violateLocked(vSessionLost, x, "Renew on instance %d: not found", inst)
		}
	case classConflict:
		// Neither record changed.
	default:
		x.doubt = true
		o.eventLocked(x, "renew on instance %d: %s, in doubt", inst, className(c))
	}
}

type dboSnap struct {
	covered []*tracked // sessions of the owner created before the call began
}

func (o *oracle) beginDestroyByOwner(ow *owner) dboSnap {
	o.mu.Lock()
	defer o.mu.Unlock()
	ow.dbos++
	ow.pending++
	var snap dboSnap
	for x := range ow.live {
		snap.covered = append(snap.covered, x)
	}
	return snap
}

func (o *oracle) endDestroyByOwner(ow *owner, snap dboSnap, n int, err error, inst int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ow.pending--
	c := o.countLocked(opDestroyByOwner, err)
	for _, x := range snap.covered {
		switch c {
		case classOK, classNotDurable:
			o.logoutLocked(x, c == classNotDurable, inst, fmt.Sprintf("destroy-by-owner (%d deleted)", n))
		default:
			x.doubt = true
			o.eventLocked(x, "destroy-by-owner on instance %d: %s, in doubt", inst, className(c))
		}
	}
	if c != classOK && c != classNotDurable {
		for x := range ow.live {
			x.doubt = true
		}
		ow.doubtUntil = time.Now().Add(o.lingering)
	}
}

// all returns every tracked session, live and logged out, for the final
// check.
func (o *oracle) all() []*tracked {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append(slices.Clone(o.live), o.gone...)
}

// endFinal checks the final read of x; unlike endFresh it retries
// unavailable reads (the caller does) and reports a read that never
// succeeded.
func (o *oracle) endFinal(x *tracked, snap readSnap, s *session.Session[Data], err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finalChecked++
	c := classify(err)
	switch c {
	case classOK, classNotFound:
		o.checkFreshLocked("final GetFresh", x, snap, s, c, 0)
	default:
		o.violateLocked(vFinal, x, "final GetFresh: %v", err)
	}
}
