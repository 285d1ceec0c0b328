package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/eventq"
)

var _ backend.Notifier = (*Backend)(nil)

// ErrNoExpiryEvents means Subscribe could not make Redis send the
// expired-key events that EventExpired comes from: the server's
// notify-keyspace-events lacks them ("E" and "x") and it refused CONFIG
// GET or CONFIG SET (an ACL user without +config, or a managed Redis that
// hides CONFIG). Set notify-keyspace-events to include "Ex" in the server's
// configuration (on managed Redis, its parameter group or console), or
// build the Backend with WithoutExpiryEvents to subscribe without
// EventExpired.
var ErrNoExpiryEvents = errors.New("redisbackend: Redis sends no expired-key events")

// Re-subscribing after a lost connection backs off between these bounds;
// the topology (which nodes the client talks to) is checked this often.
const (
	subscribeBackoffMin = 50 * time.Millisecond
	subscribeBackoffMax = 2 * time.Second
	topologyInterval    = time.Second
)

// Subscribe calls fn for every record that any instance sharing this Redis
// (and this key prefix) creates, rekeys or deletes, and for every record
// that Redis expires, until ctx is done or the Backend is closed. It
// returns once the subscriptions are established, so every write that
// begins after it returned nil is seen.
//
// The write scripts publish each event in the script that makes the
// write, so an event is published if and only if the write was applied
// (also when the write returns ErrNotReplicated). Update and Touch publish
// nothing. Off a Cluster the events go to one channel, <prefix>ev; on a
// Cluster to a shard channel per slot (SPUBLISH), so an event costs one
// shard, and Subscribe holds one connection per primary with a
// subscription to each of that primary's slots.
//
// Ordering: the events of one key arrive in the order of its writes, an
// EventRekeyed being an event of both its keys. Off a Cluster every event
// travels on one channel and Rekey is one script, so the order is Redis's.
// On a Cluster a Rekey takes two steps on two slots (see Rekey), and its
// EventRekeyed travels on the old key's channel while the new key's later
// events travel on the new key's, over another node's connection. So the
// first step also publishes, on the new key's channel, an internal
// pending message, never delivered, which marks the EventRekeyed's place
// among the new key's events; a failed second step's undo publishes an
// abort message there. The subscription delivers an EventRekeyed once
// both its message and the pending message have arrived and no earlier
// event of either key waits, and holds each key's later events behind
// it, in arrival order (a chain of Rekeys resolves one after the other);
// events of keys that nothing holds pass at once. This needs no clock:
// the pending message and every later event of the new key travel on one
// connection, and the EventRekeyed was published before the second step
// returned. Bounds: the oldest held message is let go, with the events
// behind it, after 2 seconds (a pending message whose Rekey's connection
// failed between the steps, which leaves the new record as an orphan
// until its deadline; an EventRekeyed of a writer of an older version of
// this package, which publishes no pending message and so delays its old
// key's later events by that much) and when more than 4096 messages are
// held; a message let go is remembered so that its late partner passes
// at once. When the connections are re-established (below), what is held
// is delivered after the EventMissed, and the holding starts afresh.
// Subscribers of an older version count the pending and abort messages
// as malformed (MalformedEvents).
//
// EventExpired comes from Redis's keyspace notifications (the expired
// event of every primary). Subscribe turns them on where they are off,
// adding "Ex" to notify-keyspace-events with CONFIG SET; if the server
// refuses CONFIG it returns an error matching ErrNoExpiryEvents, unless
// the Backend has WithoutExpiryEvents. Redis sends the event when it
// removes the key: the key's Redis expiry is the last millisecond before
// the record's earlier deadline, and Redis removes expired keys when they
// are read or by its background cycle (about every 100 ms at the default
// hz 10, later for some keys under many expiring keys), by its own clock.
// An EventExpired has Owner "" (Redis no longer has the record) and At
// the time this instance received it. Its Key comes from the Redis key for
// keys in session.Manager's form (43 characters of base64url), which the
// key layout keeps as they are; a record under any other key is stored
// under a hash of it, and its writes also keep the key in a name key
// (keys.go) until a minute after the absolute deadline, which Subscribe
// reads (one GET, off the connection's reading goroutine, with the events
// that arrive meanwhile queued behind it in order). Such a record that
// expires after its name key is gone is not reported. A record past a
// deadline by the application's clock that Redis still keeps (its clock
// lagging) ends instead with the EventExpired of the write that removes
// or replaces it (Delete, DeleteByOwner, Create or Rekey onto its key),
// published by the write's script before its own event, with the
// record's Owner and the write's At.
//
// The Redis user needs the channels: &<prefix>ev* for the writes (New
// checks it) and, for Subscribe, __keyevent@<db>__:expired too unless
// WithoutExpiryEvents; a refused SUBSCRIBE gives an error matching
// ErrPermission.
//
// When a connection is lost (or a Cluster's slots move, or Sentinel
// promotes another primary), Subscribe re-establishes the subscriptions,
// with a backoff of up to two seconds between attempts, and then delivers
// an EventMissed with Missed 0: events in between are lost. Messages on
// the event channel that it cannot decode are dropped and counted
// (MalformedEvents).
func (b *Backend) Subscribe(ctx context.Context, fn func(backend.Event)) error {
	const op = "subscribe"
	if err := b.enter(ctx, op); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("redisbackend: %s: fn is nil", op)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &subscription{b: b, ctx: sctx}
	// Events can arrive on the first connections while the others are
	// being established; fn sees them only once all are, and never if
	// Subscribe fails.
	ready := make(chan struct{})
	var failed bool
	s.q = eventq.Start(sctx, 0, func(e backend.Event) {
		<-ready
		if !failed {
			fn(e)
		}
	})
	if b.cluster {
		s.reorder = newReorder(s.q.Push, s.q.Lost, reorderTimeout, reorderMax, time.Now)
	}
	set, err := s.establish(sctx)
	if err != nil {
		failed = true
		close(ready)
		cancel()
		if s.reorder != nil {
			s.reorder.close()
		}
		return err
	}
	close(ready)
	go s.run(sctx, cancel, set)
	return nil
}

// MalformedEvents reports how many messages this Backend's subscriptions
// received on their event channels that were not events it can decode
// (something else published there); they were dropped.
func (b *Backend) MalformedEvents() int64 { return b.malformed.Load() }

// subscription is one Subscribe: its queue, and the events waiting
// behind the lookup of an expired record's key.
type subscription struct {
	b       *Backend
	ctx     context.Context
	q       *eventq.Queue
	reorder *reorder // on a Cluster: puts a Rekey's two channels together

	mu   sync.Mutex
	fifo []pendingEvent // in arrival order, while busy
	busy bool           // resolve is running: every event goes through fifo
}

// pendingEvent is an event in a subscription's fifo; name, if not "", is
// the name key that holds its Key.
type pendingEvent struct {
	e    backend.Event
	name string
}

// maxPending bounds the events waiting behind name lookups; beyond it
// they are dropped and the subscriber gets an EventMissed.
const maxPending = eventq.DefaultSize

// subSet is one generation of a subscription's connections: the
// dedicated connection of every node it listens to.
type subSet struct {
	conns  []rueidis.DedicatedClient
	fp     string        // the topology it was built for
	broken chan struct{} // closed when a connection is lost or a slot moved
	once   sync.Once
	stop   chan struct{} // closed by close
}

func newSubSet(fp string) *subSet {
	return &subSet{fp: fp, broken: make(chan struct{}), stop: make(chan struct{})}
}

func (set *subSet) breaks() { set.once.Do(func() { close(set.broken) }) }

func (set *subSet) close() {
	close(set.stop)
	for _, c := range set.conns {
		c.Close()
	}
}

// run watches the connections of set until ctx is done or the Backend is
// closed, and replaces them when one is lost or the topology changes.
func (s *subscription) run(ctx context.Context, cancel context.CancelFunc, set *subSet) {
	defer cancel()
	if s.reorder != nil {
		defer s.reorder.close()
	}
	tick := time.NewTicker(topologyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			set.close()
			return
		case <-s.b.done:
			set.close()
			return
		case <-set.broken:
		case <-tick.C:
			if s.b.topology() == set.fp {
				continue
			}
		}
		if s.reorder != nil {
			s.reorder.hold() // until the EventMissed (resume)
		}
		set.close()
		if set = s.reestablish(ctx); set == nil {
			return
		}
		if s.reorder != nil {
			s.reorder.resume()
		} else {
			s.q.Lost()
		}
	}
}

// reestablish retries establish with a bounded backoff until it succeeds,
// ctx is done or the Backend is closed (then it returns nil).
func (s *subscription) reestablish(ctx context.Context) *subSet {
	wait := subscribeBackoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.b.done:
			t.Stop()
			return nil
		case <-t.C:
		}
		if set, err := s.establish(ctx); err == nil {
			return set
		}
		wait = min(2*wait, subscribeBackoffMax)
	}
}

// topology names the nodes the client talks to; a change (a Sentinel
// failover, a node added to a Cluster) means the subscriptions must be
// made again.
func (b *Backend) topology() string {
	ns := b.client.Nodes()
	addrs := make([]string, 0, len(ns))
	for a := range ns {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	return strings.Join(addrs, ",")
}

// establish turns on expiry events where needed and subscribes, within
// the operation timeout.
func (s *subscription) establish(ctx context.Context) (*subSet, error) {
	const op = "subscribe"
	b := s.b
	ctx, cancel := context.WithTimeout(ctx, b.cfg.opTimeout)
	defer cancel()
	set := newSubSet(b.topology())
	if !b.cfg.noExpiryEvents {
		for addr, node := range b.nodes() {
			if err := b.enableExpiry(ctx, addr, node); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if b.cluster {
		err = s.subscribeCluster(ctx, set)
	} else {
		err = s.subscribeOne(ctx, set)
	}
	if err != nil {
		set.close()
		return nil, b.fail(ctx, op, err)
	}
	return set, nil
}

// subscribeOne subscribes on the one server (standalone, or Sentinel's
// primary): the event channel and the expired events of the client's
// database.
func (s *subscription) subscribeOne(ctx context.Context, set *subSet) error {
	dc, _ := s.b.client.Dedicate() // its Close, in set.close, releases it
	set.conns = append(set.conns, dc)
	chans := []string{s.b.cfg.prefix + "ev"}
	if !s.b.cfg.noExpiryEvents {
		info, err := dc.Do(ctx, dc.B().ClientInfo().Build()).ToString()
		if err != nil {
			return fmt.Errorf("CLIENT INFO: %w", err)
		}
		chans = append(chans, "__keyevent@"+clientDB(info)+"__:expired")
	}
	return s.listen(ctx, set, dc, dc.B().Subscribe().Channel(chans...).Build())
}

// clientDB reads the database number from a CLIENT INFO line ("0" if it
// has none).
func clientDB(info string) string {
	for _, f := range strings.Fields(info) {
		if v, ok := strings.CutPrefix(f, "db="); ok {
			return v
		}
	}
	return "0"
}

// subscribeCluster subscribes on every primary of a Cluster: the shard
// channel of each slot it serves, and its expired events.
func (s *subscription) subscribeCluster(ctx context.Context, set *subSet) error {
	b := s.b
	arr, err := b.client.Do(ctx, b.client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	bySlot := map[string][]uint16{}
	for _, r := range arr {
		rng, err := r.ToArray()
		if err != nil || len(rng) < 3 {
			return fmt.Errorf("CLUSTER SLOTS: unexpected reply")
		}
		lo, err1 := rng[0].AsInt64()
		hi, err2 := rng[1].AsInt64()
		master, err3 := rng[2].ToArray()
		if err := errors.Join(err1, err2, err3); err != nil || len(master) < 2 || lo < 0 || hi >= clusterSlots || lo > hi {
			return fmt.Errorf("CLUSTER SLOTS: unexpected reply")
		}
		host, _ := master[0].ToString()
		port, _ := master[1].AsInt64()
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		for sl := lo; sl <= hi; sl++ {
			bySlot[addr] = append(bySlot[addr], uint16(sl))
		}
	}
	nodes := b.client.Nodes()
	for addr, slots := range bySlot {
		node, ok := nodes[addr]
		if !ok {
			return fmt.Errorf("CLUSTER SLOTS names %s, which the client does not know (yet)", addr)
		}
		dc, _ := node.Dedicate() // its Close, in set.close, releases it
		set.conns = append(set.conns, dc)
		cmds := make(rueidis.Commands, 0, len(slots)+1)
		for _, sl := range slots {
			cmds = append(cmds, dc.B().Ssubscribe().Channel(b.slotChannel(sl)).Build())
		}
		if !b.cfg.noExpiryEvents {
			cmds = append(cmds, dc.B().Subscribe().Channel("__keyevent@0__:expired").Build())
		}
		if err := s.listen(ctx, set, dc, cmds...); err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
	return nil
}

// listen sets the hooks of dc and sends the subscribe commands, which
// return when Redis has confirmed them.
func (s *subscription) listen(ctx context.Context, set *subSet, dc rueidis.DedicatedClient, cmds ...rueidis.Completed) error {
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: s.onMessage,
		OnSubscription: func(ps rueidis.PubSubSubscription) {
			// Redis unsubscribes a shard channel whose slot moved away.
			if ps.Kind == "sunsubscribe" || ps.Kind == "unsubscribe" {
				set.breaks()
			}
		},
	})
	go func() {
		select {
		case <-lost:
			set.breaks()
		case <-set.stop:
		}
	}()
	for _, r := range dc.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// onMessage turns a message into an event; it runs on the connection's
// reading goroutine, so it only decodes and queues.
func (s *subscription) onMessage(m rueidis.PubSubMessage) {
	if p, ok := s.decode(m); ok {
		s.push(p)
	}
}

// decode turns a message into an event, or reports false for a message
// that is none of this Backend's (counting those on its event channels).
func (s *subscription) decode(m rueidis.PubSubMessage) (pendingEvent, bool) {
	if strings.HasPrefix(m.Channel, "__keyevent@") {
		return s.expired(m.Message)
	}
	e, err := decodeEvent(m.Message)
	if err != nil {
		s.b.malformed.Add(1)
		return pendingEvent{}, false
	}
	return pendingEvent{e: e}, true
}

// expired returns the EventExpired of a Redis key that expired, if it is
// a session key of this Backend: its hash is the record's key, or a hash
// of it, whose name key holds the key.
func (s *subscription) expired(rk string) (pendingEvent, bool) {
	rest, ok := strings.CutPrefix(rk, s.b.cfg.prefix+"s:{")
	if !ok || len(rest) != hashLen+1 || rest[tagLen] != '}' {
		return pendingEvent{}, false // not a session key of this prefix (an owner index, another prefix)
	}
	h := rest[:tagLen] + rest[tagLen+1:]
	e := backend.Event{Kind: backend.EventExpired, Key: h, At: time.Now()}
	switch {
	case isBase64URL(h):
		return pendingEvent{e: e}, true
	case hashed(h) && isBase64URL(h[1:]):
		return pendingEvent{e: e, name: s.b.nameKey(h)}, true
	}
	return pendingEvent{}, false
}

// push queues p, in arrival order: at once if nothing waits for a name
// lookup, else behind the lookup.
func (s *subscription) push(p pendingEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.busy && p.name == "" {
		s.emit(p.e)
		return
	}
	if len(s.fifo) >= maxPending {
		s.q.Lost()
		return
	}
	s.fifo = append(s.fifo, p)
	if !s.busy {
		s.busy = true
		go s.resolve()
	}
}

// emit passes on an event, with its key known, in arrival order: on a
// Cluster through the reordering of Rekeys (reorder.go), else to the
// queue, where the pending and abort messages have no place.
func (s *subscription) emit(e backend.Event) {
	switch {
	case s.reorder != nil:
		s.reorder.add(e)
	case e.Kind == kindPending || e.Kind == kindAbort:
	default:
		s.q.Push(e)
	}
}

// resolve looks up the keys of the expired records in fifo (one pipeline
// per batch) and queues the events in order, until fifo is empty. An
// expired record whose name key is gone is not reported; when the lookup
// fails, the subscriber gets an EventMissed.
func (s *subscription) resolve() {
	for {
		s.mu.Lock()
		batch := s.fifo
		s.fifo = nil
		if len(batch) == 0 {
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		var cmds rueidis.Commands
		for _, p := range batch {
			if p.name != "" {
				cmds = append(cmds, s.b.client.B().Get().Key(p.name).Build())
			}
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.b.cfg.opTimeout)
		res := s.b.client.DoMulti(ctx, cmds...)
		cancel()
		i := 0
		for _, p := range batch {
			if p.name == "" {
				s.emit(p.e)
				continue
			}
			key, err := res[i].ToString()
			i++
			switch {
			case err == nil && key != "":
				p.e.Key = key
				s.emit(p.e)
			case rueidis.IsRedisNil(err):
			default:
				s.q.Lost()
			}
		}
	}
}

// enableExpiry makes sure the node sends expired-key events: it reads
// notify-keyspace-events and adds "E" and "x" where missing, keeping the
// flags already set.
func (b *Backend) enableExpiry(ctx context.Context, addr string, node rueidis.Client) error {
	const op = "subscribe"
	const param = "notify-keyspace-events"
	m, err := node.Do(ctx, node.B().ConfigGet().Parameter(param).Build()).AsStrMap()
	if err != nil {
		if _, ok := rueidis.IsRedisErr(err); ok {
			return fmt.Errorf("redisbackend: %s: %s refused CONFIG GET %s (%w), so expired events cannot be checked "+
				"or turned on: %w; set %s to include \"Ex\" in the server's configuration, or pass WithoutExpiryEvents() "+
				"to subscribe without EventExpired", op, addr, param, err, ErrNoExpiryEvents, param)
		}
		return b.fail(ctx, op, err)
	}
	flags, ok := m[param]
	if !ok {
		return fmt.Errorf("redisbackend: %s: %s did not return %s: %w", op, addr, param, ErrNoExpiryEvents)
	}
	add := ""
	if !strings.Contains(flags, "E") {
		add += "E"
	}
	if !strings.ContainsAny(flags, "xA") {
		add += "x"
	}
	if add == "" {
		return nil
	}
	err = node.Do(ctx, node.B().ConfigSet().ParameterValue().ParameterValue(param, flags+add).Build()).Error()
	if err != nil {
		if _, ok := rueidis.IsRedisErr(err); ok {
			return fmt.Errorf("redisbackend: %s: %s has %s %q, without expired events, and refused CONFIG SET (%w): %w; "+
				"set it to include \"Ex\" in the server's configuration, or pass WithoutExpiryEvents() to subscribe "+
				"without EventExpired", op, addr, param, flags, err, ErrNoExpiryEvents)
		}
		return b.fail(ctx, op, err)
	}
	return nil
}
