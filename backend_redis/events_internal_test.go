package redisbackend

import (
	"slices"
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
		for _, kind := range []backend.EventKind{backend.EventCreated, backend.EventRekeyed, backend.EventDeleted} {
			old := ""
			if kind == backend.EventRekeyed {
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

// TestMerger: events of two connections come out by At within the
// window, each connection's in its own order, and all of them at close.
func TestMerger(t *testing.T) {
	out := make(chan pendingEvent, 10)
	m := newMerger(func(p pendingEvent) { out <- p })
	at := func(us int64, key string) pendingEvent {
		return pendingEvent{e: backend.Event{Kind: backend.EventCreated, Key: key, At: time.UnixMicro(us)}}
	}
	m.add(1, at(20, "b1"))
	m.add(1, at(10, "b2")) // after b1 on its connection, whatever its At
	m.add(0, at(15, "a1"))
	var got []string
	for range 3 {
		select {
		case p := <-out:
			got = append(got, p.e.Key)
		case <-time.After(10 * time.Second):
			t.Fatalf("after %v, nothing more", got)
		}
	}
	if want := []string{"a1", "b1", "b2"}; !slices.Equal(got, want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	m.add(0, at(30, "a2"))
	m.close()
	if p := <-out; p.e.Key != "a2" {
		t.Fatalf("close delivered %q", p.e.Key)
	}
	m.add(0, at(1, "late")) // after close: at once
	if p := <-out; p.e.Key != "late" {
		t.Fatalf("after close: %q", p.e.Key)
	}
}
