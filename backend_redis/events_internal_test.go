package redisbackend

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// FuzzDecodeEvent: decodeEvent never panics, and what it accepts is what
// eventMsg wrote: encoding the decoded event again gives the message.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(eventMsg(backend.EventCreated, 1, "k", "", "o"))
	f.Add(eventMsg(backend.EventRekeyed, 1<<52, "new\x00|", "old", "\xff"))
	f.Add(eventHead(backend.EventDeleted, 7, "k", "") + ownerField("owner"))
	f.Add("")
	f.Add("\x03\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff")
	f.Fuzz(func(t *testing.T, msg string) {
		e, err := decodeEvent(msg)
		if err != nil {
			return
		}
		if again := eventMsg(e.Kind, micros(e.At), e.Key, e.OldKey, e.Owner); again != msg {
			t.Fatalf("decodeEvent(%q) = %+v, which encodes as %q", msg, e, again)
		}
	})
}

// TestEventMsgRoundTrip: hostile keys and owners survive the message.
func TestEventMsgRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", "\x00", "|", "\xff\xfe", string(make([]byte, 5000))} {
		key := "k" + s
		for _, kind := range []backend.EventKind{backend.EventCreated, backend.EventRekeyed, backend.EventDeleted, backend.EventExpired, kindPending, kindAbort} {
			old := ""
			if kind == backend.EventRekeyed || kind == kindPending || kind == kindAbort {
				old = "o" + s
			}
			e, err := decodeEvent(eventMsg(kind, 1234567, key, old, s))
			if err != nil || e.Kind != kind || e.Key != key || e.OldKey != old || e.Owner != s || micros(e.At) != 1234567 {
				t.Fatalf("round trip of %s %q %q %q: %+v, %v", kind, key, old, s, e, err)
			}
		}
	}
}

// TestSlotTags: every slot has a tag, and the tag is in its slot.
func TestSlotTags(t *testing.T) {
	for s, tag := range slotTags() {
		if tag == "" || keySlot(tag) != uint16(s) {
			t.Fatalf("slot %d: tag %q in slot %d", s, tag, keySlot(tag))
		}
	}
	// CRC16 (XMODEM) of "123456789" is 0x31C3 (the Redis Cluster spec).
	if got := keySlot("123456789"); got != 0x31C3%clusterSlots {
		t.Fatalf("keySlot(123456789) = %d", got)
	}
}

// reorderRig drives a reorder with a clock of its own (the timer is set
// for an hour, so only the test's calls of expire let entries go).
type reorderRig struct {
	r   *reorder
	got []backend.Event // under r.mu
	mu  sync.Mutex
	now time.Time
}

func newReorderRig(max int) *reorderRig {
	g := &reorderRig{now: time.Unix(1000, 0)}
	g.r = newReorder(
		func(e backend.Event) { g.got = append(g.got, e) },
		func() { g.got = append(g.got, backend.Event{Kind: backend.EventMissed}) },
		time.Hour, max, g.clock)
	return g
}

func (g *reorderRig) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *reorderRig) advance(d time.Duration) {
	g.mu.Lock()
	g.now = g.now.Add(d)
	g.mu.Unlock()
	g.r.expire()
}

// feed adds the messages, each written kind:key or kind:old>key with
// kind one of C(reated), D(eleted), X (expired), R(ekeyed), P(ending),
// A(bort).
func (g *reorderRig) feed(msgs ...string) {
	for _, m := range msgs {
		kind, rest, _ := strings.Cut(m, ":")
		old, key, ok := strings.Cut(rest, ">")
		if !ok {
			old, key = "", rest
		}
		k := map[string]backend.EventKind{"C": backend.EventCreated, "D": backend.EventDeleted, "X": backend.EventExpired,
			"R": backend.EventRekeyed, "P": kindPending, "A": kindAbort}[kind]
		g.r.add(backend.Event{Kind: k, Key: key, OldKey: old})
	}
}

// expect checks what was delivered since the last expect, in the
// notation of feed (M for EventMissed).
func (g *reorderRig) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	g.r.mu.Lock()
	evs := g.got
	g.got = nil
	g.r.mu.Unlock()
	var got []string
	for _, e := range evs {
		k := map[backend.EventKind]string{backend.EventCreated: "C", backend.EventDeleted: "D", backend.EventExpired: "X",
			backend.EventRekeyed: "R", backend.EventMissed: "M"}[e.Kind]
		if k == "" {
			k = e.Kind.String()
		}
		if e.Kind == backend.EventMissed {
			got = append(got, k)
		} else if e.OldKey != "" {
			got = append(got, k+":"+e.OldKey+">"+e.Key)
		} else {
			got = append(got, k+":"+e.Key)
		}
	}
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: delivered %v, want %v", what, got, want)
	}
}

// TestReorder: a Cluster subscription delivers the events of every key in
// write order when a Rekey's event (on the old key's channel) and the new
// key's pending message and later events (on its own) arrive in any
// order, and lets go of what waits for a message that never comes.
func TestReorder(t *testing.T) {
	t.Run("Passthrough", func(t *testing.T) {
		g := newReorderRig(100)
		g.feed("C:a", "D:a", "X:b")
		g.expect(t, "nothing waits", "C:a", "D:a", "X:b")
	})
	t.Run("Chain", func(t *testing.T) {
		// k1→k2→k3, then Delete k3: k2's and k3's channels run ahead of
		// k1's, which brings the first Rekey last.
		g := newReorderRig(100)
		g.feed("P:k1>k2", "R:k2>k3", "P:k2>k3", "D:k3", "C:other")
		g.expect(t, "before the first Rekey's event", "C:other")
		g.feed("R:k1>k2")
		g.expect(t, "the chain resolved", "R:k1>k2", "R:k2>k3", "D:k3")
		g.feed("C:k2")
		g.expect(t, "after it", "C:k2")
		if n := len(g.r.list); n != 0 {
			t.Fatalf("%d entries left", n)
		}
	})
	t.Run("RekeyBeforePending", func(t *testing.T) {
		// The old key's channel runs ahead: the Rekey waits for its
		// place in the new key's stream (the pending message), the new
		// key's earlier events pass, the old key's later ones wait.
		g := newReorderRig(100)
		g.feed("R:k1>k2", "C:k1", "D:k2")
		g.expect(t, "before the pending message", "D:k2")
		g.feed("P:k1>k2", "D:k1")
		g.expect(t, "after it", "R:k1>k2", "C:k1", "D:k1")
	})
	t.Run("TwoPendingKeys", func(t *testing.T) {
		// An event of two waiting keys waits for both: k3's events stay
		// behind the Rekey k2→k3, which waits for k1→k2.
		g := newReorderRig(100)
		g.feed("P:k1>k2", "P:k2>k3", "D:k3", "R:k2>k3", "R:k1>k2")
		g.expect(t, "resolved", "R:k1>k2", "R:k2>k3", "D:k3")
	})
	t.Run("Abort", func(t *testing.T) {
		g := newReorderRig(100)
		g.feed("P:k1>k2", "D:k2", "C:k2")
		g.expect(t, "waiting")
		g.feed("A:k1>k2")
		g.expect(t, "aborted", "D:k2", "C:k2")
		g.feed("P:k1>k2", "C:k9", "R:k1>k2", "D:k2")
		g.expect(t, "the next Rekey", "C:k9", "R:k1>k2", "D:k2")
		g.feed("A:k5>k6") // no pending message: nothing
		g.expect(t, "a stray abort")
	})
	t.Run("Timeout", func(t *testing.T) {
		g := newReorderRig(100)
		g.r.timeout = 2 * time.Second
		g.feed("P:k1>k2", "D:k2")
		g.advance(time.Second)
		g.expect(t, "within the timeout")
		g.feed("P:k3>k4", "C:k4")
		g.advance(time.Second)
		g.expect(t, "after the first pending message's timeout", "D:k2")
		g.feed("R:k1>k2") // late: at once
		g.expect(t, "the late Rekey", "R:k1>k2")
		g.advance(time.Second)
		g.expect(t, "the second timeout", "C:k4")

		// A Rekey whose pending message never comes (a writer that
		// publishes none): the old key's later events wait with it.
		g.feed("R:k5>k6", "C:k5")
		g.advance(2 * time.Second)
		g.expect(t, "a Rekey without a pending message", "R:k5>k6", "C:k5")
		g.feed("P:k5>k6", "D:k6")
		g.expect(t, "the late pending message", "D:k6")
	})
	t.Run("Cap", func(t *testing.T) {
		g := newReorderRig(3)
		g.feed("P:k1>k2", "C:k2", "D:k2")
		g.expect(t, "at the cap")
		g.feed("P:k3>k4")
		g.expect(t, "beyond the cap: the oldest pending key goes", "C:k2", "D:k2")
		g.feed("C:k4", "D:k4", "C:k4")
		g.expect(t, "beyond the cap again", "C:k4", "D:k4", "C:k4")
		if n := len(g.r.list); n != 0 {
			t.Fatalf("%d entries left", n)
		}
		if n := len(g.r.goneQ); n > 3 {
			t.Fatalf("%d halves remembered, beyond the cap", n)
		}
	})
	t.Run("Lost", func(t *testing.T) {
		g := newReorderRig(100)
		g.feed("P:k1>k2", "D:k2", "C:a")
		g.r.hold()
		g.feed("C:b", "P:k3>k4", "C:k4")
		g.expect(t, "while the connections are replaced", "C:a")
		g.r.resume()
		g.expect(t, "resumed", "M", "D:k2", "C:b")
		g.feed("R:k1>k2") // its pending message was before the gap
		g.expect(t, "a Rekey from before the gap", "R:k1>k2")
		g.feed("R:k3>k4")
		g.expect(t, "a Rekey from after it", "R:k3>k4", "C:k4")
	})
	t.Run("Timer", func(t *testing.T) {
		out := make(chan backend.Event, 10)
		r := newReorder(func(e backend.Event) { out <- e }, func() {}, 20*time.Millisecond, 100, time.Now)
		defer r.close()
		r.add(backend.Event{Kind: kindPending, Key: "k2", OldKey: "k1"})
		r.add(backend.Event{Kind: backend.EventDeleted, Key: "k2"})
		select {
		case e := <-out:
			if e.Kind != backend.EventDeleted {
				t.Fatalf("delivered %v", e.Kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the timer let nothing go")
		}
	})
}
